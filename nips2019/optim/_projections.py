r"""Euclidean projections onto the probability simplex and the l1 ball, and a matrix game's gap.

See the chapter :doc:`Gradients and update rules </book/gradients>`.
"""

from __future__ import annotations

import torch

from nips2019.utils import Real, Tensor, validate

__all__ = ["duality_gap", "project_l1_ball", "project_simplex"]


def _project_simplex(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Unchecked: rows (last axis) of ``x`` onto {z >= 0, sum z = radius} (sort-based)."""
    u, _ = torch.sort(x, dim=-1, descending=True)
    css = u.cumsum(-1) - radius
    k = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
    cond = u - css / k > 0
    rho = cond.to(torch.int64).cumsum(-1).argmax(-1, keepdim=True)  # last index where cond holds
    theta = css.gather(-1, rho) / (rho + 1).to(x.dtype)
    return (x - theta).clamp_min(0)


def _project_l1_ball(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Unchecked: rows of ``x`` onto {||z||_1 <= radius}."""
    inside = x.abs().sum(-1, keepdim=True) <= radius
    onto = torch.sign(x) * _project_simplex(x.abs(), radius)
    return torch.where(inside, x, onto)


@validate(x=Tensor(ndim=(1, 2, 3, 4), dtype="floating"), radius=Real(low=0, closed="neither"))
def project_simplex(x, radius=1.0):
    r"""Euclidean projection of each row onto the scaled probability simplex.

    .. math::

        \Pi(x) = \arg\min_{z \ge 0,\ \sum_j z_j = r} \|z - x\|_2 = (x - \theta)_+,

    with :math:`\theta` found by sorting (Held, Wolfe & Crowder 1974; Duchi et al. 2008):
    :math:`O(d \log d)` per row.

    Parameters
    ----------
    x : Tensor, shape (..., d)
        Points; the last axis is projected.
    radius : float
        The total mass :math:`r > 0`.

    Returns
    -------
    Tensor, shape (..., d)
        Same dtype and device as ``x``.

    Examples
    --------
    >>> import torch
    >>> project_simplex(torch.tensor([0.5, 1.5, -1.0]))
    tensor([0., 1., 0.])
    """
    return _project_simplex(x, float(radius))


@validate(x=Tensor(ndim=(1, 2, 3, 4), dtype="floating"), radius=Real(low=0, closed="neither"))
def project_l1_ball(x, radius=1.0):
    r"""Euclidean projection of each row onto the l1 ball of radius :math:`r`.

    .. math::

        \Pi(x) = \arg\min_{\|z\|_1 \le r} \|z - x\|_2
        = \operatorname{sign}(x) \odot \Pi_{\Delta_r}(|x|) \quad\text{if } \|x\|_1 > r,

    and :math:`x` itself otherwise (Duchi, Shalev-Shwartz, Singer & Chandra 2008).

    Parameters
    ----------
    x : Tensor, shape (..., d)
        Points; the last axis is projected.
    radius : float
        Radius :math:`r > 0`.

    Returns
    -------
    Tensor, shape (..., d)
        Rows already inside the ball unchanged, the others on its boundary; dtype and device
        of ``x``.

    Examples
    --------
    >>> import torch
    >>> project_l1_ball(torch.tensor([2.0, -1.0]))
    tensor([1., -0.])
    """
    return _project_l1_ball(x, float(radius))


@validate(payoff=Tensor(shape=("m", "n"), dtype="floating"), x=Tensor(shape=("m",), dtype="floating", low=0),
          y=Tensor(shape=("n",), dtype="floating", low=0), same=[("payoff", "x", "y")])
def duality_gap(payoff, x, y):
    r"""Duality gap of mixed strategies in the zero-sum game :math:`\min_x \max_y x^\top A y`.

    .. math::

        \mathrm{gap}(x, y) = \max_j (A^\top x)_j - \min_i (A y)_i \;\ge\; 0,

    zero exactly at a Nash equilibrium; :math:`x` (the row player, minimising) and
    :math:`y` (the column player, maximising) are probability vectors.

    Parameters
    ----------
    payoff : Tensor, shape (m, n)
        The matrix :math:`A` (what the row player pays).
    x : Tensor, shape (m,)
        Row player's mixed strategy (non-negative, summing to 1).
    y : Tensor, shape (n,)
        Column player's mixed strategy.

    Returns
    -------
    float
        :math:`\mathrm{gap}(x, y) \ge 0`.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> duality_gap(a, torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5]))
    0.0
    """
    for name, v in (("x", x), ("y", y)):
        if abs(float(v.sum()) - 1.0) > 1e-6:
            raise ValueError(f"duality_gap: {name} must sum to 1 (a mixed strategy), "
                             f"got {float(v.sum()):.6g}")
    return float((payoff.T @ x).max() - (payoff @ y).min())
