"""Post-processing to equalised odds (Hardt, Price & Srebro 2016) as a linear programme."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy.optimize import linprog

from ..utils import Bool, Generator, InstanceOf, Tensor, as_generator, rand, validate
from ._metrics import _GROUP, _LABELS


@dataclasses.dataclass
class EqualizedOddsResult:
    """A randomised group-threshold classifier (see :func:`equalized_odds_postprocess`).

    Attributes
    ----------
    groups : Tensor, shape (g,)
        The group labels, sorted.
    thresholds : list of Tensor
        Per group, the candidate thresholds: predict 1 when ``score >= t``.
    weights : list of Tensor
        Per group, the probability of using each threshold (they sum to 1).
    tpr, fpr : float
        The common true and false positive rate on the fitting data.
    error : float
        Expected error rate of the randomised classifier on the fitting data.
    """

    groups: torch.Tensor
    thresholds: list
    weights: list
    tpr: float
    fpr: float
    error: float


def _roc_points(score: np.ndarray, y: np.ndarray):
    """Thresholds (unique scores plus one above them all) and the TPR, FPR of ``score >= t``."""
    t = np.unique(score)
    t = np.append(t, t[-1] + 1.0)  # a threshold above every score: predict 0 for all
    order = np.argsort(score)
    s_sorted, y_sorted = score[order], y[order]
    # number of samples with score >= t, among positives and negatives
    idx = np.searchsorted(s_sorted, t, side="left")
    pos_suffix = np.append(np.cumsum(y_sorted[::-1])[::-1], 0)
    neg_suffix = np.append(np.cumsum((1 - y_sorted)[::-1])[::-1], 0)
    n_pos, n_neg = y.sum(), (1 - y).sum()
    return t, pos_suffix[idx] / n_pos, neg_suffix[idx] / n_neg


@validate(score=Tensor(shape=("n",), dtype="floating"), y_true=Tensor(**_LABELS), group=Tensor(**_GROUP))
def equalized_odds_postprocess(score: torch.Tensor, y_true: torch.Tensor,
                               group: torch.Tensor) -> EqualizedOddsResult:
    r"""The most accurate randomised group-threshold classifier with equalised odds.

    For each group :math:`a`, every threshold :math:`t_{aj}` of the score gives a point
    :math:`(\mathrm{FPR}_{aj}, \mathrm{TPR}_{aj})` of the group's ROC curve; using
    threshold :math:`j` with probability :math:`w_{aj}` gives their convex combination.
    Hardt et al.'s derived predictor is the solution of the linear programme

    .. math::

        \min_{w \ge 0,\ \tau,\ \phi}\ \sum_a \bigl[ n_a^+ (1 - \textstyle\sum_j w_{aj}
        \mathrm{TPR}_{aj}) + n_a^- \textstyle\sum_j w_{aj} \mathrm{FPR}_{aj} \bigr]
        \quad\text{s.t.}\quad \textstyle\sum_j w_{aj} = 1,\
        \textstyle\sum_j w_{aj}\mathrm{TPR}_{aj} = \tau,\
        \textstyle\sum_j w_{aj}\mathrm{FPR}_{aj} = \phi,

    solved exactly by scipy's HiGHS: every group reaches the same :math:`(\phi, \tau)`,
    the point of the intersection of the groups' ROC hulls with the least error.

    Parameters
    ----------
    score : Tensor, shape (n,)
        Any real-valued score (higher means more likely positive).
    y_true : Tensor, shape (n,)
        Labels in {0, 1}; every group needs both labels.
    group : Tensor, shape (n,), integer

    Returns
    -------
    EqualizedOddsResult
        Apply it with :func:`equalized_odds_predict`.

    Notes
    -----
    Reference: fairlearn's ``ThresholdOptimizer(constraints="equalized_odds")``, which
    searches a grid of FPR values over the same hulls. See the chapter
    :doc:`Fairness </book/fairness>`.

    References
    ----------
    Hardt, Price & Srebro, *Equality of opportunity in supervised learning*, NeurIPS 2016.

    Examples
    --------
    >>> import torch
    >>> score = torch.tensor([0.9, 0.2, 0.6, 0.4, 0.8, 0.1, 0.7, 0.3])
    >>> y = torch.tensor([1, 0, 1, 0, 1, 0, 0, 1])
    >>> a = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    >>> post = equalized_odds_postprocess(score, y, a)
    >>> round(post.tpr - post.fpr, 6) >= 0
    True
    """
    s = score.detach().cpu().double().numpy()
    y = y_true.detach().cpu().double().numpy()
    g = group.detach().cpu().numpy()
    groups = np.unique(g)
    pts, blocks = [], []
    for a in groups:
        m = g == a
        n_pos, n_neg = y[m].sum(), (1 - y[m]).sum()
        if n_pos == 0 or n_neg == 0:
            raise ValueError(f"equalized_odds_postprocess: group {a} of group needs both labels in y_true, "
                             f"got {int(n_pos)} positive and {int(n_neg)} negative")
        t, tpr, fpr = _roc_points(s[m], y[m])
        pts.append((t, tpr, fpr, n_pos, n_neg))
    n = len(s)
    sizes = [len(p[0]) for p in pts]
    n_var = sum(sizes) + 2  # weights, then tau, phi
    c = np.zeros(n_var)
    a_eq, b_eq = [], []
    start = 0
    for (t, tpr, fpr, n_pos, n_neg), k in zip(pts, sizes):
        sl = slice(start, start + k)
        c[sl] = (-n_pos * tpr + n_neg * fpr) / n
        row = np.zeros(n_var); row[sl] = 1; a_eq.append(row); b_eq.append(1.0)
        row = np.zeros(n_var); row[sl] = tpr; row[-2] = -1; a_eq.append(row); b_eq.append(0.0)
        row = np.zeros(n_var); row[sl] = fpr; row[-1] = -1; a_eq.append(row); b_eq.append(0.0)
        start += k
    bounds = [(0, None)] * (n_var - 2) + [(0, 1), (0, 1)]
    res = linprog(c, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=bounds, method="highs")
    if res.status != 0:  # pragma: no cover - the trivial classifiers are always feasible
        raise RuntimeError(f"equalized_odds_postprocess: linprog failed: {res.message}")
    w = np.clip(res.x[:-2], 0, None)
    error = float(res.fun + y.sum() / n)
    kw = dict(dtype=score.dtype, device=score.device)
    thresholds, weights, start = [], [], 0
    for (t, *_), k in zip(pts, sizes):
        wk = w[start:start + k]
        keep = wk > 1e-12
        thresholds.append(torch.as_tensor(t[keep], **kw))
        weights.append(torch.as_tensor(wk[keep] / wk[keep].sum(), **kw))
        start += k
    return EqualizedOddsResult(groups=torch.as_tensor(groups, device=group.device), thresholds=thresholds,
                               weights=weights, tpr=float(res.x[-2]), fpr=float(res.x[-1]), error=error)


@validate(post=InstanceOf(EqualizedOddsResult), score=Tensor(shape=("n",), dtype="floating"),
          group=Tensor(**_GROUP), sample=Bool(), generator=Generator(), same=[("score",)])
def equalized_odds_predict(post: EqualizedOddsResult, score: torch.Tensor, group: torch.Tensor, *,
                           sample: bool = True, generator=None) -> torch.Tensor:
    r"""Apply a randomised group-threshold classifier.

    The probability of predicting 1 is :math:`\sum_j w_{aj} [s \ge t_{aj}]` for a sample of
    group :math:`a` with score :math:`s`.

    Parameters
    ----------
    post : EqualizedOddsResult
        From :func:`equalized_odds_postprocess`.
    score : Tensor, shape (n,)
    group : Tensor, shape (n,), integer
        Every label must be one of ``post.groups``.
    sample : bool
        Draw 0/1 predictions (default) or return the probabilities of predicting 1.
    generator : None, int or torch.Generator
        For the draws.

    Returns
    -------
    Tensor, shape (n,)
        int64 predictions, or probabilities with the dtype of ``score``.

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> score = torch.tensor([0.9, 0.2, 0.6, 0.4, 0.8, 0.1, 0.7, 0.3])
    >>> y = torch.tensor([1, 0, 1, 0, 1, 0, 0, 1])
    >>> a = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    >>> post = equalized_odds_postprocess(score, y, a)
    >>> equalized_odds_predict(post, score, a, generator=0).shape
    torch.Size([8])
    """
    known = post.groups.to(group.device)
    if not bool(torch.isin(group, known).all()):
        extra = sorted(set(torch.unique(group).tolist()) - set(known.tolist()))
        raise ValueError(f"equalized_odds_predict: group has labels {extra} that post was not fitted on")
    prob = torch.zeros_like(score)
    for a, t, w in zip(known.tolist(), post.thresholds, post.weights):
        m = group == a
        t, w = t.to(score.device, score.dtype), w.to(score.device, score.dtype)
        prob[m] = ((score[m, None] >= t[None, :]).to(score.dtype) * w[None, :]).sum(1)
    prob = prob.clamp(0, 1)
    if not sample:
        return prob
    u = rand(score.shape[0], generator=as_generator(generator), device=score.device, dtype=score.dtype)
    return (u < prob).long()
