"""Expected calibration error with reliability diagrams, temperature scaling, the penultimate-layer projection."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Integer, Items, Real, Tensor, validate

_LOGITS = dict(shape=("n", "k"), dtype="floating")
_TARGET = dict(shape=("n",), dtype="integer", high="k")


@dataclasses.dataclass
class ReliabilityResult:
    r"""Expected calibration error and the reliability diagram behind it (see :func:`expected_calibration_error`).

    Attributes
    ----------
    ece : float
        :math:`\sum_b \frac{n_b}{n} |\mathrm{acc}_b - \mathrm{conf}_b|`.
    max_error : float
        Largest :math:`|\mathrm{acc}_b - \mathrm{conf}_b|` over non-empty bins.
    edges : Tensor, shape (n_bins + 1,)
        Bin edges on [0, 1].
    confidence, accuracy : Tensor, shape (n_bins,)
        Mean confidence and accuracy per bin (0 in empty bins).
    count : Tensor, shape (n_bins,)
        Examples per bin.
    """

    ece: float
    max_error: float
    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor


@validate(probs=Tensor(shape=("n", "k"), dtype="floating", low=0, high=1), target=Tensor(**_TARGET),
          n_bins=Integer(low=1))
def expected_calibration_error(probs: torch.Tensor, target: torch.Tensor, *, n_bins: int = 15) -> ReliabilityResult:
    r"""Top-label expected calibration error with equal-width confidence bins.

    Each example's confidence is its largest probability :math:`c_i = \max_k p_{ik}`,
    its prediction :math:`\hat y_i = \arg\max_k p_{ik}`. With bins
    :math:`B_b = ((b-1)/M, b/M]` (the first one closed at 0),

    .. math:: \mathrm{ECE} = \sum_{b=1}^M \frac{|B_b|}{n}\,
              \Big|\frac1{|B_b|}\sum_{i \in B_b} 1[\hat y_i = y_i] - \frac1{|B_b|}\sum_{i\in B_b} c_i\Big|.

    Parameters
    ----------
    probs : Tensor, shape (n, k)
        Predicted class probabilities (rows summing to 1).
    target : Tensor, shape (n,), integer
        True classes.
    n_bins : int
        Number of bins :math:`M` (15 as in Guo et al. 2017).

    Returns
    -------
    ReliabilityResult

    Notes
    -----
    The binned ECE is biased upward for small :math:`n` (each bin's accuracy is noisy):
    compare models on the same test set with the same bins. See the chapter
    :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    >>> round(expected_calibration_error(p, torch.tensor([0, 1, 1]), n_bins=2).ece, 4)
    0.0667
    """
    rows = probs.sum(1)
    if bool(((rows - 1).abs() > 1e-3).any()):
        raise ValueError(f"expected_calibration_error: probs rows must sum to 1, got sums in "
                         f"[{float(rows.min()):.4g}, {float(rows.max()):.4g}] (apply softmax to logits)")
    conf, pred = probs.max(1)
    correct = (pred == target).to(probs.dtype)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=probs.dtype, device=probs.device)
    which = torch.bucketize(conf, edges[1:-1].contiguous(), right=False)  # (a, b] bins; 0 goes to the first
    count = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(0, which, torch.ones_like(conf))
    conf_sum = torch.zeros_like(count).index_add_(0, which, conf)
    acc_sum = torch.zeros_like(count).index_add_(0, which, correct)
    safe = count.clamp(min=1)
    confidence, accuracy = conf_sum / safe, acc_sum / safe
    gap = (accuracy - confidence).abs()
    ece = float((count / probs.shape[0] * gap).sum())
    max_error = float(gap[count > 0].max())
    return ReliabilityResult(ece=ece, max_error=max_error, edges=edges, confidence=confidence,
                             accuracy=accuracy, count=count.long())


@dataclasses.dataclass
class TemperatureResult:
    """A fitted temperature (see :func:`fit_temperature`).

    Attributes
    ----------
    temperature : float
        :math:`T^\\star`; calibrated probabilities are ``softmax(logits / T)``.
    nll_before, nll_after : float
        Mean negative log-likelihood at :math:`T = 1` and at :math:`T^\\star`.
    """

    temperature: float
    nll_before: float
    nll_after: float


@validate(logits=Tensor(**_LOGITS), target=Tensor(**_TARGET), bounds=Items(Real(low=0, closed="neither"), length=2))
def fit_temperature(logits: torch.Tensor, target: torch.Tensor, *,
                    bounds=(0.05, 20.0)) -> TemperatureResult:
    r"""Temperature scaling: the single :math:`T > 0` that minimises held-out log-loss.

    .. math:: T^\star = \arg\min_{T} \; -\frac1n \sum_i \log \mathrm{softmax}(z_i / T)_{y_i}.

    The objective is smooth and unimodal in :math:`\log T` for these problems; it is
    minimised by golden-section search on :math:`\log T` over ``bounds`` (60 steps,
    relative precision about :math:`10^{-12}`), in float64.

    Parameters
    ----------
    logits : Tensor, shape (n, k)
        Validation logits (not the training set's: there a network is overconfident by
        construction).
    target : Tensor, shape (n,), integer
        Validation labels.
    bounds : pair of float
        Search interval for :math:`T`.

    Returns
    -------
    TemperatureResult

    Notes
    -----
    Guo, Pleiss, Sun & Weinberger (2017). Scaling by :math:`T` keeps every argmax, so
    accuracy is unchanged. See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    >>> res = fit_temperature(z, torch.tensor([0, 1, 1, 0]))
    >>> res.temperature > 1 and res.nll_after < res.nll_before
    True
    """
    lo, hi = bounds
    if not lo < hi:
        raise ValueError(f"fit_temperature: bounds must be increasing, got {tuple(bounds)}")
    z = logits.detach().double()

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(z / math.exp(log_t), target))

    a, b = math.log(lo), math.log(hi)
    phi = (5**0.5 - 1) / 2
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = nll(d)
    log_t = (a + b) / 2
    return TemperatureResult(temperature=math.exp(log_t), nll_before=nll(0.0),
                             nll_after=nll(log_t))


@dataclasses.dataclass
class ProjectionResult:
    """Penultimate-layer activations projected onto the plane of three class templates.

    Attributes
    ----------
    coords : Tensor, shape (n, 2)
        Coordinates in the plane (orthonormal basis, origin at the templates' centroid).
    templates : Tensor, shape (3, 2)
        The three templates' own coordinates.
    basis : Tensor, shape (2, d)
        Orthonormal basis of the plane.
    origin : Tensor, shape (d,)
        The templates' centroid.
    """

    coords: torch.Tensor
    templates: torch.Tensor
    basis: torch.Tensor
    origin: torch.Tensor


@validate(features=Tensor(shape=("n", "d"), dtype="floating"), weight=Tensor(shape=("k", "d"), dtype="floating"),
          classes=Items(Integer(low=0), length=3), same=[("features", "weight")])
def penultimate_projection(features: torch.Tensor, weight: torch.Tensor, classes) -> ProjectionResult:
    r"""Project penultimate-layer activations onto the plane through three class templates.

    The logit of class :math:`k` is :math:`w_k^\top h + b_k`: the row :math:`w_k` of the
    last layer is the class's *template*. Müller, Kornblith & Hinton (2019) take three
    classes, an orthonormal basis :math:`(u_1, u_2)` of the plane through
    :math:`w_a, w_b, w_c`, and plot :math:`\big(u_1^\top (h - \bar w),\ u_2^\top (h - \bar w)\big)`
    for the activations :math:`h`, with :math:`\bar w` the templates' mean.

    Parameters
    ----------
    features : Tensor, shape (n, d)
        Penultimate activations.
    weight : Tensor, shape (k, d)
        The last linear layer's weight.
    classes : sequence of 3 int
        Distinct class indices in ``[0, k)``.

    Returns
    -------
    ProjectionResult

    Notes
    -----
    The basis comes from a QR decomposition of :math:`(w_b - w_a, w_c - w_a)`; the
    templates must not be collinear. See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> w = torch.eye(3, 4)
    >>> res = penultimate_projection(torch.eye(3, 4), w, [0, 1, 2])
    >>> torch.allclose(res.coords, res.templates)
    True
    """
    k = weight.shape[0]
    if len(set(classes)) != 3 or max(classes) >= k:
        raise ValueError(f"penultimate_projection: classes must be 3 distinct indices in [0, {k}), got {list(classes)}")
    w = weight.detach()[list(classes)]
    origin = w.mean(0)
    q, r = torch.linalg.qr(torch.stack([w[1] - w[0], w[2] - w[0]], 1))
    diag = r.diagonal().abs()
    if float(diag.min()) <= 1e-8 * float(diag.max().clamp(min=1e-30)):
        raise ValueError("penultimate_projection: the three templates (rows of weight) are collinear")
    basis = q.T
    return ProjectionResult(coords=(features.detach() - origin) @ basis.T, templates=(w - origin) @ basis.T,
                            basis=basis, origin=origin)
