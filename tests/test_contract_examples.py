"""Regression tests: each bad call the package-contract review found (issue 12) now raises clearly.

Every call here used to return a plausible number, NaN, or an obscure error from torch's or numpy's
internals. Each must now raise ``ValueError``/``TypeError`` naming the offending argument.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nips2019 import circuits, hebbian, hyperbolic, lineage, ntk, ot, style

BIN = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])


@pytest.mark.parametrize("row", [[7.0, 0, 1, 0], [math.inf, 0, 1, 0], [0.5, 0, 1, 0]], ids=["7", "inf", "0.5"])
def test_bernoulli_leaves_refuse_non_binary_values(row):
    c = circuits.independent_circuit(BIN)
    with pytest.raises(ValueError, match=r"\bx\b"):
        c.log_likelihood(torch.tensor([row]))
    with pytest.raises(ValueError, match=r"\bx\b"):
        c.mpe(torch.tensor([row]))


@pytest.mark.parametrize("build", [circuits.chow_liu_circuit, circuits.hclt, circuits.independent_circuit])
def test_negative_pseudocounts_refused(build):
    with pytest.raises(ValueError, match="pseudocount"):
        build(BIN, pseudocount=-1.0)


def test_hyperbolic_domain_and_indices():
    with pytest.raises(ValueError, match=r"\by\b.*ball"):
        hyperbolic.point_distance(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[2.0, 0.0]], dtype=torch.float64))
    emb = hyperbolic.HierarchyEmbedding(4, 2, generator=0, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"\bu\b"):
        emb.distance(torch.tensor([-1]), torch.tensor([0]))
    u, v = torch.tensor([0, 1]), torch.tensor([2, 3])
    neg = torch.tensor([[2, 3], [2, 3]])
    with pytest.raises(ValueError, match=r"\bu\b"):
        hyperbolic.ranking_loss(emb, torch.tensor([-1, 1]), v, neg)
    with pytest.raises(ValueError, match=r"\bv\b"):
        hyperbolic.ranking_loss(emb, u, torch.tensor([2]), neg)
    closure = torch.tensor([[1, 0], [2, 0], [3, 0]])
    sampler = hyperbolic.NegativeSampler(closure, 4)
    with pytest.raises(ValueError, match=r"\bu\b"):
        sampler.sample(torch.tensor([-1]), 2, generator=0)
    dist = torch.rand(4, 4, dtype=torch.float64)
    dist = dist + dist.T
    dist.fill_diagonal_(0)
    dist[0, 1] = math.nan
    with pytest.raises(ValueError, match="dist"):
        hyperbolic.reconstruction(dist, closure, 4)
    with pytest.raises(ValueError, match="delta"):
        hyperbolic.precision_experiment([1.0], delta=-1.0)


def test_hebbian_refusals():
    w = hebbian.hopfield_weights(torch.tensor([[1.0, -1.0, 1.0, -1.0]]))
    with pytest.raises(ValueError, match="s0"):
        hebbian.hopfield_recall(w, torch.tensor([[math.nan, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError, match="threshold"):
        hebbian.hopfield_capacity(16, [0.1, 0.9], threshold=-1.0, generator=0)
    with pytest.raises(ValueError, match=r"\bx\b.*empty"):
        hebbian.fit_hebbian(torch.zeros(0, 3), rule="oja")
    for step in (hebbian.hebb_step, hebbian.oja_step):
        with pytest.raises(ValueError, match=r"\bx\b.*empty"):
            step(torch.ones(3), torch.zeros(0, 3), lr=0.1)
    with pytest.raises(ValueError, match=r"\bx\b.*empty"):
        hebbian.sanger_step(torch.ones(2, 3), torch.zeros(0, 3), lr=0.1)


def test_style_and_ot_empty_inputs():
    with pytest.raises(ValueError, match="points.*empty"):
        style.gram_matrix(torch.zeros(0, 3))
    with pytest.raises(ValueError, match=r"\bx\b.*empty"):
        style.sliced_wasserstein(torch.zeros(0, 3), torch.randn(5, 3), generator=0)
    with pytest.raises(ValueError, match=r"\bx\b.*empty"):
        ot.cost_matrix(torch.zeros(0, 2), torch.randn(3, 2), normalize="max")


def test_lineage_refusals_and_numpy_labels():
    with pytest.raises((ValueError, TypeError), match="max_cells"):
        lineage.simulate_lineage(max_cells=math.nan)
    x0 = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x1 = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cs = lineage.wot_couplings([x0, x1], [0.0, 1.0])
    labels = np.array([0, 1, 0, 1, 1])
    torch.testing.assert_close(
        lineage.fate_probabilities(cs, labels), lineage.fate_probabilities(cs, torch.as_tensor(labels))
    )
    plan = torch.full((3, 4), 1 / 12)
    with pytest.raises(TypeError, match="y has dtype torch.float64 but plan has torch.float32"):
        ot.barycentric_projection(plan, torch.zeros(4, 2, dtype=torch.float64))


@pytest.mark.parametrize("fn", [ntk.empirical_ntk, ntk.flat_jacobian], ids=lambda f: f.__name__)
def test_model_and_input_dtypes_must_match(fn):
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    with pytest.raises(TypeError, match="float64 but model has torch.float32"):
        fn(model, torch.zeros(2, 3, dtype=torch.float64))
