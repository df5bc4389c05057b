"""Static and dynamic polynomial proofs: the linear programme over products of axioms."""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction

import numpy as np
import scipy.optimize
import scipy.sparse
import torch

from ..utils import Bool, Generator, InstanceOf, Integer, Items, Options, numpy_rng, progress as _progress, validate
from ._poly import Polynomial, _exact, _mul, _reduce
from ._problems import ProofProblem

_TOL = 1e-9


@dataclasses.dataclass
class ProofResult:
    r"""A certificate :math:`f - \gamma \equiv \sum_k \lambda_k \prod_{j \in S_k} g_j` (see :func:`static_proof`).

    Attributes
    ----------
    bound : float
        The certified lower bound :math:`\gamma` on the objective over the domain (as the LP
        solver returns it, in floating point; :func:`verify_certificate` makes it rigorous).
        ``-inf`` if no certificate exists with these products, ``inf`` if the products prove
        the domain empty.
    status : str
        ``"optimal"``, ``"infeasible"`` or ``"unbounded"``.
    factors : list of tuple of int
        One multiset :math:`S_k` of axiom indices per product, in the order of ``weights``.
    weights : Tensor, shape (n_products,), float64
        The multipliers :math:`\lambda_k \ge 0` (zeros where no certificate exists).
    n_products : int
        Number of products (columns of the LP, besides :math:`\gamma`).
    n_monomials : int
        Number of monomials matched (rows of the LP).
    """

    bound: float
    status: str
    factors: list
    weights: torch.Tensor
    n_products: int
    n_monomials: int

    def products(self, problem: ProofProblem) -> list:
        """The products :math:`\\prod_{j \\in S_k} g_j` as :class:`Polynomial` (not reduced)."""
        out = []
        for key in self.factors:
            p = Polynomial.constant(1.0, problem.n_vars)
            for j in key:
                p = p * problem.axioms[j]
            out.append(p)
        return out


@dataclasses.dataclass
class DynamicProofResult:
    """A proof grown one product at a time (see :func:`dynamic_proof`).

    Attributes
    ----------
    bounds : Tensor, shape (n_steps + 1,), float64
        The LP bound after each step (entry 0: the axioms alone); never decreases.
    n_products : Tensor, shape (n_steps + 1,), int64
        Size of the memory (products available to the LP) after each step.
    actions : list of tuple of int
        ``(memory index, axiom index)`` of each step: the new product is that memory entry
        times that axiom.
    proof : ProofResult
        The certificate of the last step.
    n_lp_solves : int
        Linear programmes solved in total (the greedy policy's look-ahead included).
    """

    bounds: torch.Tensor
    n_products: torch.Tensor
    actions: list
    proof: ProofResult
    n_lp_solves: int


@dataclasses.dataclass
class CertificateCheck:
    """Exact re-check of a certificate (see :func:`verify_certificate`).

    Attributes
    ----------
    residual : float
        :math:`\\sum_\\alpha |r_\\alpha|` for :math:`r = f - \\gamma - \\sum_k \\lambda_k m_k`
        reduced modulo the ideal, computed in exact rational arithmetic from the float
        certificate (negative multipliers clipped to 0 first).
    max_violation : float
        The most negative multiplier (0 if all are non-negative).
    rigorous_bound : float or None
        :math:`\\gamma - \\sum_\\alpha |r_\\alpha|`, a lower bound on the objective that holds
        exactly whenever the domain lies in the unit cube (every monomial is then in
        :math:`[0, 1]`); ``None`` otherwise.
    """

    residual: float
    max_violation: float
    rigorous_bound: float | None


