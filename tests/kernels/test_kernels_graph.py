"""Graph-based (2-ary) discriminators (nips2019.kernels.graph_density / graph_test): a naive double
loop over pairs, relabelled recomputation, the test's level, the collision example, bad input."""

import pytest
import torch

from nips2019.kernels import graph_density, graph_test
from tests._mmd_refs import gaussian_samples, null_rejections

F64 = dict(dtype=torch.float64)


def _naive_density(x, radius=0.0, graph=None):
    n = x.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                if graph is None:
                    total += float(torch.linalg.vector_norm(x[i] - x[j]) <= radius)
                else:
                    total += float(graph(x[i:i + 1], x[j:j + 1])[0, 0])
    return total / (n * (n - 1))


def _grid_sample(n, k, seed):
    """n points drawn from k grid values in 2-D: ties on purpose."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, k, (n, 2), generator=g).to(torch.float64) / k


@pytest.mark.parametrize("radius", [0.0, 0.3, 1.0])
def test_density_matches_a_double_loop(radius):
    x = _grid_sample(14, 4, seed=0)
    assert float(graph_density(x, radius=radius)) == pytest.approx(_naive_density(x, radius), abs=1e-14)


def test_density_with_a_custom_graph_and_batches():
    x = _grid_sample(10, 5, seed=1)

    def same_row(a, b):  # an edge when the first coordinates agree
        return (a[..., :, None, 0] == b[..., None, :, 0]).to(a.dtype)

    assert float(graph_density(x, graph=same_row)) == pytest.approx(_naive_density(x, graph=same_row), abs=1e-14)
    xs = torch.stack([x, x.flip(0), _grid_sample(10, 2, seed=2)])
    batched = graph_density(xs, radius=0.25)
    loop = torch.stack([graph_density(xs[k], radius=0.25) for k in range(3)])
    torch.testing.assert_close(batched, loop, rtol=0, atol=0)
    assert batched[0] == batched[1]  # order of the points does not matter


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_null_draws_equal_densities_recomputed_on_the_relabelled_samples(alternative):
    x, y = _grid_sample(9, 3, seed=3), _grid_sample(7, 6, seed=4)
    res = graph_test(x, y, radius=0.0, alternative=alternative, n_permutations=30, generator=5)
    diff = float(graph_density(x) - graph_density(y))
    expected = {"two-sided": abs(diff), "greater": diff, "less": -diff}[alternative]
    assert float(res.statistic) == pytest.approx(expected, abs=1e-14)
    # the same relabellings, drawn as the test draws them, recomputed from scratch
    gen = torch.Generator().manual_seed(5)
    perm = torch.argsort(torch.rand(30, 16, generator=gen), dim=1)
    z = torch.cat([x, y])
    for b in range(30):
        px, py = z[perm[b, :9]], z[perm[b, 9:]]
        d = float(graph_density(px) - graph_density(py))
        ref = {"two-sided": abs(d), "greater": d, "less": -d}[alternative]
        assert float(res.null_samples[b]) == pytest.approx(ref, abs=1e-14)
    assert res.method == "graph-permutation" and res.bandwidth is None


def test_level_under_the_null():
    """Continuous samples, radius 0.3: over 300 null data sets the 5% test rejects 5 +- 3.2%
    (2.5 standard errors)."""
    runs = 300
    rejections = null_rejections(
        lambda x, y, r: graph_test(x, y, radius=0.3, n_permutations=99, generator=r), runs, 20, seed=6)
    assert abs(rejections / runs - 0.05) < 2.5 * (0.05 * 0.95 / runs) ** 0.5, rejections / runs


def test_collisions_separate_a_small_support_from_a_large_one():
    """A random 1000-value support against the whole range: many collisions in one sample only."""
    g = torch.Generator().manual_seed(7)
    support = torch.randperm(10**6, generator=g)[:1000]
    x = support[torch.randint(0, 1000, (150,), generator=g)].to(torch.float64).unsqueeze(1)
    y = torch.randint(0, 10**6, (150, 1), generator=g).to(torch.float64)
    res = graph_test(x, y, alternative="greater", n_permutations=199, generator=0)
    assert res.p_value <= 0.01 and res.reject()
    assert graph_test(y, x, alternative="greater", n_permutations=199, generator=0).p_value > 0.5


def test_p_value_is_reproducible_and_dtype_is_kept():
    x, y = gaussian_samples(n=20, m=15, d=2, seed=8)
    a = graph_test(x.float(), y.float(), radius=0.5, n_permutations=50, generator=3)
    b = graph_test(x.float(), y.float(), radius=0.5, n_permutations=50, generator=3)
    assert a.p_value == b.p_value and a.statistic.dtype == torch.float32
    assert graph_density(x.float(), radius=0.5).dtype == torch.float32


def test_bad_inputs():
    x, y = gaussian_samples(n=6, m=5, d=2)
    with pytest.raises(ValueError, match="at least 2 points"):
        graph_density(x[:1])
    with pytest.raises(ValueError, match="at least 2 points"):
        graph_test(x, y[:1])
    with pytest.raises(ValueError, match="shape"):
        graph_density(x, graph=lambda a, b: torch.ones(3, 3, **F64))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        graph_density(x, graph=lambda a, b: 2.0 * torch.ones(a.shape[0], b.shape[0], **F64))
    with pytest.raises(ValueError, match="radius"):
        graph_density(x, radius=-1.0)
    with pytest.raises(ValueError, match="alternative"):
        graph_test(x, y, alternative="bigger")


@pytest.mark.gpu
def test_gpu_matches_cpu():
    x, y = _grid_sample(200, 8, seed=9), _grid_sample(150, 12, seed=10)
    cpu = graph_test(x, y, radius=0.1, n_permutations=300, generator=0)
    gpu = graph_test(x.cuda(), y.cuda(), radius=0.1, n_permutations=300, generator=0)
    assert gpu.null_samples.device.type == "cuda" and gpu.p_value == cpu.p_value
    torch.testing.assert_close(gpu.null_samples.cpu(), cpu.null_samples, rtol=0, atol=1e-12)
