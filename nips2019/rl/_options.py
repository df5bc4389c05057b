"""Options (temporally extended actions) on tabular MDPs: exact option models, SMDP planning and learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..utils import (
    Bool,
    Device,
    DType,
    Generator,
    InstanceOf,
    Integer,
    Items,
    Options,
    Real,
    Tensor,
    as_generator,
    numpy_rng,
    rand,
    validate,
)
from ._mdp import _check_stochastic
from ._successor import _progress, _sample_index


@dataclasses.dataclass
class OptionSet:
    r"""A set of Markov options :math:`o = (\mathcal I_o, \pi_o, \beta_o)` on a tabular MDP.

    Attributes
    ----------
    policy : Tensor, shape (n_options, n_states, n_actions)
        Intra-option policies :math:`\pi_o(a \mid s)` (rows are distributions).
    termination : Tensor, shape (n_options, n_states)
        :math:`\beta_o(s)`, the probability that option ``o`` stops on arriving in ``s``.
    initiation : Tensor, shape (n_options, n_states), bool
        :math:`\mathcal I_o`: states where option ``o`` may be started.
    names : list of str
        A label per option (for plots and printing).

    Notes
    -----
    :meth:`concat` joins two sets (primitive actions and subgoal options, say). See the chapter
    :doc:`Successor features, credit and discounting </book/rl>`.
    """

    policy: torch.Tensor
    termination: torch.Tensor
    initiation: torch.Tensor
    names: list

    @property
    def n_options(self) -> int:
        return self.policy.shape[0]

    def concat(self, other: OptionSet) -> OptionSet:
        """The options of ``self`` followed by those of ``other`` (same MDP, device and dtype)."""
        if other.policy.shape[1:] != self.policy.shape[1:]:
            raise ValueError(f"OptionSet.concat: option sets of different MDPs, policy shapes "
                             f"{tuple(self.policy.shape)} and {tuple(other.policy.shape)}")
        return OptionSet(torch.cat([self.policy, other.policy]), torch.cat([self.termination, other.termination]),
                         torch.cat([self.initiation, other.initiation]), list(self.names) + list(other.names))


def _check_options(func: str, options: OptionSet, transitions: torch.Tensor):
    n_s, n_a, _ = transitions.shape
    pol, beta, init = options.policy, options.termination, options.initiation
    if pol.ndim != 3 or pol.shape[1:] != (n_s, n_a):
        raise ValueError(f"{func}: options.policy must have shape (n_options, {n_s}, {n_a}), got {tuple(pol.shape)}")
    k = pol.shape[0]
    if k == 0:
        raise ValueError(f"{func}: options must hold at least one option")
    if beta.shape != (k, n_s) or init.shape != (k, n_s):
        raise ValueError(f"{func}: options.termination and options.initiation must have shape ({k}, {n_s}), "
                         f"got {tuple(beta.shape)} and {tuple(init.shape)}")
    if init.dtype != torch.bool:
        raise TypeError(f"{func}: options.initiation must be a bool tensor, got {init.dtype}")
    for name, t in [("options.policy", pol), ("options.termination", beta)]:
        if t.dtype != transitions.dtype or t.device != transitions.device:
            raise ValueError(f"{func}: {name} must have the dtype and device of transitions "
                             f"({transitions.dtype}, {transitions.device}), got ({t.dtype}, {t.device})")
        if not torch.isfinite(t).all():
            raise ValueError(f"{func}: {name} must be finite")
    if init.device != transitions.device:
        raise ValueError(f"{func}: options.initiation must be on {transitions.device}, got {init.device}")
    _check_stochastic(func, "options.policy", pol)
    if (beta < 0).any() or (beta > 1).any():
        raise ValueError(f"{func}: options.termination must lie in [0, 1]")


@validate(n_states=Integer(low=1), n_actions=Integer(low=1), dtype=DType(),
          device=Device(optional=True))
def primitive_options(n_states: int, n_actions: int, *, dtype: torch.dtype = torch.float64,
                      device=None) -> OptionSet:
    r"""Every primitive action as a one-step option: :math:`\pi_a(a \mid s) = 1`, :math:`\beta_a \equiv 1`.

    With these options the SMDP of Sutton, Precup & Singh (1999) is the MDP itself.

    Parameters
    ----------
    n_states, n_actions : int
    dtype, device
        Of the returned tensors.

    Returns
    -------
    OptionSet
        ``n_actions`` options named ``"a0"``, ``"a1"``, ..., available everywhere.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> prim = primitive_options(3, 2)
    >>> prim.policy.shape, prim.termination.sum().item(), prim.names
    (torch.Size([2, 3, 2]), 6.0, ['a0', 'a1'])
    """
    eye = torch.eye(n_actions, dtype=dtype, device=device)
    policy = eye.unsqueeze(1).expand(n_actions, n_states, n_actions).clone()
    termination = torch.ones(n_actions, n_states, dtype=dtype, device=device)
    initiation = torch.ones(n_actions, n_states, dtype=torch.bool, device=device)
    return OptionSet(policy, termination, initiation, [f"a{a}" for a in range(n_actions)])


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          targets=Items(Integer(low=0), min_length=1),
          regions=Tensor(shape=(None, "s"), dtype="bool"),
          gamma=Real(low=0, high=1, closed="neither"))
def subgoal_options(transitions: torch.Tensor, targets: list[int], regions: torch.Tensor, *,
                    gamma: float = 0.9) -> OptionSet:
    r"""Options that head for a subgoal state inside a region and stop there.

    Option ``k`` may start anywhere in ``regions[k]`` except its target, follows the policy that reaches
    ``targets[k]`` fastest without leaving the region (optimal for a reward of 1 on arrival, discount
    ``gamma``, the outside of the region absorbing with value 0; ties to the lowest action) and stops on
    arriving at the target or anywhere outside the region:

    .. math::

        \mathcal I_k = R_k \setminus \{g_k\}, \qquad
        \beta_k(s) = \mathbb 1[s = g_k \text{ or } s \notin R_k].

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    targets : list of int
        Subgoal state :math:`g_k` of each option.
    regions : Tensor, shape (n_options, n_states), bool
        :math:`R_k`, where option ``k`` runs (the target may lie inside or just outside it).
    gamma : float in (0, 1)
        Discount of the internal shortest-path problem (any value in (0, 1) gives the fastest route in a
        deterministic world).

    Returns
    -------
    OptionSet
        Deterministic policies, named ``"to <target>"``. Where the target cannot be reached from a state
        without leaving the region, the policy there is arbitrary and may loop forever;
        :func:`option_models` detects such options.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(4)
    >>> opt = subgoal_options(mdp.transitions, [2], torch.ones(1, 4, dtype=torch.bool))
    >>> opt.policy[0].argmax(-1).tolist(), opt.termination[0].tolist(), opt.initiation[0].tolist()
    ([1, 1, 0, 0], [0.0, 0.0, 1.0, 0.0], [True, True, False, True])
    """
    _check_stochastic("subgoal_options", "transitions", transitions)
    n_s, n_a, _ = transitions.shape
    if len(targets) != regions.shape[0]:
        raise ValueError(f"subgoal_options: regions must have one row per target ({len(targets)}), "
                         f"got {regions.shape[0]}")
    bad = [g for g in targets if g >= n_s]
    if bad:
        raise ValueError(f"subgoal_options: targets must be < n_states = {n_s}, got {bad}")
    dev, dt = transitions.device, transitions.dtype
    regions = regions.to(dev)
    k = len(targets)
    policy = torch.zeros(k, n_s, n_a, dtype=dt, device=dev)
    termination = torch.ones(k, n_s, dtype=dt, device=dev)
    initiation = regions.clone()
    for i, g in enumerate(targets):
        inside = regions[i].clone()
        inside[g] = False
        if not inside.any():
            raise ValueError(f"subgoal_options: region {i} holds no state other than its target {g}")
        goal = torch.zeros(n_s, dtype=dt, device=dev)
        goal[g] = 1
        reward = transitions @ goal  # probability of arriving at the target
        cont = inside.to(dt)  # value is bootstrapped only inside the region
        v = torch.zeros(n_s, dtype=dt, device=dev)
        for _ in range(10 * n_s):
            q = reward + gamma * transitions @ (v * cont)
            v_new = q.max(-1).values * cont
            if (v_new - v).abs().max() < 1e-13:
                v = v_new
                break
            v = v_new
        q = reward + gamma * transitions @ (v * cont)
        policy[i] = torch.nn.functional.one_hot(q.argmax(-1), n_a).to(dt)
        termination[i] = (~inside).to(dt)
        initiation[i] = inside
    return OptionSet(policy, termination, initiation, [f"to {g}" for g in targets])


def _components(adj: torch.Tensor, keep: torch.Tensor) -> list[list[int]]:
    """Connected components of the graph ``adj`` (bool, S x S) restricted to the states in ``keep``."""
    seen = ~keep.clone()
    out = []
    nbrs = [torch.nonzero(row).squeeze(1).tolist() for row in adj]
    for s in range(adj.shape[0]):
        if seen[s]:
            continue
        comp, stack = [], [s]
        seen[s] = True
        while stack:
            u = stack.pop()
            comp.append(u)
            for v in nbrs[u]:
                if not seen[v]:
                    seen[v] = True
                    stack.append(v)
        out.append(sorted(comp))
    return out


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          hallways=Items(Integer(low=0), min_length=1),
          gamma=Real(low=0, high=1, closed="neither"))
def hallway_options(transitions: torch.Tensor, hallways: list[int], *, gamma: float = 0.9) -> OptionSet:
    r"""The hallway options of Sutton, Precup & Singh (1999): from anywhere in a room to one of its doors.

    The rooms are the connected components of the state graph (an edge where some action moves with
    positive probability) once the ``hallways`` are removed. For each room and each hallway next to it there
    is one option (:func:`subgoal_options`) whose region is the room plus its other hallways: it may start
    in the room or in a different door of the room, heads for its door and stops there, or as soon as it
    leaves the room. In the four-rooms world (:func:`grid_mdp`) that gives 8 options.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    hallways : list of int
        Door states between rooms.
    gamma : float in (0, 1)
        Discount of the internal shortest-path problem.

    Returns
    -------
    OptionSet
        Named ``"room <r> to <hallway>"``.

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import grid_mdp
    >>> world = grid_mdp(["#######", "#  #  #", "#     #", "#######"])
    >>> door = 6  # the gap in the middle wall, cell (2, 3)
    >>> opts = hallway_options(world.transitions, [door])
    >>> opts.names, opts.initiation.sum(1).tolist()
    (['room 0 to 6', 'room 1 to 6'], [4, 4])
    """
    _check_stochastic("hallway_options", "transitions", transitions)
    n_s = transitions.shape[0]
    bad = [h for h in hallways if h >= n_s]
    if bad:
        raise ValueError(f"hallway_options: hallways must be < n_states = {n_s}, got {bad}")
    adj = (transitions > 0).any(1)
    adj = adj | adj.T
    adj.fill_diagonal_(False)
    keep = torch.ones(n_s, dtype=torch.bool, device=transitions.device)
    keep[list(hallways)] = False
    targets, regions, names = [], [], []
    for r, room in enumerate(_components(adj.cpu(), keep.cpu())):
        doors = sorted({h for h in hallways if adj[room][:, h].any()})
        for h in doors:
            region = torch.zeros(n_s, dtype=torch.bool, device=transitions.device)
            region[room] = True
            region[[d for d in doors if d != h]] = True
            targets.append(h)
            regions.append(region)
            names.append(f"room {r} to {h}")
    if not targets:
        raise ValueError("hallway_options: no hallway is next to a room")
    out = subgoal_options(transitions, targets, torch.stack(regions), gamma=gamma)
    out.names = names
    return out


@dataclasses.dataclass
class OptionModelResult:
    r"""Multi-time models of options, from :func:`option_models`.

    Attributes
    ----------
    rewards : Tensor, shape (n_options, n_states)
        :math:`R^o(s) = \mathbb E[\sum_{t<k} \gamma^t r_{t+1}]`, the discounted reward until termination.
    transitions : Tensor, shape (n_options, n_states, n_states)
        :math:`P^o(s, s') = \mathbb E[\gamma^k \mathbb 1[S_k = s']]`, the discounted distribution of the
        state where the option stops after :math:`k` steps (rows sum to :math:`\mathbb E[\gamma^k] < 1`).
    durations : Tensor, shape (n_options, n_states)
        :math:`\mathbb E[k]`, the expected number of primitive steps.
    """

    rewards: torch.Tensor
    transitions: torch.Tensor
    durations: torch.Tensor


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          options=InstanceOf(OptionSet),
          gamma=Real(low=0, high=1, closed="left"),
          terminal=Tensor(shape=("s",), dtype="bool", optional=True),
          same=[("transitions", "rewards")])
def option_models(transitions: torch.Tensor, rewards: torch.Tensor, options: OptionSet, *, gamma: float,
                  terminal: torch.Tensor | None = None) -> OptionModelResult:
    r"""Exact multi-time models of Markov options by linear solves.

    An option started in :math:`s` takes at least one step; on arriving in :math:`s'` it stops with
    probability :math:`\beta(s')` (always in a ``terminal`` state). With the option's state chain
    :math:`P_\pi(s, s') = \sum_a \pi(a|s) P(s'|s, a)`, its reward :math:`r_\pi` and
    :math:`D = \mathrm{diag}(1 - \beta)`, the models obey one-step recursions whose solutions are

    .. math::

        R^o = (I - \gamma P_\pi D)^{-1} r_\pi, \qquad
        P^o = (I - \gamma P_\pi D)^{-1} \gamma P_\pi\, \mathrm{diag}(\beta), \qquad
        \mathbb E[k] = (I - P_\pi D)^{-1} \mathbb 1,

    and the SMDP Bellman equation of Sutton, Precup & Singh (1999) reads
    :math:`V(s) = \max_{o:\, s \in \mathcal I_o} R^o(s) + \sum_{s'} P^o(s, s') V(s')`
    (:func:`smdp_value_iteration`).

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    options : OptionSet
    gamma : float in [0, 1)
    terminal : Tensor, shape (n_states,), bool, optional
        Absorbing states where every option stops.

    Returns
    -------
    OptionModelResult

    Raises
    ------
    ValueError
        If some option can run forever from some state (an infinite expected duration).

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(4)
    >>> opt = subgoal_options(mdp.transitions, [2], torch.ones(1, 4, dtype=torch.bool))
    >>> m = option_models(mdp.transitions, mdp.rewards, opt, gamma=0.5, terminal=mdp.terminal)
    >>> m.durations[0, :2].tolist(), m.transitions[0, 0, 2].item()
    ([2.0, 1.0], 0.25)
    """
    _check_stochastic("option_models", "transitions", transitions)
    _check_options("option_models", options, transitions)
    n_s = transitions.shape[0]
    beta = options.termination
    if terminal is not None:
        beta = torch.where(terminal.to(beta.device), torch.ones_like(beta), beta)
    p_pi = torch.einsum("osa,sat->ost", options.policy, transitions)
    r_pi = (options.policy * rewards).sum(-1)
    eye = torch.eye(n_s, dtype=transitions.dtype, device=transitions.device)
    stay = p_pi * (1 - beta).unsqueeze(1)
    dur, info = torch.linalg.solve_ex(eye - stay, torch.ones_like(r_pi).unsqueeze(-1))
    dur = dur.squeeze(-1)
    if (info != 0).any() or not torch.isfinite(dur).all() or (dur < 1 - 1e-9).any() or (dur > 1e12).any():
        raise ValueError("option_models: some option never terminates from some state "
                         "(its expected duration is infinite); give it a termination on every cycle")
    a = eye - gamma * stay
    r_o = torch.linalg.solve(a, r_pi.unsqueeze(-1)).squeeze(-1)
    p_o = torch.linalg.solve(a, gamma * p_pi * beta.unsqueeze(1))
    return OptionModelResult(r_o, p_o, dur)


@dataclasses.dataclass
class SMDPValueResult:
    """Optimal values over a set of options, from :func:`smdp_value_iteration`.

    Attributes
    ----------
    q : Tensor, shape (n_states, n_options)
        :math:`Q^*_{\\mathcal O}(s, o)`: the backed-up value of starting ``o`` in ``s`` (computed for every
        pair; only options whose initiation set holds ``s`` enter the maximum).
    v : Tensor, shape (n_states,)
        :math:`V^*_{\\mathcal O}(s)`, zero in terminal states.
    policy : Tensor, shape (n_states, n_options)
        A greedy choice of option (one-hot rows; ties to the lowest index; zero rows in terminal states).
    n_iter : int
        Sweeps used.
    """

    q: torch.Tensor
    v: torch.Tensor
    policy: torch.Tensor
    n_iter: int


@validate(option_rewards=Tensor(shape=("o", "s"), dtype="floating"),
          option_transitions=Tensor(shape=("o", "s", "s"), dtype="floating", low=0),
          initiation=Tensor(shape=("o", "s"), dtype="bool"),
          terminal=Tensor(shape=("s",), dtype="bool", optional=True),
          tol=Real(low=0, closed="neither"), max_iter=Integer(low=1),
          same=[("option_rewards", "option_transitions")])
def smdp_value_iteration(option_rewards: torch.Tensor, option_transitions: torch.Tensor,
                         initiation: torch.Tensor, *, terminal: torch.Tensor | None = None, tol: float = 1e-10,
                         max_iter: int = 100_000) -> SMDPValueResult:
    r"""Optimal values over options by value iteration on the SMDP Bellman equation.

    .. math::

        V_{k+1}(s) = \max_{o:\, s \in \mathcal I_o} \Bigl[R^o(s) + \sum_{s'} P^o(s, s')\, V_k(s')\Bigr],

    with :math:`V = 0` in terminal states, from the option models of :func:`option_models`. The discount
    sits inside :math:`P^o`; the iteration contracts with modulus :math:`\max_{s,o} \sum_{s'} P^o(s, s')`
    (at most :math:`\gamma`, smaller for long options), and stops when
    :math:`\|V_{k+1} - V_k\|_\infty < \mathrm{tol}\,(1 - \rho)/\rho` for that modulus :math:`\rho`, which
    bounds the distance to the fixed point by ``tol``.

    Parameters
    ----------
    option_rewards : Tensor, shape (n_options, n_states)
    option_transitions : Tensor, shape (n_options, n_states, n_states)
        Discounted, sub-stochastic rows.
    initiation : Tensor, shape (n_options, n_states), bool
    terminal : Tensor, shape (n_states,), bool, optional
    tol : float > 0
    max_iter : int

    Returns
    -------
    SMDPValueResult

    Notes
    -----
    With the primitive actions among the options the result equals :func:`value_iteration` on the MDP;
    with options alone it is the best value the options can represent, :math:`V^*_{\mathcal O} \le V^*`.
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(4)
    >>> prim = primitive_options(4, 2)
    >>> m = option_models(mdp.transitions, mdp.rewards, prim, gamma=0.5, terminal=mdp.terminal)
    >>> smdp_value_iteration(m.rewards, m.transitions, prim.initiation, terminal=mdp.terminal).v.tolist()
    [0.25, 0.5, 1.0, 0.0]
    """
    n_o, n_s = option_rewards.shape
    dev, dt = option_rewards.device, option_rewards.dtype
    init = initiation.to(dev)
    live = torch.ones(n_s, dtype=torch.bool, device=dev) if terminal is None else ~terminal.to(dev)
    stranded = live & ~init.any(0)
    if stranded.any():
        raise ValueError(f"smdp_value_iteration: no option may start in the non-terminal states "
                         f"{stranded.nonzero().squeeze(1).tolist()[:10]}")
    rho = option_transitions.sum(-1).max().item()
    if rho >= 1:
        raise ValueError(f"smdp_value_iteration: option_transitions must be discounted (rows summing to < 1), "
                         f"got a row sum of {rho:.6g}")
    stop = tol * (1 - rho) / max(rho, 1e-12)
    v = torch.zeros(n_s, dtype=dt, device=dev)
    neg = torch.finfo(dt).min
    n_iter = max_iter
    for it in range(1, max_iter + 1):
        q = (option_rewards + option_transitions @ v).T  # (S, O)
        v_new = torch.where(init.T, q, neg).max(-1).values * live
        delta = (v_new - v).abs().max().item()
        v = v_new
        if delta < stop:
            n_iter = it
            break
    q = (option_rewards + option_transitions @ v).T
    best = torch.where(init.T, q, neg).argmax(-1)
    policy = torch.nn.functional.one_hot(best, n_o).to(dt) * live.unsqueeze(1)
    return SMDPValueResult(q, v, policy, n_iter)


@dataclasses.dataclass
class OptionRollouts:
    """Executions of one option sampled by :func:`sample_option_rollouts`.

    Attributes
    ----------
    returns : Tensor, shape (n_episodes,)
        Discounted reward :math:`\\sum_{t<k} \\gamma^t r_{t+1}` until the option stopped.
    end_states : Tensor, shape (n_episodes,), int64
        State where it stopped.
    durations : Tensor, shape (n_episodes,), int64
        Primitive steps :math:`k` taken.
    discounts : Tensor, shape (n_episodes,)
        :math:`\\gamma^k`.
    """

    returns: torch.Tensor
    end_states: torch.Tensor
    durations: torch.Tensor
    discounts: torch.Tensor


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          options=InstanceOf(OptionSet), option=Integer(low=0), state=Integer(low=0),
          gamma=Real(low=0, high=1, closed="left"),
          terminal=Tensor(shape=("s",), dtype="bool", optional=True),
          n_episodes=Integer(low=1), max_steps=Integer(low=1), generator=Generator(),
          same=[("transitions", "rewards")])
def sample_option_rollouts(transitions: torch.Tensor, rewards: torch.Tensor, options: OptionSet, *,
                           option: int, state: int, gamma: float, terminal: torch.Tensor | None = None,
                           n_episodes: int = 1000, max_steps: int = 10_000,
                           generator=None) -> OptionRollouts:
    r"""Run one option from one state many times: a Monte-Carlo check of :func:`option_models`.

    Each execution samples :math:`a \sim \pi_o(\cdot \mid s)`, :math:`s' \sim P(\cdot \mid s, a)`, adds
    :math:`\gamma^t r(s, a)` and stops in :math:`s'` with probability :math:`\beta_o(s')` (always in a
    terminal state). The means of ``returns`` and of ``discounts * one_hot(end_states)`` estimate
    :math:`R^o(s)` and :math:`P^o(s, \cdot)`.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    options : OptionSet
    option, state : int
        Which option, started where (need not be in its initiation set).
    gamma : float in [0, 1)
    terminal : Tensor, shape (n_states,), bool, optional
    n_episodes : int
        Executions, run in parallel.
    max_steps : int
        Executions still running after this many steps raise an error.
    generator : None, int or torch.Generator

    Returns
    -------
    OptionRollouts

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(4)
    >>> opt = subgoal_options(mdp.transitions, [2], torch.ones(1, 4, dtype=torch.bool))
    >>> roll = sample_option_rollouts(mdp.transitions, mdp.rewards, opt, option=0, state=0, gamma=0.5,
    ...                               n_episodes=3, generator=0)
    >>> roll.durations.tolist(), roll.end_states.tolist()
    ([2, 2, 2], [2, 2, 2])
    """
    _check_stochastic("sample_option_rollouts", "transitions", transitions)
    _check_options("sample_option_rollouts", options, transitions)
    n_s = transitions.shape[0]
    if option >= options.n_options:
        raise ValueError(f"sample_option_rollouts: option must be < n_options = {options.n_options}, got {option}")
    if state >= n_s:
        raise ValueError(f"sample_option_rollouts: state must be < n_states = {n_s}, got {state}")
    dev, dt = transitions.device, transitions.dtype
    g = as_generator(generator)
    cdf_p = transitions.cumsum(-1)
    cdf_pi = options.policy[option].cumsum(-1)
    beta = options.termination[option]
    if terminal is not None:
        beta = torch.where(terminal.to(dev), torch.ones_like(beta), beta)
    n = n_episodes
    s = torch.full((n,), state, dtype=torch.long, device=dev)
    ret = torch.zeros(n, dtype=dt, device=dev)
    disc = torch.ones(n, dtype=dt, device=dev)
    steps = torch.zeros(n, dtype=torch.long, device=dev)
    running = torch.ones(n, dtype=torch.bool, device=dev)
    for _ in range(max_steps):
        u = rand(n, 3, generator=g, device=dev, dtype=dt)
        a = _sample_index(cdf_pi[s], u[:, 0])
        s2 = _sample_index(cdf_p[s, a], u[:, 1])
        run = running.to(dt)
        ret = ret + run * disc * rewards[s, a]
        disc = torch.where(running, disc * gamma, disc)
        steps = steps + running.long()
        s = torch.where(running, s2, s)
        running = running & ~(u[:, 2] < beta[s2])
        if not running.any():
            break
    else:
        raise ValueError(f"sample_option_rollouts: {int(running.sum())} executions did not stop within "
                         f"max_steps = {max_steps}")
    return OptionRollouts(ret, s, steps, disc)


@dataclasses.dataclass
class OptionLearningResult:
    """What :func:`smdp_q_learning` recorded.

    Attributes
    ----------
    q : Tensor, shape (n_agents, n_states, n_options)
        Learned option values of each agent.
    episode_steps : Tensor, shape (n_agents, n_episodes), int64
        Primitive steps each agent took to reach a terminal state in each episode (``max_steps`` where it
        was cut off).
    decisions : Tensor, shape (n_agents, n_episodes), int64
        Options started in each episode (one per decision, each a primitive action or a longer option).
    """

    q: torch.Tensor
    episode_steps: torch.Tensor
    decisions: torch.Tensor


@validate(transitions=Tensor(shape=("s", "a", "s"), dtype="floating"),
          rewards=Tensor(shape=("s", "a"), dtype="floating"),
          options=InstanceOf(OptionSet),
          start=Tensor(shape=("s",), dtype="floating", low=0),
          terminal=Tensor(shape=("s",), dtype="bool"),
          gamma=Real(low=0, high=1, closed="left"), method=Options("smdp", "intra"),
          n_agents=Integer(low=1), n_episodes=Integer(low=1), lr=Real(low=0, high=1, closed="right"),
          epsilon=Real(low=0, high=1), max_steps=Integer(low=1), generator=Generator(),
          progress=Bool(optional=True), same=[("transitions", "rewards", "start")])
def smdp_q_learning(transitions: torch.Tensor, rewards: torch.Tensor, options: OptionSet, *,
                    start: torch.Tensor, terminal: torch.Tensor, gamma: float, method: str = "smdp",
                    n_agents: int = 16, n_episodes: int = 50, lr: float = 0.5, epsilon: float = 0.1,
                    max_steps: int = 10_000, generator=None, progress: bool | None = None) -> OptionLearningResult:
    r"""Episodic Q-learning over options: SMDP Q-learning or intra-option Q-learning.

    Each agent starts an episode in a state drawn from ``start``; whenever no option is running it picks one
    among those whose initiation set holds the current state, :math:`\varepsilon`-greedily on :math:`Q`
    (ties at random), and follows it until it stops; the episode ends in a terminal state. Values start at 0.

    - ``method="smdp"`` (Bradtke & Duff 1995; Sutton, Precup & Singh 1999): when option :math:`o`, started
      in :math:`s`, stops in :math:`s'` after :math:`k` steps with discounted reward :math:`G`,

      .. math:: Q(s, o) \leftarrow Q(s, o) + \alpha\bigl(G + \gamma^k \max_{o' :\, s' \in \mathcal I_{o'}}
                Q(s', o') - Q(s, o)\bigr).

      With :func:`primitive_options` this is one-step Q-learning.
    - ``method="intra"`` (intra-option Q-learning, Sutton et al. 1999, section 6): after *every* primitive
      transition :math:`(s, a, r, s')`, every option whose (deterministic) policy takes :math:`a` in
      :math:`s` is updated, whether it was running or not,

      .. math:: Q(s, o) \leftarrow Q(s, o) + \alpha\bigl(r + \gamma U(s', o) - Q(s, o)\bigr), \quad
                U(s', o) = (1 - \beta_o(s')) Q(s', o) + \beta_o(s') \max_{o'} Q(s', o'),

      (:math:`U = 0` in terminal states), for :math:`s` in the option's initiation set or where it runs
      (:math:`\beta_o(s) < 1`). This needs deterministic intra-option policies.

    Parameters
    ----------
    transitions : Tensor, shape (n_states, n_actions, n_states)
    rewards : Tensor, shape (n_states, n_actions)
    options : OptionSet
        Every non-terminal state that ``start`` or the dynamics can reach needs an available option.
    start : Tensor, shape (n_states,)
        Distribution of the first state of an episode.
    terminal : Tensor, shape (n_states,), bool
    gamma : float in [0, 1)
    method : {"smdp", "intra"}
    n_agents, n_episodes : int
        Independent agents run in parallel; episodes each.
    lr : float in (0, 1]
        Step size :math:`\alpha`.
    epsilon : float in [0, 1]
        Probability of a uniformly random available option at a decision.
    max_steps : int
        Cap on the primitive steps of one episode; the episode is cut off (and counted as ``max_steps``).
    generator : None, int or torch.Generator
    progress : bool, optional

    Returns
    -------
    OptionLearningResult

    Notes
    -----
    See the chapter :doc:`Successor features, credit and discounting </book/rl>`.

    Examples
    --------
    >>> from nips2019.rl import chain_mdp
    >>> mdp = chain_mdp(5)
    >>> prim = primitive_options(5, 2)
    >>> res = smdp_q_learning(mdp.transitions, mdp.rewards, prim, start=mdp.start, terminal=mdp.terminal,
    ...                       gamma=0.9, n_agents=2, n_episodes=30, lr=1.0, epsilon=0.0, generator=0)
    >>> res.episode_steps[:, -1].tolist()
    [4, 4]
    """
    func = "smdp_q_learning"
    _check_stochastic(func, "transitions", transitions)
    _check_stochastic(func, "start", start)
    _check_options(func, options, transitions)
    dev, dt = transitions.device, transitions.dtype
    n_s = transitions.shape[0]
    n_o = options.n_options
    term = terminal.to(dev)
    init = options.initiation.to(dev)
    if (start.to(dev) > 0)[term].any():
        raise ValueError(f"{func}: start must put no mass on terminal states")
    if (~term & ~init.any(0)).any():
        miss = (~term & ~init.any(0)).nonzero().squeeze(1).tolist()[:10]
        raise ValueError(f"{func}: no option may start in the non-terminal states {miss}")
    intra = method == "intra"
    act = options.policy.argmax(-1)  # (O, S), the action of a deterministic policy
    if intra and (options.policy.max(-1).values < 1).any():
        raise ValueError(f'{func}: method="intra" needs deterministic intra-option policies '
                         "(one-hot rows of options.policy)")
    # the loop is sequential with a handful of agents: NumPy on the CPU has far less overhead per small
    # operation than torch; results go back to the inputs' device and dtype
    rng = numpy_rng(generator)
    beta = torch.where(term, torch.ones_like(options.termination), options.termination).cpu().numpy()  # (O, S)
    init_np = init.cpu().numpy()
    runs = init_np | (beta < 1)  # where an option may be (started or running)
    act_np = act.cpu().numpy()
    term_np = term.cpu().numpy()
    cdf_p = transitions.cumsum(-1).cpu().numpy()
    cdf_pi = options.policy.cumsum(-1).cpu().numpy()
    cdf_start = start.cumsum(0).cpu().numpy()
    r_np = rewards.cpu().numpy()

    def draw(cdf, u):
        return np.minimum((cdf < u[..., None]).sum(-1), cdf.shape[-1] - 1)

    n = n_agents
    ar = np.arange(n)
    q = np.zeros((n, n_s, n_o))
    steps_log = np.zeros((n, n_episodes), dtype=np.int64)
    dec_log = np.zeros((n, n_episodes), dtype=np.int64)
    s = draw(np.broadcast_to(cdf_start, (n, n_s)), rng.random(n))
    episode = np.zeros(n, dtype=np.int64)
    ep_steps = np.zeros(n, dtype=np.int64)
    ep_dec = np.zeros(n, dtype=np.int64)
    o = np.zeros(n, dtype=np.int64)
    active = np.zeros(n, dtype=bool)
    s0 = s.copy()
    ret = np.zeros(n)
    disc = np.ones(n)
    bar = _progress(range(n_episodes * max_steps), progress)
    for _ in bar:
        alive = episode < n_episodes
        if not alive.any():
            break
        u = rng.random((n, 5))
        choose = ~active & alive
        if choose.any():
            avail = init_np[:, s].T  # (n, O)
            q_s = np.where(avail, q[ar, s], -np.inf)
            best = avail & (q_s >= q_s.max(-1, keepdims=True) - 1e-12)
            u_tie = rng.random((n, n_o))
            greedy = np.where(best, u_tie, -1.0).argmax(-1)
            random = np.where(avail, u_tie[:, ::-1], -1.0).argmax(-1)
            pick = np.where(u[:, 0] < epsilon, random, greedy)
            o = np.where(choose, pick, o)
            s0 = np.where(choose, s, s0)
            ret[choose] = 0.0
            disc[choose] = 1.0
            ep_dec += choose
            active |= choose
        a = draw(cdf_pi[o, s], u[:, 1])
        s2 = draw(cdf_p[s, a], u[:, 2])
        r = r_np[s, a]
        done = term_np[s2]
        ret += disc * r
        disc *= gamma
        stop = alive & (done | (u[:, 3] < beta[o, s2]))
        avail2 = init_np[:, s2].T
        q_next = np.where(avail2, q[ar, s2], -np.inf).max(-1)
        q_next = np.where(avail2.any(-1) & ~done, q_next, 0.0)
        if intra:
            b2 = beta[:, s2].T  # (n, O)
            u_next = (1 - b2) * q[ar, s2] + b2 * q_next[:, None]
            target = r[:, None] + gamma * u_next * (~done)[:, None]
            consistent = (act_np[:, s].T == a[:, None]) & runs[:, s].T & alive[:, None]
            q_s = q[ar, s]
            q[ar, s] = np.where(consistent, q_s + lr * (target - q_s), q_s)
        else:
            target = ret + disc * q_next
            old = q[ar, s0, o]
            q[ar, s0, o] = np.where(stop, old + lr * (target - old), old)
        active &= ~stop
        ep_steps += alive
        s = np.where(alive, s2, s)
        end = alive & (done | (ep_steps >= max_steps))
        if end.any():
            idx = end.nonzero()[0]
            steps_log[idx, episode[idx]] = ep_steps[idx]
            dec_log[idx, episode[idx]] = ep_dec[idx]
            episode += end
            ep_steps[end] = 0
            ep_dec[end] = 0
            active &= ~end
            s = np.where(end, draw(np.broadcast_to(cdf_start, (n, n_s)), u[:, 4]), s)
    q = torch.as_tensor(q, dtype=dt).to(dev)
    steps_log = torch.as_tensor(steps_log).to(dev)
    dec_log = torch.as_tensor(dec_log).to(dev)
    return OptionLearningResult(q, steps_log, dec_log)
