"""Benchmarks for the polynomial-proofs chapter.

The static degree-d proof of the stable-set problem (``nips2019.polyproofs.static_proof``:
products built as sparse dictionaries, reduced modulo the edge ideal before the LP, one sparse
HiGHS solve) against a naive dense construction of the same programme (every polynomial a
dense vector over all monomials of degree <= d, products by dense shifts, no reduction until
the ideal monomials are zeroed at the end, then ``scipy.optimize.linprog`` on the dense matrix)
and against the same sparse programme handed to cvxpy (HiGHS through cvxpy's canonicalisation);
and the greedy dynamic proof against the static degree-3 proof on the same graph (different
programmes: the note gives both bounds).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.optimize

from benchmarks.run import Case
from nips2019.polyproofs import dynamic_proof, random_graph, stable_set_problem, static_proof


def _dense_static(adj, degree):
    """Naive reference: dense monomial vectors, all products, ideal rows zeroed afterwards."""
    n = adj.shape[0]
    monos = [e for k in range(degree + 1) for e in itertools.product(range(k + 1), repeat=n) if sum(e) == k]
    monos = sorted(set(monos))
    index = {e: i for i, e in enumerate(monos)}
    unit = [tuple(int(i == j) for i in range(n)) for j in range(n)]
    # axioms x_j and 1 - x_j as dense vectors
    axioms = []
    for j in range(n):
        v = np.zeros(len(monos))
        v[index[unit[j]]] = 1
        axioms.append(v)
        w = -v.copy()
        w[index[(0,) * n]] = 1
        axioms.append(w)

    def times(vec, j):  # vec * axiom j (degree stays <= degree by construction)
        out = np.zeros_like(vec)
        var, neg = divmod(j, 2)
        for e, c in zip(monos, vec):
            if c == 0:
                continue
            up = tuple(k + (i == var) for i, k in enumerate(e))
            if neg:
                out[index[e]] += c
                out[index[up]] -= c
            else:
                out[index[up]] += c
        return out

    cols, level = [], {(): np.eye(len(monos))[index[(0,) * n]]}
    for _ in range(degree):
        nxt = {}
        for key, vec in level.items():
            for j in range(key[-1] if key else 0, 2 * n):
                nxt[key + (j,)] = times(vec, j)
        cols += list(nxt.values())
        level = nxt
    a = np.stack(cols, axis=1)
    edges = [(i, j) for i in range(n) for j in range(i + 1, n) if adj[i, j]]
    keep = [r for r, e in enumerate(monos) if not any(e[i] and e[j] for i, j in edges)]
    a = a[keep]
    b = np.zeros(len(monos))
    for j in range(n):
        b[index[unit[j]]] = -1
    b = b[keep]
    const = np.zeros((len(keep), 1))
    const[keep.index(index[(0,) * n])] = 1
    res = scipy.optimize.linprog(np.r_[-1.0, np.zeros(a.shape[1])], A_eq=np.hstack([const, a]), b_eq=b,
                                 bounds=[(None, None)] + [(0, None)] * a.shape[1], method="highs")
    return res.x[0]


def _cvxpy_static(prob, degree):
    import cvxpy as cp
    import scipy.sparse

    from nips2019.polyproofs._proofs import _mul, _reduce

    keys, cols = [()], []
    level = {(): {(0,) * prob.n_vars: 1.0}}
    for _ in range(degree):
        nxt = {}
        for key, t in level.items():
            for j in range(key[-1] if key else 0, len(prob.axioms)):
                r = _reduce(_mul(t, prob._axiom_terms[j]), prob.ideal)
                if r:
                    nxt[key + (j,)] = r
        cols += list(nxt.values())
        level = nxt
    rows = {(0,) * prob.n_vars: 0}
    for c in cols:
        for e in c:
            rows.setdefault(e, len(rows))
    ri, ci, v = [], [], []
    for k, c in enumerate(cols):
        for e, val in c.items():
            ri.append(rows[e])
            ci.append(k)
            v.append(val)
    a = scipy.sparse.csr_matrix((v, (ri, ci)), shape=(len(rows), len(cols)))
    b = np.zeros(len(rows))
    for e, val in prob._objective_terms.items():
        b[rows[e]] = val
    lam, gamma = cp.Variable(len(cols), nonneg=True), cp.Variable()
    e0 = np.zeros(len(rows))
    e0[0] = 1
    cp.Problem(cp.Maximize(gamma), [a @ lam + gamma * e0 == b]).solve(solver="HIGHS")
    return gamma.value


def cases(quick: bool) -> list:
    out = []
    for n, d in ([(8, 3)] if quick else [(8, 3), (10, 3), (10, 4)]):
        adj = random_graph(n, 0.5, generator=0)
        prob = stable_set_problem(adj)
        ref = static_proof(prob, d)
        out.append(Case(name=f"static proof, stable set G({n}, 1/2), degree {d} ({ref.n_products} products)",
                        ours=lambda p=prob, d=d: static_proof(p, d),
                        baselines={"naive dense construction + linprog": lambda a=adj, d=d: _dense_static(a, d),
                                   "same sparse LP through cvxpy (HiGHS)": lambda p=prob, d=d: _cvxpy_static(p, d)},
                        repeat=1 if d > 3 else 3,
                        note=f"all three give alpha <= {-ref.bound:.4f} (checked to 1e-7 in tests)"))
    n = 10 if quick else 12
    adj = random_graph(n, 0.5, generator=1)
    prob = stable_set_problem(adj)
    s3 = static_proof(prob, 3)
    dyn = dynamic_proof(prob, n_steps=40, max_degree=4)
    out.append(Case(name=f"dynamic greedy proof, 40 steps, G({n}, 1/2)",
                    ours=lambda p=prob: dynamic_proof(p, n_steps=40, max_degree=4),
                    baselines={f"static degree 3 ({s3.n_products} products)": lambda p=prob: static_proof(p, 3)},
                    repeat=1,
                    note=f"different programmes: dynamic alpha <= {-dyn.bounds[-1]:.3f} with "
                         f"{int(dyn.n_products[-1])} products, static degree 3 alpha <= {-s3.bound:.3f}"))
    return out
