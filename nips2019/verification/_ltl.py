r"""Linear temporal logic: formulas, a parser, and exact evaluation on lasso words.

A *lasso* (ultimately periodic) word is :math:`u v^\omega`: a finite prefix :math:`u` followed by a
loop :math:`v` repeated forever. Every position of such a word is one of :math:`|u| + |v|` positions
of a graph in which each position has one successor (the last loop position points back to the
first one), so every LTL formula can be evaluated exactly by a fixed point over that graph.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from nips2019.utils import InstanceOf, Items, validate


def _node(cls):
    """A frozen dataclass whose hash is computed once (formulas are hashed often, recursively)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    plain = cls.__hash__

    def __hash__(self):
        h = self.__dict__.get("_hash")
        if h is None:
            h = plain(self)
            object.__setattr__(self, "_hash", h)
        return h

    cls.__hash__ = __hash__
    return cls


class Formula:
    """Base class of LTL formulas (immutable, hashable).

    Formulas combine with ``&``, ``|`` and ``~``; :func:`parse_ltl` reads the usual text syntax.
    """

    def __and__(self, other):
        return And(self, other)

    def __or__(self, other):
        return Or(self, other)

    def __invert__(self):
        return Not(self)


@_node
class Prop(Formula):
    """An atomic proposition, true at a position whose label contains ``name``."""

    name: str

    def __str__(self):
        return self.name


@_node
class Const(Formula):
    """The constant ``true`` or ``false``."""

    value: bool

    def __str__(self):
        return "true" if self.value else "false"


@_node
class Not(Formula):
    """Negation."""

    arg: Formula

    def __str__(self):
        g = self.arg
        if isinstance(g, Until) and g.left == TRUE and isinstance(g.right, Not):
            return f"G {_wrap(g.right.arg)}"
        if isinstance(g, Not):
            return f"!({g})"
        return f"!{_wrap(g)}"


@_node
class And(Formula):
    """Conjunction."""

    left: Formula
    right: Formula

    def __str__(self):
        return f"{_wrap(self.left)} & {_wrap(self.right)}"


@_node
class Or(Formula):
    """Disjunction."""

    left: Formula
    right: Formula

    def __str__(self):
        return f"{_wrap(self.left)} | {_wrap(self.right)}"


@_node
class Next(Formula):
    """``X f``: ``f`` holds at the next position."""

    arg: Formula

    def __str__(self):
        return f"X {_wrap(self.arg)}"


@_node
class Until(Formula):
    """``a U b``: ``b`` holds at some position and ``a`` at every position before it."""

    left: Formula
    right: Formula

    def __str__(self):
        if self.left == TRUE:
            return f"F {_wrap(self.right)}"
        return f"{_wrap(self.left)} U {_wrap(self.right)}"


#: The formula ``true``.
TRUE = Const(True)
#: The formula ``false``.
FALSE = Const(False)


def _wrap(f: Formula) -> str:
    if isinstance(f, (Prop, Const)) or (isinstance(f, Not) and isinstance(f.arg, (Prop, Const))):
        return str(f)
    return f"({f})"


@validate(f=InstanceOf(Formula))
def eventually(f):
    """``F f = true U f``: ``f`` holds at some position.

    Examples
    --------
    >>> print(eventually(Prop("p")))
    F p
    """
    return Until(TRUE, f)


@validate(f=InstanceOf(Formula))
def always(f):
    """``G f = !F !f``: ``f`` holds at every position.

    Examples
    --------
    >>> print(always(Prop("p")))
    G p
    """
    return Not(Until(TRUE, Not(f)))


@validate(a=InstanceOf(Formula), b=InstanceOf(Formula))
def implies(a, b):
    """``a -> b = !a | b``.

    Examples
    --------
    >>> print(implies(Prop("p"), Prop("q")))
    !p | q
    """
    return Or(Not(a), b)


@validate(f=InstanceOf(Formula))
def subformulas(f):
    """All subformulas of ``f``, each once, children before parents.

    Examples
    --------
    >>> [str(g) for g in subformulas(parse_ltl("p U !q"))]
    ['p', 'q', '!q', 'p U !q']
    """
    out: list[Formula] = []
    seen: set = set()

    def visit(g):
        if g in seen:
            return
        for child in _children(g):
            visit(child)
        seen.add(g)
        out.append(g)

    visit(f)
    return out