def _solve(f: dict, columns: list, *, duals: bool = False):
    """max gamma s.t. f = gamma + sum_k lam_k col_k (coefficient-wise), lam >= 0.

    Returns (status, gamma, lam, rows, marginals) where ``marginals`` (only if ``duals``)
    are the sensitivities of the minimised objective to the right-hand side, from the LP
    itself or, when it is infeasible, from the phase-1 LP that minimises the l1 residual.
    """
    n = len(next(iter(f))) if f else len(next(iter(columns[0])))
    zero = (0,) * n
    rows: dict = {zero: 0}
    for e in f:
        rows.setdefault(e, len(rows))
    ri, ci, vals = [0], [0], [1.0]
    for k, col in enumerate(columns):
        for e, c in col.items():
            ri.append(rows.setdefault(e, len(rows)))
            ci.append(k + 1)
            vals.append(float(c))
    m, k = len(rows), len(columns)
    b = np.zeros(m)
    for e, c in f.items():
        b[rows[e]] = c
    a = scipy.sparse.csr_matrix((vals, (ri, ci)), shape=(m, k + 1))
    cost = np.zeros(k + 1)
    cost[0] = -1.0
    bounds = [(None, None)] + [(0, None)] * k
    res = scipy.optimize.linprog(cost, A_eq=a, b_eq=b, bounds=bounds, method="highs")
    if res.status == 0:
        marg = res.eqlin.marginals if duals else None
        return "optimal", float(res.x[0]), res.x[1:], rows, marg
    if res.status == 3:
        return "unbounded", float("inf"), np.zeros(k), rows, (np.zeros(m) if duals else None)
    if res.status != 2:
        raise RuntimeError(f"linprog failed: {res.message}")
    marg = None
    if duals:  # phase 1: min ||s+||_1 + ||s-||_1 with slacks, for the column scores
        eye = scipy.sparse.identity(m, format="csr")
        a1 = scipy.sparse.hstack([a, eye, -eye], format="csr")
        c1 = np.concatenate([np.zeros(k + 1), np.ones(2 * m)])
        r1 = scipy.optimize.linprog(c1, A_eq=a1, b_eq=b, bounds=bounds + [(0, None)] * (2 * m), method="highs")
        marg = r1.eqlin.marginals if r1.status == 0 else np.zeros(m)
    return "infeasible", float("-inf"), np.zeros(k), rows, marg


def _result(status, gamma, lam, rows, factors) -> ProofResult:
    return ProofResult(bound=gamma, status=status, factors=list(factors),
                       weights=torch.as_tensor(np.maximum(lam, 0.0), dtype=torch.float64),
                       n_products=len(factors), n_monomials=len(rows))


def _round_down(x: Fraction) -> float:
    v = float(x)
    return float(np.nextafter(v, -np.inf)) if Fraction(v) > x else v


def _quiet(progress):
    return None if progress is None else not progress


def _axiom_degree(problem: ProofProblem) -> list:
    return [max(1, a.degree) for a in problem.axioms]


@validate(problem=InstanceOf(ProofProblem), factors=Items(Items(Integer(low=0), min_length=1), min_length=1))
def certify(problem: ProofProblem, factors: list) -> ProofResult:
    r"""The best bound from a given list of products: the linear programme of one proof step.

    .. math::

        \max_{\gamma,\ \lambda \ge 0} \ \gamma \quad \text{s.t.} \quad
        f - \gamma \equiv \sum_k \lambda_k \prod_{j \in S_k} g_j \pmod{I}

    for the multisets :math:`S_k` of axiom indices in ``factors``. :func:`static_proof` and
    :func:`dynamic_proof` call the same programme on the products they generate; this entry
    point takes products chosen by hand (or by a policy of your own).

    Parameters
    ----------
    problem : ProofProblem
    factors : list of list of int
        Each item lists the axioms of one product (repetitions allowed).

    Returns
    -------
    ProofResult
        Products that vanish modulo the ideal are kept in ``factors`` with weight 0.

    Examples
    --------
    >>> import torch
    >>> from nips2019.polyproofs import stable_set_problem
    >>> prob = stable_set_problem(~torch.eye(3, dtype=torch.bool))   # axioms x0, 1-x0, x1, ...
    >>> certify(prob, [[1, 3, 5]]).bound          # (1-x0)(1-x1)(1-x2) = 1 - x0 - x1 - x2 mod I
    -1.0
    """
    m = len(problem.axioms)
    keys = []
    for k, key in enumerate(factors):
        key = tuple(sorted(int(j) for j in key))
        if key[-1] >= m:
            raise ValueError(f"certify: factors[{k}] refers to axiom {key[-1]}, there are {m} axioms")
        keys.append(key)
    columns = []
    for key in keys:
        t = {(0,) * problem.n_vars: 1.0}
        for j in key:
            t = _reduce(_mul(t, problem._axiom_terms[j]), problem.ideal, problem.boolean)
        columns.append(t)
    status, gamma, lam, rows, _ = _solve(problem._objective_terms, columns)
    return _result(status, gamma, lam, rows, keys)


