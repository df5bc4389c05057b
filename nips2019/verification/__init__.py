"""Temporal logic and rational verification: LTL on lasso words, model checking, equilibrium checking.

A small LTL (propositions, ``!``, ``&``, ``|``, ``X``, ``U`` and the derived ``F``, ``G``, ``->``) with a
parser; exact evaluation on ultimately periodic words; LTL model checking of finite transition
systems by the tableau construction, with lasso witnesses; concurrent games in which each player
has an LTL goal, their memoryless strategy profiles, Nash equilibria (deviations may use memory),
and the E-Nash / A-Nash questions of rational verification (Gutierrez, Harrenstein & Wooldridge,
2017), compared with plain model checking. See the chapter :doc:`Many agents </book/multiagent>`.
"""

from ._check import PathResult, TransitionSystem, find_path, model_check, transition_system
from ._games import (
    ConcurrentGame,
    EquilibriumResult,
    Run,
    VerificationResult,
    arena,
    best_deviation,
    concurrent_game,
    is_nash,
    nash_equilibria,
    play,
    rational_verification,
    resource_game,
)
from ._ltl import (
    FALSE,
    TRUE,
    And,
    Const,
    Formula,
    LassoWord,
    Next,
    Not,
    Or,
    Prop,
    Until,
    always,
    evaluate_ltl,
    eventually,
    implies,
    lasso_word,
    parse_ltl,
    propositions,
    subformulas,
)

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "ConcurrentGame",
    "Const",
    "EquilibriumResult",
    "Formula",
    "LassoWord",
    "Next",
    "Not",
    "Or",
    "PathResult",
    "Prop",
    "Run",
    "TransitionSystem",
    "Until",
    "VerificationResult",
    "always",
    "arena",
    "best_deviation",
    "concurrent_game",
    "evaluate_ltl",
    "eventually",
    "find_path",
    "implies",
    "is_nash",
    "lasso_word",
    "model_check",
    "nash_equilibria",
    "parse_ltl",
    "play",
    "propositions",
    "rational_verification",
    "resource_game",
    "subformulas",
]
