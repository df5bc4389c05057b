"""Causal confusion in imitation learning (de Haan, Jayaraman & Levine 2019): the braking-car toy."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Generator, InstanceOf, Integer, Items, Real, Tensor, as_generator, rand, randn, validate
from ._common import _DRAWN


@dataclasses.dataclass
class MaskedPolicy:
    """A logistic behaviour-cloning policy that sees only the masked features (see :func:`fit_masked_policy`).

    Attributes
    ----------
    weight : Tensor, shape (2,)
        Coefficients of the standardised features (0 where masked).
    bias : Tensor, shape ()
    mean, scale : Tensor, shape (2,)
        Standardisation of the features, from the training data.
    mask : tuple of int
        ``(sensor, brake_light)``: 1 keeps a feature, 0 hides it.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    mask: tuple

    def _logit(self, obs: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(self.mask, dtype=obs.dtype, device=obs.device)
        return ((obs - self.mean) / self.scale * m) @ self.weight + self.bias

    @validate(obs=Tensor(shape=(None, 2), dtype="floating"))
    def predict_proba(self, obs: torch.Tensor) -> torch.Tensor:
        """Probability of braking for observations ``obs`` (shape (n, 2)); returns shape (n,)."""
        return torch.sigmoid(self._logit(obs))

    @validate(obs=Tensor(shape=(None, 2), dtype="floating"))
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """The greedy action (1.0 = brake) for observations ``obs``; returns shape (n,)."""
        return (self._logit(obs) > 0).to(obs.dtype)


@dataclasses.dataclass
class BrakingData:
    """Rollouts of the braking-car toy (see :func:`make_braking_episodes`).

    Attributes
    ----------
    obs : Tensor, shape (n_episodes * episode_length, 2)
        Per step ``(sensor, brake_light)``: a noisy reading of the distance to the stop line, and
        the previous action (the brake light shows it).
    actions : Tensor, shape (n_episodes * episode_length,)
        The actions taken (1.0 = brake), by the expert or by ``policy``.
    expert_actions : Tensor, shape (n_episodes * episode_length,)
        What the expert would have done in the same state (the expert query).
    distance : Tensor, shape (n_episodes * episode_length,)
        True distance to the stop line.
    episode : Tensor, shape (n_episodes * episode_length,), int64
    success : Tensor, shape (n_episodes,), bool
        Stopped without crossing the line and within ``margin`` of the braking threshold.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    expert_actions: torch.Tensor
    distance: torch.Tensor
    episode: torch.Tensor
    success: torch.Tensor


@validate(
    n_episodes=Integer(low=1),
    policy=InstanceOf(MaskedPolicy, optional=True),
    episode_length=Integer(low=1),
    noise=Real(low=0),
    threshold=Real(low=0, closed="neither"),
    start=Items(Real(low=0, closed="neither"), length=2),
    margin=Real(low=0),
    **_DRAWN,
)
def make_braking_episodes(n_episodes: int, *, policy: MaskedPolicy | None = None, episode_length: int = 40,
                          noise: float = 5.0, threshold: float = 8.0, start=(20.0, 35.0), margin: float = 4.0,
                          generator=None, dtype: torch.dtype = torch.float64, device=None) -> BrakingData:
    r"""Roll out the braking-car toy with the expert or a learned policy.

    A car starts at distance :math:`d_0 \sim U[\text{start}]` from a stop line and moves one
    unit per step unless it brakes (then it stands still). The expert brakes iff
    :math:`d_t \le \text{threshold}`. The driver observes a noisy distance sensor
    :math:`s_t = d_t + \sigma \varepsilon_t` and the car's brake light
    :math:`b_t = a_{t-1}`, which shows the previous action. The brake light is a *nuisance*: it
    is caused by the expert's past decision, not by the situation, yet it predicts the current
    action almost perfectly, because actions persist. An episode succeeds when the car never
    reaches the line (:math:`d_t > 0` throughout) and ends within ``margin`` of the threshold.
    All episodes run in parallel.

    Parameters
    ----------
    n_episodes : int
    policy : MaskedPolicy, optional
        Who drives; None for the expert.
    episode_length : int
    noise : float
        :math:`\sigma`, the sensor noise.
    threshold : float
        The expert's braking distance.
    start : (float, float)
        Range of the initial distance.
    margin : float
        Slack past the threshold that still counts as a success.
    generator : None, int or torch.Generator
        Draws the start distances and the sensor noise.
    dtype, device
        Of the returned tensors.

    Returns
    -------
    BrakingData
        The steps of all episodes, episode by episode (``n_episodes * episode_length`` rows).

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    de Haan, Jayaraman & Levine, *Causal confusion in imitation learning*, NeurIPS 2019.

    Examples
    --------
    >>> data = make_braking_episodes(10, generator=0)
    >>> data.obs.shape, bool(data.success.all())
    (torch.Size([400, 2]), True)
    """
    lo, hi = float(start[0]), float(start[1])
    if hi < lo:
        raise ValueError(f"make_braking_episodes: start must be (low, high) with low <= high, got {start}")
    g = as_generator(generator)
    kw = dict(dtype=dtype, device=device)
    d = lo + (hi - lo) * rand(n_episodes, generator=g, **kw)
    prev = torch.zeros(n_episodes, **kw)
    crashed = torch.zeros(n_episodes, dtype=torch.bool, device=device)
    obs, acts, expert, dist = [], [], [], []
    for _ in range(episode_length):
        s = d + noise * randn(n_episodes, generator=g, **kw)
        o = torch.stack([s, prev], 1)
        e = (d <= threshold).to(dtype)
        a = e if policy is None else policy.act(o)
        obs.append(o)
        acts.append(a)
        expert.append(e)
        dist.append(d)
        d = torch.where(a > 0, d, d - 1.0)
        crashed |= d <= 0
        prev = a
    success = ~crashed & (d <= threshold + margin)
    episode = torch.arange(n_episodes, device=device).repeat_interleave(episode_length)
    stack = lambda xs: torch.stack(xs, 1).reshape(n_episodes * episode_length, *xs[0].shape[1:])  # noqa: E731
    return BrakingData(obs=stack(obs), actions=stack(acts), expert_actions=stack(expert), distance=stack(dist),
                       episode=episode, success=success)


@validate(
    obs=Tensor(shape=("n", 2), dtype="floating"),
    actions=Tensor(shape=("n",), dtype="floating", values=(0, 1)),
    mask=Items(Integer(low=0, high=1), length=2),
    reg=Real(low=0, closed="neither"),
    max_iter=Integer(low=1),
    tol=Real(low=0, closed="neither"),
    same=[("obs", "actions")],
)
def fit_masked_policy(obs: torch.Tensor, actions: torch.Tensor, mask=(1, 1), *, reg: float = 1e-4,
                      max_iter: int = 50, tol: float = 1e-10) -> MaskedPolicy:
    r"""Behaviour cloning with a causal mask: logistic regression on the kept features.

    With standardised features :math:`\tilde x` and the mask :math:`m \in \{0, 1\}^2` (which
    features the policy may look at), Newton's method maximises

    .. math::

        \sum_t \bigl[a_t \log \sigma(w^\top (m \odot \tilde x_t) + c)
        + (1 - a_t) \log(1 - \sigma(\cdot))\bigr] - \tfrac{n\,\text{reg}}{2} \lVert w \rVert^2 .

    De Haan et al. train one network conditioned on the mask (a "graph-parameterised
    policy"); for a linear policy that is the same as one fit per mask.

    Parameters
    ----------
    obs : Tensor, shape (n, 2)
        ``(sensor, brake_light)`` as produced by :func:`make_braking_episodes`.
    actions : Tensor, shape (n,)
        The demonstrated actions, 0.0 or 1.0.
    mask : (int, int)
        1 keeps a feature, 0 hides it.
    reg : float
        Ridge weight (keeps the fit finite when a feature separates the actions).
    max_iter, tol
        Newton iterations and the stopping rule on the step size.

    Returns
    -------
    MaskedPolicy
        The fitted weights (0 for masked features) and the training data's standardisation.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    de Haan, Jayaraman & Levine, NeurIPS 2019 (policies that see a masked state).

    Examples
    --------
    >>> data = make_braking_episodes(50, generator=0)
    >>> pol = fit_masked_policy(data.obs, data.actions, (1, 0))
    >>> pol.weight[1].item()
    0.0
    """
    m = torch.tensor([int(v) for v in mask], dtype=obs.dtype, device=obs.device)
    mean = obs.mean(0)
    scale = obs.std(0)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    x = torch.cat([(obs - mean) / scale * m, torch.ones(len(obs), 1, dtype=obs.dtype, device=obs.device)], 1)
    n = len(obs)
    pen = torch.diag(torch.cat([n * reg * m, m.new_zeros(1) + n * 1e-12]))
    w = torch.zeros(3, dtype=obs.dtype, device=obs.device)
    for _ in range(max_iter):
        p = torch.sigmoid(x @ w)
        hess = (x * (p * (1 - p))[:, None]).T @ x + pen + torch.diag(1 - torch.cat([m, m.new_ones(1)]))
        step = torch.linalg.solve(hess, x.T @ (p - actions) + pen @ w)
        w = w - step
        if float(step.abs().max()) < tol:
            break
    return MaskedPolicy(weight=w[:2] * m, bias=w[2], mean=mean, scale=scale, mask=tuple(int(v) for v in mask))


@dataclasses.dataclass
class MaskSearchResult:
    """Expert-query search over causal masks (see :func:`intervention_mask_search`).

    Attributes
    ----------
    masks : list of tuple
        The candidate masks, in the order given.
    log_likelihood : Tensor, shape (k,)
        Mean log-probability each candidate policy gives to the expert's answers on the queried
        states (the score).
    agreement : Tensor, shape (k,)
        Share of the queried states where the candidate's greedy action equals the expert's.
    best : tuple
        The mask with the highest score.
    n_queries : int
        Expert labels used in all.
    """

    masks: list
    log_likelihood: torch.Tensor
    agreement: torch.Tensor
    best: tuple
    n_queries: int


@validate(
    policies=Items(InstanceOf(MaskedPolicy), min_length=1),
    n_episodes=Integer(low=1),
    episode_length=Integer(low=1),
    noise=Real(low=0),
    generator=Generator(),
)
def intervention_mask_search(policies, *, n_episodes: int = 1, episode_length: int = 40, noise: float = 5.0,
                             generator=None) -> MaskSearchResult:
    r"""Pick the causal mask by querying the expert on states the learned policies visit.

    Each candidate policy drives ``n_episodes`` episodes (an intervention: these states come
    from the learners' own behaviour, where the brake light no longer follows the expert's
    decisions); the expert labels every visited state, and all candidates are scored on the
    same pooled queries by the mean log-likelihood of the expert's answers,

    .. math::

        \text{score}(m) = \tfrac1Q \sum_q \log \pi_m(a^{\text{expert}}_q \mid x_q),

    the log-posterior of mask :math:`m` under a flat prior (up to a constant). This is the
    expert-query mode of de Haan et al.'s targeted intervention, with one round of queries
    instead of their sequential choice of the most informative states.

    Parameters
    ----------
    policies : list of MaskedPolicy
        One per candidate mask (see :func:`fit_masked_policy`).
    n_episodes : int
        Rollouts per candidate.
    episode_length, noise
        As in :func:`make_braking_episodes`.
    generator : None, int or torch.Generator

    Returns
    -------
    MaskSearchResult
        Each candidate's score and agreement with the expert, and the best mask.

    Notes
    -----
    See the chapter :doc:`Causal inference and point processes </book/causal>`.

    References
    ----------
    de Haan, Jayaraman & Levine, NeurIPS 2019, section 4.2 (expert query).

    Examples
    --------
    >>> data = make_braking_episodes(300, generator=0)
    >>> cands = [fit_masked_policy(data.obs, data.actions, m) for m in [(1, 1), (1, 0), (0, 1)]]
    >>> intervention_mask_search(cands, generator=1).best
    (1, 0)
    """
    g = as_generator(generator)
    dtype, device = policies[0].weight.dtype, policies[0].weight.device
    rolls = [make_braking_episodes(n_episodes, policy=pol, episode_length=episode_length, noise=noise,
                                   generator=g, dtype=dtype, device=device) for pol in policies]
    obs = torch.cat([r.obs for r in rolls])
    expert = torch.cat([r.expert_actions for r in rolls])
    lls, agree = [], []
    tiny = torch.finfo(dtype).tiny
    for pol in policies:
        logit = pol._logit(obs)
        # log sigma(+-logit), stably
        ll = -torch.nn.functional.softplus(torch.where(expert > 0, -logit, logit))
        lls.append(ll.mean().clamp_min(torch.log(torch.tensor(tiny, dtype=dtype))))
        agree.append((pol.act(obs) == expert).to(dtype).mean())
    log_lik = torch.stack(lls)
    best = policies[int(log_lik.argmax())].mask
    return MaskSearchResult(masks=[p.mask for p in policies], log_likelihood=log_lik, agreement=torch.stack(agree),
                            best=best, n_queries=len(expert))