@validate(problem=InstanceOf(ProofProblem), degree=Integer(low=1), progress=Bool(optional=True))
def static_proof(problem: ProofProblem, degree: int, *, progress: bool | None = None) -> ProofResult:
    r"""The degree-``degree`` static proof: the best bound from all products of at most ``degree`` factors.

    With axioms :math:`g_1, \dots, g_m \ge 0` (on the cube: :math:`x_i` and :math:`1 - x_i`),
    solve the linear programme

    .. math::

        \max_{\gamma,\ \lambda \ge 0} \ \gamma \quad \text{s.t.} \quad
        f - \gamma \equiv \sum_{|S| \le d} \lambda_S \prod_{j \in S} g_j \pmod{I},

    where :math:`S` runs over the multisets of axiom indices of total degree at most
    :math:`d` and the identity is matched coefficient by coefficient (one equality per
    monomial). On the cube this is the Krivine-Stengle / Sherali-Adams hierarchy, on a
    polytope Handelman's: for a polynomial positive on the domain some degree gives a
    certificate (Krivine 1964, Handelman 1988), and the bounds can only increase with
    :math:`d`. There are :math:`\binom{2n + d}{d} - 1` products on the cube before
    reduction, which is the curse of dimensionality of the static hierarchy.

    Parameters
    ----------
    problem : ProofProblem
    degree : int
        Maximal total degree :math:`d` of a product (an axiom of degree :math:`k` counts
        :math:`k`, at least 1).
    progress : bool, optional

    Returns
    -------
    ProofResult
        Products that reduce to zero modulo the ideal, or coincide with another after the
        reduction, are dropped; ``n_products`` counts the distinct ones the LP sees.

    References
    ----------
    Fawzi, Malinowski, Fawzi & Fawzi, *Learning dynamic polynomial proofs*, NeurIPS 2019.
    See the chapter :doc:`Certificates of non-negativity </book/proofs>`.

    Examples
    --------
    >>> from nips2019.polyproofs import hypercube_problem
    >>> x = Polynomial.variable(0, 1)
    >>> prob = hypercube_problem(x * x - x)          # min on [0, 1] is -1/4
    >>> round(static_proof(prob, 2).bound, 6)  # x^2 - x + 1/2 = (x^2 + (1 - x)^2) / 2
    -0.5
    >>> round(static_proof(prob, 4).bound, 6)
    -0.333333
    """
    deg = _axiom_degree(problem)
    m = len(problem.axioms)
    level = {(): {(0,) * problem.n_vars: 1.0}}
    seen_terms = set()
    factors, columns = [], []
    for _ in _progress(range(degree), desc="static proof", disable=_quiet(progress)):
        nxt = {}
        for key, terms in level.items():
            start = key[-1] if key else 0
            total = sum(deg[j] for j in key)
            for j in range(start, m):
                if total + deg[j] > degree:
                    continue
                t = _reduce(_mul(terms, problem._axiom_terms[j]), problem.ideal, problem.boolean)
                nk = key + (j,)
                nxt[nk] = t
                sig = tuple(sorted(t.items()))
                if t and sig not in seen_terms:
                    seen_terms.add(sig)
                    factors.append(nk)
                    columns.append(t)
        level = {k: t for k, t in nxt.items() if t}
        if not level:
            break
    status, gamma, lam, rows, _ = _solve(problem._objective_terms, columns)
    return _result(status, gamma, lam, rows, factors)


@validate(problem=InstanceOf(ProofProblem), n_steps=Integer(low=0), max_degree=Integer(low=1),
          policy=Options("greedy", "random"), n_lookahead=Integer(low=1), generator=Generator(),
          progress=Bool(optional=True))
