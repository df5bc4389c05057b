"""Batched fixed-point solvers: plain (Picard) iteration, Anderson acceleration, Broyden's method.

Every solver treats the first axis of ``z0`` as a batch of independent problems: each
sample is flattened to a vector of size ``D`` and all samples move together, one call of
``f`` per iteration for the whole batch. The solvers stop when the largest per-sample
relative residual is below ``tol`` (one host sync per iteration, the price of a stopping
rule) and return the iterate with the smallest residual seen, per sample.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from ..utils import Integer, IsCallable, Options, Real, Tensor, validate


@dataclasses.dataclass
class FixedPointResult:
    """Outcome of :func:`fixed_point`.

    Attributes
    ----------
    z : Tensor, shape of ``z0``
        The best iterate found (smallest residual), per sample.
    n_iter : int
        Calls of ``f`` made (iterations used).
    residual : Tensor, shape (B,)
        Relative residual :math:`\\|f(z) - z\\| / (\\|f(z)\\| + 10^{-12})` of ``z``, per sample.
    converged : bool
        Whether every sample reached ``tol``.
    history : list of float
        The largest per-sample relative residual after each iteration.
    method : str
        The solver used.
    """

    z: torch.Tensor
    n_iter: int
    residual: torch.Tensor
    converged: bool
    history: list
    method: str


def _rel(fz: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-sample relative residual of flattened (B, D) tensors (no autograd)."""
    fz, z = fz.detach(), z.detach()
    return (fz - z).norm(dim=1) / (fz.norm(dim=1) + 1e-12)


def _record(hist, res):
    worst = float(res.max())
    if worst != worst or worst == float("inf"):
        raise FloatingPointError("fixed_point: the residual is not finite; the iteration diverged "
                                 "(is f a contraction? try method='anderson' with beta < 1)")
    hist.append(worst)


class _Best:
    """Keeps, per sample, the iterate with the smallest residual."""

    def __init__(self, z, res):
        self.z, self.res = z.clone(), res.clone()

    def update(self, z, res):
        better = res < self.res
        if bool(better.any()):
            self.z = torch.where(better[:, None], z, self.z)
            self.res = torch.where(better, res, self.res)


def _picard(g, z, fz, max_iter, tol, beta):
    best, hist = _Best(z, _rel(fz, z)), [float(_rel(fz, z).max())]
    n = 1
    while hist[-1] > tol and n < max_iter:
        z = (1 - beta) * z + beta * fz
        fz = g(z)
        n += 1
        res = _rel(fz, z)
        best.update(z, res)
        _record(hist, res)
    return best, n, hist


def _anderson(g, z, fz, max_iter, tol, beta, m, lam):
    """Anderson acceleration (type II) with memory ``m``, batched over samples.

    At step k with the last ``n = min(m, k)`` pairs (z_i, f(z_i)) and residuals r_i = f(z_i) - z_i,
    solve min_alpha ||sum_i alpha_i r_i||^2 + lam ||alpha||^2 s.t. sum_i alpha_i = 1 (its KKT
    system is a bordered (n+1) x (n+1) linear system per sample), then
    z_{k+1} = beta sum_i alpha_i f(z_i) + (1 - beta) sum_i alpha_i z_i.
    """
    b, d = z.shape
    zs = z.new_zeros(b, m, d)
    fs = z.new_zeros(b, m, d)
    zs[:, 0], fs[:, 0] = z, fz
    res0 = _rel(fz, z)
    best, hist = _Best(z, res0), [float(res0.max())]
    n_calls = 1
    k = 1
    if hist[-1] > tol and max_iter > 1:
        z = fz
        fz = g(z)
        n_calls += 1
        zs[:, 1 % m], fs[:, 1 % m] = z, fz
        res = _rel(fz, z)
        best.update(z, res)
        _record(hist, res)
        k = 2
    eye = torch.eye(m, dtype=z.dtype, device=z.device)
    h_full = z.new_zeros(b, m + 1, m + 1)
    h_full[:, 0, 1:] = h_full[:, 1:, 0] = 1
    rhs_full = z.new_zeros(b, m + 1, 1)
    rhs_full[:, 0] = 1
    while hist[-1] > tol and n_calls < max_iter:
        n = min(k, m)
        r = fs[:, :n] - zs[:, :n]  # (b, n, d)
        gram = torch.bmm(r, r.transpose(1, 2))
        scale = gram.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-30)[:, None, None]
        h = h_full[:, :n + 1, :n + 1].clone()
        h[:, 1:, 1:] = gram + lam * scale * eye[:n, :n]
        try:
            alpha = torch.linalg.solve(h, rhs_full[:, :n + 1])[:, 1:]  # (b, n, 1)
        except RuntimeError:  # singular despite the regularisation: fall back to a plain step
            alpha = z.new_zeros(b, n, 1)
            alpha[:, (k - 1) % m] = 1
        alpha_t = alpha.transpose(1, 2)
        z = torch.bmm(alpha_t, fs[:, :n])[:, 0]
        if beta != 1:
            z = beta * z + (1 - beta) * torch.bmm(alpha_t, zs[:, :n])[:, 0]
        fz = g(z)
        n_calls += 1
        zs[:, k % m], fs[:, k % m] = z, fz
        k += 1
        res = _rel(fz, z)
        best.update(z, res)
        _record(hist, res)
    return best, n_calls, hist


