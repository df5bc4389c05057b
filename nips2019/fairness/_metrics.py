"""Group fairness metrics from predictions, scores, labels and a protected attribute."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Integer, Tensor, validate

_LABELS = dict(shape=("n",), values=(0, 1))
_GROUP = dict(shape=("n",), dtype="integer", low=0)
_PRED = dict(shape=("n",), low=0, high=1)  # 0/1 predictions or probabilities of a 1


def _ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a / b with 0 / 0 read as 0 (the convention of scikit-learn's ``zero_division=0``)."""
    pos = b > 0
    return torch.where(pos, a / torch.where(pos, b, torch.ones_like(b)), torch.zeros_like(a))


def _groups(group: torch.Tensor) -> torch.Tensor:
    return torch.unique(group)


@dataclasses.dataclass
class GroupRates:
    """Per-group confusion-matrix rates (see :func:`group_rates`).

    Attributes
    ----------
    groups : Tensor, shape (g,)
        The group labels present, sorted.
    count, base_rate, selection_rate, tpr, fpr, fnr, ppv, accuracy : Tensor, shape (g,)
        Group size; share of positive labels; share of positive predictions; true
        positive, false positive and false negative rates; positive predictive value
        (precision); accuracy. Rates with an empty denominator are 0.
    """

    groups: torch.Tensor
    count: torch.Tensor
    base_rate: torch.Tensor
    selection_rate: torch.Tensor
    tpr: torch.Tensor
    fpr: torch.Tensor
    fnr: torch.Tensor
    ppv: torch.Tensor
    accuracy: torch.Tensor


@validate(y_true=Tensor(**_LABELS), y_pred=Tensor(**_PRED), group=Tensor(**_GROUP))
def group_rates(y_true: torch.Tensor, y_pred: torch.Tensor, group: torch.Tensor) -> GroupRates:
    r"""Confusion-matrix rates of a binary classifier in each group.

    With true labels :math:`Y`, predictions :math:`\hat Y` and group :math:`A`:
    selection rate :math:`P(\hat Y = 1 \mid A)`, TPR :math:`P(\hat Y = 1 \mid Y = 1, A)`,
    FPR :math:`P(\hat Y = 1 \mid Y = 0, A)`, FNR = 1 - TPR, PPV
    :math:`P(Y = 1 \mid \hat Y = 1, A)`. A rate whose denominator is empty is 0, as
    with scikit-learn's ``zero_division=0``. ``y_pred`` may also hold probabilities of a
    positive prediction in [0, 1] (a randomised classifier): the rates are then the
    expected rates.

    Parameters
    ----------
    y_true : Tensor, shape (n,)
        Labels in {0, 1}.
    y_pred : Tensor, shape (n,)
        Predictions in {0, 1}, or probabilities of predicting 1 when floating.
    group : Tensor, shape (n,), integer
        Protected attribute (non-negative integers).

    Returns
    -------
    GroupRates

    Notes
    -----
    Reference: fairlearn's ``MetricFrame(...).by_group`` with ``selection_rate``,
    ``true_positive_rate``, ... See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> r = group_rates(torch.tensor([1, 0, 1, 0]), torch.tensor([1, 1, 0, 0]),
    ...                 torch.tensor([0, 0, 1, 1]))
    >>> r.tpr.tolist(), r.fpr.tolist()
    ([1.0, 0.0], [1.0, 0.0])
    """
    return _group_rates(y_true, y_pred, group)


def _group_rates(y_true, y_pred, group) -> GroupRates:
    dtype = y_pred.dtype if y_pred.is_floating_point() else torch.float64
    y = y_true.to(dtype)
    yhat = y_pred.to(dtype)
    groups = _groups(group)
    onehot = (group[None, :] == groups[:, None]).to(dtype)  # (g, n)
    count = onehot.sum(1)
    pos = onehot @ y
    neg = count - pos
    pred_pos = onehot @ yhat
    tp = onehot @ (y * yhat)
    fp = pred_pos - tp
    tpr = _ratio(tp, pos)
    return GroupRates(
        groups=groups, count=count, base_rate=pos / count, selection_rate=pred_pos / count,
        tpr=tpr, fpr=_ratio(fp, neg), fnr=torch.where(pos > 0, 1 - tpr, torch.zeros_like(tpr)),
        ppv=_ratio(tp, pred_pos), accuracy=(onehot @ (1 - (y - yhat).abs())) / count,
    )


