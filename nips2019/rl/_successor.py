"""Successor representations: the closed form, TD learning from trajectories, and over belief states."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Bool, Generator, Integer, Real, Tensor, as_generator, progress, rand, validate
from ._mdp import _check_stochastic


def _sample_index(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: ``cdf`` (..., k), ``u`` (...) -> indices (...)."""
    return (cdf < u.unsqueeze(-1)).sum(-1).clamp_max(cdf.shape[-1] - 1)


@validate(transition_matrix=Tensor(shape=("s", "s"), dtype="floating"),
          gamma=Real(low=0, high=1, closed="left"))
def successor_representation(transition_matrix: torch.Tensor, *, gamma: float) -> torch.Tensor:
    r"""The successor representation of a Markov chain in closed form.

    .. math::

        M(s, s') = \mathbb{E}\Bigl[\sum_{k \ge 0} \gamma^k \mathbb{1}[S_{t+k} = s'] \Bigm| S_t = s\Bigr]
        = \bigl[(I - \gamma P)^{-1}\bigr]_{s s'},

    the expected discounted number of visits to :math:`s'` starting from :math:`s` (Dayan 1993). The value
    of any reward vector :math:`r` over states is then :math:`v = M r`: the map :math:`M` holds what the
    environment and the policy do, :math:`r` what is rewarded. Rows sum to :math:`1/(1-\gamma)`.

    Parameters
    ----------
    transition_matrix : Tensor, shape (n_states, n_states)
        :math:`P(s' \mid s)` under the policy (rows sum to 1).
    gamma : float in [0, 1)

    Returns
    -------
    Tensor, shape (n_states, n_states)

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> p = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> successor_representation(p, gamma=0.5).tolist()
    [[1.3333333333333333, 0.6666666666666666], [0.6666666666666666, 1.3333333333333333]]
    """
    _check_stochastic("successor_representation", "transition_matrix", transition_matrix)
    eye = torch.eye(transition_matrix.shape[0], dtype=transition_matrix.dtype, device=transition_matrix.device)
    return torch.linalg.solve(eye - gamma * transition_matrix, eye)


@dataclasses.dataclass
class Trajectories:
    """Episodes sampled by :func:`sample_trajectories`.

    Attributes
    ----------
    states : Tensor, shape (n_episodes, n_steps + 1), int64
        :math:`S_0, \\dots, S_T`; after a terminal state is reached it repeats.
    actions : Tensor, shape (n_episodes, n_steps), int64
    rewards : Tensor, shape (n_episodes, n_steps)
        :math:`R_t = r(S_t, A_t)` plus the sampled noise; zero after termination.
    alive : Tensor, shape (n_episodes, n_steps), bool
        Whether step ``t`` was taken before the episode ended.
    """

    states: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    alive: torch.Tensor


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          policy=Tensor(shape=("s", "a"), dtype="floating"),
          start=Tensor(shape=("s",), dtype="floating"),
          terminal=Tensor(shape=("s",), dtype="bool", optional=True),
          n_episodes=Integer(low=1), n_steps=Integer(low=1), reward_noise=Real(low=0),
          generator=Generator(), same=[("transitions", "rewards", "policy", "start")])