def dynamic_proof(problem: ProofProblem, *, n_steps: int, max_degree: int, policy: str = "greedy",
                  n_lookahead: int = 1, generator=None, progress: bool | None = None) -> DynamicProofResult:
    r"""A dynamic proof: grow the set of products one multiplication at a time.

    The memory starts with the axioms :math:`M_0 = \{g_1, \dots, g_m\}`. At step :math:`t`
    an action picks a memory element :math:`p \in M_t` and an axiom :math:`g_j` and adds
    :math:`p \, g_j` (if its degree is at most ``max_degree`` and it is new); the linear
    programme of :func:`static_proof` restricted to :math:`M_{t+1}` gives the bound
    :math:`\gamma_{t+1} \ge \gamma_t`. This is the proof system of Fawzi et al. (2019),
    where the action is chosen by a policy trained by reinforcement learning (a DQN on a
    symmetry-aware embedding of the polynomials, rewarded by the relative improvement of
    the bound). The policies here are **not learned**:

    - ``"greedy"`` (column generation): the LP dual :math:`\mu` (a pseudo-moment vector,
      from the phase-1 LP while no certificate exists) scores each candidate column
      :math:`m` by its reduced cost :math:`-\langle \mu, m \rangle / \|m\|_1` (monomials
      the LP has not seen count 0); the ``n_lookahead`` best-scoring candidates are tried
      by solving the LP with each, and the one with the best bound is kept (the best score
      if none improves it);
    - ``"random"``: a uniformly random valid action (the baseline).

    Parameters
    ----------
    problem : ProofProblem
    n_steps : int
        Number of products to add (fewer if no valid action is left).
    max_degree : int
        Largest total degree of a product.
    policy : {"greedy", "random"}
    n_lookahead : int
        LPs tried per greedy step.
    generator : None, int or torch.Generator
        Randomness of the ``"random"`` policy (unused by ``"greedy"``, which is deterministic).
    progress : bool, optional

    Returns
    -------
    DynamicProofResult

    References
    ----------
    Fawzi, Malinowski, Fawzi & Fawzi, *Learning dynamic polynomial proofs*, NeurIPS 2019.
    See the chapter :doc:`Certificates of non-negativity </book/proofs>`.

    Examples
    --------
    >>> import torch
    >>> from nips2019.polyproofs import stable_set_problem
    >>> clique = ~torch.eye(4, dtype=torch.bool)          # alpha(K4) = 1
    >>> res = dynamic_proof(stable_set_problem(clique), n_steps=7, max_degree=4)
    >>> [round(-b, 2) for b in res.bounds.tolist()]       # upper bounds on alpha
    [4.0, 3.0, 3.0, 2.5, 2.5, 2.0, 1.67, 1.0]
    """
    rng = numpy_rng(generator) if policy == "random" else None
    deg = _axiom_degree(problem)
    f = problem._objective_terms
    mem_keys, mem_terms = [], []
    sigs = set()
    for j, t in enumerate(problem._axiom_terms):
        sig = tuple(sorted(t.items()))
        if t and sig not in sigs:
            sigs.add(sig)
            mem_keys.append((j,))
            mem_terms.append(t)
    keys_seen = set(mem_keys)
    cache: dict = {}

    def candidates():
        out = []
        for i, key in enumerate(mem_keys):
            total = sum(deg[j] for j in key)
            for j in range(len(problem.axioms)):
                if total + deg[j] > max_degree:
                    continue
                nk = tuple(sorted(key + (j,)))
                if nk in keys_seen:
                    continue
                if nk not in cache:
                    t = _reduce(_mul(mem_terms[i], problem._axiom_terms[j]), problem.ideal, problem.boolean)
                    cache[nk] = (t, tuple(sorted(t.items())), sum(abs(v) for v in t.values()))
                t, sig, norm = cache[nk]
                if not t or sig in sigs:
                    keys_seen.add(nk)  # zero or a duplicate: never useful
                    continue
                out.append((i, j, nk, t, sig, norm))
        return out

    status, gamma, lam, rows, marg = _solve(f, mem_terms, duals=True)
    n_solves = 1
    bounds, sizes, actions = [gamma], [len(mem_terms)], []
    for _ in _progress(range(n_steps), desc="dynamic proof", disable=_quiet(progress)):
        cands = candidates()
        if not cands:
            break
        if policy == "random":
            pick = cands[int(rng.integers(len(cands)))]
            state = _solve(f, mem_terms + [pick[3]])
            n_solves += 1
        else:
            scores = []
            for c in cands:
                s = -sum(marg[rows[e]] * v for e, v in c[3].items() if e in rows)
                scores.append(s / c[5])
            order = np.argsort(np.asarray(scores), kind="stable")[:n_lookahead]
            tried = []
            for idx in order:
                c = cands[int(idx)]
                tried.append((c, _solve(f, mem_terms + [c[3]], duals=True)))
                n_solves += 1
            # the best bound; ties (and no improvement at all) go to the best score
            pick, state = max(tried, key=lambda ct: ct[1][1] if ct[1][1] > gamma + _TOL else -np.inf)
            if state[1] <= gamma + _TOL:
                pick, state = tried[0]
        i, j, nk, t, sig, _ = pick
        mem_keys.append(nk)
        mem_terms.append(t)
        keys_seen.add(nk)
        sigs.add(sig)
        actions.append((i, j))
        status, gamma_new, lam, rows, marg = state
        gamma = max(gamma, gamma_new)  # the LP optimum cannot fall; guard against solver noise
        bounds.append(gamma)
        sizes.append(len(mem_terms))
    proof = _result(status, gamma_new if actions else gamma, lam, rows, mem_keys)
    return DynamicProofResult(bounds=torch.tensor(bounds, dtype=torch.float64),
                              n_products=torch.tensor(sizes, dtype=torch.long), actions=actions,
                              proof=proof, n_lp_solves=n_solves)


