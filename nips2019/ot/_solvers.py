"""Exact, entropic and unbalanced OT solvers: thin wrappers over POT plus a log-domain unbalanced Sinkhorn."""

from __future__ import annotations

import dataclasses
import math
import warnings

import ot
import torch

from nips2019.utils import Bool, Integer, Options, Real, Tensor, validate

from ._checks import CostTensor, MarginalPenalty, _reg_m_pair

_POT_UNBALANCED = ("sinkhorn", "sinkhorn_stabilized", "sinkhorn_translation_invariant")
_LOG_UNBALANCED = ("sinkhorn_log_ti", "sinkhorn_log", "sinkhorn_log_shift")
_UNBALANCED_METHODS = ("auto",) + _LOG_UNBALANCED + _POT_UNBALANCED
_ENTROPIC_METHODS = ("sinkhorn_log", "sinkhorn", "sinkhorn_stabilized")
_REG_TYPES = ("kl", "entropy")


@dataclasses.dataclass
class OTResult:
    """A transport plan and what it cost. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Attributes
    ----------
    plan : Tensor, shape (n, m)
        The coupling :math:`\\gamma`, on the inputs' device and dtype.
    value : Tensor, scalar
        The transport cost :math:`\\langle \\gamma, C \\rangle` (without regularisation terms).
    n_iter : int
        Iterations used (0 for the exact solver).
    method : str
        The solver that actually ran.
    converged : bool
        Whether the stopping rule was met before ``max_iter`` (a :class:`ConvergenceWarning`
        is issued when it was not; always true for the exact solver).
    """

    plan: torch.Tensor
    value: torch.Tensor
    n_iter: int
    method: str
    converged: bool = True

    @property
    def row_marginal(self) -> torch.Tensor:
        """Mass leaving each source point, shape (n,)."""
        return self.plan.sum(1)

    @property
    def col_marginal(self) -> torch.Tensor:
        """Mass arriving at each target point, shape (m,)."""
        return self.plan.sum(0)


def _marginals(a, b, cost, func):
    """Uniform defaults for the marginals, and a positive total mass for each."""
    n, m = cost.shape
    kw = dict(device=cost.device, dtype=cost.dtype)
    a = torch.full((n,), 1.0 / n, **kw) if a is None else a
    b = torch.full((m,), 1.0 / m, **kw) if b is None else b
    for name, w in (("a", a), ("b", b)):
        if not bool(w.sum() > 0):
            raise ValueError(f"{func}: {name} must have positive total mass, got all zeros")
    return a, b


def _check_equal_mass(a, b, func):
    rel = max(1e-6, 50 * torch.finfo(a.dtype).eps)
    if not math.isclose(float(a.sum()), float(b.sum()), rel_tol=rel):
        raise ValueError(
            f"{func}: a and b must have equal mass for balanced OT, got {float(a.sum())} and {float(b.sum())} "
            "(normalise them, or use unbalanced_ot)"
        )


def _weights(dim: str, strict: bool = False) -> Tensor:
    return Tensor(shape=(dim,), dtype="floating", low=0, closed="neither" if strict else "both", optional=True)


_COST = CostTensor(shape=("n", "m"), dtype="floating")


def _exact_ot(a, b, cost) -> OTResult:
    """Unchecked :func:`exact_ot` (marginals already filled in)."""
    a64, b64, c64 = a.double(), b.double(), cost.double()
    b64 = b64 * (a64.sum() / b64.sum())
    plan = ot.emd(a64, b64, c64, numItermax=1_000_000).to(cost.dtype)
    return OTResult(plan=plan, value=(plan * cost).sum(), n_iter=0, method="emd")


@validate(cost=_COST, a=_weights("n"), b=_weights("m"), same=[("cost", "a", "b")])
def exact_ot(a: torch.Tensor | None, b: torch.Tensor | None, cost: torch.Tensor) -> OTResult:
    r"""Exact (unregularised, balanced) optimal transport with POT's network simplex.

    .. math::

        \min_{\gamma \ge 0,\ \gamma 1 = a,\ \gamma^\top 1 = b} \langle \gamma, C \rangle .

    The plan is computed in float64 by ``ot.emd`` and returned on the device and
    with the dtype of ``cost``. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    a : Tensor, shape (n,), or None
        Non-negative source weights (uniform if None); must have the same total as ``b``.
    b : Tensor, shape (m,), or None
    cost : Tensor, shape (n, m)
        Finite cost; ``a``, ``b`` and ``cost`` share a device and dtype.

    Returns
    -------
    OTResult

    Examples
    --------
    >>> import torch
    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> exact_ot(None, None, C).plan
    tensor([[0.5000, 0.0000],
            [0.0000, 0.5000]], dtype=torch.float64)
    """
    a, b = _marginals(a, b, cost, "exact_ot")
    _check_equal_mass(a, b, "exact_ot")
    return _exact_ot(a, b, cost)


_ENTROPIC_CONSTRAINTS = dict(
    cost=_COST,
    a=_weights("n"),
    b=_weights("m"),
    reg=Real(low=0, closed="neither"),
    method=Options(*_ENTROPIC_METHODS),
    max_iter=Integer(low=1),
    tol=Real(low=0, closed="neither"),
)