def _subformulas(f):
    return subformulas.__wrapped__(f)


def _children(f: Formula):
    if isinstance(f, (Not, Next)):
        return (f.arg,)
    if isinstance(f, (And, Or, Until)):
        return (f.left, f.right)
    return ()


@validate(f=InstanceOf(Formula))
def propositions(f):
    """The names of the atomic propositions of ``f``.

    Examples
    --------
    >>> sorted(propositions(parse_ltl("G (req -> F grant)")))
    ['grant', 'req']
    """
    return {g.name for g in subformulas(f) if isinstance(g, Prop)}


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(->|<->|[()!&|~]|[A-Za-z_][A-Za-z0-9_]*)")
_UNARY = {"X", "F", "G", "!", "~"}


def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"parse_ltl: cannot read {text[pos:]!r} in text {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


@validate(text=InstanceOf(str))
def parse_ltl(text):
    r"""Read an LTL formula from text.

    Grammar, loosest binding first: ``a <-> b``, ``a -> b`` (right associative), ``a | b``,
    ``a & b``, ``a U b`` (right associative), then the prefix operators ``!`` (or ``~``), ``X``,
    ``F``, ``G``; atoms are ``true``, ``false`` and identifiers (propositions). ``F`` and ``G``
    become :math:`\mathrm{true}\ \mathsf{U}\ f` and :math:`\neg\mathsf{F}\neg f`, so every formula is
    built from :class:`Prop`, :class:`Const`, :class:`Not`, :class:`And`, :class:`Or`, :class:`Next`
    and :class:`Until` only. See the chapter :doc:`Many agents </book/multiagent>`.

    Parameters
    ----------
    text : str
        The formula.

    Returns
    -------
    Formula

    Examples
    --------
    >>> f = parse_ltl("G (req -> F grant)")
    >>> print(f)
    G (!req | (F grant))
    >>> parse_ltl("a U b") == Until(Prop("a"), Prop("b"))
    True
    """
    toks = _tokens(text)
    if not toks:
        raise ValueError("parse_ltl: text must not be empty")
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take(expected=None):
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            want = repr(expected) if expected else "more input"
            raise ValueError(f"parse_ltl: expected {want} at token {pos} of text {text!r}")
        pos += 1
        return tok

    def iff():
        left = imp()
        while peek() == "<->":
            take()
            right = imp()
            left = And(implies(left, right), implies(right, left))
        return left

    def imp():
        left = disj()
        if peek() == "->":
            take()
            return implies(left, imp())
        return left

    def disj():
        left = conj()
        while peek() == "|":
            take()
            left = Or(left, conj())
        return left

    def conj():
        left = until()
        while peek() == "&":
            take()
            left = And(left, until())
        return left

    def until():
        left = unary()
        if peek() == "U":
            take()
            return Until(left, until())
        return left

    def unary():
        tok = peek()
        if tok in _UNARY:
            take()
            arg = unary()
            return {"X": Next, "F": eventually, "G": always}.get(tok, Not)(arg)
        if tok == "(":
            take()
            inner = iff()
            take(")")
            return inner
        if tok is None or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok) or tok == "U":
            raise ValueError(f"parse_ltl: expected a proposition or '(' at token {pos} of text {text!r}, got {tok!r}")
        take()
        return {"true": TRUE, "false": FALSE}.get(tok, Prop(tok))

    out = iff()
    if pos != len(toks):
        raise ValueError(f"parse_ltl: unexpected {toks[pos]!r} at token {pos} of text {text!r}")
    return out


# --------------------------------------------------------------------------------------------
# Lasso words
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LassoWord:
    """An ultimately periodic word ``prefix loop loop loop ...`` of sets of propositions.

    Attributes
    ----------
    prefix : tuple of frozenset of str
        The labels read once.
    loop : tuple of frozenset of str
        The labels repeated forever (at least one).
    """

    prefix: tuple
    loop: tuple

    def __post_init__(self):
        object.__setattr__(self, "prefix", tuple(frozenset(p) for p in self.prefix))
        object.__setattr__(self, "loop", tuple(frozenset(p) for p in self.loop))
        if not self.loop:
            raise ValueError("LassoWord: loop must have at least one position")

    def __len__(self):
        return len(self.prefix) + len(self.loop)

    def successors(self) -> np.ndarray:
        """Index of the successor of each of the ``len(self)`` positions."""
        n = len(self)
        succ = np.arange(1, n + 1)
        succ[-1] = len(self.prefix)
        return succ

    def letter(self, i: int) -> frozenset:
        """The label at position ``i`` of the infinite word (any ``i >= 0``)."""
        p = len(self.prefix)
        return self.prefix[i] if i < p else self.loop[(i - p) % len(self.loop)]


