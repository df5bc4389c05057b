"""Wasserstein distances between point clouds."""

from __future__ import annotations

import torch

from nips2019.utils import check_positive, check_tensor

from ._cost import cost_matrix
from ._solvers import entropic_ot, exact_ot


def wasserstein_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    p: int = 2,
    reg: float | None = None,
) -> torch.Tensor:
    r"""The :math:`p`-Wasserstein distance between two weighted point clouds.

    .. math::

        W_p(\mu, \nu) = \Bigl(\min_{\gamma \in \Pi(a, b)} \sum_{ij} \gamma_{ij}
        \lVert x_i - y_j \rVert_2^p\Bigr)^{1/p}.

    Exact (network simplex, ``ot.emd``) by default; with ``reg`` the plan is the
    entropic one (log-domain Sinkhorn on the raw cost), which overestimates
    :math:`W_p` slightly but scales to larger clouds. Weights are normalised to
    probabilities. See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
    a, b : Tensor, optional
        Non-negative weights, shapes (n,) and (m,); uniform by default.
    p : int
        1 or 2 (any positive number works).
    reg : float, optional
        Entropic regularisation, in the units of the cost :math:`\lVert x - y \rVert^p`.

    Returns
    -------
    Tensor, scalar
        On the device and with the dtype of ``x``.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> wasserstein_distance(x, x + 3.0)
    tensor(3., dtype=torch.float64)
    """
    check_tensor(x, "x", ndim=2, floating=True)
    check_tensor(y, "y", ndim=2, floating=True)
    check_positive(p, "p")
    cost = cost_matrix(x, y, metric="euclidean")
    if p != 1:
        cost = cost.pow(p)
    kw = dict(device=x.device, dtype=x.dtype)
    a = torch.full((x.shape[0],), 1.0 / x.shape[0], **kw) if a is None else a / a.sum()
    b = torch.full((y.shape[0],), 1.0 / y.shape[0], **kw) if b is None else b / b.sum()
    res = exact_ot(a, b, cost) if reg is None else entropic_ot(a, b, cost, reg)
    return res.value.clamp_min(0.0).pow(1.0 / p)
