"""Problems to certify: a polynomial objective, the constraints that define its domain, an ideal."""

from __future__ import annotations

import itertools

import torch

from ..utils import Bool, Generator, InstanceOf, Integer, Items, Probability, Tensor, as_generator, rand, validate
from ._poly import Polynomial, _reduce


class ProofProblem:
    r"""Prove :math:`f(x) \ge \gamma` on :math:`K = \{x : g_j(x) \ge 0,\ x^\beta = 0\ (\beta \in I)\}`.

    Parameters
    ----------
    objective : Polynomial
        The polynomial :math:`f` to bound from below.
    axioms : list of Polynomial
        The constraints :math:`g_j \ge 0` (the "axioms" of the proof system); products of
        them are the building blocks of every certificate.
    ideal : Tensor, shape (k, n), integer, optional
        Monomials :math:`x^\beta` that vanish on the domain (``x_i x_j = 0`` for the edges of
        the stable-set problem); certificates are compared modulo the ideal they generate.
    boolean : bool
        Also reduce modulo :math:`x_i^2 = x_i` (the domain is then a set of 0/1 points).

    Attributes
    ----------
    n_vars : int
    in_unit_cube : bool
        Whether every :math:`x_i \ge 0` and :math:`1 - x_i \ge 0` is among the axioms, so the
        domain lies in :math:`[0, 1]^n` (then every monomial is in :math:`[0, 1]` on it, which
        :func:`verify_certificate` uses to turn a float certificate into a rigorous bound).

    Notes
    -----
    See the chapter :doc:`Certificates of non-negativity </book/proofs>`.

    Examples
    --------
    >>> x = Polynomial.variable(0, 1)
    >>> prob = ProofProblem(x * x - x, [x, 1 - x])
    >>> prob.n_vars, prob.in_unit_cube
    (1, True)
    """

    @validate(objective=InstanceOf(Polynomial), axioms=Items(InstanceOf(Polynomial), min_length=1),
              ideal=Tensor(shape=(None, None), dtype="integer", low=0, optional=True), boolean=Bool())
    def __init__(self, objective: Polynomial, axioms: list, ideal: torch.Tensor | None = None,
                 boolean: bool = False):
        n = objective.n_vars
        for j, a in enumerate(axioms):
            if a.n_vars != n:
                raise ValueError(f"ProofProblem: axioms[{j}] has {a.n_vars} variables, objective has {n}")
            if not a.terms():
                raise ValueError(f"ProofProblem: axioms[{j}] is the zero polynomial")
        if ideal is not None:
            if ideal.shape[1] != n:
                raise ValueError(f"ProofProblem: ideal must have {n} columns (one per variable), got "
                                 f"{ideal.shape[1]}")
            if bool((ideal.sum(1) == 0).any()):
                raise ValueError("ProofProblem: ideal contains the constant monomial 1 (an empty domain)")
        self.objective = objective
        self.axioms = list(axioms)
        self.ideal = () if ideal is None else tuple(tuple(r) for r in ideal.tolist())
        self.boolean = bool(boolean)
        self.n_vars = n
        self._axiom_terms = [_reduce(a.terms(), self.ideal, self.boolean) for a in self.axioms]
        self._objective_terms = _reduce(objective.terms(), self.ideal, self.boolean)
        have = {tuple(sorted(a.terms().items())) for a in self.axioms}
        cube = True
        for i in range(n):
            xi = Polynomial.variable(i, n)
            cube &= tuple(sorted(xi.terms().items())) in have
            cube &= tuple(sorted((1 - xi).terms().items())) in have
        self.in_unit_cube = cube

    def __repr__(self):
        return (f"ProofProblem(n_vars={self.n_vars}, n_axioms={len(self.axioms)}, "
                f"ideal={len(self.ideal)} monomials, boolean={self.boolean})")


def _cube_axioms(n: int) -> list:
    out = []
    for i in range(n):
        xi = Polynomial.variable(i, n)
        out += [xi, 1 - xi]
    return out