def _entropic_ot(a, b, cost, reg, method="sinkhorn_log", max_iter=10_000, tol=1e-9) -> OTResult:
    """Unchecked :func:`entropic_ot` (marginals already filled in)."""
    plan, log = ot.sinkhorn(a, b, cost, reg, method=method, numItermax=max_iter, stopThr=tol, log=True, warn=False)
    _check_plan(plan, method)
    n_iter = int(log.get("niter", 0)) + 1
    errs = log.get("err", [])
    converged = n_iter < max_iter or (len(errs) > 0 and float(errs[-1]) < tol)
    if not converged:
        _warn_not_converged("entropic_ot", method, max_iter, reg, float(errs[-1]) if len(errs) else None)
    return OTResult(plan=plan, value=(plan * cost).sum(), n_iter=min(n_iter, max_iter), method=method,
                    converged=converged)


@validate(**_ENTROPIC_CONSTRAINTS, same=[("cost", "a", "b")])
def entropic_ot(
    a: torch.Tensor | None,
    b: torch.Tensor | None,
    cost: torch.Tensor,
    *,
    reg: float,
    method: str = "sinkhorn_log",
    max_iter: int = 10_000,
    tol: float = 1e-9,
) -> OTResult:
    r"""Balanced entropic OT through POT's ``ot.sinkhorn``, in the log domain by default.

    .. math::

        \min_{\gamma 1 = a,\ \gamma^\top 1 = b} \langle \gamma, C \rangle
        + \mathrm{reg} \sum_{ij} \gamma_{ij} (\log \gamma_{ij} - 1).

    ``reg`` is absolute: it weighs the entropy against ``cost`` exactly as given
    (normalise the cost first, :func:`normalize_cost`, for a scale-free ``reg``).
    ``method="sinkhorn_log"`` never underflows, whatever ``reg``; the plain
    kernel iteration (``"sinkhorn"``) is faster but underflows once
    :math:`e^{-C/\mathrm{reg}}` does (then ``FloatingPointError`` is raised). See the
    chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    a, b : Tensor or None
        Non-negative marginals of equal mass (uniform if None), shapes (n,) and (m,).
    cost : Tensor, shape (n, m)
    reg : float
        Entropic weight, :math:`> 0`.
    method : {"sinkhorn_log", "sinkhorn", "sinkhorn_stabilized"}
    max_iter : int
        Iteration cap.
    tol : float
        Stopping threshold on the marginal violation.

    Returns
    -------
    OTResult

    Examples
    --------
    >>> import torch
    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> entropic_ot(None, None, C, reg=0.01).plan.diag()
    tensor([0.5000, 0.5000], dtype=torch.float64)
    """
    a, b = _marginals(a, b, cost, "entropic_ot")
    _check_equal_mass(a, b, "entropic_ot")
    return _entropic_ot(a, b, cost, reg, method, max_iter, tol)


def _value(plan, cost):
    """<plan, cost> without an n x m temporary."""
    return torch.dot(plan.reshape(-1), cost.reshape(-1))


def _check_plan(plan, method):
    # the plan is non-negative: its sum is finite exactly when every entry is (one pass, no n x m mask)
    if not bool(torch.isfinite(plan.sum())):
        raise FloatingPointError(
            f"the {method!r} solver produced non-finite values (underflow of exp(-C/reg)?); "
            "normalise the cost, raise reg or use method='sinkhorn_log'"
        )


def _kernel_is_safe(a, b, cost: torch.Tensor, reg: float) -> bool:
    """Whether every entry of the kernel a b^T exp(-C/reg) stays well inside the dtype's range."""
    limit = 0.9 * -math.log(torch.finfo(cost.dtype).tiny)
    worst = float(cost.abs().max()) / reg - float(a.min().log()) - float(b.min().log())
    return worst < limit


class ConvergenceWarning(UserWarning):
    """An iterative solver reached ``max_iter`` before its stopping rule was met.

    The result is the last iterate (finite, but not converged to ``tol``); raise ``max_iter``,
    raise ``reg`` or loosen ``tol``. Turn it into an error with
    ``warnings.simplefilter("error", ConvergenceWarning)``. See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.
    """


def _warn_not_converged(func, method, n_iter, reg, err=None):
    more = "" if err is None else f" (last change {err:.2e})"
    warnings.warn(
        f"{func}: the {method!r} solver did not converge in max_iter = {n_iter} iterations{more} at "
        f"reg = {reg:g}; the plan is the last iterate. Raise max_iter or reg, or loosen tol",
        ConvergenceWarning, stacklevel=3,
    )


def _relative_change(log_new, log_old):
    """POT's stopping statistic max|u - u'| / max(max|u|, max|u'|, 1), from log u and log u'."""
    m = torch.maximum(torch.maximum(log_new.max(), log_old.max()), log_new.new_zeros(()))
    return ((log_new - m).exp() - (log_old - m).exp()).abs().max()


#: Epsilon scaling: stages divide reg by ``_SCALING_FACTOR``, starting at ``_SCALING_START``
#: times the mean cost; each stage but the last stops at ``_SCALING_TOL``. ``reg_scaling=None``
#: turns it on below ``_SCALING_BELOW`` times the mean cost.
_SCALING_FACTOR = 4.0
_SCALING_START = 0.05
_SCALING_BELOW = 0.01
_SCALING_TOL = 1e-4


def _reg_schedule(cost, reg, reg_scaling):
    """The decreasing sequence of reg values to solve for (the last is ``reg``)."""
    if reg_scaling is False:
        return [reg]
    mean = float(cost.mean())  # the mean: one pass (a median is a sort)
    start = _SCALING_START * mean
    if reg >= start or (reg_scaling is None and reg >= _SCALING_BELOW * mean):
        return [reg]
    stages = [reg]
    while stages[-1] * _SCALING_FACTOR < start:
        stages.append(stages[-1] * _SCALING_FACTOR)
    return stages[::-1]


