"""Benchmarks for the multi-agent chapter: rational verification and virtual democracy.

LTL evaluation on lasso words (``nips2019.verification.evaluate_ltl``, a fixed point per
subformula) against the recursive textbook definition; the memoryless Nash equilibria of the
two-agent resource game without an arbiter (``nash_equilibria``: tableau deviation checks, cached
per opponents' strategy) against brute force (every lasso deviation up to 6 states, no cache);
per-voter Bradley-Terry fits (``fit_preferences``, batched Newton) against scikit-learn's
``LogisticRegression`` fitted voter by voter at its default tolerance; and batched Kemeny
elections (``vote(..., "kemeny")``) against a Python loop over the 5! orders.
"""

from __future__ import annotations

import itertools
import random

import torch

from benchmarks.run import Case
from nips2019.verification import (
    TRUE,
    And,
    Next,
    Not,
    Or,
    Prop,
    Until,
    arena,
    evaluate_ltl,
    lasso_word,
    nash_equilibria,
    parse_ltl,
    play,
    resource_game,
)
from nips2019.voting import fit_preferences, make_voters, sample_comparisons, vote


def _textbook(f, w, i=0):
    if isinstance(f, Prop):
        return f.name in w.letter(i)
    if f == TRUE:
        return True
    if isinstance(f, Not):
        return not _textbook(f.arg, w, i)
    if isinstance(f, And):
        return _textbook(f.left, w, i) and _textbook(f.right, w, i)
    if isinstance(f, Or):
        return _textbook(f.left, w, i) or _textbook(f.right, w, i)
    if isinstance(f, Next):
        return _textbook(f.arg, w, i + 1)
    assert isinstance(f, Until)
    for j in range(i, i + len(w) + 1):
        if _textbook(f.right, w, j):
            return True
        if not _textbook(f.left, w, j):
            return False
    return False


def _ltl_batch(n, max_prefix=6, max_loop=10, seed=0):
    rng = random.Random(seed)
    texts = ["G F p", "F G q", "G (p -> F q)", "(p U q) U G p", "G (p -> X (q U p))", "F (p & X X !q)"]
    letters = [set(), {"p"}, {"q"}, {"p", "q"}]
    words = [lasso_word([rng.choice(letters) for _ in range(rng.randint(0, max_prefix))],
                        [rng.choice(letters) for _ in range(rng.randint(1, max_loop))]) for _ in range(n)]
    return [parse_ltl(t) for t in texts], words


def _brute_nash(game, max_len=6):
    def lassos(ts):
        stack = [[ts.initial]]
        while stack:
            path = stack.pop()
            for j in range(len(path)):
                if path[j] in ts.successors[path[-1]]:
                    yield path[:j], path[j:]
            if len(path) < max_len:
                stack.extend(path + [t] for t in ts.successors[path[-1]])

    def can_win(profile, p):
        ts = arena(game, fixed=profile, free=[p])
        for pre, loop in lassos(ts):
            w = lasso_word([ts.labels[s] for s in pre], [ts.labels[s] for s in loop])
            if evaluate_ltl(game.goals[p], w):
                return True
        return False

    strategies = [list(itertools.product(range(a), repeat=game.n_states)) for a in game.n_actions]
    out = []
    for profile in itertools.product(*strategies):
        run = play(game, profile)
        if all(met or not can_win(profile, p) for p, met in enumerate(run.goals_met)):
            out.append(profile)
    return out


def _sklearn_fits(comp):
    from sklearn.linear_model import LogisticRegression

    d, y = comp.diff.numpy(), comp.y.numpy()

    def run():
        return [LogisticRegression(C=1.0, fit_intercept=False).fit(d[i], y[i]).coef_ for i in range(d.shape[0])]

    return run


def _kemeny_loop(profiles):
    m = profiles.shape[-1]
    orders = list(itertools.permutations(range(m)))
    pos = profiles.argsort(-1).numpy()

    def run():
        winners = []
        for e in range(pos.shape[0]):
            N = (pos[e][:, :, None] < pos[e][:, None, :]).sum(0)
            best = max(orders, key=lambda o: sum(N[o[k], o[j]] for k in range(m) for j in range(k + 1, m)))
            winners.append(best[0])
        return winners

    return run


def cases(quick: bool) -> list:
    out = []
    for n_words, max_len, note in [(200 if quick else 1000, 10, "short words: per-call overhead dominates"),
                                   (20 if quick else 100, 200, "long words: the recursion rescans suffixes")]:
        formulas, words = _ltl_batch(n_words, max_len // 2, max_len)
        size = f"{len(formulas)} formulas x {n_words} words of <= {max_len + max_len // 2} positions"
        out.append(Case(name=f"LTL on lasso words, {size}",
                        ours=lambda f=formulas, w=words: [evaluate_ltl(a, b) for a in f for b in w],
                        baselines={"recursive textbook semantics":
                                   lambda f=formulas, w=words: [_textbook(a, b) for a in f for b in w]},
                        repeat=1, note=f"same answers (tests/verification); {note}"))
    game = resource_game(2, arbiter="none")
    out.append(Case(name="memoryless Nash equilibria, 2-agent resource game, 256 profiles",
                    ours=lambda: nash_equilibria(game, progress=False),
                    baselines={"brute force: lasso deviations <= 6 states, no cache": lambda: _brute_nash(game)},
                    repeat=1, note="same 89 equilibria"))
    for n_voters in ([200] if quick else [200, 2000]):
        beta = make_voters(n_voters, 5, spread=3.0, generator=0)
        comp = sample_comparisons(beta, 50, model="bradley_terry", generator=1)
        out.append(Case(name=f"Bradley-Terry fits, {n_voters} voters x 50 comparisons, d = 5",
                        ours=lambda c=comp: fit_preferences(c.diff, c.y, model="bradley_terry"),
                        baselines={"sklearn LogisticRegression per voter (lbfgs, default tol)":
                                   _sklearn_fits(comp)},
                        repeat=1 if n_voters > 500 else 3, note="coefficients agree to 1e-6 at tight tolerance"))
    g = torch.Generator().manual_seed(0)
    n_el = 200 if quick else 1000
    profiles = torch.stack([torch.stack([torch.randperm(5, generator=g) for _ in range(25)]) for _ in range(n_el)])
    out.append(Case(name=f"Kemeny elections, {n_el} x 25 voters x 5 alternatives",
                    ours=lambda: vote(profiles, "kemeny"),
                    baselines={"Python loop over the 120 orders": _kemeny_loop(profiles)},
                    repeat=1, note="same winners up to ties (tests/voting)"))
    return out


