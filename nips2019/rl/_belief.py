"""Successor representations under partial observability: beliefs over hidden states as features."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Bool, Generator, Integer, Real, Tensor, as_generator, rand, validate
from ._mdp import _check_stochastic
from ._successor import _progress, _sample_index


@dataclasses.dataclass
class HMMSample:
    """Hidden states and observations drawn by :func:`sample_hmm`.

    Attributes
    ----------
    states : Tensor, shape (n_episodes, n_steps), int64
        Hidden states :math:`S_t`.
    observations : Tensor, shape (n_episodes, n_steps), int64
        Observations :math:`O_t \\sim E(\\cdot \\mid S_t)`.
    """

    states: torch.Tensor
    observations: torch.Tensor


@validate(transition_matrix=Tensor(shape=("s", "s"), dtype="floating"),
          emission=Tensor(shape=("s", "o"), dtype="floating"),
          prior=Tensor(shape=("s",), dtype="floating"),
          n_episodes=Integer(low=1), n_steps=Integer(low=1), generator=Generator(),
          same=[("transition_matrix", "emission", "prior")])
def sample_hmm(transition_matrix: torch.Tensor, emission: torch.Tensor, prior: torch.Tensor, *,
               n_episodes: int = 1, n_steps: int = 100, generator=None) -> HMMSample:
    r"""Sample a hidden Markov chain and its noisy observations (all episodes in parallel).

    :math:`S_0 \sim` ``prior``, :math:`S_{t+1} \sim P(\cdot \mid S_t)`, :math:`O_t \sim E(\cdot \mid S_t)`.

    Parameters
    ----------
    transition_matrix : Tensor, shape (n_states, n_states)
    emission : Tensor, shape (n_states, n_observations)
        :math:`E(o \mid s)`.
    prior : Tensor, shape (n_states,)
    n_episodes, n_steps : int
    generator : None, int or torch.Generator

    Returns
    -------
    HMMSample

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> p = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> sample = sample_hmm(p, torch.eye(2, dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64),
    ...                     n_steps=4, generator=0)
    >>> sample.states.tolist(), sample.observations.tolist()
    ([[0, 1, 0, 1]], [[0, 1, 0, 1]])
    """
    for name, t in [("transition_matrix", transition_matrix), ("emission", emission), ("prior", prior)]:
        _check_stochastic("sample_hmm", name, t)
    dev, dt = transition_matrix.device, transition_matrix.dtype
    g = as_generator(generator)
    u = rand(n_episodes, n_steps, 2, generator=g, device=dev, dtype=dt)
    cdf_p, cdf_e = transition_matrix.cumsum(-1), emission.cumsum(-1)
    states = torch.empty(n_episodes, n_steps, dtype=torch.long, device=dev)
    s = _sample_index(prior.cumsum(-1).expand(n_episodes, -1), u[:, 0, 0])
    for t in range(n_steps):
        if t > 0:
            s = _sample_index(cdf_p[s], u[:, t, 0])
        states[:, t] = s
    obs = _sample_index(cdf_e[states], u[..., 1])
    return HMMSample(states, obs)


@validate(transition_matrix=Tensor(shape=("s", "s"), dtype="floating"),
          emission=Tensor(shape=("s", "o"), dtype="floating"),
          prior=Tensor(shape=("s",), dtype="floating"),
          observations=Tensor(ndim=2, dtype="integer", low=0, high=lambda a: a["emission"].shape[1]),
          same=[("transition_matrix", "emission", "prior")])
def belief_filter(observations: torch.Tensor, transition_matrix: torch.Tensor, emission: torch.Tensor,
                  prior: torch.Tensor) -> torch.Tensor:
    r"""Posterior over the hidden state after each observation (the forward filter of an HMM).

    .. math::

        b_0(s) \propto \rho(s)\,E(o_0 \mid s), \qquad
        b_{t+1}(s') \propto E(o_{t+1} \mid s') \sum_s b_t(s) P(s' \mid s).

    Normalised at every step, so long sequences do not underflow. An observation that has
    probability zero under the prediction (impossible under the model) raises.

    Parameters
    ----------
    observations : Tensor, shape (n_episodes, n_steps), int64
    transition_matrix : Tensor, shape (n_states, n_states)
    emission : Tensor, shape (n_states, n_observations)
    prior : Tensor, shape (n_states,)

    Returns
    -------
    Tensor, shape (n_episodes, n_steps, n_states)
        :math:`b_t = P(S_t \mid o_{0:t})`.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> p = torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64)
    >>> e = torch.tensor([[0.8, 0.2], [0.2, 0.8]], dtype=torch.float64)
    >>> b = belief_filter(torch.tensor([[0, 0]]), p, e, torch.tensor([0.5, 0.5], dtype=torch.float64))
    >>> [round(v, 4) for v in b[0, :, 0].tolist()]
    [0.8, 0.9193]
    """
    for name, t in [("transition_matrix", transition_matrix), ("emission", emission), ("prior", prior)]:
        _check_stochastic("belief_filter", name, t)
    n, steps = observations.shape
    out = torch.empty(n, steps, transition_matrix.shape[0], dtype=prior.dtype, device=prior.device)
    pred = prior.expand(n, -1)
    for t in range(steps):
        b = pred * emission[:, observations[:, t]].T
        z = b.sum(-1, keepdim=True)
        if (z <= 0).any():
            raise ValueError(f"belief_filter: observations at step {t} have probability zero under the model")
        out[:, t] = b = b / z
        pred = b @ transition_matrix
    return out


@validate(features=Tensor(ndim=3, dtype="floating"), gamma=Real(low=0, high=1, closed="left"),
          lr=Real(low=0, closed="neither"), n_epochs=Integer(low=1), progress=Bool(optional=True))
def td_successor_features(features: torch.Tensor, *, gamma: float, lr: float = 0.1, n_epochs: int = 1,
                          progress: bool | None = None) -> torch.Tensor:
    r"""Learn a linear successor map over features (beliefs, one-hot codes, ...) by TD.

    The successor features of a feature vector :math:`\phi` are :math:`\psi(\phi) = \phi^\top W`, an estimate
    of :math:`\mathbb{E}[\sum_k \gamma^k \phi_{t+k}^\top \mid \phi_t = \phi]`. For each step of each episode,

    .. math::

        W \leftarrow W + \alpha\, \phi_t \bigl(\phi_t + \gamma W^\top \phi_{t+1} - W^\top \phi_t\bigr)^\top,

    averaged over the episodes of a time step. With one-hot state codes this is the tabular rule of
    :func:`td_successor`. With the beliefs :math:`b_t` of :func:`belief_filter` the fixed point is the
    hidden-state successor representation :math:`(I - \gamma P)^{-1}` itself, because
    :math:`\mathbb{E}[b_{t+1} \mid o_{0:t}] = P^\top b_t` (Vértes & Sahani 2019): the map is learned from
    observations alone.

    Parameters
    ----------
    features : Tensor, shape (n_episodes, n_steps, n_features)
        :math:`\phi_t` along each episode.
    gamma : float in [0, 1)
    lr : float > 0
        Step size :math:`\alpha`.
    n_epochs : int
    progress : bool, optional

    Returns
    -------
    Tensor, shape (n_features, n_features)
        :math:`W`; starts from zero.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> phi = torch.eye(2, dtype=torch.float64)[torch.tensor([[0, 1] * 50])]
    >>> w = td_successor_features(phi, gamma=0.5, lr=0.5, n_epochs=20)
    >>> [round(v, 3) for v in w[0].tolist()]
    [1.333, 0.667]
    """
    n, steps, f = features.shape
    if steps < 2:
        raise ValueError(f"td_successor_features: features needs at least 2 time steps, got {steps}")
    w = torch.zeros(f, f, dtype=features.dtype, device=features.device)
    for _ in _progress(range(n_epochs), progress):
        for t in range(steps - 1):
            phi, phi2 = features[:, t], features[:, t + 1]
            delta = phi + gamma * phi2 @ w - phi @ w
            w += (lr / n) * phi.T @ delta
    return w