def _scaling_updates(log_a, log_b, reg, reg_m, translation_invariant):
    """The two half-steps of generalised Sinkhorn in the log domain, ``log u`` from ``log(K v)``
    and ``log v`` from ``log(K^T u)``, and the translation that ``translation_invariant`` adds.

    Plain: ``log u = fa (log a - log Kv)``. Translation invariant (Séjourné, Vialard, Peyré
    2022, POT's ``"sinkhorn_translation_invariant"``, written here on log-scalings): each
    half-step also moves the pair of potentials along the direction that the marginal
    penalties alone pin down (slowly, at a rate ``reg / (lambda + reg)``); the plan
    ``u_i K_ij v_j`` is unchanged by the final translation ``t`` and only the stopping rule sees it.
    """
    l1, l2 = reg_m
    inf1, inf2 = math.isinf(l1), math.isinf(l2)
    fa = 1.0 if inf1 else l1 / (l1 + reg)
    fb = 1.0 if inf2 else l2 / (l2 + reg)
    if not translation_invariant:
        def u_step(log_kv, v):
            return fa * (log_a - log_kv)

        def v_step(log_ktu, u):
            return fb * (log_b - log_ktu)

        return u_step, v_step, None
    r1 = 0.0 if inf1 else reg / l1
    r2 = 0.0 if inf2 else reg / l2
    k_rho1 = 0.0 if inf1 else (reg * l1 / ((reg + l1) * (l1 + l2))) * l1 / reg
    k_rho2 = 0.0 if inf2 else (reg * l2 / ((reg + l2) * (l1 + l2))) * l2 / reg
    if inf1 and inf2:
        xi1 = xi2 = 0.0
        f12 = 1.0
    elif inf1:
        xi1, xi2, f12 = 0.0, reg / l2, l2
    elif inf2:
        xi1, xi2, f12 = reg / l1, 0.0, l1
    else:
        xi1 = (l2 * reg) / (l1 * (reg + l1 + l2))
        xi2 = (l1 * reg) / (l2 * (reg + l1 + l2))
        f12 = l1 * l2 / (l1 + l2)
    xi_rho1 = 0.0 if inf1 else xi1 * l1 / reg
    xi_rho2 = 0.0 if inf2 else xi2 * l2 / reg
    lse = torch.logsumexp

    def u_step(log_kv, v):
        u_hat = fa * (log_a - log_kv) + k_rho2 * lse(log_b + r2 * v, 0)
        return u_hat - xi_rho1 * lse(log_a - r1 * u_hat, 0)

    def v_step(log_ktu, u):
        v_hat = fb * (log_b - log_ktu) + k_rho1 * lse(log_a - r1 * u, 0)
        return v_hat - xi_rho2 * lse(log_b - r2 * v_hat, 0)

    def translation(u, v):
        return (f12 / reg) * (lse(log_a - r1 * u, 0) - lse(log_b - r2 * v, 0))

    return u_step, v_step, translation


#: Row blocks of the fused iteration hold about this many bytes of the kernel (they stay in the
#: L2/L3 cache between the two products); a kernel at most twice this size is one block.
_BLOCK_BYTES = 4 << 20
#: The plain unbalanced updates run in :func:`_plain_stage` (False: the generic loop, for tests).
_FAST_PLAIN = True


#: Above this relative rounding of the largest term (``eps * max(|x|, |y|)``), the sum
#: ``x_i + y_j - cost_ij / reg`` of a float32 kernel is formed in float64 (row blocks).
_WIDE_SUM_ABOVE = 1e-4


def _outer_sum_minus_cost(out, cost, reg, x, y):
    """``out <- x_i + y_j - cost_ij / reg`` in one pass over ``cost``: a rank-2 ``addmm``,
    ``[x, 1] [1, y]^T``, with the float64 vectors ``x``, ``y`` cast to ``out``'s dtype.

    At small ``reg`` the three terms are large and cancel (``|x|`` near ``max C / reg``,
    2e5 at reg 1e-3 on a median-normalised cost), and float32 rounding of them would move
    each entry of the result by 1e-2 where the result itself is of order 10: then (float32
    ``out`` and ``eps * max(|x|, |y|)`` above ``_WIDE_SUM_ABOVE``) the sum is formed in
    float64 over row blocks and only the result is rounded to ``out``'s dtype."""
    low = out.dtype
    big = float(torch.maximum(x.abs().max(), y.abs().max()))
    if low == torch.float64 or torch.finfo(low).eps * big <= _WIDE_SUM_ABOVE:
        left = torch.stack([x, torch.ones_like(x)], 1).to(low)
        right = torch.stack([torch.ones_like(y), y], 0).to(low)
        return torch.addmm(cost, left, right, beta=-1.0 / reg, out=out)
    left = torch.stack([x, torch.ones_like(x)], 1).double()
    right = torch.stack([torch.ones_like(y), y], 0).double()
    for i, j in _row_blocks(*cost.shape, 8):
        out[i:j].copy_(torch.addmm(cost[i:j].double(), left[i:j], right, beta=-1.0 / reg))
    return out


