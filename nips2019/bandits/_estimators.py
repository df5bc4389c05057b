"""Arm-value estimators for adaptively collected data: sample means, IPW, AIPW, adaptively weighted AIPW."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import InstanceOf, Options, Probability, Real, validate
from ._adaptive import AdaptiveExperiment

_METHODS = ("sample_mean", "ipw", "aipw", "aw_aipw")


@dataclasses.dataclass
class ArmEstimates:
    """Estimates of every arm's mean in every replication, with standard errors.

    Attributes
    ----------
    estimate : Tensor, shape (R, K)
        :math:`\\hat Q(k)` per replication.
    stderr : Tensor, shape (R, K)
        Its estimated standard error :math:`\\hat V^{1/2}` (the normal approximation
        behind ``ArmEstimates.interval``).
    method : str
        The estimator that produced them.
    """

    estimate: torch.Tensor
    stderr: torch.Tensor
    method: str

    def interval(self, level: float = 0.95):
        """Normal-approximation confidence intervals ``(lower, upper)``, each of shape (R, K)."""
        if not 0 < level < 1:
            raise ValueError(f"ArmEstimates.interval: level must be in (0, 1), got {level}")
        z = math.sqrt(2) * torch.special.erfinv(torch.tensor(level, dtype=torch.float64)).item()
        return self.estimate - z * self.stderr, self.estimate + z * self.stderr


def aipw_scores(experiment: AdaptiveExperiment, *, plug_in: bool = True) -> torch.Tensor:
    """The (augmented) inverse-propensity scores Gamma_t(k), shape (R, T, K); see :func:`arm_estimates`."""
    arms, y, e = experiment.arms, experiment.rewards, experiment.propensities
    k = e.shape[-1]
    onehot = torch.nn.functional.one_hot(arms, k).to(y.dtype)
    if plug_in:
        n_before = onehot.cumsum(1) - onehot
        s_before = (onehot * y.unsqueeze(-1)).cumsum(1) - onehot * y.unsqueeze(-1)
        mu = torch.where(n_before > 0, s_before / n_before.clamp(min=1), torch.zeros_like(s_before))
    else:
        mu = torch.zeros_like(e)
    return mu + onehot / e * (y.unsqueeze(-1) - mu)


@validate(
    experiment=InstanceOf(AdaptiveExperiment),
    method=Options(*_METHODS),
    eps=Real(low=0, closed="neither"),
)
def arm_estimates(experiment: AdaptiveExperiment, *, method: str = "aw_aipw", eps: float = 1e-12) -> ArmEstimates:
    r"""Estimate every arm's mean from the data of an adaptive experiment.

    With :math:`\hat\mu_{t-1}(k)` the sample mean of arm :math:`k` before step :math:`t`
    (zero before its first pull), the AIPW score is

    .. math::

        \Gamma_t(k) = \hat\mu_{t-1}(k)
            + \frac{1\{W_t = k\}}{e_t(k)}\bigl(Y_t - \hat\mu_{t-1}(k)\bigr).

    Because :math:`\hat\mu_{t-1}` and :math:`e_t` are fixed by the history before
    :math:`t`, :math:`E[\Gamma_t(k) \mid \text{past}] = Q(k)`: the plain average of the
    scores is exactly unbiased. A weighted average
    :math:`\hat Q^h(k) = \sum_t h_t \Gamma_t(k) / \sum_t h_t` with history-measurable
    weights has a martingale numerator :math:`\sum_t h_t (\Gamma_t - Q)` but a random
    denominator, so it is consistent and (under the conditions of Hadad et al.)
    asymptotically normal, not exactly unbiased. The methods are

    - ``"sample_mean"``: the per-arm average, biased under adaptive sampling;
    - ``"ipw"``: :math:`h_t = 1` and :math:`\hat\mu \equiv 0` (Horvitz-Thompson);
    - ``"aipw"``: :math:`h_t = 1` with the plug-in :math:`\hat\mu_{t-1}`;
    - ``"aw_aipw"``: the variance-stabilising weights :math:`h_t = \sqrt{e_t(k)}` of
      Hadad et al. (2021), which down-weight the steps where an arm was rarely played.

    Standard errors: :math:`\hat V = \sum_t h_t^2 (\Gamma_t - \hat Q^h)^2 / (\sum_t h_t)^2`
    for the weighted estimators, :math:`s_k / \sqrt{n_k}` for the sample mean.

    Parameters
    ----------
    experiment : AdaptiveExperiment
        From :func:`run_adaptive_experiment` (or built from logged data with
        recorded propensities).
    method : {"sample_mean", "ipw", "aipw", "aw_aipw"}
    eps : float
        Floor on denominators (an arm never pulled gets estimate 0 and a zero-count
        standard error of ``inf`` is avoided by this floor).

    Returns
    -------
    ArmEstimates

    References
    ----------
    Hadad, Hirshberg, Zhan, Wager & Athey (2021), *Confidence intervals for policy
    evaluation in adaptive experiments*, PNAS 118(15).

    Notes
    -----
    See the chapter :doc:`Bandits </book/bandits>`.

    Examples
    --------
    >>> import torch
    >>> from nips2019.bandits import run_adaptive_experiment
    >>> exp = run_adaptive_experiment(torch.tensor([0.0, 1.0]), 100, 4, floor=0.1, generator=0)
    >>> est = arm_estimates(exp, method="aw_aipw")
    >>> est.estimate.shape, bool((est.stderr > 0).all())
    (torch.Size([4, 2]), True)
    """
    arms, y, e = experiment.arms, experiment.rewards, experiment.propensities
    if e.dim() != 3 or arms.shape != y.shape or e.shape[:2] != arms.shape:
        raise ValueError("arm_estimates: experiment needs arms and rewards of shape (R, T) and propensities "
                         f"(R, T, K), got {tuple(arms.shape)}, {tuple(y.shape)}, {tuple(e.shape)}")
    if not bool(torch.isfinite(e).all()) or bool((e <= 0).any()):
        raise ValueError("arm_estimates: experiment.propensities must be positive and finite "
                         "(inverse weighting needs every arm possible at every step: use a floor)")
    k = e.shape[-1]
    if method == "sample_mean":
        onehot = torch.nn.functional.one_hot(arms, k).to(y.dtype)
        n = onehot.sum(1)
        mean = (onehot * y.unsqueeze(-1)).sum(1) / n.clamp(min=1)
        var = (onehot * (y.unsqueeze(-1) - mean.unsqueeze(1)) ** 2).sum(1) / (n - 1).clamp(min=1)
        return ArmEstimates(estimate=mean, stderr=(var / n.clamp(min=1)).clamp(min=eps).sqrt(), method=method)
    gamma = aipw_scores(experiment, plug_in=method != "ipw")
    h = e.sqrt() if method == "aw_aipw" else torch.ones_like(e)
    hs = h.sum(1).clamp(min=eps)
    q = (h * gamma).sum(1) / hs
    v = (h**2 * (gamma - q.unsqueeze(1)) ** 2).sum(1) / hs**2
    return ArmEstimates(estimate=q, stderr=v.clamp(min=eps).sqrt(), method=method)