def _as_labels(items, name):
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            raise TypeError(f"lasso_word: {name}[{i}] must be a set of proposition names, got the string {item!r}")
        out.append(frozenset(item))
    return out


@validate(prefix=Items(), loop=Items(min_length=1))
def lasso_word(prefix, loop):
    r"""The ultimately periodic word :math:`u v^\omega` with prefix ``u`` and loop ``v``.

    Parameters
    ----------
    prefix : list of sets of str
        Labels (sets of true propositions) of the positions read once; may be empty.
    loop : list of sets of str
        Labels of the positions repeated forever; at least one.

    Returns
    -------
    LassoWord

    Examples
    --------
    >>> w = lasso_word([{"a"}], [set(), {"b"}])
    >>> len(w), sorted(w.letter(4))
    (3, ['b'])
    """
    return LassoWord(tuple(_as_labels(prefix, "prefix")), tuple(_as_labels(loop, "loop")))


def _truth_table(formula: Formula, word: LassoWord) -> dict:
    """Truth value of every subformula at every position of the lasso graph, as bit sets.

    Bit ``i`` of ``val[g]`` is the value of ``g`` at position ``i``; Python integers make the
    pointwise operations single instructions on words of any length.
    """
    n = len(word)
    p = len(word.prefix)
    full = (1 << n) - 1
    last = 1 << (n - 1)
    letters = [word.letter(i) for i in range(n)]

    def nxt(v):  # value at the successor: i -> i + 1, and the last position -> p
        return (v >> 1) & ~last | (last if (v >> p) & 1 else 0)

    val: dict = {}
    for g in _subformulas(formula):
        if isinstance(g, Prop):
            v = sum(1 << i for i, s in enumerate(letters) if g.name in s)
        elif isinstance(g, Const):
            v = full if g.value else 0
        elif isinstance(g, Not):
            v = full & ~val[g.arg]
        elif isinstance(g, And):
            v = val[g.left] & val[g.right]
        elif isinstance(g, Or):
            v = val[g.left] | val[g.right]
        elif isinstance(g, Next):
            v = nxt(val[g.arg])
        elif isinstance(g, Until):
            a, b = val[g.left], val[g.right]
            v = b  # least fixed point of v = b | (a & X v): at most n rounds
            for _ in range(n):
                new = b | (a & nxt(v))
                if new == v:
                    break
                v = new
        else:  # pragma: no cover - the AST is closed
            raise TypeError(f"unknown formula node {g!r}")
        val[g] = v
    return val


@validate(formula=InstanceOf(Formula), word=InstanceOf(LassoWord))
def evaluate_ltl(formula, word):
    r"""Whether a lasso word satisfies an LTL formula (at its first position), exactly.

    The positions of :math:`u v^\omega` repeat with period :math:`|v|` after :math:`|u|`, so the word
    is a graph of :math:`|u| + |v|` positions with one successor each. Boolean operators act
    pointwise, :math:`\mathsf{X} f` reads the successor, and :math:`a\ \mathsf{U}\ b` is the least
    fixed point of :math:`V = b \lor (a \land \mathsf{X} V)`, reached after at most
    :math:`|u| + |v|` rounds: :math:`O(|f|\,(|u| + |v|)^2)` in all.

    Parameters
    ----------
    formula : Formula
        From :func:`parse_ltl` or built from the node classes.
    word : LassoWord
        From :func:`lasso_word`.

    Returns
    -------
    bool

    References
    ----------
    Pnueli (1977), *The temporal logic of programs*; see the chapter
    :doc:`Many agents </book/multiagent>`.

    Examples
    --------
    >>> w = lasso_word([{"a"}], [set(), {"b"}])
    >>> evaluate_ltl(parse_ltl("a & X !a & G F b"), w)
    True
    >>> evaluate_ltl(parse_ltl("F G b"), w)
    False
    """
    return bool(_truth_table(formula, word)[formula] & 1)
