"""LTL on lasso words against the textbook semantics, identities, and the parser."""

import itertools
import random

import pytest

from nips2019.verification import (
    TRUE,
    And,
    Next,
    Not,
    Or,
    Prop,
    Until,
    always,
    evaluate_ltl,
    eventually,
    lasso_word,
    parse_ltl,
    propositions,
)

PROPS = ("a", "b", "c")


def _naive(f, w, i=0):
    """The recursive definition on the infinite word, with searches bounded by the lasso's period."""
    horizon = len(w.prefix) + len(w.loop)
    if isinstance(f, Prop):
        return f.name in w.letter(i)
    if f == TRUE:
        return True
    if isinstance(f, Not):
        return not _naive(f.arg, w, i)
    if isinstance(f, And):
        return _naive(f.left, w, i) and _naive(f.right, w, i)
    if isinstance(f, Or):
        return _naive(f.left, w, i) or _naive(f.right, w, i)
    if isinstance(f, Next):
        return _naive(f.arg, w, i + 1)
    if isinstance(f, Until):
        # every suffix from i + horizon on equals one seen before: searching further adds nothing
        for j in range(i, i + horizon + 1):
            if _naive(f.right, w, j):
                return True
            if not _naive(f.left, w, j):
                return False
        return False
    raise TypeError(f)


def random_formula(rng, depth):
    if depth == 0 or rng.random() < 0.2:
        return Prop(rng.choice(PROPS))
    op = rng.choice(["not", "and", "or", "X", "U", "F", "G"])
    sub = lambda: random_formula(rng, depth - 1)
    return {"not": lambda: Not(sub()), "and": lambda: And(sub(), sub()), "or": lambda: Or(sub(), sub()),
            "X": lambda: Next(sub()), "U": lambda: Until(sub(), sub()), "F": lambda: eventually(sub()),
            "G": lambda: always(sub())}[op]()


def random_word(rng):
    letter = lambda: {p for p in PROPS if rng.random() < 0.5}
    return lasso_word([letter() for _ in range(rng.randint(0, 3))], [letter() for _ in range(rng.randint(1, 4))])


def test_matches_naive_semantics_on_random_formulas_and_words():
    rng = random.Random(0)
    both = set()
    for _ in range(400):
        f, w = random_formula(rng, 4), random_word(rng)
        got = evaluate_ltl(f, w)
        assert got == _naive(f, w), (str(f), w)
        both.add(got)
    assert both == {True, False}


def test_lasso_representation_does_not_matter():
    # (a)(b c)^w written with an unrolled loop or a longer prefix is the same infinite word
    rng = random.Random(1)
    w1 = lasso_word([{"a"}], [{"b"}, {"c"}])
    w2 = lasso_word([{"a"}, {"b"}, {"c"}], [{"b"}, {"c"}, {"b"}, {"c"}])
    for _ in range(200):
        f = random_formula(rng, 4)
        assert evaluate_ltl(f, w1) == evaluate_ltl(f, w2), str(f)


IDENTITIES = [
    ("F p", "true U p"),
    ("G p", "!F !p"),
    ("!X p", "X !p"),
    ("!(p U q)", "(!q U (!p & !q)) | G !q"),
    ("p U q", "q | (p & X (p U q))"),
    ("X (p U q)", "(X p) U (X q)"),
    ("F G F p", "G F p"),
    ("G F G p", "F G p"),
    ("G (p & q)", "G p & G q"),
    ("F (p | q)", "F p | F q"),
    ("F F p", "F p"),
    ("G p", "p & X G p"),
]


@pytest.mark.parametrize("lhs, rhs", IDENTITIES)
def test_identities_hold_on_all_small_lassos(lhs, rhs):
    f, g = parse_ltl(lhs), parse_ltl(rhs)
    letters = [frozenset(s) for s in ([], ["p"], ["q"], ["p", "q"])]
    n = 0
    for p_len, l_len in [(0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]:
        for word in itertools.product(letters, repeat=p_len + l_len):
            w = lasso_word(word[:p_len], word[p_len:])
            assert evaluate_ltl(f, w) == evaluate_ltl(g, w), (lhs, rhs, w)
            n += 1
    assert n == 356


def test_a_wrong_identity_is_caught():
    f, g = parse_ltl("G F p"), parse_ltl("F G p")
    w = lasso_word([], [{"p"}, set()])
    assert evaluate_ltl(f, w) and not evaluate_ltl(g, w)


def test_parser_precedence_and_printing_round_trip():
    assert parse_ltl("a & b | c") == Or(And(Prop("a"), Prop("b")), Prop("c"))
    assert parse_ltl("a U b U c") == Until(Prop("a"), Until(Prop("b"), Prop("c")))
    assert parse_ltl("!a U b") == Until(Not(Prop("a")), Prop("b"))
    assert parse_ltl("a -> b -> c") == parse_ltl("a -> (b -> c)")
    rng = random.Random(2)
    for _ in range(100):
        f = random_formula(rng, 4)
        assert parse_ltl(str(f)) == f, str(f)
    assert propositions(parse_ltl("G (req -> F grant)")) == {"req", "grant"}


@pytest.mark.parametrize("text, match", [("a &", "expected"), ("(a | b", "expected"), ("a b", "unexpected"),
                                         ("a $ b", "cannot read"), ("", "empty"), ("U a", "proposition")])
def test_parser_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_ltl(text)


def test_bad_words():
    with pytest.raises(ValueError, match="loop"):
        lasso_word([{"a"}], [])
    with pytest.raises(TypeError, match="string"):
        lasso_word(["ab"], [{"a"}])
    with pytest.raises(TypeError, match="formula"):
        evaluate_ltl("F a", lasso_word([], [{"a"}]))
