"""Contract cases for nips2019.verification (see tests/contract.py)."""

import torch

from nips2019 import verification as v
from tests.contract import Bad, Case, check_case, contract_params


def _pennies():
    return torch.tensor([[[1, 0], [0, 1]], [[1, 0], [0, 1]]])


def _game():
    return v.concurrent_game(_pennies(), [set(), {"match"}], ["F G match", "G F !match"])


def _ts():
    return v.transition_system([[0, 1], [1]], [set(), {"p"}])


P = [[0, 0], [0, 1]]

CASES = [
    Case(v.parse_ltl, lambda: dict(text="G (req -> F grant)"),
         bad=[Bad(dict(text="G (a"), "expected", why="unbalanced parenthesis")]),
    Case(v.lasso_word, lambda: dict(prefix=[{"a"}], loop=[set(), {"b"}]),
         bad=[Bad(dict(loop=[]), "loop", why="an empty loop")]),
    Case(v.evaluate_ltl, lambda: dict(formula=v.parse_ltl("G F b"), word=v.lasso_word([{"a"}], [{"b"}])),
         bad=[Bad(dict(formula="G F b"), "formula", why="text instead of a parsed formula")]),
    Case(v.eventually, lambda: dict(f=v.Prop("p"))),
    Case(v.always, lambda: dict(f=v.Prop("p"))),
    Case(v.implies, lambda: dict(a=v.Prop("p"), b=v.Prop("q"))),
    Case(v.subformulas, lambda: dict(f=v.parse_ltl("p U q"))),
    Case(v.propositions, lambda: dict(f=v.parse_ltl("p U q"))),
    Case(v.transition_system, lambda: dict(successors=[[1], [0, 1]], labels=[{"a"}, set()], initial=0),
         bad=[Bad(dict(successors=[[1], []]), "successors", why="a state without successor"),
              Bad(dict(successors=[[1], [2]]), "successors", why="a successor that does not exist"),
              Bad(dict(initial=2), "initial", why="an initial state that does not exist")]),
    Case(v.find_path, lambda: dict(system=_ts(), formula=v.parse_ltl("G F p"))),
    Case(v.model_check, lambda: dict(system=_ts(), formula=v.parse_ltl("F p"))),
    Case(v.concurrent_game, lambda: dict(transitions=_pennies(), labels=[set(), {"match"}],
                                         goals=["F G match", "G F !match"], initial=0),
         bad=[Bad(dict(goals=["F a"]), "one formula per player", why="too few goals"),
              Bad(dict(labels=[set()]), "one set per state", why="too few labels"),
              Bad(dict(initial=2), "initial", why="no such state")]),
    Case(v.arena, lambda: dict(game=_game(), fixed=P, free=[0]),
         bad=[Bad(dict(free=[2]), "free", why="no such player"),
              Bad(dict(fixed=[[0, 0]]), "profile", why="a strategy missing")]),
    Case(v.play, lambda: dict(game=_game(), profile=P),
         bad=[Bad(dict(profile=[[0, 0], [0, 5]]), r"profile\[1\]", why="an action that does not exist")]),
    Case(v.best_deviation, lambda: dict(game=_game(), profile=P, player=0),
         bad=[Bad(dict(player=2), "player", why="no such player")]),
    Case(v.is_nash, lambda: dict(game=_game(), profile=P),
         bad=[Bad(dict(profile=[[0, 0, 0], [0, 1, 0]]), "profile", why="strategies for 3 states")]),
    Case(v.nash_equilibria, lambda: dict(game=_game(), keep_all=True, progress=False)),
    Case(v.rational_verification, lambda: dict(game=_game(), formula="G F match", equilibria=None),
         bad=[Bad(dict(formula="G F ("), "expected", why="unparsable property")]),
    Case(v.resource_game, lambda: dict(n_players=2, arbiter="none"),
         bad=[Bad(dict(n_players=5), "n_players", why="too many profiles to enumerate")]),
]

EXEMPT = {
    "Formula": "abstract base class of the formula nodes, no arguments",
    "Prop": "formula node (frozen dataclass); built by parse_ltl, which is attacked",
    "Const": "formula node (frozen dataclass); TRUE and FALSE are its two values",
    "Not": "formula node (frozen dataclass); built by parse_ltl, which is attacked",
    "And": "formula node (frozen dataclass); built by parse_ltl, which is attacked",
    "Or": "formula node (frozen dataclass); built by parse_ltl, which is attacked",
    "Next": "formula node (frozen dataclass); built by parse_ltl, which is attacked",
    "Until": "formula node (frozen dataclass); built by parse_ltl, which is attacked",
    "LassoWord": "result container (frozen dataclass) built and checked by lasso_word",
    "TransitionSystem": "result container (frozen dataclass) built and checked by transition_system",
    "ConcurrentGame": "result container (frozen dataclass) built and checked by concurrent_game",
    "PathResult": "result container (dataclass) returned by find_path and model_check",
    "Run": "result container (dataclass) returned by play",
    "EquilibriumResult": "result container (dataclass) returned by nash_equilibria",
    "VerificationResult": "result container (dataclass) returned by rational_verification",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
