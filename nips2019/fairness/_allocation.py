"""Allocating k loans under equalised odds (the setting of Gölz, Kahng & Procaccia 2019)."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Real, Tensor, validate
from ._metrics import _GROUP


@dataclasses.dataclass
class AllocationResult:
    """An equalised-odds allocation of ``k`` goods (see :func:`equalized_odds_allocation`).

    Attributes
    ----------
    allocation : Tensor, shape (n,)
        Probability that each applicant gets a good; sums to ``k``.
    tpr, fpr : float
        The common expected true and false positive rates of every group.
    efficiency : float
        Expected number of goods that go to positives (loans repaid), :math:`\\sum_i x_i p_i`.
    """

    allocation: torch.Tensor
    tpr: float
    fpr: float
    efficiency: float


def _greedy(p: torch.Tensor, w_pos: float, w_neg: float, k: float) -> torch.Tensor:
    """Fill applicants in decreasing ``p`` until ``w_pos * pos + w_neg * neg`` reaches ``k``."""
    order = torch.argsort(p, descending=True, stable=True)
    cost = (w_pos * p + w_neg * (1 - p))[order]
    before = torch.cumsum(cost, 0) - cost
    fill = ((k - before) / cost).clamp(0, 1)
    x = torch.empty_like(p)
    x[order] = fill
    return x


@validate(prob=Tensor(shape=("n",), dtype="floating", low=0, high=1), group=Tensor(**_GROUP),
          k=Real(low=0), same=[("prob",)])
def equalized_odds_allocation(prob: torch.Tensor, group: torch.Tensor, k: float) -> AllocationResult:
    r"""The most efficient allocation of ``k`` goods whose expected TPR and FPR are equal across groups.

    Applicant :math:`i` is positive (would repay) with calibrated probability :math:`p_i`
    and receives a good with probability :math:`x_i \in [0, 1]`, :math:`\sum_i x_i = k`.
    Group :math:`g` has :math:`P_g = \sum_{i \in g} p_i` expected positives and
    :math:`N_g = \sum_{i \in g} (1 - p_i)` negatives; equalised odds in expectation asks
    :math:`\mathrm{TPR}_g = \sum_{i\in g} x_i p_i / P_g = t` and
    :math:`\mathrm{FPR}_g = \sum_{i\in g} x_i (1 - p_i) / N_g = f` for all :math:`g`, so
    :math:`tP + fN = k` with totals :math:`P, N`. Maximising the efficiency
    :math:`\sum_i x_i p_i = tP` is a linear programme; Gölz, Kahng and Procaccia solve it
    geometrically, and this function computes that solution:

    1. for each group, fill its applicants in decreasing :math:`p` (a threshold) until the
       point :math:`(t_g, f_g)` reaches the line :math:`tP + fN = k`: the largest TPR the
       group can offer on that line;
    2. the common rate is :math:`t^\star = \min_g t_g` (the bottleneck group);
    3. every group mixes its threshold allocation with the uniform one :math:`x_i = u =
       k / n` (which has :math:`t = f = u`) in the proportion that lands on :math:`t^\star`.

    Parameters
    ----------
    prob : Tensor, shape (n,)
        Calibrated probabilities of being positive; every group needs :math:`0 < P_g` and
        :math:`0 < N_g`.
    group : Tensor, shape (n,), integer
    k : float in [0, n]
        Number of goods (fractional values allowed: expected counts).

    Returns
    -------
    AllocationResult

    Notes
    -----
    The optimal allocation is not unique: inside a non-bottleneck group many allocations
    reach :math:`(t^\star, f^\star)`. This rule is the natural one, and it is *not* resource
    monotone: raising :math:`k` can lower an applicant's :math:`x_i` (the chapter shows an
    instance). Gölz et al. construct a different optimal rule that is. The tests check the
    efficiency against scipy's ``linprog``. See the chapter :doc:`Fairness </book/fairness>`.

    References
    ----------
    Gölz, Kahng & Procaccia, *Paradoxes in fair machine learning*, NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> prob = torch.tensor([0.68, 0.33, 0.31, 0.72, 0.71, 0.51], dtype=torch.float64)
    >>> group = torch.tensor([0, 0, 0, 1, 1, 1])
    >>> res = equalized_odds_allocation(prob, group, 3.0)
    >>> round(float(res.allocation.sum()), 6), round(res.efficiency, 4)
    (3.0, 1.8648)
    """
    n = prob.shape[0]
    if k > n:
        raise ValueError(f"equalized_odds_allocation: k must be <= n = {n}, got {k}")
    p = prob.double()
    labels = torch.unique(group)
    total_pos, total_neg = float(p.sum()), float((1 - p).sum())
    u = k / n
    parts = []
    for a in labels.tolist():
        m = group == a
        pos, neg = float(p[m].sum()), float((1 - p[m]).sum())
        if pos <= 0 or neg <= 0:
            raise ValueError(f"equalized_odds_allocation: group {a} needs applicants with prob > 0 and < 1 "
                             f"(expected positives {pos:g}, negatives {neg:g})")
        x = _greedy(p[m], total_pos / pos, total_neg / neg, k)
        parts.append((m, x, float((x * p[m]).sum()) / pos, pos, neg))
    t_star = min(t for *_, t, _, _ in parts)
    alloc = torch.empty_like(p)
    for m, x, t, pos, neg in parts:
        rho = 0.0 if t <= u + 1e-12 else (t_star - u) / (t - u)
        alloc[m] = rho * x + (1 - rho) * u
    m0, _, _, pos0, neg0 = parts[0]
    tpr = float((alloc[m0] * p[m0]).sum()) / pos0
    fpr = float((alloc[m0] * (1 - p[m0])).sum()) / neg0
    return AllocationResult(allocation=alloc.to(prob.dtype), tpr=tpr, fpr=fpr,
                            efficiency=float((alloc * p).sum()))