def _broyden(g, z, fz, max_iter, tol, m):
    """Limited-memory ("good") Broyden on the root problem r(z) = f(z) - z = 0, batched.

    The inverse Jacobian of r is approximated as :math:`H = -I + U V^\\top` with at most ``m``
    rank-one terms; each step z <- z - H r(z) is followed by the update
    H <- H + (dz - H dr) (dz^T H) / (dz^T H dr). The memory restarts from -I when full.
    """
    b, d = z.shape
    us = z.new_zeros(b, d, m)
    vs = z.new_zeros(b, m, d)
    r = fz - z
    res = _rel(fz, z)
    best, hist = _Best(z, res), [float(res.max())]
    n_calls, used = 1, 0

    def hmat(v):  # H v, v (b, d)
        return -v + torch.bmm(us[:, :, :used], torch.bmm(vs[:, :used], v[:, :, None]))[:, :, 0]

    def hmat_t(v):  # v^T H, as a (b, d) row
        return -v + torch.bmm(torch.bmm(v[:, None], us[:, :, :used]), vs[:, :used])[:, 0]

    step = -hmat(r)
    while hist[-1] > tol and n_calls < max_iter:
        z_new = z + step
        fz_new = g(z_new)
        n_calls += 1
        r_new = fz_new - z_new
        dz, dr = z_new - z, r_new - r
        z, fz, r = z_new, fz_new, r_new
        res = _rel(fz, z)
        best.update(z, res)
        _record(hist, res)
        if used == m:
            used = 0  # restart the low-rank memory
            us.zero_()
            vs.zero_()
        vt = hmat_t(dz)
        denom = (vt * dr).sum(1, keepdim=True)
        denom = torch.where(denom.abs() < 1e-30, torch.full_like(denom, 1e-30), denom)
        u = dz - hmat(dr)
        us[:, :, used] = u
        vs[:, used] = vt / denom
        used += 1
        step = -hmat(r)
        if not bool(torch.isfinite(step).all()):  # a degenerate update: restart from -I
            used = 0
            us.zero_()
            vs.zero_()
            step = r.clone()
    return best, n_calls, hist