def sample_trajectories(transitions: torch.Tensor, rewards: torch.Tensor, policy: torch.Tensor,
                        start: torch.Tensor, *, terminal: torch.Tensor | None = None, n_episodes: int = 1,
                        n_steps: int = 100, reward_noise: float = 0.0, generator=None) -> Trajectories:
    r"""Run a policy in a tabular MDP, all episodes in parallel.

    Each step draws :math:`A_t \sim \pi(\cdot \mid S_t)`, :math:`S_{t+1} \sim P(\cdot \mid S_t, A_t)` and pays
    :math:`R_t = r(S_t, A_t) + \sigma \varepsilon_t` with :math:`\varepsilon_t \sim \mathcal N(0, 1)`.
    Random numbers are drawn on the CPU from ``generator`` and moved to the inputs' device.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    policy : Tensor, shape (n_states, n_actions)
    start : Tensor, shape (n_states,)
        Distribution of :math:`S_0`.
    terminal : Tensor, shape (n_states,), bool, optional
        States that end an episode (``alive`` turns False, rewards are zero afterwards).
    n_episodes, n_steps : int
    reward_noise : float >= 0
        Standard deviation :math:`\sigma` of the reward noise.
    generator : None, int or torch.Generator

    Returns
    -------
    Trajectories

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(4)
    >>> right = torch.tensor([[0.0, 1.0]] * 4, dtype=torch.float64)
    >>> tr = sample_trajectories(mdp.transitions, mdp.rewards, right, mdp.start, terminal=mdp.terminal,
    ...                          n_episodes=2, n_steps=4, generator=0)
    >>> tr.states[0].tolist(), tr.rewards[0].tolist()
    ([0, 1, 2, 3, 3], [0.0, 0.0, 1.0, 0.0])
    """
    for name, t in [("transitions", transitions), ("policy", policy), ("start", start)]:
        _check_stochastic("sample_trajectories", name, t)
    dev, dt = transitions.device, transitions.dtype
    g = as_generator(generator)
    n_s = transitions.shape[0]
    term = torch.zeros(n_s, dtype=torch.bool, device=dev) if terminal is None else terminal
    u = rand(n_episodes, n_steps + 1, 2, generator=g, device=dev, dtype=dt)
    noise = torch.randn(n_episodes, n_steps, generator=g, dtype=torch.float64).to(dev, dt) * reward_noise
    cdf_pi, cdf_p, cdf_0 = policy.cumsum(-1), transitions.cumsum(-1), start.cumsum(-1)
    states = torch.empty(n_episodes, n_steps + 1, dtype=torch.long, device=dev)
    actions = torch.empty(n_episodes, n_steps, dtype=torch.long, device=dev)
    s = _sample_index(cdf_0.expand(n_episodes, -1), u[:, 0, 0])
    states[:, 0] = s
    for t in range(n_steps):
        a = _sample_index(cdf_pi[s], u[:, t, 1])
        s_next = _sample_index(cdf_p[s, a], u[:, t + 1, 0])
        s_next = torch.where(term[s], s, s_next)
        actions[:, t] = a
        states[:, t + 1] = s = s_next
    alive = ~term[states[:, :-1]]
    rew = (rewards[states[:, :-1], actions] + noise) * alive
    return Trajectories(states, actions, rew, alive)


@validate(n_states=Integer(low=1), states=Tensor(ndim=2, dtype="integer", low=0, high=lambda a: a["n_states"]),
          gamma=Real(low=0, high=1, closed="left"), lr=Real(low=0, high=1, closed="right"),
          n_epochs=Integer(low=1), progress=Bool(optional=True))
def td_successor(states: torch.Tensor, n_states: int, *, gamma: float, lr: float = 0.1, n_epochs: int = 1,
                 progress: bool | None = None) -> torch.Tensor:
    r"""Learn the successor representation from state sequences by temporal-difference updates.

    For every observed transition :math:`s \to s'`,

    .. math::

        M(s, \cdot) \leftarrow M(s, \cdot) + \alpha\,\bigl(e_s + \gamma M(s', \cdot) - M(s, \cdot)\bigr),

    the TD(0) rule whose fixed point is :math:`(I - \gamma P)^{-1}` for the chain that generated the data.
    The episodes (rows of ``states``) are processed in parallel, time step by time step; transitions of one
    step that leave the same state are averaged. Starts from :math:`M = 0`.

    Parameters
    ----------
    states : Tensor, shape (n_episodes, n_steps + 1), int64
        State sequences (e.g. ``Trajectories.states``), values in ``[0, n_states)``.
    n_states : int
    gamma : float in [0, 1)
    lr : float in (0, 1]
        Step size :math:`\alpha`.
    n_epochs : int
        Passes over the sequences.
    progress : bool, optional
        Progress bar over epochs.

    Returns
    -------
    Tensor, shape (n_states, n_states), float64
        On the device of ``states``.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> states = torch.tensor([[0, 1] * 50])
    >>> m = td_successor(states, 2, gamma=0.5, lr=0.5, n_epochs=20)
    >>> [round(v, 3) for v in m[0].tolist()]
    [1.333, 0.667]
    """
    dev = states.device
    m = torch.zeros(n_states, n_states, device=dev, dtype=torch.float64)
    eye = torch.eye(n_states, device=dev, dtype=torch.float64)
    ones = torch.ones(states.shape[0], device=dev, dtype=torch.float64)
    for _ in _progress(range(n_epochs), progress):
        for t in range(states.shape[1] - 1):
            s, s2 = states[:, t], states[:, t + 1]
            delta = eye[s] + gamma * m[s2] - m[s]
            total = torch.zeros_like(m).index_add_(0, s, delta)
            count = torch.zeros(n_states, device=dev, dtype=torch.float64).index_add_(0, s, ones)
            m += lr * total / count.clamp_min(1).unsqueeze(1)
    return m


def _progress(it, flag):
    return progress(it, disable=None if flag is None else not flag)