@dataclasses.dataclass
class FairnessGaps:
    """Between-group differences and ratios (see :func:`fairness_gaps`).

    Attributes
    ----------
    demographic_parity_difference, demographic_parity_ratio : float
        Largest minus smallest group selection rate, and smallest over largest.
    equalized_odds_difference, equalized_odds_ratio : float
        The larger of the TPR and FPR differences; the smaller of the two ratios.
    equal_opportunity_difference, equal_opportunity_ratio : float
        TPR difference and ratio.
    tpr_difference, fpr_difference : float
        The two parts of the equalised-odds difference.
    """

    demographic_parity_difference: float
    demographic_parity_ratio: float
    equalized_odds_difference: float
    equalized_odds_ratio: float
    equal_opportunity_difference: float
    equal_opportunity_ratio: float
    tpr_difference: float
    fpr_difference: float


def _spread(v: torch.Tensor) -> tuple[float, float]:
    lo, hi = float(v.min()), float(v.max())
    return hi - lo, (lo / hi if hi > 0 else 1.0)


@validate(y_true=Tensor(**_LABELS), y_pred=Tensor(**_PRED), group=Tensor(**_GROUP))
def fairness_gaps(y_true: torch.Tensor, y_pred: torch.Tensor, group: torch.Tensor) -> FairnessGaps:
    r"""Demographic parity, equalised odds and equal opportunity, as differences and ratios.

    .. math::

        \Delta_{\mathrm{DP}} = \max_a s_a - \min_a s_a, \quad
        \Delta_{\mathrm{EO}} = \max(\max_a \mathrm{TPR}_a - \min_a \mathrm{TPR}_a,\;
        \max_a \mathrm{FPR}_a - \min_a \mathrm{FPR}_a),

    with selection rates :math:`s_a`; the equal-opportunity difference is the TPR part
    alone; ratios are smallest over largest (1 when every rate is 0: they are equal).

    Parameters
    ----------
    y_true, y_pred, group : Tensor, shape (n,)
        As in :func:`group_rates`.

    Returns
    -------
    FairnessGaps

    Notes
    -----
    Reference: fairlearn's ``demographic_parity_difference``, ``equalized_odds_ratio``,
    ``equal_opportunity_difference``, ... (which return NaN where we return 1 for 0/0).
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> gaps = fairness_gaps(torch.tensor([1, 0, 1, 0]), torch.tensor([1, 1, 1, 0]),
    ...                      torch.tensor([0, 0, 1, 1]))
    >>> gaps.demographic_parity_difference, gaps.equalized_odds_difference
    (0.5, 1.0)
    """
    r = _group_rates(y_true, y_pred, group)
    dp = _spread(r.selection_rate)
    tp = _spread(r.tpr)
    fp = _spread(r.fpr)
    return FairnessGaps(
        demographic_parity_difference=dp[0], demographic_parity_ratio=dp[1],
        equalized_odds_difference=max(tp[0], fp[0]), equalized_odds_ratio=min(tp[1], fp[1]),
        equal_opportunity_difference=tp[0], equal_opportunity_ratio=tp[1],
        tpr_difference=tp[0], fpr_difference=fp[0],
    )


@dataclasses.dataclass
class CalibrationResult:
    r"""Calibration within groups (see :func:`calibration_by_group`).

    Attributes
    ----------
    groups : Tensor, shape (g,)
    edges : Tensor, shape (n_bins + 1,)
        Bin edges on [0, 1].
    mean_score, positive_rate, count : Tensor, shape (g, n_bins)
        Per group and bin: mean score, share of positive labels, number of samples
        (empty bins have mean score and rate 0).
    calibration_error : Tensor, shape (g,)
        Expected calibration error per group,
        :math:`\sum_b \frac{n_{ab}}{n_a} |\bar y_{ab} - \bar s_{ab}|`.
    """

    groups: torch.Tensor
    edges: torch.Tensor
    mean_score: torch.Tensor
    positive_rate: torch.Tensor
    count: torch.Tensor
    calibration_error: torch.Tensor


@validate(y_true=Tensor(**_LABELS), score=Tensor(shape=("n",), dtype="floating", low=0, high=1),
          group=Tensor(**_GROUP), n_bins=Integer(low=1))