@validate(
    f=IsCallable(),
    z0=Tensor(ndim=(2, 3, 4, 5), dtype="floating"),
    method=Options("anderson", "broyden", "picard"),
    max_iter=Integer(low=1),
    tol=Real(low=0, closed="neither"),
    m=Integer(low=1),
    beta=Real(low=0, high=1, closed="right"),
    lam=Real(low=0),
)
def fixed_point(
    f: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    *,
    method: str = "anderson",
    max_iter: int = 50,
    tol: float = 1e-6,
    m: int = 5,
    beta: float = 1.0,
    lam: float = 1e-8,
) -> FixedPointResult:
    r"""Solve :math:`z = f(z)` for a batch of problems at once.

    ``z0`` has shape ``(B, ...)``: ``B`` independent problems whose states are flattened
    to vectors :math:`z_b \in \mathbb R^D`; ``f`` maps a tensor of that shape to one of the
    same shape, acting on each sample separately. Each method stops when the largest
    relative residual

    .. math::

        \rho_b = \frac{\|f(z_b) - z_b\|}{\|f(z_b)\| + 10^{-12}}

    over the batch is below ``tol``, or after ``max_iter`` calls of ``f``.

    - ``"picard"``: damped plain iteration :math:`z \leftarrow (1 - \beta) z + \beta f(z)`;
      it converges linearly with rate :math:`L` when ``f`` is an :math:`L`-contraction
      (Banach), and can diverge otherwise.
    - ``"anderson"``: Anderson acceleration with memory ``m``: the next iterate mixes the
      last ``m`` images with weights :math:`\alpha` minimising
      :math:`\|\sum_i \alpha_i (f(z_i) - z_i)\|^2 + \lambda\|\alpha\|^2` under
      :math:`\sum_i \alpha_i = 1` (``lam`` is relative to the mean squared residual).
    - ``"broyden"``: limited-memory Broyden on the root problem :math:`f(z) - z = 0`,
      a quasi-Newton method with a rank-one update of the inverse Jacobian per step
      (memory ``m``, restarted when full). It ignores ``beta`` and ``lam``.

    The solver runs under whatever autograd mode the caller is in; :class:`DEQ` calls it
    under ``torch.no_grad()``, so no iterate is stored.

    Parameters
    ----------
    f : callable
        Tensor of shape ``z0.shape`` -> tensor of the same shape, dtype and device.
    z0 : Tensor, shape (B, ...)
        Starting point; ``B`` is the batch of independent problems.
    method : {"anderson", "broyden", "picard"}
    max_iter : int
        Most calls of ``f``.
    tol : float
        Stopping threshold on the largest relative residual, > 0.
    m : int
        Memory of Anderson and Broyden.
    beta : float
        Damping in (0, 1] of Picard and Anderson (1: undamped).
    lam : float
        Tikhonov regularisation of the Anderson least-squares problem, >= 0.

    Returns
    -------
    FixedPointResult
        ``z`` (best iterate per sample), ``n_iter``, per-sample ``residual``, ``converged``
        and the residual ``history``. Not converging within ``max_iter`` is reported
        (``converged=False``), not raised.

    Raises
    ------
    ValueError
        ``f`` fails on ``z0`` or changes its shape, dtype or device.
    FloatingPointError
        The residual becomes NaN or infinite (the iteration diverged).

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.
    The design (batched solvers returning their best iterate, shared between forward
    and backward passes) follows torchdeq; the code is ours.

    References
    ----------
    D. G. Anderson, *Iterative procedures for nonlinear integral equations*, J. ACM 1965.
    H. F. Walker and P. Ni, *Anderson acceleration for fixed-point iterations*, SIAM J.
    Numer. Anal. 2011. C. G. Broyden, *A class of methods for solving nonlinear
    simultaneous equations*, Math. Comp. 1965. S. Bai, J. Z. Kolter and V. Koltun,
    *Deep equilibrium models*, NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> c = torch.tensor([[0.3], [-1.0]], dtype=torch.float64)
    >>> res = fixed_point(lambda z: 0.5 * torch.cos(z) + c, torch.zeros(2, 1, dtype=torch.float64))
    >>> res.converged, res.n_iter < 20
    (True, True)
    >>> bool(torch.allclose(res.z, 0.5 * torch.cos(res.z) + c, atol=1e-6))
    True
    """
    shape = z0.shape
    b = shape[0]
    try:
        fz0 = f(z0)
    except RuntimeError as exc:
        raise ValueError(f"fixed_point: f failed on z0 of shape {tuple(shape)}: {exc}") from None
    if not isinstance(fz0, torch.Tensor):
        raise TypeError(f"fixed_point: f must return a torch.Tensor, got {type(fz0).__name__}")
    if fz0.shape != shape or fz0.dtype != z0.dtype or fz0.device != z0.device:
        raise ValueError(
            f"fixed_point: f(z0) must have z0's shape {tuple(shape)}, dtype {z0.dtype} and device "
            f"{z0.device}, got {tuple(fz0.shape)}, {fz0.dtype}, {fz0.device}"
        )

    def g(zf):
        return f(zf.reshape(shape)).reshape(b, -1)  # divergence shows in the residual (_record)

    z = z0.reshape(b, -1)
    fz = fz0.reshape(b, -1)
    if not bool(torch.isfinite(fz).all()):
        raise ValueError("fixed_point: f(z0) is not finite")
    if method == "picard":
        best, n, hist = _picard(g, z, fz, max_iter, tol, beta)
    elif method == "anderson":
        best, n, hist = _anderson(g, z, fz, max_iter, tol, beta, m, lam)
    else:
        best, n, hist = _broyden(g, z, fz, max_iter, tol, m)
    return FixedPointResult(z=best.z.reshape(shape), n_iter=n, residual=best.res,
                            converged=bool((best.res <= tol).all()), history=hist, method=method)
