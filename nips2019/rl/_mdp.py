"""Tabular Markov decision processes as tensors: environments, exact evaluation and planning."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Device, DType, InstanceOf, Integer, Items, Probability, Real, Tensor, validate

_ATOL = 1e-6


def _check_stochastic(func: str, name: str, t: torch.Tensor):
    """Rows (last dimension) of ``t`` must be probability vectors."""
    if (t < 0).any():
        raise ValueError(f"{func}: {name} must be non-negative, got min {t.min().item():.3g}")
    err = (t.sum(-1) - 1).abs().max().item()
    tol = _ATOL if t.dtype == torch.float64 else 1e-4
    if err > tol:
        raise ValueError(f"{func}: rows of {name} must sum to 1 (the last dimension is a distribution), "
                         f"off by {err:.3g}")


def _policy_matrix(transitions: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
    """State-to-state matrix :math:`P_\\pi(s, s') = \\sum_a \\pi(a|s) P(s'|s, a)`."""
    return torch.einsum("sa,sat->st", policy, transitions)


@dataclasses.dataclass
class TabularMDP:
    """A finite MDP with its transition and reward tensors.

    Attributes
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
        :math:`P(s' \\mid s, a)`; terminal states are absorbing (they loop onto themselves).
    rewards : Tensor, shape (n_states, n_actions)
        Expected reward :math:`r(s, a)` of taking ``a`` in ``s``; zero in terminal states.
    start : Tensor, shape (n_states,)
        Distribution of the first state.
    terminal : Tensor, shape (n_states,), bool
        Absorbing states where an episode ends.
    coords : Tensor, shape (n_states, 2) or None
        Grid coordinates (row, column) of each state, for plotting grid worlds.
    """

    transitions: torch.Tensor
    rewards: torch.Tensor
    start: torch.Tensor
    terminal: torch.Tensor
    coords: torch.Tensor | None = None

    @property
    def n_states(self) -> int:
        return self.transitions.shape[0]

    @property
    def n_actions(self) -> int:
        return self.transitions.shape[1]


@validate(n_states=Integer(low=2), slip=Probability(), goal_reward=Real(low=0, closed="neither"),
          step_reward=Real(), dtype=DType(), device=Device(optional=True))
def chain_mdp(n_states: int = 10, *, slip: float = 0.0, goal_reward: float = 1.0, step_reward: float = 0.0,
              dtype: torch.dtype = torch.float64, device=None) -> TabularMDP:
    r"""A corridor of ``n_states`` cells with actions left (0) and right (1) and a goal at the right end.

    Moving right from cell :math:`n-2` into the last cell pays ``goal_reward`` and ends the episode (the last
    cell is absorbing); every other move pays ``step_reward``. With probability ``slip`` an action moves the
    other way. Episodes start in cell 0, so the goal is :math:`n - 1` steps away:
    :math:`Q^*(s, \text{right}) = \gamma^{n-2-s}` for ``slip=0, step_reward=0``.

    Parameters
    ----------
    n_states : int >= 2
        Cells including the terminal one.
    slip : float in [0, 1]
        Probability that an action moves the opposite way.
    goal_reward, step_reward : float
        Reward of entering the goal and of any other move.
    dtype, device
        Of the returned tensors.

    Returns
    -------
    TabularMDP

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = chain_mdp(4)
    >>> mdp.transitions.shape, mdp.rewards[2].tolist()
    (torch.Size([4, 2, 4]), [0.0, 1.0])
    """
    n = n_states
    p = torch.zeros(n, 2, n, dtype=dtype, device=device)
    r = torch.zeros(n, 2, dtype=dtype, device=device)
    for s in range(n - 1):
        left, right = max(s - 1, 0), s + 1
        for a, (main, other) in enumerate([(left, right), (right, left)]):
            p[s, a, main] += 1 - slip
            p[s, a, other] += slip
        r[s] = step_reward + (goal_reward - step_reward) * p[s, :, n - 1]
    p[n - 1, :, n - 1] = 1
    start = torch.zeros(n, dtype=dtype, device=device)
    start[0] = 1
    terminal = torch.zeros(n, dtype=torch.bool, device=device)
    terminal[-1] = True
    coords = torch.stack([torch.zeros(n), torch.arange(n, dtype=torch.float64)], 1).to(device)
    return TabularMDP(p, r, start, terminal, coords)


_FOUR_ROOMS = [
    "#############",
    "#     #     #",
    "#     #     #",
    "#           #",
    "#     #     #",
    "#     #     #",
    "## ####     #",
    "#     ### ###",
    "#     #     #",
    "#     #     #",
    "#           #",
    "#     #     #",
    "#############",
]


@validate(layout=Items(InstanceOf(str), min_length=2, optional=True), goal=Integer(low=0, optional=True),
          slip=Probability(), goal_reward=Real(), dtype=DType(), device=Device(optional=True))
def grid_mdp(layout: list[str] | None = None, *, goal: int | None = None, slip: float = 0.0,
             goal_reward: float = 1.0, dtype: torch.dtype = torch.float64, device=None) -> TabularMDP:
    r"""A grid world from a text layout (``#`` is a wall); actions up, right, down, left.

    The default layout is the four-rooms world of Sutton, Precup & Singh (1999): 104 free cells in four
    rooms joined by four one-cell hallways. Moving into a wall leaves the agent in place. With probability
    ``slip`` the move goes in one of the other three directions, uniformly. Entering ``goal`` (a state index,
    numbered row by row over the free cells) pays ``goal_reward`` and ends the episode; without a goal the
    world is a continuing one with zero reward. Episodes start uniformly over the non-goal cells.

    Parameters
    ----------
    layout : list of str, optional
        Rows of the grid, ``#`` for walls, anything else free. Default: four rooms.
    goal : int, optional
        Index of the terminal goal state.
    slip : float in [0, 1]
        Probability that the move goes in another direction.
    goal_reward : float
        Reward of entering the goal.
    dtype, device
        Of the returned tensors.

    Returns
    -------
    TabularMDP
        ``coords`` holds the (row, column) of each free cell.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = grid_mdp()
    >>> mdp.n_states, mdp.n_actions
    (104, 4)
    """
    layout = _FOUR_ROOMS if layout is None else list(layout)
    cells = [(i, j) for i, row in enumerate(layout) for j, ch in enumerate(row) if ch != "#"]
    if len(cells) < 2:
        raise ValueError(f"grid_mdp: layout must have at least 2 free cells, got {len(cells)}")
    n = len(cells)
    if goal is not None and goal >= n:
        raise ValueError(f"grid_mdp: goal must be < n_states = {n}, got {goal}")
    index = {c: k for k, c in enumerate(cells)}
    moves = [(-1, 0), (0, 1), (1, 0), (0, -1)]
    p = torch.zeros(n, 4, n, dtype=torch.float64)
    for k, (i, j) in enumerate(cells):
        dest = [index.get((i + di, j + dj), k) for di, dj in moves]
        for a in range(4):
            for b in range(4):
                p[k, a, dest[b]] += (1 - slip) if a == b else slip / 3
    r = torch.zeros(n, 4, dtype=torch.float64)
    terminal = torch.zeros(n, dtype=torch.bool)
    if goal is not None:
        r = goal_reward * p[:, :, goal].clone()
        p[goal] = 0
        p[goal, :, goal] = 1
        r[goal] = 0
        terminal[goal] = True
    start = (~terminal).double() / (~terminal).sum()
    coords = torch.tensor(cells, dtype=torch.float64)
    return TabularMDP(p.to(device, dtype), r.to(device, dtype), start.to(device, dtype), terminal.to(device),
                      coords.to(device))


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          policy=Tensor(shape=("s", "a"), dtype="floating"),
          gamma=Real(low=0, high=1, closed="left"),
          same=[("transitions", "rewards", "policy")])
def policy_evaluation(transitions: torch.Tensor, rewards: torch.Tensor, policy: torch.Tensor, *,
                      gamma: float) -> torch.Tensor:
    r"""Exact state values of a policy by one linear solve.

    .. math::

        v_\pi = (I - \gamma P_\pi)^{-1} r_\pi, \qquad
        P_\pi(s, s') = \sum_a \pi(a \mid s) P(s' \mid s, a), \quad r_\pi(s) = \sum_a \pi(a \mid s) r(s, a).

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    policy : Tensor, shape (n_states, n_actions)
        Rows are action distributions.
    gamma : float in [0, 1)
        Discount factor.

    Returns
    -------
    Tensor, shape (n_states,)

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = chain_mdp(3)
    >>> right = torch.tensor([[0.0, 1.0]] * 3, dtype=torch.float64)
    >>> policy_evaluation(mdp.transitions, mdp.rewards, right, gamma=0.5).tolist()
    [0.5, 1.0, 0.0]
    """
    _check_stochastic("policy_evaluation", "transitions", transitions)
    _check_stochastic("policy_evaluation", "policy", policy)
    p_pi = _policy_matrix(transitions, policy)
    r_pi = (policy * rewards).sum(-1)
    eye = torch.eye(p_pi.shape[0], dtype=p_pi.dtype, device=p_pi.device)
    return torch.linalg.solve(eye - gamma * p_pi, r_pi)


@dataclasses.dataclass
class ValueIterationResult:
    """Optimal values found by :func:`value_iteration`.

    Attributes
    ----------
    q : Tensor, shape (n_states, n_actions)
        Optimal action values :math:`Q^*`.
    v : Tensor, shape (n_states,)
        :math:`V^*(s) = \\max_a Q^*(s, a)`.
    policy : Tensor, shape (n_states, n_actions)
        A greedy deterministic policy (one-hot rows; ties to the lowest action index).
    action_gap : Tensor, shape (n_states,)
        Best minus second-best action value per state.
    n_iter : int
        Sweeps used.
    """

    q: torch.Tensor
    v: torch.Tensor
    policy: torch.Tensor
    action_gap: torch.Tensor
    n_iter: int


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          gamma=Real(low=0, high=1, closed="left"), tol=Real(low=0, closed="neither"),
          max_iter=Integer(low=1), same=[("transitions", "rewards")])
def value_iteration(transitions: torch.Tensor, rewards: torch.Tensor, *, gamma: float, tol: float = 1e-10,
                    max_iter: int = 10_000) -> ValueIterationResult:
    r"""Optimal action values by value iteration.

    .. math::

        Q_{k+1}(s, a) = r(s, a) + \gamma \sum_{s'} P(s' \mid s, a) \max_{a'} Q_k(s', a'),

    stopped when :math:`\|Q_{k+1} - Q_k\|_\infty < \mathrm{tol}\,(1 - \gamma) / \gamma`, which bounds the
    distance to :math:`Q^*` by ``tol``.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    gamma : float in [0, 1)
    tol : float > 0
    max_iter : int

    Returns
    -------
    ValueIterationResult

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> mdp = chain_mdp(4)
    >>> res = value_iteration(mdp.transitions, mdp.rewards, gamma=0.5)
    >>> res.q[0].tolist()
    [0.125, 0.25]
    """
    _check_stochastic("value_iteration", "transitions", transitions)
    q = rewards.clone()
    stop = tol * (1 - gamma) / max(gamma, 1e-12)
    n_iter = max_iter
    for it in range(1, max_iter + 1):
        q_new = rewards + gamma * transitions @ q.max(-1).values
        delta = (q_new - q).abs().max().item()
        q = q_new
        if delta < stop:
            n_iter = it
            break
    best = q.max(-1)
    policy = torch.nn.functional.one_hot(best.indices, q.shape[1]).to(q.dtype)
    gap = best.values - q.topk(2, dim=-1).values[:, 1] if q.shape[1] > 1 else torch.zeros_like(best.values)
    return ValueIterationResult(q, best.values, policy, gap, n_iter)
