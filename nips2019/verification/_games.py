r"""Concurrent games with LTL goals: memoryless profiles, Nash equilibria, rational verification.

A concurrent game structure has finitely many states; in each state every player picks one of
its actions at the same time and the joint action fixes the next state. Player :math:`i` wants its
LTL goal :math:`\gamma_i` to hold on the infinite run. A memoryless strategy picks an action per
state, so a profile of memoryless strategies produces a lasso run. The profile is a Nash
equilibrium when no player whose goal fails on that run has *any* strategy (memory allowed) that
makes its goal hold while the others keep theirs: with the others fixed, the game is a transition
system for that player, and the question is whether some path of it satisfies the goal
(:func:`~nips2019.verification.find_path`).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import torch

from nips2019.utils import Bool, InstanceOf, Integer, Items, Options, Tensor, progress, validate

from ._check import PathResult, TransitionSystem, _find
from ._ltl import Formula, LassoWord, evaluate_ltl, parse_ltl


@dataclasses.dataclass(frozen=True, eq=False)
class ConcurrentGame:
    """A finite concurrent game with one LTL goal per player.

    Attributes
    ----------
    transitions : numpy.ndarray of int, shape (S, A_1, ..., A_n)
        ``transitions[s, a_1, ..., a_n]``: the next state after the joint action in state ``s``.
    labels : tuple of frozenset of str
        Propositions true in each state.
    goals : tuple of Formula
        The goal of each player.
    initial : int
        The initial state.
    state_names, action_names : tuple of str
        For printing.
    """

    transitions: np.ndarray
    labels: tuple
    goals: tuple
    initial: int = 0
    state_names: tuple = ()
    action_names: tuple = ()

    @property
    def n_states(self) -> int:
        return self.transitions.shape[0]

    @property
    def n_players(self) -> int:
        return self.transitions.ndim - 1

    @property
    def n_actions(self) -> tuple:
        return self.transitions.shape[1:]

    @property
    def n_profiles(self) -> int:
        """Number of memoryless strategy profiles, :math:`\\prod_i A_i^S`."""
        return int(np.prod([a ** self.n_states for a in self.n_actions], dtype=object))


@validate(transitions=Tensor(dtype="integer", low=0), labels=Items(),
          goals=Items(InstanceOf(Formula, str), min_length=1), initial=Integer(low=0),
          state_names=Items(InstanceOf(str), optional=True), action_names=Items(InstanceOf(str), optional=True))
def concurrent_game(transitions, labels, goals, *, initial=0, state_names=None, action_names=None):
    r"""A concurrent game structure with LTL goals.

    Parameters
    ----------
    transitions : Tensor of int, shape (S, A_1, ..., A_n)
        Next state for each state and joint action; values in ``[0, S)``. One axis per player
        after the first, so ``transitions.dim() - 1`` is the number of players.
    labels : list of sets of str, length S
        Propositions true in each state.
    goals : list of Formula or str, length n
        Each player's goal (strings are read by :func:`~nips2019.verification.parse_ltl`).
    initial : int
        The initial state.
    state_names : list of str, optional
    action_names : list of str, optional
        Names of the actions (shared by all players), for printing.

    Returns
    -------
    ConcurrentGame

    See the chapter :doc:`Many agents </book/multiagent>`.

    Examples
    --------
    >>> import torch
    >>> # repeated matching pennies: state 1 when the coins matched
    >>> t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    >>> g = concurrent_game(t, [set(), {"match"}], ["F G match", "G F !match"])
    >>> g.n_players, g.n_states, g.n_profiles
    (2, 2, 16)
    """
    t = transitions.detach().cpu().numpy().astype(np.int64)
    if t.ndim < 2:
        raise ValueError(f"concurrent_game: transitions must be at least 2-D (S, A_1, ...), got shape {t.shape}")
    if t.ndim > 7:
        raise ValueError(f"concurrent_game: transitions has {t.ndim - 1} player axes, at most 6 are supported")
    n_states = t.shape[0]
    if t.max() >= n_states:
        raise ValueError(f"concurrent_game: transitions must have values in [0, {n_states}), got max {t.max()}")
    if len(labels) != n_states:
        raise ValueError(f"concurrent_game: labels must have one set per state (transitions has {n_states}), "
                         f"got {len(labels)}")
    if len(goals) != t.ndim - 1:
        raise ValueError(f"concurrent_game: goals must have one formula per player (transitions has {t.ndim - 1} "
                         f"player axes), got {len(goals)}")
    if initial >= n_states:
        raise ValueError(f"concurrent_game: initial must be < {n_states} (the states of transitions), got {initial}")
    for s, lab in enumerate(labels):
        if isinstance(lab, str):
            raise TypeError(f"concurrent_game: labels[{s}] must be a set of names, got the string {lab!r}")
    if state_names is not None and len(state_names) != n_states:
        raise ValueError(f"concurrent_game: state_names must have {n_states} names, got {len(state_names)}")
    try:
        goals = tuple(parse_ltl(g) if isinstance(g, str) else g for g in goals)
    except ValueError as exc:
        raise ValueError(f"concurrent_game: goals could not be read: {exc}") from None
    return ConcurrentGame(t, tuple(frozenset(lab) for lab in labels), goals, int(initial),
                          tuple(state_names or (str(s) for s in range(n_states))), tuple(action_names or ()))


@validate(game=InstanceOf(ConcurrentGame), fixed=Items(Items(Integer(low=0)), optional=True),
          free=Items(Integer(low=0), optional=True))
def arena(game, fixed=None, free=None):
    r"""The transition system of a game when some players' memoryless strategies are fixed.

    With ``fixed=None`` every player is free: the system has an edge :math:`s \to t` for every joint
    action leading from :math:`s` to :math:`t`, and model checking it asks what *can* happen,
    whatever the players want.

    Parameters
    ----------
    game : ConcurrentGame
    fixed : list, optional
        A full profile (one strategy, a list of S actions, per player); the strategies of the players
        not in ``free`` are used.
    free : list of int, optional
        Players left free (default: all of them when ``fixed`` is None, none otherwise).

    Returns
    -------
    TransitionSystem

    Examples
    --------
    >>> import torch
    >>> t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    >>> g = concurrent_game(t, [set(), {"match"}], ["F G match", "G F !match"])
    >>> arena(g).successors
    ((0, 1), (0, 1))
    >>> arena(g, fixed=[[0, 0], [1, 1]], free=[0]).successors  # player 1 always plays 1
    ((0, 1), (0, 1))
    """
    n = game.n_players
    if fixed is None:
        if free is not None and sorted(set(free)) != list(range(n)):
            raise ValueError("arena: fixed (a profile) is needed when free does not list every player")
        free = list(range(n))
    else:
        _check_profile(game, fixed, "arena")
        free = [] if free is None else list(free)
    if any(p >= n for p in free):
        raise ValueError(f"arena: free must name players in [0, {n}), got {list(free)}")
    succ = []
    for s in range(game.n_states):
        ranges = [range(game.n_actions[p]) if (p in free) else (fixed[p][s],) for p in range(n)]
        succ.append(tuple(sorted({int(game.transitions[(s, *a)]) for a in itertools.product(*ranges)})))
    return TransitionSystem(tuple(succ), game.labels, game.initial)


def _check_profile(game, profile, func):
    if len(profile) != game.n_players:
        raise ValueError(f"{func}: profile must have one strategy per player ({game.n_players}), got {len(profile)}")
    for p, strat in enumerate(profile):
        if len(strat) != game.n_states:
            raise ValueError(f"{func}: profile[{p}] must give an action in each of the {game.n_states} states, "
                             f"got {len(strat)}")
        if max(strat) >= game.n_actions[p]:
            raise ValueError(f"{func}: profile[{p}] has action {max(strat)}, player {p} has {game.n_actions[p]}")


@dataclasses.dataclass
class Run:
    """The lasso run of a memoryless profile (:func:`play`).

    Attributes
    ----------
    prefix_states, loop_states : list of int
        States visited once, then forever in a cycle.
    word : LassoWord
        Their labels.
    goals_met : list of bool
        Whether each player's goal holds on the run.
    """

    prefix_states: list
    loop_states: list
    word: LassoWord
    goals_met: list


def _play(game, profile):
    seen: dict = {}
    path = []
    s = game.initial
    while s not in seen:
        seen[s] = len(path)
        path.append(s)
        s = int(game.transitions[(s, *(strat[s] for strat in profile))])
    k = seen[s]
    word = LassoWord(tuple(game.labels[q] for q in path[:k]), tuple(game.labels[q] for q in path[k:]))
    return Run(path[:k], path[k:], word, [evaluate_ltl(g, word) for g in game.goals])


@validate(game=InstanceOf(ConcurrentGame), profile=Items(Items(Integer(low=0))))
def play(game, profile):
    r"""The run of a memoryless strategy profile: a lasso of at most S states.

    Parameters
    ----------
    game : ConcurrentGame
    profile : list of list of int
        ``profile[i][s]``: the action of player ``i`` in state ``s``.

    Returns
    -------
    Run

    Examples
    --------
    >>> import torch
    >>> t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    >>> g = concurrent_game(t, [set(), {"match"}], ["F G match", "G F !match"])
    >>> r = play(g, [[0, 0], [0, 1]])
    >>> r.prefix_states, r.loop_states, r.goals_met
    ([], [0, 1], [False, True])
    """
    _check_profile(game, profile, "play")
    return _play(game, profile)


def _deviation(game, profile, player) -> PathResult:
    return _find(arena(game, fixed=profile, free=[player]), game.goals[player])


@validate(game=InstanceOf(ConcurrentGame), profile=Items(Items(Integer(low=0))), player=Integer(low=0))
def best_deviation(game, profile, player):
    r"""Whether a player can make its goal hold against the others' fixed strategies, and how.

    With the other players' memoryless strategies fixed, the player chooses the successor among
    :math:`\{\delta(s, a, \sigma_{-i}(s)) : a\}` in each state: a transition system, in which some
    strategy (with memory if needed) achieves :math:`\gamma_i` iff some path satisfies it
    (:func:`~nips2019.verification.find_path`).

    Parameters
    ----------
    game : ConcurrentGame
    profile : list of list of int
    player : int

    Returns
    -------
    PathResult
        ``found``: a winning deviation exists; the witness is the run it produces.

    Examples
    --------
    >>> import torch
    >>> t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    >>> g = concurrent_game(t, [set(), {"match"}], ["F G match", "G F !match"])
    >>> best_deviation(g, [[0, 0], [0, 1]], 0).found  # player 0 can always match
    True
    """
    _check_profile(game, profile, "best_deviation")
    if player >= game.n_players:
        raise ValueError(f"best_deviation: player must be < {game.n_players}, got {player}")
    return _deviation(game, profile, player)


@validate(game=InstanceOf(ConcurrentGame), profile=Items(Items(Integer(low=0))))
def is_nash(game, profile):
    r"""Whether a memoryless profile is a Nash equilibrium (deviations may use memory).

    :math:`\sigma` is an equilibrium iff for every player :math:`i` with
    :math:`\rho(\sigma) \not\models \gamma_i`, no strategy :math:`\tau_i` gives
    :math:`\rho(\tau_i, \sigma_{-i}) \models \gamma_i` (:func:`best_deviation`).

    Parameters
    ----------
    game : ConcurrentGame
    profile : list of list of int

    Returns
    -------
    bool

    Examples
    --------
    >>> import torch
    >>> t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    >>> g = concurrent_game(t, [set(), {"match"}], ["F G match", "G F !match"])
    >>> is_nash(g, [[0, 0], [0, 1]])
    False
    """
    _check_profile(game, profile, "is_nash")
    run = _play(game, profile)
    return all(met or not _deviation(game, profile, p).found for p, met in enumerate(run.goals_met))


@dataclasses.dataclass
class EquilibriumResult:
    """All memoryless Nash equilibria of a game (:func:`nash_equilibria`).

    Attributes
    ----------
    profiles : list
        The equilibrium profiles (tuples of per-player strategies).
    runs : list of Run
        Their runs.
    n_profiles : int
        Profiles examined (all memoryless ones).
    n_deviation_checks : int
        Calls of the deviation check (cached per player and opponents' strategies).
    all_runs : list of Run
        The runs of every profile (in the order of ``itertools.product`` over the players' strategies), when
        ``keep_all=True``; otherwise empty.
    all_nash : list of bool
        Whether each of those profiles is an equilibrium (with ``keep_all=True``).
    """

    profiles: list
    runs: list
    n_profiles: int
    n_deviation_checks: int
    all_runs: list
    all_nash: list


@validate(game=InstanceOf(ConcurrentGame), keep_all=Bool(), progress=Bool(optional=True))
def nash_equilibria(game, *, keep_all=False, progress=None):
    r"""Enumerate the memoryless strategy profiles and keep the Nash equilibria.

    There are :math:`\prod_i A_i^S` profiles. The deviation check of player :math:`i` depends only
    on the others' strategies, so it is cached: at most :math:`\sum_i \prod_{j \ne i} A_j^S` calls of
    :func:`~nips2019.verification.find_path`. Equilibria in memoryless strategies need not exist
    (deviations may use memory); an empty list is a valid answer.

    Parameters
    ----------
    game : ConcurrentGame
    keep_all : bool
        Also return every profile's run and whether it is an equilibrium.
    progress : bool, optional
        Progress bar over profiles (default: on in interactive sessions only).

    Returns
    -------
    EquilibriumResult

    References
    ----------
    Gutierrez, Harrenstein & Wooldridge (2017), *From model checking to equilibrium checking:
    reactive modules for rational verification*, Artificial Intelligence 248; see the chapter
    :doc:`Many agents </book/multiagent>`.

    Examples
    --------
    >>> import torch
    >>> t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    >>> g = concurrent_game(t, [set(), {"match"}], ["F G match", "G F !match"])
    >>> len(nash_equilibria(g).profiles)  # repeated matching pennies: no pure equilibrium
    0
    """
    n = game.n_players
    strategies = [list(itertools.product(range(a), repeat=game.n_states)) for a in game.n_actions]
    cache: dict = {}
    profiles, runs, all_runs, all_nash = [], [], [], []
    it = itertools.product(*strategies)
    disable = None if progress is None else not progress
    for profile in progress_bar(it, total=game.n_profiles, desc="profiles", disable=disable):
        run = _play(game, profile)
        ok = True
        for p in range(n):
            if run.goals_met[p]:
                continue
            key = (p, profile[:p] + profile[p + 1:])
            if key not in cache:
                cache[key] = _deviation(game, profile, p).found
            if cache[key]:
                ok = False
                break
        if ok:
            profiles.append(profile)
            runs.append(run)
        if keep_all:
            all_runs.append(run)
            all_nash.append(ok)
    return EquilibriumResult(profiles, runs, game.n_profiles, len(cache), all_runs, all_nash)


progress_bar = progress


@dataclasses.dataclass
class VerificationResult:
    """Classical and rational verification of one property (:func:`rational_verification`).

    Attributes
    ----------
    formula : Formula
    model_check : bool
        The property holds on every path of the arena (every possible behaviour).
    counterexample : LassoWord or None
        A violating path of the arena when ``model_check`` is False.
    e_nash : bool
        The property holds on the run of some equilibrium.
    a_nash : bool
        The property holds on the run of every equilibrium (True when there is none).
    n_equilibria, n_satisfying : int
        Equilibria, and those whose run satisfies the property.
    """

    formula: Formula
    model_check: bool
    counterexample: LassoWord | None
    e_nash: bool
    a_nash: bool
    n_equilibria: int
    n_satisfying: int


@validate(game=InstanceOf(ConcurrentGame), formula=InstanceOf(Formula, str),
          equilibria=InstanceOf(EquilibriumResult, optional=True))
def rational_verification(game, formula, *, equilibria=None):
    r"""Model checking against rational verification of a temporal property.

    Model checking asks whether :math:`\varphi` holds on every run of the arena. Rational
    verification asks the two equilibrium questions of Gutierrez, Harrenstein and Wooldridge:
    **E-Nash** (does :math:`\varphi` hold on the run of some Nash equilibrium?) and **A-Nash** (on
    the runs of all of them?), here over memoryless equilibria, found by :func:`nash_equilibria`.

    Parameters
    ----------
    game : ConcurrentGame
    formula : Formula or str
    equilibria : EquilibriumResult, optional
        Reuse an earlier :func:`nash_equilibria` of the same game.

    Returns
    -------
    VerificationResult

    Examples
    --------
    >>> from nips2019.verification import resource_game
    >>> g = resource_game(arbiter="priority")
    >>> r = rational_verification(g, "G F got0 & G F got1")
    >>> r.model_check, r.e_nash, r.a_nash
    (False, True, True)
    """
    try:
        f = parse_ltl(formula) if isinstance(formula, str) else formula
    except ValueError as exc:
        raise ValueError(f"rational_verification: formula could not be read: {exc}") from None
    eq = nash_equilibria(game) if equilibria is None else equilibria
    mc = _find(arena(game), ~f)
    sat = sum(evaluate_ltl(f, run.word) for run in eq.runs)
    return VerificationResult(f, not mc.found, mc.word, sat > 0, sat == len(eq.runs), len(eq.runs), int(sat))


@validate(n_players=Integer(low=1, high=4), arbiter=Options("priority", "none"))
def resource_game(n_players=2, *, arbiter="priority"):
    r"""Players sharing one resource, each wanting it infinitely often.

    Every step each player *requests* (action 1) or *waits* (action 0). A lone request is granted.
    The state records who holds the resource (state ``i + 1``: player ``i``; state 0: nobody). When
    several request at once, ``arbiter="priority"`` grants it to the first requester after the
    current holder in cyclic order (round robin); ``arbiter="none"`` grants nothing (a collision,
    state ``n + 1``, labelled ``collide``). Player ``i``'s goal is ``G F got<i>``.

    Parameters
    ----------
    n_players : int
        Between 1 and 4.
    arbiter : {"priority", "none"}

    Returns
    -------
    ConcurrentGame

    Examples
    --------
    >>> g = resource_game(2, arbiter="none")
    >>> g.n_states, g.state_names
    (4, ('free', 'got0', 'got1', 'collide'))
    """
    n = n_players
    n_states = n + 1 + (arbiter == "none")
    t = np.zeros((n_states,) + (2,) * n, dtype=np.int64)
    for s in range(n_states):
        holder = s - 1 if 1 <= s <= n else -1
        for joint in itertools.product((0, 1), repeat=n):
            req = [p for p in range(n) if joint[p]]
            if not req:
                nxt = 0
            elif len(req) == 1:
                nxt = req[0] + 1
            elif arbiter == "none":
                nxt = n + 1
            else:
                order = [(holder + k) % n for k in range(1, n + 1)]
                nxt = next(p for p in order if p in req) + 1
            t[(s, *joint)] = nxt
    labels = [set()] + [{f"got{p}"} for p in range(n)] + ([{"collide"}] if arbiter == "none" else [])
    names = ["free"] + [f"got{p}" for p in range(n)] + (["collide"] if arbiter == "none" else [])
    return concurrent_game(torch.as_tensor(t), labels, [f"G F got{p}" for p in range(n)], state_names=names,
                           action_names=["wait", "request"])
