"""Model checking and equilibrium checking against brute-force enumeration of lasso paths."""

import itertools
import random

import pytest
import torch

from nips2019.verification import (
    arena,
    best_deviation,
    concurrent_game,
    evaluate_ltl,
    find_path,
    is_nash,
    lasso_word,
    model_check,
    nash_equilibria,
    parse_ltl,
    play,
    rational_verification,
    resource_game,
    transition_system,
)

from .test_verification_ltl import random_formula


def _lassos(system, max_len):
    """Every path s_0 ... s_{k-1} (s_0 initial) closed by an edge back to some s_j, k <= max_len."""
    stack = [[system.initial]]
    while stack:
        path = stack.pop()
        for j in range(len(path)):
            if path[j] in system.successors[path[-1]]:
                yield path[:j], path[j:]
        if len(path) < max_len:
            for t in system.successors[path[-1]]:
                stack.append(path + [t])


def _brute_exists(system, f, max_len=5):
    for pre, loop in _lassos(system, max_len):
        w = lasso_word([system.labels[s] for s in pre], [system.labels[s] for s in loop])
        if evaluate_ltl(f, w):
            return True
    return False


def _is_path(system, pre, loop):
    states = pre + loop
    if not states or states[0] != system.initial:
        return False
    ok = all(b in system.successors[a] for a, b in zip(states, states[1:]))
    return ok and loop[0] in system.successors[states[-1]]


def random_system(rng, n_states):
    succ = [rng.sample(range(n_states), rng.randint(1, min(2, n_states))) for _ in range(n_states)]
    labels = [{p for p in "abc" if rng.random() < 0.4} for _ in range(n_states)]
    return transition_system(succ, labels)


def test_find_path_agrees_with_enumerated_lassos():
    rng = random.Random(0)
    outcomes = set()
    for _ in range(150):
        ts = random_system(rng, rng.randint(1, 4))
        f = random_formula(rng, 3)
        res = find_path(ts, f)
        brute = _brute_exists(ts, f)
        if brute:
            assert res.found, (str(f), ts)
        if res.found:
            assert _is_path(ts, res.prefix_states, res.loop_states), res
            assert evaluate_ltl(f, res.word), (str(f), res)
        outcomes.add((res.found, brute))
    # a miss by the bounded enumeration never happened on these systems: both answers agree
    assert outcomes == {(True, True), (False, False)}


def test_model_check_counterexample():
    ts = transition_system([[0, 1], [2], [2]], [set(), {"req"}, {"grant"}])
    assert model_check(ts, parse_ltl("G (req -> X grant)")).found
    res = model_check(ts, parse_ltl("F grant"))
    assert not res.found and res.loop_states == [0]
    assert not evaluate_ltl(parse_ltl("F grant"), res.word)


def _brute_deviation(game, profile, player, max_len=6):
    return _brute_exists(arena(game, fixed=profile, free=[player]), game.goals[player], max_len)


@pytest.mark.parametrize("arbiter", ["priority", "none"])
def test_equilibria_agree_with_brute_force(arbiter):
    game = resource_game(2, arbiter=arbiter)
    res = nash_equilibria(game, keep_all=True)
    strategies = [list(itertools.product(range(2), repeat=game.n_states))] * 2
    brute, cache = [], {}
    for profile in itertools.product(*strategies):
        run = play(game, profile)
        ok = True
        for p, met in enumerate(run.goals_met):
            key = (p, profile[1 - p])
            if not met and key not in cache:
                cache[key] = _brute_deviation(game, profile, p)
            ok = ok and (met or not cache[key])
        brute.append(ok)
    assert brute == res.all_nash
    assert sum(brute) == len(res.profiles) > 0
    assert all(is_nash(game, p) for p in res.profiles)


def test_known_equilibria_of_the_resource_games():
    # without an arbiter, "always request" is an equilibrium in which both starve
    none = resource_game(2, arbiter="none")
    always = [[1] * none.n_states] * 2
    assert is_nash(none, always) and play(none, always).goals_met == [False, False]
    # with round-robin priority, a starving player wins by always requesting
    prio = resource_game(2, arbiter="priority")
    profile = [[0] * prio.n_states, [1] * prio.n_states]
    assert play(prio, profile).goals_met == [False, True]
    dev = best_deviation(prio, profile, 0)
    assert dev.found and evaluate_ltl(prio.goals[0], dev.word)
    assert not is_nash(prio, profile)


def test_rational_verification_of_fairness():
    prio = resource_game(2, arbiter="priority")
    r = rational_verification(prio, "G F got0 & G F got1")
    assert not r.model_check and not evaluate_ltl(r.formula, r.counterexample)
    assert r.e_nash and r.a_nash and r.n_satisfying == r.n_equilibria > 0
    none = resource_game(2, arbiter="none")
    r2 = rational_verification(none, "G F got0 & G F got1")
    assert r2.e_nash and not r2.a_nash


def test_matching_pennies_has_no_memoryless_equilibrium():
    t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    g = concurrent_game(t, [set(), {"match"}], ["F G match", "G F !match"])
    res = nash_equilibria(g)
    assert res.profiles == [] and res.n_profiles == 16
    r = rational_verification(g, "G F match", equilibria=res)
    assert r.a_nash and not r.e_nash and r.n_equilibria == 0  # vacuous


def test_three_players_priority_keeps_fairness():
    g = resource_game(3, arbiter="priority")
    # the deviation "always request" wins against any fixed opponents
    rng = random.Random(0)
    for _ in range(20):
        profile = [[rng.randint(0, 1) for _ in range(g.n_states)] for _ in range(3)]
        for p in range(3):
            dev = list(profile)
            dev[p] = [1] * g.n_states
            assert play(g, dev).goals_met[p]


def test_bad_games():
    t = torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])
    with pytest.raises(ValueError, match="values in"):
        concurrent_game(t + 5, [set(), set()], ["F a", "F b"])
    with pytest.raises(ValueError, match="one formula per player"):
        concurrent_game(t, [set(), set()], ["F a"])
    with pytest.raises(ValueError, match="one set per state"):
        concurrent_game(t, [set()], ["F a", "F b"])
    g = concurrent_game(t, [set(), set()], ["F a", "F b"])
    with pytest.raises(ValueError, match="profile"):
        play(g, [[0, 0]])
    with pytest.raises(ValueError, match=r"profile\[1\]"):
        play(g, [[0, 0], [0, 2]])
    with pytest.raises(ValueError, match="player"):
        best_deviation(g, [[0, 0], [0, 0]], 2)
    with pytest.raises(ValueError, match="successors"):
        transition_system([[0], []], [set(), set()])