@validate(objective=InstanceOf(Polynomial), constraints=Items(InstanceOf(Polynomial), optional=True),
          boolean=Bool())
def hypercube_problem(objective: Polynomial, constraints: list | None = None, *,
                      boolean: bool = False) -> ProofProblem:
    r"""Bound ``objective`` from below on :math:`[0,1]^n \cap \{g_j \ge 0\}`.

    The axioms are :math:`x_1, 1 - x_1, \dots, x_n, 1 - x_n` (in this order) followed by
    the optional extra ``constraints`` (for example linear inequalities that cut the cube
    down to a polytope, the setting of Handelman's theorem).

    Parameters
    ----------
    objective : Polynomial
    constraints : list of Polynomial, optional
    boolean : bool
        Restrict to the vertices :math:`\{0, 1\}^n` (reduce modulo :math:`x_i^2 = x_i`).

    Returns
    -------
    ProofProblem

    Examples
    --------
    >>> x0, x1 = Polynomial.variable(0, 2), Polynomial.variable(1, 2)
    >>> prob = hypercube_problem(x0 * x1, [1 - x0 - x1])
    >>> len(prob.axioms)
    5
    """
    n = objective.n_vars
    extra = list(constraints or [])
    for j, g in enumerate(extra):
        if g.n_vars != n:
            raise ValueError(f"hypercube_problem: constraints[{j}] has {g.n_vars} variables, objective has {n}")
    return ProofProblem(objective, _cube_axioms(n) + extra, boolean=boolean)


_ADJ = Tensor(shape=("n", "n"), dtype=torch.bool)


def _check_graph(func: str, adjacency: torch.Tensor) -> None:
    if not bool((adjacency == adjacency.T).all()):
        raise ValueError(f"{func}: adjacency must be symmetric")
    if bool(adjacency.diagonal().any()):
        raise ValueError(f"{func}: adjacency must have an all-False diagonal (no self-loops)")


def _edges(adjacency: torch.Tensor) -> list:
    n = adjacency.shape[0]
    return [(i, j) for i in range(n) for j in range(i + 1, n) if bool(adjacency[i, j])]


@validate(adjacency=_ADJ)
def stable_set_problem(adjacency: torch.Tensor) -> ProofProblem:
    r"""The maximum stable set problem as a polynomial inequality on the cube.

    .. math::

        \alpha(G) = \max \Big\{ \sum_i x_i : x \in [0, 1]^n,\ x_i x_j = 0 \text{ for } ij \in E \Big\}

    (the support of a feasible :math:`x` is a stable set, so the maximum is attained at its
    indicator vector). The returned problem bounds :math:`f = -\sum_i x_i` from below: a
    certificate of :math:`f \ge \gamma` proves :math:`\alpha(G) \le -\gamma`. The maximum
    stable set is the test problem of Fawzi et al. (2019).

    Parameters
    ----------
    adjacency : Tensor, shape (n, n), bool
        Symmetric, no self-loops.

    Returns
    -------
    ProofProblem
        Axioms :math:`x_i, 1 - x_i`; ideal: one monomial :math:`x_i x_j` per edge.

    Examples
    --------
    >>> import torch
    >>> adj = torch.tensor([[False, True], [True, False]])
    >>> stable_set_problem(adj)
    ProofProblem(n_vars=2, n_axioms=4, ideal=1 monomials, boolean=False)
    """
    _check_graph("stable_set_problem", adjacency)
    n = adjacency.shape[0]
    f = Polynomial.constant(0.0, n)
    for i in range(n):
        f = f - Polynomial.variable(i, n)
    edges = _edges(adjacency)
    ideal = torch.zeros(len(edges), n, dtype=torch.long)
    for r, (i, j) in enumerate(edges):
        ideal[r, i] = ideal[r, j] = 1
    return ProofProblem(f, _cube_axioms(n), ideal if edges else None)


