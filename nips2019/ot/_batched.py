r"""Batched balanced entropic OT in the log domain, with epsilon scaling and implicit gradients.

:func:`entropic_ot` solves one problem with POT; :func:`sinkhorn_log` solves a whole batch
of small problems at once in PyTorch (any leading batch shape, on the inputs' device), and
differentiates the solution by the implicit function theorem instead of back-propagating
through every iteration. Written for the soft sorting of :doc:`/book/discrete`; the
Sinkhorn divergence of the distributions chapter builds on it, with the averaged symmetric
solver of its self-terms (``_sinkhorn_log_symmetric``) written here next to the alternating one.

Each stage runs in the kernel domain (scalings ``u, v`` and matrix-vector products with
``K = exp(-C / reg)``: no exponential per entry and iteration) when no entry of ``K`` and no
scaling can under- or overflow in the working dtype, ``max |C| / reg <= -log(tiny) / 4``
(177 in float64, 21.8 in float32), and in the log domain otherwise or if a kernel-domain stage
meets a non-finite value.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from nips2019.utils import Bool, Integer, Options, Real, Tensor, validate

from ._solvers import _SCALING_TOL, _reg_schedule, _warn_not_converged

__all__ = ["SinkhornResult", "sinkhorn_log"]

#: How often (iterations) the stopping rule is evaluated: one host sync per check.
_CHECK_EVERY = 10
#: Newton polishing (``newton=None``) is used up to this many points per problem (n + m), from a
#: Sinkhorn iterate whose marginal violation is below ``_NEWTON_FROM``, for at most ``_NEWTON_STEPS``.
_NEWTON_MAX_SIZE = 512
_NEWTON_FROM = 1e-3
_NEWTON_STEPS = 30
#: ... and only once plain Sinkhorn has not met ``tol`` within this many iterations of the last stage.
_NEWTON_AFTER = 500


@dataclasses.dataclass
class SinkhornResult:
    r"""The solution of a batch of entropic OT problems (:func:`sinkhorn_log`).

    The plan is written through the dual potentials,

    .. math::

        P_{ij} = a_i b_j \exp\big((f_i + g_j - C_{ij}) / \mathrm{reg}\big),

    with the additive ambiguity :math:`(f + c, g - c)` fixed by
    :math:`\sum_i f_i = \sum_j g_j`. See the chapter :doc:`/book/discrete`.

    Attributes
    ----------
    plan : Tensor, shape (..., n, m)
        The coupling; its column sums equal ``b`` exactly, its row sums equal ``a`` to ``tol``.
    f : Tensor, shape (..., n)
        Source potential, in cost units (``f / reg`` is the log-scaling :math:`\log u - \log a`
        of the kernel form :math:`P = \operatorname{diag}(u) e^{-C/\mathrm{reg}} \operatorname{diag}(v)`).
    g : Tensor, shape (..., m)
        Target potential, in cost units.
    value : Tensor, shape (...)
        Transport cost :math:`\langle P, C \rangle`.
    objective : Tensor, shape (...)
        Regularised objective :math:`\langle P, C\rangle + \mathrm{reg}\,\operatorname{KL}(P \,\|\, a b^\top)`
        (generalised KL, :math:`\sum P \log(P / ab^\top) - P + ab^\top`); at convergence it equals the
        dual value :math:`\langle a, f\rangle + \langle b, g\rangle`, and its gradient with respect to
        ``cost`` is ``plan``.
    err : Tensor, shape (...)
        Relative L1 violation of the source marginal, :math:`\|P 1 - a\|_1 / \|a\|_1`, per problem.
    n_iter : int
        Sinkhorn iterations used (over all epsilon-scaling stages; the whole batch iterates together).
    converged : bool
        Whether every problem met ``tol`` before ``max_iter``.
    reg : float
        The entropic weight solved for (the last stage of the schedule).
    """

    plan: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    value: torch.Tensor
    objective: torch.Tensor
    err: torch.Tensor
    n_iter: int
    converged: bool
    reg: float


# ---------------------------------------------------------------------------------------------
# Iterations
# ---------------------------------------------------------------------------------------------


def _f_update(log_b, g, neg_cost_over_reg, reg):
    """f_i = -reg log sum_j b_j exp((g_j - C_ij) / reg)."""
    return -reg * torch.logsumexp(neg_cost_over_reg + (log_b + g / reg).unsqueeze(-2), dim=-1)


def _g_update(log_a, f, neg_cost_over_reg, reg):
    """g_j = -reg log sum_i a_i exp((f_i - C_ij) / reg)."""
    return -reg * torch.logsumexp(neg_cost_over_reg + (log_a + f / reg).unsqueeze(-1), dim=-2)


def _kernel_domain_ok(cost, reg):
    """Whether ``exp(-C / reg)`` and the Sinkhorn scalings stay within the dtype's normal range:
    ``max |C| / reg <= -log(tiny) / 4`` (one host sync)."""
    limit = -math.log(torch.finfo(cost.dtype).tiny) / 4
    return float(cost.detach().abs().max()) / reg <= limit


def _kernel_stage(log_a, log_b, a, b, cost, reg, g, max_iter, tol):
    """:func:`_stage` with scalings ``u = a e^{f/reg}``, ``v = b e^{g/reg}`` and the kernel
    ``K = e^{-C/reg}``: ``u = a / (K v)``, ``v = b / (K^T u)``, two matrix-vector products per
    iteration. Returns (f, g, iterations, err) as :func:`_stage`, or None if a scaling became
    non-finite or zero (the caller then runs the log domain)."""
    kernel = torch.exp(cost / -reg)
    kernel_t = kernel.transpose(-1, -2)
    mass = a.sum(-1)
    v = b * torch.exp(g / reg)
    u = a / (kernel @ v.unsqueeze(-1)).squeeze(-1)
    v = b / (kernel_t @ u.unsqueeze(-1)).squeeze(-1)
    err = torch.full(u.shape[:-1], math.inf, dtype=u.dtype, device=u.device)
    n_iter = 1
    while n_iter < max_iter:
        kv = (kernel @ v.unsqueeze(-1)).squeeze(-1)
        n_iter += 1
        if n_iter % _CHECK_EVERY == 0 or n_iter == max_iter:
            err = (u * kv - a).abs().sum(-1).detach() / mass.detach()  # row sums of the plan (u, v)
            if not bool(torch.isfinite(err).all()):
                return None
            if float(err.max()) < tol:
                break
        u = a / kv
        v = b / (kernel_t @ u.unsqueeze(-1)).squeeze(-1)
    if not (bool((u > 0).all()) and bool((v > 0).all()) and bool(torch.isfinite(u).all())
            and bool(torch.isfinite(v).all())):
        return None
    return reg * (u.log() - log_a), reg * (v.log() - log_b), n_iter, err


def _stage(log_a, log_b, a, cost, reg, g, max_iter, tol, b=None):
    """Alternate the two potential updates for one ``reg`` from ``g``; stop when the relative L1
    violation of the source marginal (the target marginal is exact after each g-update) is below
    ``tol`` for every problem of the batch. Returns (f, g, iterations, err per problem). With the
    target weights ``b`` given, runs in the kernel domain where :func:`_kernel_domain_ok`."""
    if b is not None and _kernel_domain_ok(cost, reg):
        out = _kernel_stage(log_a, log_b, a, b, cost, reg, g, max_iter, tol)
        if out is not None:
            return out
    nc = cost / -reg
    mass = a.sum(-1)
    f = _f_update(log_b, g, nc, reg)
    g = _g_update(log_a, f, nc, reg)
    err = torch.full(f.shape[:-1], math.inf, dtype=f.dtype, device=f.device)
    n_iter = 1
    while n_iter < max_iter:
        f_new = _f_update(log_b, g, nc, reg)
        n_iter += 1
        if n_iter % _CHECK_EVERY == 0 or n_iter == max_iter:
            # row sums of the plan (f, g): a_i exp((f_i - f_new_i) / reg)
            err = (a * torch.expm1((f - f_new) / reg)).abs().sum(-1).detach() / mass.detach()
            if not bool(torch.isfinite(err).all()):
                raise FloatingPointError("sinkhorn_log: non-finite potentials (a bug: please report it)")
            if float(err.max()) < tol:
                break
        f = f_new
        g = _g_update(log_a, f, nc, reg)
    return f, g, n_iter, err


def _gauge(f, g):
    """Shift (f + c, g - c) so that sum f = sum g (the gauge the implicit gradient assumes)."""
    c = (g.sum(-1, keepdim=True) - f.sum(-1, keepdim=True)) / (f.shape[-1] + g.shape[-1])
    return f + c, g - c


def _plan(log_a, log_b, f, g, cost, reg):
    return torch.exp((log_a + f / reg).unsqueeze(-1) + (log_b + g / reg).unsqueeze(-2) - cost / reg)


def _row_err(a, log_a, log_b, f, g, nc, reg, mass):
    """Relative L1 violation of the source marginal of the plan (f, g)."""
    return (a * torch.expm1((f - _f_update(log_b, g, nc, reg)) / reg)).abs().sum(-1) / mass


def _hessian(plan):
    """H = [[diag(P1), P], [P^T, diag(P^T 1)]] + alpha v v^T, v = (1, -1): the Jacobian of the marginals
    in (f, g) times reg, made invertible along the gauge direction v (H v = 0)."""
    n, m = plan.shape[-2:]
    p1, pt1 = plan.sum(-1), plan.sum(-2)
    alpha = (p1.sum(-1) + pt1.sum(-1))[..., None, None] / (n + m) ** 2
    v = torch.cat([torch.ones_like(p1), -torch.ones_like(pt1)], -1)
    top = torch.cat([torch.diag_embed(p1), plan], -1)
    bottom = torch.cat([plan.transpose(-1, -2), torch.diag_embed(pt1)], -1)
    return torch.cat([top, bottom], -2) + alpha * v.unsqueeze(-1) * v.unsqueeze(-2)


def _newton(a, b, log_a, log_b, cost, reg, f, g, err, tol, max_steps):
    """Newton's method on the marginal equations P1 = a, P^T 1 = b (Brauer, Clason, Lorenz & Wirth
    2017), with a backtracking line search per problem; quadratic near the solution, where Sinkhorn
    can need tens of thousands of iterations (near-ties in soft sorting). Returns (f, g, steps, err)."""
    nc = cost / -reg
    mass = a.sum(-1)
    n = f.shape[-1]
    steps = 0
    for steps in range(1, max_steps + 1):
        plan = _plan(log_a, log_b, f, g, cost, reg)
        resid = torch.cat([plan.sum(-1) - a, plan.sum(-2) - b], -1)
        sol, info = torch.linalg.solve_ex(_hessian(plan), resid.unsqueeze(-1))
        # a row of the plan that underflowed to zero makes H singular: no Newton step for that problem
        # (if none can step, the loop ends and Sinkhorn finishes)
        ok_solve = (info == 0) & torch.isfinite(sol).all(-1).all(-1)
        step = torch.where(ok_solve.unsqueeze(-1), -reg * sol.squeeze(-1), torch.zeros_like(resid))
        df, dg = step[..., :n], step[..., n:]
        t = torch.ones_like(err)
        accepted = torch.zeros_like(err, dtype=torch.bool)
        new_f, new_g, new_err = f, g, err
        for _ in range(12):
            cand_f = f + t.unsqueeze(-1) * df
            cand_g = _g_update(log_a, cand_f, nc, reg)  # columns exact again
            cand_err = _row_err(a, log_a, log_b, cand_f, cand_g, nc, reg, mass)
            ok = (cand_err < err) & ~accepted & torch.isfinite(cand_err)
            new_f = torch.where(ok.unsqueeze(-1), cand_f, new_f)
            new_g = torch.where(ok.unsqueeze(-1), cand_g, new_g)
            new_err = torch.where(ok, cand_err, new_err)
            accepted = accepted | ok | (err < tol)
            if bool(accepted.all()):
                break
            t = torch.where(accepted, t, t / 2)
        progressed = bool((new_err < err).any())
        f, g, err = new_f, new_g, new_err
        if bool((err < tol).all()) or not progressed:
            break
    return f, g, steps, err


def _solve(a, b, cost, reg, max_iter, tol, reg_scaling, newton=False, kernel=True):
    """The iterations (differentiable by autograd if the inputs require grad). Returns
    (f, g, n_iter, err, converged). ``kernel=False`` keeps every stage in the log domain."""
    kb = b if kernel else None
    log_a, log_b = a.log(), b.log()
    schedule = _reg_schedule(cost.detach(), reg, reg_scaling)
    g = torch.zeros_like(log_b)
    total, err = 0, None
    for k, r in enumerate(schedule):
        last = k == len(schedule) - 1
        budget = max_iter - total if last else max(1, (max_iter - total) // 2)
        if last and newton:  # plain Sinkhorn first; Newton only if it is slow
            budget = min(budget, _NEWTON_AFTER)
        stage_tol = tol if last else max(tol, _SCALING_TOL)
        f, g, n_iter, err = _stage(log_a, log_b, a, cost, r, g, budget, stage_tol, kb)
        total += n_iter
        if last and newton and bool(err.max() >= max(tol, _NEWTON_FROM)) and total < max_iter:
            f, g, n_iter, err = _stage(log_a, log_b, a, cost, r, g, max_iter - total, max(tol, _NEWTON_FROM),
                                       kb)
            total += n_iter
        if total >= max_iter and not last:  # no budget left: solve the target reg with what remains
            f, g, n_iter, err = _stage(log_a, log_b, a, cost, reg, g, 1, tol, kb)
            total += 1
            break
    if newton and bool(err.max() >= tol):
        f, g, steps, err = _newton(a, b, log_a, log_b, cost, reg, f, g, err, tol, _NEWTON_STEPS)
        total += steps
        if bool(err.max() >= tol) and total < max_iter:  # Newton stalled: finish with Sinkhorn
            f, g, n_iter, err = _stage(log_a, log_b, a, cost, reg, g, max_iter - total, tol, kb)
            total += n_iter
    converged = bool(err.max() < tol)
    return f, g, total, err, converged


class _ImplicitPlan(torch.autograd.Function):
    """(cost, a, b, f*, g*) -> (plan, f, g) with gradients from the optimality conditions.

    At the fixed point :math:`P 1 = a`, :math:`P^\\top 1 = b`. Differentiating them gives
    :math:`H [df; dg] = r` with
    :math:`H = [[\\operatorname{diag}(P1), P], [P^\\top, \\operatorname{diag}(P^\\top 1)]]`
    (singular along (1, -1): the gauge); the adjoint system is solved with that direction fixed by
    :math:`\\sum f = \\sum g`.
    """

    @staticmethod
    def forward(ctx, cost, a, b, f, g, reg):
        f, g = _gauge(f, g)
        plan = _plan(a.log(), b.log(), f, g, cost, reg)
        ctx.save_for_backward(plan, a, b)
        ctx.reg = reg
        return plan, f, g

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_plan, grad_f, grad_g):
        plan, a, b = ctx.saved_tensors
        reg = ctx.reg
        n, m = plan.shape[-2:]
        gp = plan * grad_plan if grad_plan is not None else torch.zeros_like(plan)
        rows, cols = gp.sum(-1), gp.sum(-2)
        s1 = rows / reg + (grad_f if grad_f is not None else 0.0)
        s2 = cols / reg + (grad_g if grad_g is not None else 0.0)
        # project out the gauge direction v = (1, -1) and solve (H + alpha v v^T) x = s
        c = (s1.sum(-1, keepdim=True) - s2.sum(-1, keepdim=True)) / (n + m)
        s = torch.cat([s1 - c, s2 + c], -1)
        h = _hessian(plan)
        x = torch.linalg.solve(h, s.unsqueeze(-1)).squeeze(-1)
        lam, mu = x[..., :n], x[..., n:]
        grad_cost = plan * (lam.unsqueeze(-1) + mu.unsqueeze(-2)) - gp / reg
        grad_a = (rows - reg * (plan @ mu.unsqueeze(-1)).squeeze(-1)) / a
        grad_b = (cols - reg * (plan.transpose(-1, -2) @ lam.unsqueeze(-1)).squeeze(-1)) / b
        return grad_cost, grad_a, grad_b, None, None, None


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------


def _batched_weights(dim):
    return Tensor(shape=("...", dim), dtype="floating", low=0, closed="neither", optional=True)


@validate(
    cost=Tensor(shape=("...", "n", "m"), dtype="floating"),
    a=_batched_weights("n"),
    b=_batched_weights("m"),
    reg=Real(low=0, closed="neither"),
    max_iter=Integer(low=1),
    tol=Real(low=0, closed="neither"),
    reg_scaling=Bool(optional=True),
    grad=Options("implicit", "unroll"),
    newton=Bool(optional=True),
    same=[("cost", "a", "b")],
)
def sinkhorn_log(
    a: torch.Tensor | None,
    b: torch.Tensor | None,
    cost: torch.Tensor,
    *,
    reg: float,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    reg_scaling: bool | None = None,
    grad: str = "implicit",
    newton: bool | None = None,
) -> SinkhornResult:
    r"""Batched balanced entropic OT by Sinkhorn iterations on the dual potentials (log domain).

    For every problem of the batch,

    .. math::

        \min_{P 1 = a,\ P^\top 1 = b} \langle P, C \rangle
        + \mathrm{reg}\,\operatorname{KL}(P \,\|\, a b^\top),

    whose solution is :math:`P_{ij} = a_i b_j e^{(f_i + g_j - C_{ij})/\mathrm{reg}}`, found by the
    alternating updates

    .. math::

        f_i \leftarrow -\mathrm{reg} \log \sum_j b_j e^{(g_j - C_{ij})/\mathrm{reg}}, \qquad
        g_j \leftarrow -\mathrm{reg} \log \sum_i a_i e^{(f_i - C_{ij})/\mathrm{reg}},

    each a ``logsumexp``, so nothing underflows whatever ``reg`` and the dtype. Where
    :math:`\max |C| / \mathrm{reg} \le -\log(\text{tiny}) / 4` (177 in float64, 21.8 in float32)
    the same iterations run in the kernel domain, :math:`u \leftarrow a / (K v)`,
    :math:`v \leftarrow b / (K^\top u)` with :math:`K = e^{-C/\mathrm{reg}}` (two matrix-vector
    products per iteration instead of an exponential per entry; several times faster), falling back
    to the log domain if a scaling leaves the dtype's range. The plan is the
    same as that of :func:`entropic_ot` / POT's ``ot.sinkhorn(method="sinkhorn_log")`` (whose
    entropy :math:`\sum P(\log P - 1)` differs from this KL by terms that are constant on the
    feasible set). All problems iterate together until every one meets ``tol`` (checked every
    10 iterations); they may differ in ``a``, ``b`` and ``cost`` but share ``reg``.

    **Epsilon scaling.** At small ``reg`` the iteration contracts slowly (the count grows like
    1/reg). With ``reg_scaling`` the problem is first solved for ``reg`` values 4 times apart,
    from 5% of the mean cost down to ``reg``, each stage warm-started from the last potentials
    (the schedule of :func:`unbalanced_ot`); ``None`` (default) turns it on below 1% of the mean
    cost.

    **Newton polishing.** Where a few values nearly tie (soft sorting at small ``reg``), Sinkhorn's
    linear convergence can need tens of thousands of iterations. With ``newton``, when the last stage
    has not met ``tol`` after 500 iterations, it runs Sinkhorn down to a marginal violation of
    1e-3 and then takes Newton steps on the marginal equations (Brauer et al. 2017: one
    ``(n + m)``-sized linear solve per step, with a
    backtracking line search; quadratic convergence, typically under 10 steps, each counted in
    ``n_iter``); if Newton stalls, Sinkhorn finishes. ``None`` (default) uses it for
    ``grad="implicit"`` when ``n + m <= 512``.

    **Gradients.** ``grad="implicit"`` (default) runs the iterations without autograd and
    differentiates the fixed point: the optimality conditions :math:`P1 = a`, :math:`P^\top 1 = b`
    give a linear system in :math:`(df, dg)` of size :math:`n + m` per problem, solved once in the
    backward pass (memory :math:`O((n+m)^2)` per problem, independent of the iteration count;
    exact at convergence). Gradients flow to ``cost``, ``a`` and ``b`` from ``plan``, ``f``, ``g``,
    ``value`` and ``objective``. ``grad="unroll"`` back-propagates through every iteration instead
    (memory grows with ``n_iter``; the reference the implicit gradient is tested against).

    See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    a : Tensor, shape (..., n), or None
        Strictly positive source weights (uniform probability if None).
    b : Tensor, shape (..., m), or None
        Strictly positive target weights (uniform probability if None), the same total mass as ``a``
        for every problem.
    cost : Tensor, shape (..., n, m)
        Finite costs. The batch shapes of ``a``, ``b`` and ``cost`` broadcast together.
    reg : float
        Entropic weight, :math:`> 0`, absolute (in the units of ``cost``).
    max_iter : int
        Iteration cap over all stages; reaching it issues a :class:`ConvergenceWarning`.
    tol : float
        Stopping threshold on the relative L1 violation of the source marginal.
    reg_scaling : bool or None
        Epsilon scaling (see above).
    grad : {"implicit", "unroll"}
        How gradients are computed.
    newton : bool or None
        Newton polishing of the last stage (see above).

    Returns
    -------
    SinkhornResult

    References
    ----------
    Cuturi (2013), *Sinkhorn distances*, NeurIPS; Peyré & Cuturi (2019), *Computational optimal
    transport*, ch. 4; Schmitzer (2019), *Stabilized sparse scaling algorithms for entropy
    regularized transport problems* (epsilon scaling); Luise et al. (2018), *Differential
    properties of Sinkhorn approximation*, NeurIPS (implicit differentiation); Brauer, Clason, Lorenz &
    Wirth (2017), *A Sinkhorn-Newton method for entropic optimal transport*, arXiv:1710.06635.

    Examples
    --------
    >>> import torch
    >>> cost = torch.tensor([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    >>> res = sinkhorn_log(None, None, cost, reg=0.01)
    >>> res.plan
    tensor([[[0.5000, 0.0000],
             [0.0000, 0.5000]],
    <BLANKLINE>
            [[0.0000, 0.5000],
             [0.5000, 0.0000]]], dtype=torch.float64)
    >>> res.converged, res.value
    (True, tensor([0., 0.], dtype=torch.float64))
    """
    return _sinkhorn_log(a, b, cost, reg, max_iter, tol, reg_scaling, grad, newton)


def _sinkhorn_log(a, b, cost, reg, max_iter=10_000, tol=1e-6, reg_scaling=None, grad="implicit", newton=None,
                  func="sinkhorn_log", kernel=True):
    """Unchecked :func:`sinkhorn_log` (``func`` names the caller in messages and warnings;
    ``kernel=False`` keeps every stage in the log domain)."""
    n, m = cost.shape[-2:]
    kw = dict(device=cost.device, dtype=cost.dtype)
    a = torch.full((n,), 1.0 / n, **kw) if a is None else a
    b = torch.full((m,), 1.0 / m, **kw) if b is None else b
    try:
        batch = torch.broadcast_shapes(a.shape[:-1], b.shape[:-1], cost.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"{func}: the batch shapes of a {tuple(a.shape[:-1])}, b {tuple(b.shape[:-1])} and cost "
            f"{tuple(cost.shape[:-2])} do not broadcast"
        ) from None
    a, b, cost = a.expand(*batch, n), b.expand(*batch, m), cost.expand(*batch, n, m)
    mass_a, mass_b = a.sum(-1), b.sum(-1)
    rel = max(1e-6, 50 * torch.finfo(cost.dtype).eps)
    gap = ((mass_a - mass_b).abs() / torch.maximum(mass_a, mass_b)).max().detach()
    if float(gap) > rel:
        raise ValueError(
            f"{func}: a and b must have equal mass in every problem for balanced OT, got a relative gap "
            f"of {float(gap):.3g} (normalise them)"
        )
    if newton is None:
        newton = grad == "implicit" and n + m <= _NEWTON_MAX_SIZE
    if grad == "unroll":
        f, g, n_iter, err, converged = _solve(a, b, cost, reg, max_iter, tol, reg_scaling, newton, kernel)
        f, g = _gauge(f, g)
        plan = _plan(a.log(), b.log(), f, g, cost, reg)
    else:
        with torch.no_grad():
            f, g, n_iter, err, converged = _solve(a.detach(), b.detach(), cost.detach(), reg, max_iter, tol,
                                                  reg_scaling, newton, kernel)
        plan, f, g = _ImplicitPlan.apply(cost, a, b, f, g, reg)
    if not converged:
        _warn_not_converged(func, "sinkhorn_log", max_iter, reg, float(err.max()))
    value = (plan * cost).sum((-2, -1))
    objective = ((plan.sum(-1) * f).sum(-1) + (plan.sum(-2) * g).sum(-1)
                 + reg * (mass_a * mass_b - plan.sum((-2, -1))))
    return SinkhornResult(plan=plan, f=f, g=g, value=value, objective=objective, err=err.detach(),
                          n_iter=n_iter, converged=converged, reg=reg)


# ---------------------------------------------------------------------------------------------
# Symmetric problems: OT_reg(a, a) on a symmetric cost (the self-terms of the Sinkhorn divergence)
# ---------------------------------------------------------------------------------------------


def _symmetric_step(log_a, f, nc, reg):
    """T(f)_i = -reg log sum_j a_j exp((f_j - C_ij) / reg)."""
    return -reg * torch.logsumexp(nc + (log_a + f / reg).unsqueeze(-2), dim=-1)


def _symmetric_stage_log(a, log_a, mass, f, c, r, budget, stage_tol):
    """Averaged updates f <- (f + T(f)) / 2 in the log domain; returns (f, iterations, err)."""
    nc = c / -r
    err = torch.full(log_a.shape[:-1], math.inf, dtype=a.dtype, device=a.device)
    for it in range(budget):
        tf = _symmetric_step(log_a, f, nc, r)
        if it % 5 == 4 or it == budget - 1:
            err = (a * torch.expm1((f - tf) / r)).abs().sum(-1) / mass
            if float(err.max()) < stage_tol:
                return tf, it + 1, err
        f = 0.5 * (f + tf)
    return f, budget, err


def _symmetric_stage_kernel(a, log_a, mass, f, c, r, budget, stage_tol):
    """The same updates on the scaling w = a e^{f/r}: T(f) = -r log(K w), so the average is
    w <- sqrt(a w / (K w)) and the marginal violation is |w (K w) - a|. Returns as the log
    version, or None on a non-finite or zero scaling."""
    kernel = torch.exp(c / -r)
    w = a * torch.exp(f / r)
    err = torch.full(log_a.shape[:-1], math.inf, dtype=a.dtype, device=a.device)
    done = budget
    for it in range(budget):
        kw = (kernel @ w.unsqueeze(-1)).squeeze(-1)
        if it % 5 == 4 or it == budget - 1:
            err = (w * kw - a).abs().sum(-1) / mass
            if not bool(torch.isfinite(err).all()):
                return None
            if float(err.max()) < stage_tol:
                w = a / kw  # the T step, as the log version ends
                done = it + 1
                break
        w = torch.sqrt(a * w / kw)
    if not (bool((w > 0).all()) and bool(torch.isfinite(w).all())):
        return None
    return r * (w.log() - log_a), done, err


def _sinkhorn_log_symmetric(a, cost, reg, max_iter=10_000, tol=1e-6, reg_scaling=None,
                            func="sinkhorn_divergence", kernel=True):
    """OT_reg(a, a) on a symmetric cost (..., n, n): returns (objective, transport cost, n_iter, converged).

    On a symmetric problem the alternating updates of :func:`sinkhorn_log` oscillate between two
    near-solutions and converge slowly; the averaged symmetric update of Feydy et al. (2019),
    ``f <- (f + T(f)) / 2``, converges in a few tens of iterations. Its fixed point f = T(f) is the
    potential of the symmetric problem, P_ij = a_i a_j exp((f_i + f_j - C_ij) / reg). Iterates
    without autograd, with the epsilon-scaling schedule of :func:`sinkhorn_log` and its
    kernel-domain fast path (``kernel=False``: log domain throughout), and stops when the relative
    L1 violation of the marginal is below ``tol``. The returned objective ``<a, T(f*)> + <a, f*>``
    (f* held fixed) equals 2 <a, f*> at the fixed point and has the exact gradients d/dC = P
    (envelope theorem) and d/da = 2 f* - reg (a constant shift on the simplex); the transport cost
    <P, C> has d/dC = P as well. ``func`` names the caller in the convergence warning.
    """
    log_a = a.detach().log()
    mass = a.detach().sum(-1)
    f = torch.zeros_like(log_a)
    schedule = _reg_schedule(cost.detach(), reg, reg_scaling)
    total, err = 0, torch.full(log_a.shape[:-1], float("inf"), dtype=a.dtype, device=a.device)
    with torch.no_grad():
        c = cost.detach()
        ad = a.detach()
        for k, r in enumerate(schedule):
            last = k == len(schedule) - 1
            stage_tol = tol if last else max(tol, _SCALING_TOL)
            budget = max_iter - total if last else max(1, (max_iter - total) // 2)
            out = None
            if kernel and _kernel_domain_ok(c, r):
                out = _symmetric_stage_kernel(ad, log_a, mass, f, c, r, budget, stage_tol)
            if out is None:
                out = _symmetric_stage_log(ad, log_a, mass, f, c, r, budget, stage_tol)
            f, n_iter, err = out
            total += n_iter
    converged = bool(err.max() < tol)
    if not converged:
        _warn_not_converged(func, "symmetric sinkhorn", max_iter, reg, float(err.max()))
    tf = _symmetric_step(a.log(), f, cost / -reg, reg)  # with autograd: the envelope-theorem gradient
    objective = (a * tf).sum(-1) + (a * f).sum(-1)
    with torch.no_grad():
        plan = torch.exp((log_a + f / reg).unsqueeze(-1) + (log_a + f / reg).unsqueeze(-2) - c / reg)
    transport = (plan * cost).sum((-2, -1))
    return objective, transport, total, converged