def _row_blocks(n, m, itemsize):
    """Row ranges for the fused iteration: one block when the kernel is small."""
    rows = max(16, _BLOCK_BYTES // max(1, m * itemsize))
    if n * m * itemsize <= 2 * _BLOCK_BYTES or rows >= n:
        return [(0, n)]
    return [(i, min(n, i + rows)) for i in range(0, n, rows)]


def _log_sinkhorn_stage(log_a, log_b, la, lb, cost, reg, reg_m, ti, v0, max_iter, tol, buf, shift=False):
    """Generalised Sinkhorn for one ``reg``, from the log-scaling ``v0``.

    ``la``/``lb`` are the parts of the log-kernel that are not ``-cost/reg`` (``log a``/``log b``
    for ``reg_type="kl"``, zeros otherwise); ``ti`` selects the translation-invariant updates
    (:func:`_scaling_updates`). The log-scalings (u, v) are split into an absorbed part (f, g),
    folded into the stabilised kernel ``K~ = exp(logK + f (+) g)``, and a small residual, so that
    each iteration is two matrix-vector products; the residual is absorbed when it passes ``tau``
    (Schmitzer's stabilisation) and an exact ``logsumexp`` step is taken when a product
    underflows. The plain updates are fused over row blocks (:func:`_row_blocks`):
    ``K~_I exp(v - g)`` gives ``u_I``, and ``K~_I^T exp(u_I - f_I)`` is added to
    ``K~^T exp(u - f)`` while the block is still in cache, so a large kernel is read once per
    iteration instead of twice (the same iterates). Stops, as POT's kernel iterations do, when
    the relative change of the scalings ``0.5 (max|du| / max|u| + max|dv| / max|v|)`` is below
    ``tol``. ``buf`` is an (n, m) work array, overwritten (no other n x m array is allocated).
    ``shift`` adds the extrapolation of the total-mass mode (:func:`_plain_stage`; plain updates
    of an unbalanced problem only). Returns (log u, log v, iterations, last change).
    """
    tau = 0.2 * -math.log(torch.finfo(cost.dtype).tiny)
    u_step, v_step, translation = _scaling_updates(log_a, log_b, reg, reg_m, ti)
    l1, l2 = reg_m
    fa = 1.0 if math.isinf(l1) else l1 / (l1 + reg)
    fb = 1.0 if math.isinf(l2) else l2 / (l2 + reg)
    low = buf.dtype  # the n x m work is in the cost's dtype, the O(n) scalings in float64
    n, m = cost.shape

    def log_kernel(f, g):  # buf <- logK + f (+) g, in place
        return _outer_sum_minus_cost(buf, cost, reg, la + f, lb + g)

    def logsumexp_(x, dim):  # logsumexp that overwrites x, in float64
        mx = x.amax(dim, keepdim=True).clamp_min(torch.finfo(x.dtype).min)
        return x.sub_(mx).exp_().sum(dim).double().log_().add_(mx.squeeze(dim).double())

    def exact_step(v):
        u = u_step(logsumexp_(log_kernel(torch.zeros_like(log_a), v), 1), v)
        return u, v_step(logsumexp_(log_kernel(u, torch.zeros_like(log_b)), 0), u)

    def shifted(u, v):  # what the stopping rule compares (the plan is the same)
        if translation is None:
            return u, v
        t = translation(u, v)
        return u + t, v - t

    def change(u, v, u_prev, v_prev):
        return 0.5 * (_relative_change(u, u_prev) + _relative_change(v, v_prev))

    plain = translation is None
    balanced = math.isinf(reg_m[0]) and math.isinf(reg_m[1])
    if plain and not balanced and (_FAST_PLAIN or shift):
        return _plain_stage(log_a, log_b, la, lb, cost, reg, reg_m, v0, max_iter, tol, buf, exact_step, shift)
    blocks = _row_blocks(n, m, buf.element_size()) if plain else [(0, n)]
    kv, ktu = torch.empty(n, dtype=low, device=buf.device), torch.empty(m, dtype=low, device=buf.device)
    eu, tmp = torch.empty_like(kv), torch.empty_like(log_a)  # tmp in float64

    def absorbed(f, g):
        """The kernel K~ for (f, g), and the constants of the plain updates in that frame:
        ``u = fa (log a + f - log kv)``, ``u - f = c - fa log kv`` with ``c = fa log a - (1 - fa) f``."""
        kt = log_kernel(f, g).exp_()
        return kt, fa * (log_a + f), fb * (log_b + g), fa * log_a - (1.0 - fa) * f

    def fused_products(kt, ev, c):
        """kv = K~ ev and ktu = K~^T exp(u - f), u from kv, in one pass over K~ (row blocks).
        ``u - f = c - fa log kv`` is formed in float64 (c is up to ~100 where u - f is small:
        float32 would lose 1e-5 of it) and only the exponential is cast to the kernel's dtype."""
        ktu.zero_()
        for i, j in blocks:
            kb, t = kt[i:j], tmp[i:j]
            torch.mv(kb, ev, out=kv[i:j])
            t.copy_(kv[i:j]).log_()
            torch.add(c[i:j], t, alpha=-fa, out=t).exp_()
            ktu.addmv_(kb.T, eu[i:j].copy_(t))

    # balanced (both penalties infinite): the scalings of a balanced problem can drift along
    # directions that leave the plan unchanged, so stop on the row-marginal violation instead
    # (POT's balanced criterion), computed from the product of the next iteration
    balanced = math.isinf(reg_m[0]) and math.isinf(reg_m[1])
    a = log_a.exp()
    u, v = exact_step(v0)
    su, sv = shifted(u, v)
    err = math.inf if balanced else float(change(su, sv, torch.zeros_like(su), v0))
    if err < tol or max_iter == 1:
        return u, v, 1, err
    f, g = u, v
    kt, ca, cb, c = absorbed(f, g)
    dv = v - g
    n_iter = 1
    for n_iter in range(2, max_iter + 1):
        su_prev, sv_prev, u_prev, v_prev = su, sv, u, v
        ev = dv.exp().to(low)
        if plain:
            fused_products(kt, ev, c)
            log_kv = kv.double().log()
            u = torch.add(ca, log_kv, alpha=-fa)  # fa (log a - (log kv - f))
            v = torch.add(cb, ktu.double().log_(), alpha=-fb)
            log_kv = log_kv.sub_(f) if balanced else None
        else:
            log_kv = torch.mv(kt, ev, out=kv).double().log_().sub_(f)
            u = u_step(log_kv, v)
            v = v_step(torch.mv(kt.T, (u - f).exp().to(low), out=ktu).double().log_().sub_(g), u)
        su, sv = shifted(u, v)
        dv = v - g
        # one host sync per iteration: the change (NaN/inf after an underflow) and the residual size
        size = torch.maximum((u - f).abs().max(), dv.abs().max())
        crit = (torch.exp(u_prev + log_kv) - a).abs().sum() if balanced else change(su, sv, su_prev, sv_prev)
        err, size = torch.stack([crit, size]).tolist()
        if not (math.isfinite(err) and math.isfinite(size)):
            # a product underflowed: one exact step from the last finite scaling, then re-absorb
            u, v = exact_step(v_prev)
            su, sv = shifted(u, v)
            err = math.inf if balanced else float(change(su, sv, su_prev, sv_prev))
            size = math.inf
        if err < tol:
            break
        if size > tau:
            f, g = u, v
            kt, ca, cb, c = absorbed(f, g)
        dv = v - g
    return u, v, n_iter, err


#: Padding of the (2, max(n, m)) float64 array that holds log u and log v side by side (the
#: stopping statistic of both sides in one pass); exp(_PAD - M) is 0 and _PAD - _PAD is 0.
_PAD = -1e300


def _first_step(la, lb, log_a, log_b, cost, reg, fa, fb, v0, buf):
    """The first generalised Sinkhorn step from ``v0``, exactly as ``logsumexp`` would give it,
    in six passes over ``buf`` instead of ten: ``buf <- exp(logK + v0 - m_i)`` with the row
    maxima ``m_i`` gives the u half (row sums), and one product with it the v half. Returns
    (log u, log v), or None where a column sum is too small to trust in the working dtype
    (the caller then takes the ``logsumexp`` step)."""
    _outer_sum_minus_cost(buf, cost, reg, la, lb + v0)
    mx = buf.amax(1, keepdim=True)
    rows = buf.sub_(mx).exp_().sum(1).double()  # every row holds exp(0) = 1: rows >= 1
    mx = mx.squeeze(1).double()
    u = fa * (log_a - mx - rows.log_())
    w = mx + u  # log of the row weights of the v half
    s = w.max()
    cols = torch.mv(buf.T, (w - s).exp_().to(buf.dtype)).double()
    info = torch.finfo(buf.dtype)
    if not bool(cols.min() > cols.new_tensor(cost.shape[0] * info.tiny / info.eps)):
        return None
    # buf_ij = exp(logK_ij + v0_j - m_i): logsumexp_i(logK_ij + u_i) = s - v0_j + log cols_j
    v = fb * (log_b - (cols.log_() + s - v0))
    return u, v


def _plain_stage(log_a, log_b, la, lb, cost, reg, reg_m, v0, max_iter, tol, buf, exact_step, shift=False):
    """:func:`_log_sinkhorn_stage` for the plain updates of an unbalanced problem (at least one
    finite penalty), with fewer small operations per iteration: log u and log v live side by
    side in a padded (2, L) float64 array, so POT's statistic for both sides is one pass, and
    the residuals ``u - f``, ``v - g`` share one array, so the absorption test is one
    reduction; each row block is six operations (its views made once per absorption).
    The iterates are those of :func:`_log_sinkhorn_stage` (the same arithmetic, in float64
    for the O(n) work).

    ``shift``: the map from one log v to the next commutes with constant shifts,
    ``T(v + c) = T(v) + fa fb c`` exactly (a constant on log v moves log Kv, hence log u, by the
    same constant times -fa, and log v by fa fb c), so the total-mass mode converges at the rate
    ``fa fb``, close to one when both penalties are strong. Linearised at the fixed point, the
    v-map is ``fa fb Q P`` with P, Q the row- and column-normalised plans; Q P is row-stochastic
    and its left eigenvector for the eigenvalue one is the plan's column mass beta. The beta-mean
    ``delta`` of the last change of log v therefore measures the slow mode alone, and the shift
    ``k = delta / (1 - fa fb)`` (log v += fa fb k, log u -= fa k) removes it: the same fixed
    point (k is zero there), without the slow mode. Returns (log u, log v, iterations, last
    change)."""
    tau = 0.2 * -math.log(torch.finfo(cost.dtype).tiny)
    l1, l2 = reg_m
    fa = 1.0 if math.isinf(l1) else l1 / (l1 + reg)
    fb = 1.0 if math.isinf(l2) else l2 / (l2 + reg)
    low, dev = buf.dtype, buf.device
    n, m = cost.shape
    f64 = dict(dtype=torch.float64, device=dev)
    wide = low == torch.float64
    length = max(n, m)
    scal = [torch.full((2, length), _PAD, **f64), torch.full((2, length), _PAD, **f64)]
    res = torch.empty(n + m, **f64)  # residuals u - f (first n) and v - g
    ru, rv = res[:n], res[n:]
    lkv, lktu, e64 = torch.empty(n, **f64), torch.empty(m, **f64), torch.empty(n, **f64)
    kv, ktu = torch.empty(n, dtype=low, device=dev), torch.empty(m, dtype=low, device=dev)
    eu = e64 if wide else torch.empty(n, dtype=low, device=dev)
    ev64 = torch.empty(m, **f64)
    ev = ev64 if wide else torch.empty(m, dtype=low, device=dev)
    ranges = _row_blocks(n, m, buf.element_size())
    extrapolate = shift and fa * fb < 1.0

    first = _first_step(la, lb, log_a, log_b, cost, reg, fa, fb, v0, buf)
    u, v = first if first is not None else exact_step(v0)
    cur, old = scal
    cur[0, :n], cur[1, :m] = u, v
    old[0, :n], old[1, :m] = 0.0, v0  # POT starts from u = 1
    prev_max = old.amax(1)

    def change(new, prev, prev_max):
        new_max = new.amax(1)
        top = torch.maximum(new_max, prev_max).clamp_min_(0.0).unsqueeze(1)
        d = (new - top).exp_().sub_((prev - top).exp_()).abs_()
        return d.amax(1).mean(), new_max

    crit, prev_max = change(cur, old, prev_max)
    err = float(crit)
    if err < tol or max_iter == 1:
        return u, v, 1, err

    def absorb(state):
        f, g = state[0, :n].clone(), state[1, :m].clone()
        kt = _outer_sum_minus_cost(buf, cost, reg, la + f, lb + g).exp_()
        cb, c = fb * (log_b + g), fa * log_a - (1.0 - fa) * f
        views = [(kt[i:j], kt[i:j].T, kv[i:j], lkv[i:j], c[i:j], ru[i:j], e64[i:j], eu[i:j]) for i, j in ranges]
        rv.zero_()
        return f, g, cb, views

    f, g, cb, views = absorb(cur)
    n_iter = 1
    for n_iter in range(2, max_iter + 1):
        old, cur = cur, old
        if wide:
            torch.exp(rv, out=ev)
        else:
            ev.copy_(torch.exp(rv, out=ev64))
        ktu.zero_()
        for kb, kbt, kv_b, lkv_b, c_b, ru_b, e_b, eu_b in views:
            torch.mv(kb, ev, out=kv_b)
            torch.log(kv_b, out=lkv_b)
            torch.add(c_b, lkv_b, alpha=-fa, out=ru_b)  # u - f = c - fa log kv, in float64
            torch.exp(ru_b, out=e_b)
            if not wide:
                eu_b.copy_(e_b)
            ktu.addmv_(kbt, eu_b)
        torch.add(ru, f, out=cur[0, :n])
        torch.log(ktu, out=lktu)
        torch.add(cb, lktu, alpha=-fb, out=cur[1, :m])
        torch.sub(cur[1, :m], g, out=rv)
        if extrapolate:  # remove the total-mass mode (see above): O(n) work, no host sync
            beta = torch.exp(rv, out=ev64).mul_(ktu)  # the plan's column mass (up to a factor)
            delta = torch.dot(cur[1, :m] - old[1, :m], beta) / beta.sum()
            k = torch.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0) / (1.0 - fa * fb)
            cur[1, :m].add_(k, alpha=fa * fb)
            cur[0, :n].sub_(k, alpha=fa)
            torch.sub(cur[1, :m], g, out=rv)
        # one host sync per iteration: the change (NaN/inf after an underflow) and the residual size
        crit, new_max = change(cur, old, prev_max)
        err, size = torch.stack([crit, res.abs().max()]).tolist()
        if not (math.isfinite(err) and math.isfinite(size)):
            # a product underflowed: one exact step from the last finite scaling, then re-absorb
            u, v = exact_step(old[1, :m].clone())
            cur[0, :n], cur[1, :m] = u, v
            crit, new_max = change(cur, old, prev_max)
            err, size = float(crit), math.inf
        prev_max = new_max
        if err < tol:
            break
        if size > tau:
            f, g, cb, views = absorb(cur)
    return cur[0, :n].clone(), cur[1, :m].clone(), n_iter, err