@validate(problem=InstanceOf(ProofProblem), result=InstanceOf(ProofResult))
def verify_certificate(problem: ProofProblem, result: ProofResult) -> CertificateCheck:
    r"""Re-check a certificate in exact rational arithmetic and make its bound rigorous.

    The products are rebuilt from ``result.factors`` and the problem's axioms with
    ``fractions.Fraction`` coefficients (every float converts exactly), the
    multipliers are clipped at 0, and the residual

    .. math::

        r = f - \gamma - \sum_k \lambda_k \prod_{j \in S_k} g_j \pmod I

    is computed without rounding. On the domain :math:`f - \gamma - r` is a non-negative
    combination of non-negative products, so :math:`f \ge \gamma + r`; if the domain lies in
    :math:`[0, 1]^n` every monomial is in :math:`[0, 1]` and
    :math:`f \ge \gamma - \sum_\alpha |r_\alpha|` holds exactly.

    Parameters
    ----------
    problem : ProofProblem
    result : ProofResult
        With a finite bound.

    Returns
    -------
    CertificateCheck

    Examples
    --------
    >>> from nips2019.polyproofs import hypercube_problem
    >>> x = Polynomial.variable(0, 1)
    >>> prob = hypercube_problem(x * x - x)
    >>> check = verify_certificate(prob, static_proof(prob, 2))
    >>> check.residual < 1e-12, round(check.rigorous_bound, 9)
    (True, -0.5)
    """
    if not np.isfinite(result.bound):
        raise ValueError(f"verify_certificate: result.bound must be finite, got {result.bound}")
    if len(result.factors) != result.weights.shape[0]:
        raise ValueError("verify_certificate: result.factors and result.weights have different lengths")
    m = len(problem.axioms)
    for key in result.factors:
        if any(not (0 <= j < m) for j in key):
            raise ValueError(f"verify_certificate: result.factors refers to axioms outside [0, {m})")
    axioms = [_exact(a.terms()) for a in problem.axioms]
    resid = _exact(_reduce(problem.objective.terms(), problem.ideal, problem.boolean))
    zero = (0,) * problem.n_vars
    resid[zero] = resid.get(zero, Fraction(0)) - Fraction(result.bound)
    lam = result.weights.tolist()
    for key, w in zip(result.factors, lam):
        if w <= 0:
            continue
        prod = {zero: Fraction(1)}
        for j in key:
            prod = _mul(prod, axioms[j])
        prod = _reduce(prod, problem.ideal, problem.boolean)
        wf = Fraction(w)
        for e, c in prod.items():
            resid[e] = resid.get(e, Fraction(0)) - wf * c
    total = sum((abs(c) for c in resid.values()), Fraction(0))
    rig = _round_down(Fraction(result.bound) - total) if problem.in_unit_cube else None
    return CertificateCheck(residual=float(total), max_violation=float(min(0.0, min(lam, default=0.0))),
                            rigorous_bound=rig)