def calibration_by_group(y_true: torch.Tensor, score: torch.Tensor, group: torch.Tensor, *,
                         n_bins: int = 10) -> CalibrationResult:
    r"""Reliability of a score in each group: :math:`P(Y = 1 \mid S \in \text{bin}, A)`.

    A score is calibrated within groups when :math:`P(Y = 1 \mid S = s, A = a) = s` for
    every group :math:`a`. Scores are binned into ``n_bins`` equal-width bins of [0, 1]
    (the last bin is closed); the expected calibration error of a group is the
    count-weighted mean gap between the bins' positive rate and mean score.

    Parameters
    ----------
    y_true : Tensor, shape (n,)
        Labels in {0, 1}.
    score : Tensor, shape (n,)
        Scores in [0, 1].
    group : Tensor, shape (n,), integer
    n_bins : int

    Returns
    -------
    CalibrationResult

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> cal = calibration_by_group(torch.tensor([1, 0, 1, 1]), torch.tensor([0.5, 0.5, 0.9, 1.0]),
    ...                            torch.tensor([0, 0, 1, 1]), n_bins=2)
    >>> [round(e, 6) for e in cal.calibration_error.tolist()]
    [0.0, 0.05]
    """
    dtype = score.dtype
    groups = _groups(group)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=dtype, device=score.device)
    b = torch.clamp((score * n_bins).long(), max=n_bins - 1)
    g_idx = torch.searchsorted(groups, group)
    flat = g_idx * n_bins + b
    size = len(groups) * n_bins
    count = torch.zeros(size, dtype=dtype, device=score.device).index_add_(0, flat, torch.ones_like(score))
    s_sum = torch.zeros_like(count).index_add_(0, flat, score)
    y_sum = torch.zeros_like(count).index_add_(0, flat, y_true.to(dtype))
    count, s_sum, y_sum = (t.reshape(len(groups), n_bins) for t in (count, s_sum, y_sum))
    mean_score, rate = _ratio(s_sum, count), _ratio(y_sum, count)
    ece = ((count * (rate - mean_score).abs()).sum(1)) / count.sum(1)
    return CalibrationResult(groups=groups, edges=edges, mean_score=mean_score, positive_rate=rate,
                             count=count, calibration_error=ece)


@validate(x=Tensor(shape=("n", "d"), dtype="floating"), y_pred=Tensor(**_PRED),
          n_neighbors=Integer(low=1))
def consistency_score(x: torch.Tensor, y_pred: torch.Tensor, *, n_neighbors: int = 5) -> float:
    r"""Individual fairness as consistency: do similar individuals get similar predictions?

    .. math::

        \mathrm{yNN} = 1 - \frac1n \sum_i \Bigl|\hat y_i - \frac1k \sum_{j \in
        \mathrm{kNN}(x_i)} \hat y_j\Bigr|

    (Zemel et al. 2013), with the :math:`k` nearest neighbours in Euclidean distance,
    the point itself excluded. 1 means every individual is treated like its neighbours.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Features that define similarity (usually without the protected attribute).
    y_pred : Tensor, shape (n,)
        Predictions in {0, 1} (or probabilities).
    n_neighbors : int
        :math:`k`, at most ``n - 1``.

    Returns
    -------
    float

    Notes
    -----
    Reference: scikit-learn's ``NearestNeighbors``. See the chapter
    :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [0.1], [5.0], [5.1]])
    >>> consistency_score(x, torch.tensor([1, 1, 0, 0]), n_neighbors=1)
    1.0
    """
    n = x.shape[0]
    if n_neighbors > n - 1:
        raise ValueError(f"consistency_score: n_neighbors must be <= n - 1 = {n - 1}, got {n_neighbors}")
    d = torch.cdist(x, x)
    d.fill_diagonal_(float("inf"))
    idx = d.topk(n_neighbors, largest=False).indices
    yhat = y_pred.to(x.dtype)
    return float(1 - (yhat - yhat[idx].mean(1)).abs().mean())


@validate(base_rate=Tensor(dtype="floating", low=0, high=1, closed="neither"),
          ppv=Tensor(dtype="floating", low=0, high=1, closed="right"),
          fnr=Tensor(dtype="floating", low=0, high=1), same=[("base_rate", "ppv", "fnr")])
def chouldechova_fpr(base_rate: torch.Tensor, ppv: torch.Tensor, fnr: torch.Tensor) -> torch.Tensor:
    r"""The false positive rate implied by base rate, PPV and FNR (Chouldechova 2017).

    .. math::

        \mathrm{FPR} = \frac{p}{1 - p}\,\frac{1 - \mathrm{PPV}}{\mathrm{PPV}}\,(1 - \mathrm{FNR}).

    It follows from counting: :math:`TP = p n (1 - \mathrm{FNR})`,
    :math:`FP = TP (1 - \mathrm{PPV}) / \mathrm{PPV}` and :math:`\mathrm{FPR} = FP / ((1-p) n)`.
    Two groups with equal PPV and FNR but different base rates :math:`p` therefore have
    different FPRs.

    Parameters
    ----------
    base_rate : Tensor
        :math:`p` in (0, 1).
    ppv : Tensor
        Positive predictive value in (0, 1].
    fnr : Tensor
        False negative rate in [0, 1].

    Returns
    -------
    Tensor
        Same shape as the broadcast inputs.

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> chouldechova_fpr(torch.tensor(0.5), torch.tensor(0.8), torch.tensor(0.2))
    tensor(0.2000)
    """
    return base_rate / (1 - base_rate) * (1 - ppv) / ppv * (1 - fnr)