def _sinkhorn_log_unbalanced(a, b, cost, reg, reg_m, reg_type, max_iter, tol, reg_scaling=None,
                             translation_invariant=False, shift=False):
    """Log-domain generalised Sinkhorn with optional epsilon scaling (POT 0.9 has no log-domain
    unbalanced solver). Returns (plan, iterations over all stages, converged, last change)."""
    log_a, log_b = a.double().log(), b.double().log()  # O(n) work in float64: float32 cannot resolve tol
    la, lb = (log_a, log_b) if reg_type == "kl" else (torch.zeros_like(log_a), torch.zeros_like(log_b))
    schedule = _reg_schedule(cost, reg, reg_scaling)
    v = torch.zeros_like(log_b)
    buf = torch.empty_like(cost)
    total, err = 0, float("inf")
    for k, r in enumerate(schedule):
        last = k == len(schedule) - 1
        budget = max_iter - total if last else max(1, (max_iter - total) // 2)
        u, v, n_iter, err = _log_sinkhorn_stage(log_a, log_b, la, lb, cost, r, reg_m, translation_invariant, v,
                                                budget, tol if last else max(tol, _SCALING_TOL), buf, shift)
        total += n_iter
        if not last:
            v = v * (r / schedule[k + 1])  # the dual potential reg * log v carries over
    plan = _outer_sum_minus_cost(buf, cost, reg, la + u, lb + v).exp_()
    return plan, total, err < tol, err


@validate(
    cost=_COST,
    a=_weights("n", strict=True),
    b=_weights("m", strict=True),
    reg=Real(low=0, closed="neither"),
    reg_m=MarginalPenalty(),
    reg_type=Options(*_REG_TYPES),
    method=Options(*_UNBALANCED_METHODS),
    max_iter=Integer(low=1),
    tol=Real(low=0, closed="neither"),
    reg_scaling=Bool(optional=True),
    same=[("cost", "a", "b")],
)
def unbalanced_ot(
    a: torch.Tensor | None,
    b: torch.Tensor | None,
    cost: torch.Tensor,
    *,
    reg: float,
    reg_m: float | tuple[float, float] = (1.0, 50.0),
    reg_type: str = "kl",
    method: str = "sinkhorn_log",
    max_iter: int = 10_000,
    tol: float = 1e-6,
    reg_scaling: bool | None = None,
) -> OTResult:
    r"""Unbalanced entropic OT: soft marginal constraints with KL penalties.

    .. math::

        \min_{\gamma \ge 0} \langle \gamma, C \rangle + \mathrm{reg}\, \Omega(\gamma)
        + \lambda_1 \operatorname{KL}(\gamma 1 \,\|\, a) + \lambda_2 \operatorname{KL}(\gamma^\top 1 \,\|\, b),

    with :math:`\Omega(\gamma) = \operatorname{KL}(\gamma \,\|\, a b^\top)` (``reg_type="kl"``) or
    :math:`\sum_{ij} \gamma_{ij}(\log\gamma_{ij} - 1)` (``reg_type="entropy"``), exactly as POT defines
    them. The solution is :math:`\gamma = \operatorname{diag}(u) K \operatorname{diag}(v)` with the
    generalised Sinkhorn updates :math:`u = (a / K v)^{\lambda_1/(\lambda_1+\mathrm{reg})}`,
    :math:`v = (b / K^\top u)^{\lambda_2/(\lambda_2+\mathrm{reg})}`, :math:`(\lambda_1, \lambda_2)` = ``reg_m``.
    ``reg`` and ``reg_m`` are absolute weights against ``cost`` as given (normalise the cost
    first, :func:`normalize_cost`, for scale-free weights).

    ``method="sinkhorn_log"`` (the default) runs these updates on :math:`\log u, \log v`, with
    the log-scalings absorbed into a stabilised kernel so that each iteration is still two
    matrix-vector products (the O(n) work in float64 even for a float32 cost); for a kernel
    larger than a few MiB the two products are fused over row blocks that stay in cache, so
    the kernel is read once per iteration, not twice. It never underflows, whatever ``reg``
    and the dtype, and stops on POT's statistic (the relative change of the scalings below
    ``tol``), so it takes the iterations POT's ``"sinkhorn"`` takes (the same count in
    float64; in float32 within a few, as POT's numpy and torch runs differ from each other);
    ``benchmarks/bench_lineage.py`` times both in one run. ``"sinkhorn_log_ti"`` runs POT's
    ``"sinkhorn_translation_invariant"`` updates the same way (about half the iterations), but
    it is not the default: like POT's, it converges to a plan with a *higher* objective than the
    generalised Sinkhorn fixed point (0.93866 against 0.93719 at ``reg=1`` in our test, a
    relative 1e-6 at ``reg=0.05``). ``"sinkhorn_log_shift"`` is ``"sinkhorn_log"`` plus an
    O(n) extrapolation of the total-mass mode, which converges at the rate
    :math:`\lambda_1 \lambda_2 / ((\lambda_1 + \mathrm{reg})(\lambda_2 + \mathrm{reg}))` in
    the plain iteration (derived in the lineage chapter): the same fixed point in fewer
    iterations (float64, 1000 cells, ``reg=0.05``: 119 against 262 with ``reg_m=(1, 50)``, 195
    against 4187 with ``reg_m=(50, 50)``), but its stopping statistic no longer sees that mode, so at the
    same ``tol`` its plan is further from the fixed point (float64: use a 100 times smaller
    ``tol`` for POT's accuracy at ``tol``, still fewer iterations; float32: both stop at the
    dtype's resolution at ``tol=1e-6``). It is not the default because ``tol`` then means
    something other than it does in POT. POT 0.9 has no
    log-domain unbalanced solver (its ``"sinkhorn_stabilized"`` variant did not converge on
    our problems). For ``reg`` below 1% of the mean cost (``reg_scaling=None``) both log-domain
    methods use epsilon scaling: they solve for ``reg`` values 4 times apart from 5% of the mean
    cost down to ``reg``, each warm-started from the last. When ``max_iter`` is reached first a
    :class:`ConvergenceWarning` is issued and the last iterate returned (``converged=False``).
    The POT methods are available by name; ``"auto"`` uses POT's kernel iteration
    (``"sinkhorn"``) when :math:`e^{-C/\mathrm{reg}}` cannot underflow in the cost's dtype, and
    the log domain otherwise; a POT run that underflows raises ``FloatingPointError`` instead
    of returning its last finite iterate. ``reg_type`` and ``method`` are always passed to POT
    explicitly (its default ``reg_type`` changed in 0.9.5). See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    a : Tensor, shape (n,), or None
        Strictly positive source measure (uniform probability if None).
    b : Tensor, shape (m,), or None
        Strictly positive target measure (uniform probability if None).
    cost : Tensor, shape (n, m)
    reg : float
        Entropic weight, :math:`> 0`.
    reg_m : float or (float, float)
        KL marginal penalties :math:`(\lambda_1, \lambda_2)` (one number for both), as in POT;
        ``inf`` enforces a marginal exactly.
    reg_type : {"kl", "entropy"}
    method : str
        One of ``"sinkhorn_log"`` (default), ``"sinkhorn_log_shift"``, ``"sinkhorn_log_ti"``,
        ``"auto"``, ``"sinkhorn"``,
        ``"sinkhorn_stabilized"``, ``"sinkhorn_translation_invariant"``.
    max_iter : int
        Iteration cap (over all epsilon-scaling stages); reaching it issues a
        :class:`ConvergenceWarning`.
    tol : float
        Stopping threshold on POT's statistic :math:`\tfrac12(\max|\Delta u| / \max(|u|, 1) +
        \max|\Delta v| / \max(|v|, 1))` (for a balanced problem, both penalties ``inf``: the L1
        violation of the source marginal).
    reg_scaling : bool or None
        Epsilon scaling for the log-domain methods: ``None`` (default) turns it on when ``reg``
        is below 1% of the mean cost.

    Returns
    -------
    OTResult

    References
    ----------
    Chizat, Peyré, Schmitzer, Vialard (2018), *Scaling algorithms for unbalanced optimal transport
    problems*; Séjourné, Vialard, Peyré (2022), *Faster unbalanced optimal transport: translation
    invariant Sinkhorn and 1-D Frank-Wolfe*, AISTATS; Schiebinger et al. (2019), *Cell*.

    Examples
    --------
    >>> import torch
    >>> C = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> a = torch.tensor([0.5, 0.5], dtype=torch.float64)
    >>> res = unbalanced_ot(a, a, C, reg=0.05, reg_m=1e6)  # huge penalty: balanced
    >>> res.plan.sum(0)
    tensor([0.5000, 0.5000], dtype=torch.float64)
    """
    a, b = _marginals(a, b, cost, "unbalanced_ot")
    return _unbalanced_ot(a, b, cost, reg, _reg_m_pair(reg_m), reg_type, method, max_iter, tol, reg_scaling)


def _unbalanced_ot(a, b, cost, reg, reg_m, reg_type="kl", method="sinkhorn_log", max_iter=10_000, tol=1e-6,
                   reg_scaling=None, func="unbalanced_ot"):
    """Unchecked :func:`unbalanced_ot` (marginals filled in, ``reg_m`` a pair of floats)."""
    if method == "auto":
        if _kernel_is_safe(a, b, cost, reg):
            try:
                return _unbalanced_pot(a, b, cost, reg, reg_m, reg_type, "sinkhorn", max_iter, tol, func)
            except FloatingPointError:
                pass  # the scalings left the dtype's range: redo it in the log domain
        method = "sinkhorn_log"
    if method in _LOG_UNBALANCED:
        plan, n_iter, converged, err = _sinkhorn_log_unbalanced(a, b, cost, reg, reg_m, reg_type, max_iter, tol,
                                                                reg_scaling, method == "sinkhorn_log_ti",
                                                                method == "sinkhorn_log_shift")
        _check_plan(plan, method)
        if not converged:
            _warn_not_converged(func, method, max_iter, reg, err)
        return OTResult(plan=plan, value=_value(plan, cost), n_iter=n_iter, method=method, converged=converged)
    return _unbalanced_pot(a, b, cost, reg, reg_m, reg_type, method, max_iter, tol, func)


def _unbalanced_pot(a, b, cost, reg, reg_m, reg_type, method, max_iter, tol, func="unbalanced_ot"):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan, log = ot.unbalanced.sinkhorn_unbalanced(
            a, b, cost, reg, reg_m, method=method, reg_type=reg_type,
            numItermax=max_iter, stopThr=tol, log=True,
        )
    for w in caught:
        msg = str(w.message).lower()
        # POT returns the last finite iterate after an underflow: refuse it rather than hide it
        if "numerical errors" in msg:
            raise FloatingPointError(
                f"POT's {method!r} solver hit underflow ({w.message}); normalise the cost, "
                "raise reg or use method='sinkhorn_log'"
            )
        # POT notes that reg_type='entropy' ignores c (we never pass c); non-convergence is
        # reported below as a ConvergenceWarning; anything else is passed on
        if "reg_type = entropy" not in msg and "converge" not in msg:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    errs = log.get("err", ())
    n_iter = int(log["niter"]) if "niter" in log else len(errs) or max_iter
    _check_plan(plan, method)
    last = float(errs[-1]) if len(errs) else None
    converged = n_iter < max_iter or (last is not None and last < tol)
    if not converged:
        _warn_not_converged(func, method, max_iter, reg, last)
    return OTResult(plan=plan, value=(plan * cost).sum(), n_iter=n_iter, method=method, converged=converged)
