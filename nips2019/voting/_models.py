r"""Learning each voter's preferences from pairwise comparisons, and virtual elections.

Alternatives are feature vectors :math:`x \in \mathbb{R}^d`; voter :math:`i` has a weight vector
:math:`\beta_i` and utility :math:`\mu_i(x) = \beta_i^\top x`. A comparison of :math:`a` and
:math:`b` is a noisy judgement of the utility difference:

- **Thurstone-Mosteller** (TM): utilities are perturbed by independent :math:`N(0, 1/2)` noise, so
  :math:`P(a \succ b) = \Phi(\beta^\top (x_a - x_b))`;
- **Bradley-Terry** (the pairwise marginal of Plackett-Luce): Gumbel noise, so
  :math:`P(a \succ b) = \sigma(\beta^\top (x_a - x_b))`.

Each voter's :math:`\beta_i` is fitted by penalised maximum likelihood, all voters at once, by a
batched Newton method (the log-likelihood is concave in both models).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from nips2019.utils import (
    Generator,
    InstanceOf,
    Integer,
    Options,
    Real,
    Tensor,
    as_generator,
    randn,
    validate,
)

from ._rules import RULES, _check_permutations, rankings_from_utilities, vote


@dataclasses.dataclass
class Comparisons:
    """Pairwise comparisons of each voter (:func:`sample_comparisons`).

    Attributes
    ----------
    diff : Tensor, shape (n_voters, n_comparisons, d)
        Feature differences :math:`x_a - x_b` of the compared pairs.
    y : Tensor, shape (n_voters, n_comparisons)
        1.0 where the voter preferred :math:`a`, 0.0 where it preferred :math:`b` (same dtype as
        ``diff``).
    """

    diff: torch.Tensor
    y: torch.Tensor


@validate(weights=Tensor(shape=("v", "d"), dtype="floating"), n_comparisons=Integer(low=1),
          model=Options("thurstone", "bradley_terry"), generator=Generator())
def sample_comparisons(weights, n_comparisons, *, model="thurstone", generator=None):
    r"""Draw pairwise comparisons of random alternatives for each voter.

    Alternatives have i.i.d. standard normal features; each comparison shows a voter two fresh
    alternatives :math:`a, b` and records :math:`a \succ b` with probability
    :math:`F(\beta_i^\top(x_a - x_b))`, :math:`F = \Phi` (TM) or the logistic function (BT).

    Parameters
    ----------
    weights : Tensor, shape (n_voters, d)
        True :math:`\beta_i`.
    n_comparisons : int
        Comparisons per voter.
    model : {"thurstone", "bradley_terry"}
    generator : None, int or torch.Generator

    Returns
    -------
    Comparisons

    Examples
    --------
    >>> import torch
    >>> c = sample_comparisons(torch.ones(3, 2, dtype=torch.float64), 5, generator=0)
    >>> c.diff.shape, c.y.shape
    (torch.Size([3, 5, 2]), torch.Size([3, 5]))
    """
    g = as_generator(generator)
    v, d = weights.shape
    kw = dict(generator=g, device=weights.device, dtype=weights.dtype)
    diff = randn(v, n_comparisons, d, **kw) - randn(v, n_comparisons, d, **kw)
    z = torch.einsum("vkd,vd->vk", diff, weights)
    p = _cdf(z, model)
    u = torch.rand(v, n_comparisons, generator=g, dtype=weights.dtype).to(weights.device)
    return Comparisons(diff, (u < p).to(weights.dtype))


def _cdf(z, model):
    return torch.special.ndtr(z) if model == "thurstone" else torch.sigmoid(z)


def _log_lik_terms(z, model):
    """log F(z), d/dz log F(z), and -d2/dz2 log F(z) >= 0."""
    if model == "thurstone":
        logf = torch.special.log_ndtr(z)
        lam = torch.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - logf)  # phi / Phi, stable
        return logf, lam, lam * (z + lam)
    logf = torch.nn.functional.logsigmoid(z)
    s = torch.sigmoid(z)
    return logf, 1 - s, s * (1 - s)


@dataclasses.dataclass
class PreferenceModel:
    """Fitted voter models (:func:`fit_preferences`).

    Attributes
    ----------
    weights : Tensor, shape (n_voters, d)
        Estimated :math:`\\hat\\beta_i`.
    model : str
    reg : float
    loss : Tensor, shape (n_voters,)
        Penalised negative log-likelihood at the estimate.
    n_iter : int
        Newton iterations used.
    converged : bool
        Every voter's Newton decrement fell below ``tol``.
    """

    weights: torch.Tensor
    model: str
    reg: float
    loss: torch.Tensor
    n_iter: int
    converged: bool


def _loss(beta, diff, s, model, reg):
    z = s * torch.einsum("vkd,vd->vk", diff, beta)
    return -_log_lik_terms(z, model)[0].sum(-1) + 0.5 * reg * (beta * beta).sum(-1)


@validate(diff=Tensor(shape=("v", "k", "d"), dtype="floating"), y=Tensor(shape=("v", "k"), values=(0, 1)),
          model=Options("thurstone", "bradley_terry"), reg=Real(low=0, closed="neither"), max_iter=Integer(low=1),
          tol=Real(low=0, closed="neither"), same=[("diff", "y")])
def fit_preferences(diff, y, *, model="thurstone", reg=1.0, max_iter=100, tol=1e-10):
    r"""Fit one linear utility model per voter by penalised maximum likelihood.

    For voter :math:`i` with comparisons :math:`(d_k, y_k)`, :math:`s_k = 2y_k - 1`,

    .. math::

        \hat\beta_i = \arg\min_\beta\ -\sum_k \log F(s_k\, \beta^\top d_k)
        + \tfrac{\mathrm{reg}}{2} \lVert\beta\rVert^2,

    with :math:`F = \Phi` (Thurstone-Mosteller, probit) or :math:`F = \sigma` (Bradley-Terry,
    logit). The objective is strictly convex; all voters take damped Newton steps together
    (batched :math:`d \times d` solves, backtracking until the loss decreases). The penalty is
    a Gaussian prior and keeps the estimate finite when a voter's comparisons are separable,
    which is the rule with a handful of comparisons. With ``model="bradley_terry"`` this is
    scikit-learn's ``LogisticRegression(C=1/reg, fit_intercept=False)`` on ``diff``.

    Parameters
    ----------
    diff : Tensor, shape (n_voters, n_comparisons, d)
    y : Tensor, shape (n_voters, n_comparisons)
        0/1 outcomes (1: the first alternative of the pair was preferred), same dtype as ``diff``.
    model : {"thurstone", "bradley_terry"}
    reg : float
        Ridge weight, > 0.
    max_iter : int
    tol : float
        Stop when every voter's squared Newton decrement is below ``tol``.

    Returns
    -------
    PreferenceModel

    References
    ----------
    Noothigattu et al. (2018), *A voting-based system for ethical decision making*, AAAI; see the
    chapter :doc:`Many agents </book/multiagent>`.

    Examples
    --------
    >>> import torch
    >>> beta = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    >>> c = sample_comparisons(beta, 2000, generator=0)
    >>> fit = fit_preferences(c.diff, c.y, reg=1e-3)
    >>> fit.converged, bool((fit.weights - beta).abs().max() < 0.2)
    (True, True)
    """
    s = 2 * y - 1
    v, _, d = diff.shape
    beta = torch.zeros(v, d, dtype=diff.dtype, device=diff.device)
    eye = torch.eye(d, dtype=diff.dtype, device=diff.device)
    loss = _loss(beta, diff, s, model, reg)
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        z = s * torch.einsum("vkd,vd->vk", diff, beta)
        _, g1, g2 = _log_lik_terms(z, model)
        grad = -torch.einsum("vk,vkd->vd", g1 * s, diff) + reg * beta
        hess = torch.einsum("vk,vkd,vke->vde", g2, diff, diff) + reg * eye
        step = torch.linalg.solve(hess, grad.unsqueeze(-1)).squeeze(-1)
        decrement = (grad * step).sum(-1)
        if bool((decrement < tol).all()):
            converged = True
            break
        t = torch.ones(v, 1, dtype=diff.dtype, device=diff.device)
        for _ in range(30):  # backtracking, per voter
            new_beta = beta - t * step
            new_loss = _loss(new_beta, diff, s, model, reg)
            bad = (new_loss > loss - 0.25 * t.squeeze(-1) * decrement).unsqueeze(-1)
            if not bool(bad.any()):
                break
            t = torch.where(bad, 0.5 * t, t)
        beta, loss = new_beta, new_loss
    return PreferenceModel(beta, model, float(reg), loss, it, converged)


@validate(weights=Tensor(shape=("v", "d"), dtype="floating"),
          features=Tensor(shape=("...", "m", "d"), dtype="floating"), same=[("weights", "features")])
def predict_utilities(weights, features):
    r"""Utilities :math:`\beta_i^\top x_a` of every voter for every alternative.

    Parameters
    ----------
    weights : Tensor, shape (n_voters, d)
        True or fitted (``PreferenceModel.weights``) weights.
    features : Tensor, shape (..., m, d)
        Alternatives of one or many dilemmas.

    Returns
    -------
    Tensor, shape (..., n_voters, m)

    Examples
    --------
    >>> import torch
    >>> predict_utilities(torch.eye(2), torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    tensor([[1., 3., 5.],
            [2., 4., 6.]])
    """
    return torch.einsum("vd,...md->...vm", weights, features)


@validate(utilities=Tensor(shape=("...", "n", "m"), dtype="floating"), scale=Real(low=0), generator=Generator())
def thurstone_rankings(utilities, *, scale=1.0, generator=None):
    r"""Rankings drawn from the Thurstone-Mosteller model around given utilities.

    Each voter ranks by :math:`\mu_i(a) + \varepsilon_{ia}`, :math:`\varepsilon_{ia} \sim N(0,
    \mathrm{scale}^2)` i.i.d. (Kahng et al. use this model for the error of *predicted* ballots).

    Parameters
    ----------
    utilities : Tensor, shape (..., n, m)
    scale : float
        Noise standard deviation (0: the rankings of the utilities themselves).
    generator : None, int or torch.Generator

    Returns
    -------
    Tensor of int64, shape (..., n, m)

    Examples
    --------
    >>> import torch
    >>> thurstone_rankings(torch.tensor([[0.0, 5.0, 10.0]]), scale=0.1, generator=0)
    tensor([[2, 1, 0]])
    """
    noise = randn(*utilities.shape, generator=generator, device=utilities.device, dtype=utilities.dtype)
    return rankings_from_utilities(utilities + scale * noise)


@validate(true_rankings=Tensor(shape=("...", "n", "m"), dtype="integer", low=0, high="m"),
          predicted_rankings=Tensor(shape=("...", "n", "m"), dtype="integer", low=0, high="m"),
          rules=InstanceOf(tuple, list, str))
def agreement(true_rankings, predicted_rankings, rules=RULES):
    r"""How often a voting rule elects the same alternative on true and on predicted ballots.

    Kahng et al. call a rule *robust* when
    :math:`P[f(\text{true profile}) = f(\text{predicted profile})]` is close to one. This is the
    empirical frequency of that event over the leading (dilemma) dimensions.

    Parameters
    ----------
    true_rankings, predicted_rankings : Tensor of int, shape (..., n, m)
    rules : str or sequence of str
        Rules of :func:`~nips2019.voting.vote`.

    Returns
    -------
    dict
        Rule name -> agreement frequency (float in [0, 1]).

    References
    ----------
    Kahng, Lee, Noothigattu, Procaccia & Psomas (2019), *Statistical foundations of virtual
    democracy*, ICML; see the chapter :doc:`Many agents </book/multiagent>`.

    Examples
    --------
    >>> import torch
    >>> r = torch.tensor([[[0, 1, 2], [1, 0, 2], [0, 2, 1]]])
    >>> agreement(r, r.flip(-1), ["borda", "plurality"])
    {'borda': 0.0, 'plurality': 0.0}
    """
    if true_rankings.shape != predicted_rankings.shape:
        raise ValueError(f"agreement: predicted_rankings must have the shape of true_rankings "
                         f"{tuple(true_rankings.shape)}, got {tuple(predicted_rankings.shape)}")
    rules = (rules,) if isinstance(rules, str) else tuple(rules)
    unknown = [r for r in rules if r not in RULES]
    if unknown or not rules:
        raise ValueError(f"agreement: rules must be a non-empty list of {RULES}, got {list(rules)}")
    _check_permutations(true_rankings, "agreement (true_rankings)")
    _check_permutations(predicted_rankings, "agreement (predicted_rankings)")
    out = {}
    for rule in rules:
        a = vote.__wrapped__(true_rankings, rule).winner
        b = vote.__wrapped__(predicted_rankings, rule).winner
        out[rule] = float((a == b).double().mean())
    return out


@validate(n_voters=Integer(low=1), n_features=Integer(low=1), spread=Real(low=0), generator=Generator(),
          dtype=InstanceOf(torch.dtype), device=InstanceOf(str, torch.device, optional=True))
def make_voters(n_voters, n_features, *, spread=1.0, generator=None, dtype=torch.float64, device=None):
    r"""A population of voters: :math:`\beta_i = \bar\beta + \mathrm{spread}\cdot z_i`, :math:`z_i \sim N(0, I)`.

    The shared direction :math:`\bar\beta` is drawn once, standard normal; ``spread`` sets how much
    voters disagree (Noothigattu et al. draw voters' parameters around a population mean in the
    same way).

    Parameters
    ----------
    n_voters, n_features : int
    spread : float
    generator : None, int or torch.Generator
    dtype : torch.dtype
    device : str or torch.device, optional

    Returns
    -------
    Tensor, shape (n_voters, n_features)

    Examples
    --------
    >>> make_voters(4, 3, generator=0).shape
    torch.Size([4, 3])
    """
    g = as_generator(generator)
    mean = randn(1, n_features, generator=g, device=device, dtype=dtype)
    return mean + spread * randn(n_voters, n_features, generator=g, device=device, dtype=dtype)


@validate(n_dilemmas=Integer(low=1), n_alternatives=Integer(low=2), n_features=Integer(low=1), generator=Generator(),
          dtype=InstanceOf(torch.dtype), device=InstanceOf(str, torch.device, optional=True))
def make_dilemmas(n_dilemmas, n_alternatives, n_features, *, generator=None, dtype=torch.float64, device=None):
    r"""Random decision problems: ``n_alternatives`` standard normal feature vectors each.

    Parameters
    ----------
    n_dilemmas, n_alternatives, n_features : int
    generator : None, int or torch.Generator
    dtype : torch.dtype
    device : str or torch.device, optional

    Returns
    -------
    Tensor, shape (n_dilemmas, n_alternatives, n_features)

    Examples
    --------
    >>> make_dilemmas(10, 4, 3, generator=0).shape
    torch.Size([10, 4, 3])
    """
    return randn(n_dilemmas, n_alternatives, n_features, generator=generator, device=device, dtype=dtype)