@validate(adjacency=_ADJ)
def max_cut_problem(adjacency: torch.Tensor) -> ProofProblem:
    r"""The maximum cut problem on the Boolean cube.

    .. math::

        \mathrm{mc}(G) = \max_{x \in \{0,1\}^n} \sum_{ij \in E} (x_i + x_j - 2 x_i x_j)

    The returned problem bounds :math:`f = -\sum_{ij \in E}(x_i + x_j - 2 x_i x_j)` from
    below with ``boolean=True``: a certificate of :math:`f \ge \gamma` proves
    :math:`\mathrm{mc}(G) \le -\gamma`.

    Parameters
    ----------
    adjacency : Tensor, shape (n, n), bool

    Returns
    -------
    ProofProblem

    Examples
    --------
    >>> import torch
    >>> adj = torch.tensor([[False, True], [True, False]])
    >>> max_cut_problem(adj).objective
    Polynomial(-x0 - x1 + 2*x0*x1)
    """
    _check_graph("max_cut_problem", adjacency)
    n = adjacency.shape[0]
    f = Polynomial.constant(0.0, n)
    for i, j in _edges(adjacency):
        xi, xj = Polynomial.variable(i, n), Polynomial.variable(j, n)
        f = f - (xi + xj - 2 * xi * xj)
    return ProofProblem(f, _cube_axioms(n), boolean=True)


@validate(n_nodes=Integer(low=1), p=Probability(), generator=Generator())
def random_graph(n_nodes: int, p: float, *, generator=None) -> torch.Tensor:
    r"""An Erdős-Rényi graph :math:`G(n, p)` as a boolean adjacency matrix.

    Parameters
    ----------
    n_nodes : int
    p : float in [0, 1]
        Probability of each of the :math:`n(n-1)/2` edges.
    generator : None, int or torch.Generator

    Returns
    -------
    Tensor, shape (n_nodes, n_nodes), bool
        Symmetric with a False diagonal.

    Examples
    --------
    >>> adj = random_graph(5, 0.5, generator=0)
    >>> bool((adj == adj.T).all()), bool(adj.diagonal().any())
    (True, False)
    """
    g = as_generator(generator)
    u = rand(n_nodes, n_nodes, generator=g, dtype=torch.float64)
    upper = torch.triu(u < p, diagonal=1)
    return upper | upper.T


@validate(problem=InstanceOf(ProofProblem))
def vertex_minimum(problem: ProofProblem) -> float:
    r"""Brute-force minimum of the objective over the 0/1 points of the domain.

    Enumerates :math:`x \in \{0,1\}^n` (so :math:`n \le 20`), keeps the points where every
    axiom is :math:`\ge 0` and every ideal monomial vanishes, and returns the smallest
    objective value. This is the true minimum over the domain when the minimum is attained
    at a vertex: for ``boolean`` problems, for multilinear objectives on the cube, and for
    :func:`stable_set_problem` (where it is :math:`-\alpha(G)`). Any certified lower bound
    is at most this value in those cases.

    Parameters
    ----------
    problem : ProofProblem

    Returns
    -------
    float
        ``inf`` if no 0/1 point is feasible.

    Examples
    --------
    >>> import torch
    >>> triangle = ~torch.eye(3, dtype=torch.bool)
    >>> vertex_minimum(stable_set_problem(triangle))
    -1.0
    """
    n = problem.n_vars
    if n > 20:
        raise ValueError(f"vertex_minimum: enumerates 2^n points, needs n <= 20, got n = {n}")
    pts = torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=torch.float64)
    ok = torch.ones(pts.shape[0], dtype=torch.bool)
    for a in problem.axioms:
        ok &= a(pts) >= -1e-12
    for gen in problem.ideal:
        mono = torch.ones(pts.shape[0], dtype=torch.float64)
        for i, k in enumerate(gen):
            if k:
                mono = mono * pts[:, i] ** k
        ok &= mono == 0
    if not bool(ok.any()):
        return float("inf")
    return float(problem.objective(pts[ok]).min())
