"""Structural checks and smoothing (naive vs interval) against brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from nips2019.circuits._structure import reachable
from nips2019.circuits import (
    CircuitBuilder,
    balanced_vtree,
    hclt,
    is_decomposable,
    is_deterministic,
    is_smooth,
    is_structured_decomposable,
    random_structured_circuit,
    right_linear_vtree,
    smooth,
)


def all_assignments(n):
    return torch.tensor(list(itertools.product([0, 1], repeat=n)), dtype=torch.float64)


def test_structural_checks_on_small_examples():
    b = CircuitBuilder()
    x1, nx1, x2 = b.indicator(0, 1), b.indicator(0, 0), b.indicator(1, 1)
    ok = b.sum([b.product([x1, x2]), b.product([nx1, b.indicator(1, 0)])])
    assert is_smooth((b, ok)) and is_decomposable((b, ok)) and is_deterministic((b, ok))
    not_smooth = b.sum([b.product([x1, x2]), nx1])
    assert not is_smooth((b, not_smooth)) and is_decomposable((b, not_smooth))
    not_dec = b.product([x1, b.sum([x1, x2])])
    assert not is_decomposable((b, not_dec))
    not_det = b.sum([b.bernoulli(0, 0.3), b.bernoulli(0, 0.6)])
    assert not is_deterministic((b, not_det)) and is_smooth((b, not_det))
    assert is_structured_decomposable((b, ok), (0, 1))
    # two products splitting {0, 1, 2} differently are not structured w.r.t. any single vtree
    y = [b.indicator(v, 1) for v in range(3)]
    mixed = b.sum([b.product([b.product([y[0], y[1]]), y[2]]), b.product([y[0], b.product([y[1], y[2]])])])
    assert not is_structured_decomposable((b, mixed), ((0, 1), 2))
    assert not is_structured_decomposable((b, mixed), (0, (1, 2)))


def test_hclt_is_smooth_decomposable_not_deterministic():
    c = hclt((torch.rand(50, 4, generator=torch.Generator().manual_seed(0)) < 0.5).double(), n_latent=2, generator=0)
    assert is_smooth(c) and is_decomposable(c) and not is_deterministic(c)


@pytest.mark.parametrize("make_vtree", [right_linear_vtree, balanced_vtree])
@pytest.mark.parametrize("method", ["naive", "interval", "near_linear"])
def test_smoothing_preserves_values_and_fixes_marginals(make_vtree, method):
    n = 8
    vt = make_vtree(n)
    b, r = random_structured_circuit(vt, width=3, generator=torch.Generator().manual_seed(4))
    assert is_structured_decomposable((b, r), vt) and is_decomposable((b, r)) and not is_smooth((b, r))
    orig = b.build(r, n_vars=n, dtype=torch.float64)
    X = all_assignments(n)
    f = orig(X).detach()
    res = smooth((b, r), vt, method=method)
    sm = res.circuit(dtype=torch.float64)
    assert is_smooth(sm) and is_decomposable(sm)
    torch.testing.assert_close(sm(X).detach(), f)  # same value on every complete assignment
    brute_z = torch.logsumexp(f, 0)
    assert abs(orig.log_partition().item() - brute_z.item()) > 0.05  # the non-smooth pass is wrong
    torch.testing.assert_close(sm.log_partition().detach(), brute_z)
    # a marginal with variables 2..4 summed out
    x = X[37:38].clone()
    x[0, 2:5] = math.nan
    keep = (X[:, [0, 1, 5, 6, 7]] == x[0, [0, 1, 5, 6, 7]]).all(1)
    torch.testing.assert_close(sm(x).detach()[0], torch.logsumexp(f[keep], 0))
    assert res.added_nodes > 0 and res.added_edges > 0


def test_interval_table_needs_at_most_two_gates_per_interval():
    n = 37
    b, r = random_structured_circuit(right_linear_vtree(n), width=2, skip=0.9, generator=torch.Generator().manual_seed(0))
    res = smooth((b, r), right_linear_vtree(n), method="interval")
    new_products = [k for k, m in enumerate(res.builder.kinds) if m == "product" and len(res.builder.children[k]) > 2]
    # padding products: the original child plus <= 2 intervals x <= 2 table gates
    assert all(len(res.builder.children[k]) <= 5 for k in new_products)


def test_gate_counts_naive_quadratic_interval_near_linear():
    sizes, naive, interval = [64, 128, 256], [], []
    for n in sizes:
        vt = right_linear_vtree(n)
        b, r = random_structured_circuit(vt, width=2, generator=torch.Generator().manual_seed(0))
        naive.append(smooth((b, r), vt, method="naive").added_edges)
        interval.append(smooth((b, r), vt, method="interval").added_edges)
    slope_naive = math.log(naive[-1] / naive[0]) / math.log(sizes[-1] / sizes[0])
    slope_interval = math.log(interval[-1] / interval[0]) / math.log(sizes[-1] / sizes[0])
    assert slope_naive > 1.7, naive
    assert slope_interval < 1.35, interval
    assert interval[-1] * 4 < naive[-1]


def test_naive_and_interval_give_the_same_function():
    n = 10
    vt = balanced_vtree(n)
    b, r = random_structured_circuit(vt, width=2, generator=torch.Generator().manual_seed(7))
    X = all_assignments(n)
    a = smooth((b, r), vt, method="naive").circuit(dtype=torch.float64)
    c = smooth((b, r), vt, method="interval").circuit(dtype=torch.float64)
    torch.testing.assert_close(a(X), c(X))


def test_smoothing_bad_inputs():
    b = CircuitBuilder()
    p = b.product([b.indicator(0, 1), b.indicator(1, 1), b.indicator(2, 1)])
    with pytest.raises(ValueError, match="not structured-decomposable"):
        smooth((b, p), ((0, 1), 2))
    with pytest.raises(ValueError, match="method must be"):
        smooth((b, p), ((0, 1), 2), method="fast")
    g = b.gaussian(3, 0.0, 1.0)
    with pytest.raises(ValueError, match="discrete"):
        smooth((b, g), 3)
    with pytest.raises(ValueError, match="not in the vtree"):
        smooth((b, b.indicator(5, 0)), (0, 1))
    with pytest.raises(TypeError, match="circuit must be"):
        smooth(b, (0, 1))
    with pytest.raises(ValueError, match="vtree repeats"):
        smooth((b, p), ((0, 1), 1))


def _chain_circuit(n, seed=0):
    """Root sum over c_0..c_{n-1}, c_d = Bern(x_d) * c_{d+1}: c_d sits at depth d of a right-linear vtree."""
    b, g = CircuitBuilder(), torch.Generator().manual_seed(seed)
    c = b.bernoulli(n - 1, 0.3)
    cs = [c]
    for d in range(n - 2, -1, -1):
        c = b.product([b.bernoulli(d, 0.1 + 0.8 * torch.rand(1, generator=g).item()), c])
        cs.append(c)
    return b, b.sum(cs)


@pytest.mark.parametrize("make_vtree", [right_linear_vtree, balanced_vtree])
def test_naive_smoothing_keeps_structured_decomposability(make_vtree):
    """Issue 15: smooth() output failed is_structured_decomposable on its own vtree."""
    vt = make_vtree(9)
    b, r = random_structured_circuit(vt, width=3, generator=torch.Generator().manual_seed(2))
    res = smooth((b, r), vt, method="naive")
    assert res.structured and is_smooth((res.builder, res.root))
    assert is_structured_decomposable((res.builder, res.root), vt)
    X = all_assignments(9)
    torch.testing.assert_close(res.circuit(dtype=torch.float64)(X), b.build(r, dtype=torch.float64)(X))


@pytest.mark.parametrize("method", ["interval", "near_linear"])
def test_near_linear_outputs_are_smooth_decomposable_and_say_they_are_not_structured(method):
    vt = right_linear_vtree(9)
    b, r = random_structured_circuit(vt, width=3, generator=torch.Generator().manual_seed(2))
    res = smooth((b, r), vt, method=method)
    assert is_smooth((res.builder, res.root)) and is_decomposable((res.builder, res.root))
    assert not res.structured and res.gates_per_interval >= 2
    assert not is_structured_decomposable((res.builder, res.root), vt)


def test_exact_gate_counts_on_the_chain_family():
    """Lifting c_d by d levels costs d binary products; gadgets cost 2 edges for n-1 positions."""
    for n in (5, 17, 40):
        b, r = _chain_circuit(n)
        res = smooth((b, r), right_linear_vtree(n), method="naive")
        assert res.added_edges == (n + 2) * (n - 1), (n, res.added_edges)
        assert res.added_nodes == n * (n - 1) // 2 + 3 * (n - 1), (n, res.added_nodes)
    # the same circuit with interval tables: linear, not quadratic
    b, r = _chain_circuit(400)
    for method in ("interval", "near_linear"):
        assert smooth((b, r), right_linear_vtree(400), method=method).added_edges < 10 * 400


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_range_products_answer_every_interval_with_at_most_k_gates(k):
    from nips2019.circuits._smoothing import _RangeProducts

    n = 70 if k == 1 else 150
    b = CircuitBuilder()
    leaves = [b.bernoulli(p, 0.5) for p in range(n)]
    table = _RangeProducts(b, lambda p: leaves[p], 0, n - 1, k)
    for i in range(n):
        for j in range(i, n):
            gates = table.query(i, j)
            assert len(gates) <= max(k, 1)
            got = []
            for g in gates:
                got += sorted(b.var[m] for m in reachable(b, g) if b.kinds[m] == "bernoulli")
            assert sorted(got) == list(range(i, j + 1)), (i, j, got)  # disjoint and exact


def test_range_product_tables_shrink_with_more_gates_per_interval():
    """All n(n+1)/2 queries: k=2 stores ~n log n products, k=3 ~n log log n, k=4 ~n log* n."""
    from nips2019.circuits._smoothing import _RangeProducts

    n, size = 512, {}
    for k in (2, 3, 4):
        b = CircuitBuilder()
        leaves = [b.bernoulli(p, 0.5) for p in range(n)]
        table = _RangeProducts(b, lambda p: leaves[p], 0, n - 1, k)
        for i in range(n):
            for j in range(i, n):
                table.query(i, j)
        size[k] = b.n_nodes - n
    assert 0.7 * n * math.log2(n) < size[2] < n * math.log2(n), size  # n (log2 n - 2) + 2
    assert size[4] < size[3] < 0.7 * size[2], size  # measured 3586, 2292, 1584


def test_near_linear_padding_products_respect_the_gate_bound():
    n = 60
    vt = right_linear_vtree(n)
    b, r = random_structured_circuit(vt, width=2, skip=0.9, generator=torch.Generator().manual_seed(1))
    res = smooth((b, r), vt, method="near_linear")
    k = res.gates_per_interval
    assert 2 <= k <= 7
    # the original child plus <= 2 intervals x <= k table gates
    assert max(len(c) for m, c in zip(res.builder.kinds, res.builder.children) if m == "product") <= 1 + 2 * k
    X = all_assignments(10)
    small = right_linear_vtree(10)
    b2, r2 = random_structured_circuit(small, width=2, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(
        smooth((b2, r2), small).circuit(dtype=torch.float64)(X), b2.build(r2, dtype=torch.float64)(X)
    )


def _independent_lift_bound(b, r, vt_nested):
    """sum_c max_t d(c, t) from scopes and vtree depths (not from smooth's own bookkeeping)."""
    from nips2019.circuits._structure import index_vtree, scopes, vtree_lca

    vt = index_vtree(vt_nested)
    order = reachable(b, r)
    sc = scopes(b, order)
    depth = {vt.root: 0}
    stack = [vt.root]
    while stack:
        u = stack.pop()
        for w in (vt.left[u], vt.right[u]):
            if w >= 0:
                depth[w] = depth[u] + 1
                stack.append(w)

    def node(mask):
        pos = [vt.pos[v] for v in range(mask.bit_length()) if mask >> v & 1]
        return vtree_lca(vt, min(pos), max(pos))

    need = {r: depth[node(sc[r])]}  # the root covers the whole vtree
    for n in order:
        ch = b.children[n]
        if b.kinds[n] == "sum":
            targets = [(c, node(sc[n])) for c in ch]
        elif b.kinds[n] == "product" and len(ch) == 2:
            t = node(sc[n])
            first = {c: vt.pos[(sc[c] & -sc[c]).bit_length() - 1] for c in ch}  # a variable of c
            targets = [(c, vt.left[t] if first[c] <= vt.hi[vt.left[t]] else vt.right[t]) for c in ch]
        else:
            targets = []
        for c, t in targets:
            need[c] = max(need.get(c, 0), depth[node(sc[c])] - depth[t])
    return sum(need.values())


@pytest.mark.parametrize("make_vtree", [right_linear_vtree, balanced_vtree])
def test_naive_lifting_is_exactly_the_structured_lower_bound(make_vtree):
    """Keeping the vtree with gadgets costs sum_c d(c) products; the lifting adds exactly that."""
    for n in (12, 40):
        vt = make_vtree(n)
        b, r = random_structured_circuit(vt, width=2, generator=torch.Generator().manual_seed(n))
        bound = _independent_lift_bound(b, r, vt)
        res = {m: smooth((b, r), vt, method=m) for m in ("naive", "interval", "near_linear")}
        assert all(x.structured_lower_bound == bound for x in res.values()), bound  # input-only
        nv = res["naive"]
        # independent count: products above a Bernoulli leaf, minus the input's own products
        out = reachable(nv.builder, nv.root)
        has_bern = {}
        for k in out:
            kind = nv.builder.kinds[k]
            has_bern[k] = kind == "bernoulli" or any(has_bern.get(c, False) for c in nv.builder.children[k])
        lifted = sum(nv.builder.kinds[k] == "product" and has_bern[k] for k in out)
        lifted -= sum(b.kinds[k] == "product" for k in reachable(b, r))
        assert lifted == nv.lifting_products == bound, (lifted, nv.lifting_products, bound)
        assert is_structured_decomposable((nv.builder, nv.root), vt)


def test_near_linear_adds_less_than_any_vtree_keeping_smoothing_could():
    """On the chain the bound is n(n-1)/2; the range-product output is far below it, hence not structured."""
    for n in (64, 256):
        b, r = _chain_circuit(n)
        vt = right_linear_vtree(n)
        res = smooth((b, r), vt, method="near_linear")
        assert res.structured_lower_bound == n * (n - 1) // 2 == _independent_lift_bound(b, r, vt)
        assert res.added_nodes < res.structured_lower_bound / 5, (res.added_nodes, res.structured_lower_bound)
        assert not is_structured_decomposable((res.builder, res.root), vt)


def _alpha(m, n):
    """Tarjan's inverse Ackermann: min i >= 1 with A(i, floor(m / n)) > log2 n."""

    def ack(i, j):  # capped at 2**64: only compared with log2 n
        if i == 1:
            return 2 ** min(j, 64)
        if j == 1:
            return ack(i - 1, 2)
        v = ack(i, j - 1)
        return 2**64 if v >= 64 else ack(i - 1, v)

    i = 1
    while ack(i, max(1, m // n)) <= math.log2(n):
        i += 1
    return i


@pytest.mark.parametrize("make_vtree", [right_linear_vtree, balanced_vtree])
def test_near_linear_size_within_the_stated_m_alpha_bound(make_vtree):
    """Added edges <= m alpha(m, n) (measured constant < 1); the ratio levels off as n grows."""
    ratios = []
    for n in (64, 256, 1024):
        vt = make_vtree(n)
        b, r = random_structured_circuit(vt, width=2, generator=torch.Generator().manual_seed(n))
        m = b.n_edges
        res = smooth((b, r), vt, method="near_linear")
        ratios.append(res.added_edges / (m * _alpha(m, n)))
    assert max(ratios) < 1.0, ratios  # measured 0.46-0.80
    assert ratios[-1] < ratios[1] + 0.1, ratios  # 256 -> 1024 variables: +0.01 to +0.04
