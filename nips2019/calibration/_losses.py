"""Label-smoothed cross-entropy, its optimal logit gap, and the distillation loss."""

from __future__ import annotations

import math

import torch

from ..utils import Integer, Options, Real, Tensor, validate

_LOGITS = dict(shape=("n", "k"), dtype="floating")
_TARGET = dict(shape=("n",), dtype="integer", high="k")


def _smoothed_ce(logits, target, alpha, reduction):
    logp = torch.log_softmax(logits, -1)
    nll = -logp.gather(1, target[:, None])[:, 0]
    loss = (1 - alpha) * nll - alpha * logp.mean(1) if alpha > 0 else nll
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


@validate(logits=Tensor(**_LOGITS), target=Tensor(**_TARGET), alpha=Real(low=0, high=1),
          reduction=Options("mean", "sum", "none"))
def label_smoothing_cross_entropy(logits: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.1,
                                  reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy against label-smoothed targets.

    The hard target :math:`e_y` is mixed with the uniform distribution over the :math:`K`
    classes, :math:`q = (1 - \alpha) e_y + \alpha / K`, and the loss is

    .. math:: \ell_\alpha(z, y) = -\sum_k q_k \log \mathrm{softmax}(z)_k
              = (1 - \alpha)\,(-\log p_y) + \alpha \,\frac1K \sum_k (-\log p_k).

    The true class keeps :math:`1 - \alpha + \alpha/K`, every other class gets
    :math:`\alpha / K` (not :math:`\alpha / (K - 1)`).

    Parameters
    ----------
    logits : Tensor, shape (n, k)
        Unnormalised scores.
    target : Tensor, shape (n,), integer
        Class indices in ``[0, k)``.
    alpha : float
        Smoothing :math:`\alpha` in [0, 1] (0: plain cross-entropy).
    reduction : {"mean", "sum", "none"}
        As in ``torch.nn.functional.cross_entropy``.

    Returns
    -------
    Tensor
        Scalar, or shape (n,) with ``reduction="none"``.

    Notes
    -----
    Equal to ``F.cross_entropy(logits, target, label_smoothing=alpha)`` (Müller,
    Kornblith & Hinton 2019; Szegedy et al. 2016). See the chapter
    :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> z = torch.tensor([[2.0, 0.0, 0.0]]); y = torch.tensor([0])
    >>> a = label_smoothing_cross_entropy(z, y, alpha=0.1)
    >>> b = torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1)
    >>> bool(torch.isclose(a, b))
    True
    """
    return _smoothed_ce(logits, target, alpha, reduction)


@validate(n_classes=Integer(low=2), alpha=Real(low=0, high=1, closed="right"))
def optimal_logit_gap(n_classes: int, alpha: float) -> float:
    r"""The logit gap that minimises the label-smoothed loss of a single example.

    The minimiser of :math:`\ell_\alpha(z, y)` over :math:`z` has
    :math:`\mathrm{softmax}(z) = q`, so the true logit exceeds every other one by

    .. math:: \Delta^\star = \log\frac{1 - \alpha + \alpha/K}{\alpha/K}
              = \log\Big(\frac{K(1 - \alpha)}{\alpha} + 1\Big).

    Without smoothing (:math:`\alpha \to 0`) the gap is unbounded: the logits grow forever.

    Parameters
    ----------
    n_classes : int
        :math:`K \ge 2`.
    alpha : float
        Smoothing in (0, 1].

    Returns
    -------
    float

    Notes
    -----
    See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> round(optimal_logit_gap(10, 0.1), 4)  # log(91)
    4.5109
    """
    return math.log(n_classes * (1 - alpha) / alpha + 1)


@validate(student_logits=Tensor(**_LOGITS), teacher_logits=Tensor(**_LOGITS),
          temperature=Real(low=0, closed="neither"), same=[("student_logits", "teacher_logits")])
def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *,
                      temperature: float = 1.0) -> torch.Tensor:
    r"""Knowledge-distillation loss: KL from the teacher's tempered softmax to the student's.

    .. math:: T^2 \frac1n \sum_i \mathrm{KL}\big(\mathrm{softmax}(g_i / T)\,\big\|\,
              \mathrm{softmax}(f_i / T)\big),

    with student logits :math:`f`, teacher logits :math:`g` and temperature :math:`T`
    (the factor :math:`T^2` keeps gradient sizes comparable across temperatures,
    Hinton, Vinyals & Dean 2015).

    Parameters
    ----------
    student_logits, teacher_logits : Tensor, shape (n, k)
    temperature : float
        :math:`T > 0`.

    Returns
    -------
    Tensor, scalar

    Notes
    -----
    :func:`nips2019.robust.train_classifier` with ``teacher=`` minimises this loss.
    See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> z = torch.randn(4, 3)
    >>> float(distillation_loss(z, z, temperature=2.0)) < 1e-6
    True
    """
    return _distill(student_logits, teacher_logits, temperature)


def _distill(student_logits, teacher_logits, t):
    logp = torch.log_softmax(teacher_logits.detach() / t, -1)
    logq = torch.log_softmax(student_logits / t, -1)
    return t * t * (logp.exp() * (logp - logq)).sum(1).mean()
