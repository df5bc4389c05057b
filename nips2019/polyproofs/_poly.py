"""Sparse multivariate polynomials with real coefficients, small enough to read.

A polynomial in ``n`` variables is stored as a dictionary ``{exponent tuple: coefficient}``;
the public :class:`Polynomial` wraps it and shows it as two tensors (exponents, coefficients).
Products of constraints, the ideal reduction of the stable-set problem and the coefficient
matching of the certificates all work on the dictionaries: the polynomials met here have a
few hundred terms at most, and a dictionary is the simplest exact bookkeeping for them.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Iterable

import torch

from ..utils import Integer, Real, Tensor, validate

Terms = dict  # {tuple[int, ...]: float or Fraction}


def _clean(terms: Terms) -> Terms:
    return {e: c for e, c in terms.items() if c != 0}


def _add(a: Terms, b: Terms, scale=1) -> Terms:
    out = dict(a)
    for e, c in b.items():
        out[e] = out.get(e, 0) + scale * c
    return _clean(out)


def _mul(a: Terms, b: Terms) -> Terms:
    out: Terms = {}
    for ea, ca in a.items():
        for eb, cb in b.items():
            e = tuple(i + j for i, j in zip(ea, eb))
            out[e] = out.get(e, 0) + ca * cb
    return _clean(out)


@functools.lru_cache(maxsize=64)
def _prepared(ideal: tuple) -> tuple:
    """Each generator as (support bitmask, exponent tuple), for a quick divisibility test."""
    return tuple((sum(1 << i for i, k in enumerate(g) if k), g) for g in ideal)


def _reduce(terms: Terms, ideal: Iterable[tuple] = (), boolean: bool = False) -> Terms:
    """Reduce modulo ``x_i^2 = x_i`` (if ``boolean``) and the monomials of ``ideal`` (set to 0).

    Both ideals are spanned by monomials, so the reduction is exact term by term: a
    multilinear clamp of the exponents, then dropping every monomial divisible by a
    generator of ``ideal``.
    """
    gens = _prepared(tuple(tuple(g) for g in ideal))
    out: Terms = {}
    for e, c in terms.items():
        if boolean:
            e = tuple(min(k, 1) for k in e)
        if gens:
            mask = sum(1 << i for i, k in enumerate(e) if k)
            if any(gm & mask == gm and all(k >= g for k, g in zip(e, gen)) for gm, gen in gens):
                continue
        out[e] = out.get(e, 0) + c
    return _clean(out)


def _exact(terms: Terms) -> Terms:
    """The same terms with exact rational coefficients (a float converts without rounding)."""
    return {e: Fraction(c) for e, c in terms.items()}


def _fmt_monomial(e: tuple) -> str:
    parts = []
    for i, k in enumerate(e):
        if k == 1:
            parts.append(f"x{i}")
        elif k > 1:
            parts.append(f"x{i}^{k}")
    return "*".join(parts)


class Polynomial:
    r"""A real polynomial :math:`p(x) = \sum_\alpha c_\alpha x^\alpha` in ``n_vars`` variables.

    Parameters
    ----------
    exponents : Tensor, shape (m, n), integer
        One row :math:`\alpha \in \mathbb{N}^n` per term (repeated rows are summed).
    coefficients : Tensor, shape (m,), floating
        The coefficients :math:`c_\alpha`.

    Notes
    -----
    Arithmetic (``+``, ``-``, ``*`` with polynomials or numbers) is exact up to float
    rounding of the coefficients; evaluation ``p(x)`` takes points ``x`` of shape
    ``(k, n)`` and follows their dtype and device. Build small polynomials with
    ``Polynomial.variable`` and ``Polynomial.constant``. See the chapter
    :doc:`Certificates of non-negativity </book/proofs>`.

    Examples
    --------
    >>> import torch
    >>> x0, x1 = Polynomial.variable(0, 2), Polynomial.variable(1, 2)
    >>> p = (1 - x0) * (1 - x1)
    >>> p
    Polynomial(1 - x0 - x1 + x0*x1)
    >>> p(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    tensor([0.2500], dtype=torch.float64)
    """

    @validate(exponents=Tensor(shape=("m", "n"), dtype="integer", low=0, nonempty=False),
              coefficients=Tensor(shape=("m",), dtype="floating", nonempty=False))
    def __init__(self, exponents: torch.Tensor, coefficients: torch.Tensor):
        if exponents.shape[1] == 0:
            raise ValueError("Polynomial: exponents must have at least one column (variable), got shape "
                             f"{tuple(exponents.shape)}")
        terms: Terms = {}
        for e, c in zip(exponents.tolist(), coefficients.tolist()):
            terms[tuple(e)] = terms.get(tuple(e), 0.0) + c
        self._terms = _clean(terms)
        self.n_vars = int(exponents.shape[1])

    @classmethod
    def _from_terms(cls, terms: Terms, n_vars: int) -> "Polynomial":
        p = cls.__new__(cls)
        p._terms = _clean({e: float(c) for e, c in terms.items()})
        p.n_vars = n_vars
        return p

    @staticmethod
    @validate(value=Real(), n_vars=Integer(low=1))
    def constant(value: float, n_vars: int) -> "Polynomial":
        """The constant polynomial ``value`` in ``n_vars`` variables."""
        return Polynomial._from_terms({(0,) * n_vars: float(value)}, n_vars)

    @staticmethod
    @validate(index=Integer(low=0), n_vars=Integer(low=1))
    def variable(index: int, n_vars: int) -> "Polynomial":
        """The coordinate polynomial :math:`x_{index}` in ``n_vars`` variables."""
        if index >= n_vars:
            raise ValueError(f"Polynomial.variable: index must be < n_vars = {n_vars}, got {index}")
        e = [0] * n_vars
        e[index] = 1
        return Polynomial._from_terms({tuple(e): 1.0}, n_vars)

    # -- views ------------------------------------------------------------------------
    @property
    def exponents(self) -> torch.Tensor:
        """Tensor, shape (m, n): the exponents of the non-zero terms, sorted."""
        keys = sorted(self._terms)
        return torch.tensor(keys, dtype=torch.long).reshape(len(keys), self.n_vars)

    @property
    def coefficients(self) -> torch.Tensor:
        """Tensor, shape (m,): the non-zero coefficients, in the order of ``exponents``."""
        return torch.tensor([self._terms[k] for k in sorted(self._terms)], dtype=torch.float64)

    @property
    def degree(self) -> int:
        """Total degree (0 for constants and for the zero polynomial)."""
        return max((sum(e) for e in self._terms), default=0)

    def terms(self) -> dict:
        """A copy of the ``{exponent tuple: coefficient}`` dictionary."""
        return dict(self._terms)

    # -- arithmetic -------------------------------------------------------------------
    def _coerce(self, other) -> Terms:
        if isinstance(other, Polynomial):
            if other.n_vars != self.n_vars:
                raise ValueError(f"Polynomial: cannot combine polynomials in {self.n_vars} and {other.n_vars} "
                                 "variables")
            return other._terms
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return {(0,) * self.n_vars: float(other)}
        return NotImplemented

    def __add__(self, other):
        o = self._coerce(other)
        return NotImplemented if o is NotImplemented else Polynomial._from_terms(_add(self._terms, o), self.n_vars)

    __radd__ = __add__

    def __sub__(self, other):
        o = self._coerce(other)
        return NotImplemented if o is NotImplemented else Polynomial._from_terms(
            _add(self._terms, o, -1), self.n_vars)

    def __rsub__(self, other):
        o = self._coerce(other)
        return NotImplemented if o is NotImplemented else Polynomial._from_terms(
            _add(o, self._terms, -1), self.n_vars)

    def __neg__(self):
        return Polynomial._from_terms({e: -c for e, c in self._terms.items()}, self.n_vars)

    def __mul__(self, other):
        o = self._coerce(other)
        return NotImplemented if o is NotImplemented else Polynomial._from_terms(_mul(self._terms, o), self.n_vars)

    __rmul__ = __mul__

    def __pow__(self, k: int):
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"Polynomial: power must be a non-negative int, got {k!r}")
        out = Polynomial.constant(1.0, self.n_vars)
        for _ in range(k):
            out = out * self
        return out

    def __eq__(self, other):
        return isinstance(other, Polynomial) and other.n_vars == self.n_vars and other._terms == self._terms

    __hash__ = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate at the rows of ``x`` (shape ``(k, n)``); returns shape ``(k,)``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.n_vars:
            raise ValueError(f"Polynomial: x must be a tensor of shape (k, {self.n_vars}), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        out = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for e, c in self._terms.items():
            term = torch.full_like(out, c)
            for i, k in enumerate(e):
                if k:
                    term = term * x[:, i] ** k
            out = out + term
        return out

    def __repr__(self):
        if not self._terms:
            return "Polynomial(0)"
        text = ""
        for e in sorted(self._terms, key=lambda e: (sum(e), tuple(-k for k in e))):
            c = self._terms[e]
            mono = _fmt_monomial(e)
            mag = abs(c)
            body = (f"{mag:g}" if not mono else (mono if mag == 1 else f"{mag:g}*{mono}"))
            sign = "-" if c < 0 else "+"
            text += (("-" if c < 0 else "") + body) if not text else f" {sign} {body}"
        return f"Polynomial({text})"
