"""Probabilistic circuits: layered evaluation vs per-node evaluation; interval vs naive smoothing."""

from __future__ import annotations

import math

import torch

from benchmarks.run import Case
from nips2019.circuits import (
    hclt,
    load_binary_digits,
    random_region_circuit,
    random_structured_circuit,
    right_linear_vtree,
    smooth,
)
from nips2019.circuits._structure import reachable


def _per_node_log_prob(builder, root, x):
    """Baseline: one Python step per node (each step vectorised over the batch)."""
    vals = {}
    for n in reachable(builder, root):
        k = builder.kinds[n]
        if k == "bernoulli":
            p = builder.params[n][0]
            xv = x[:, builder.var[n]]
            vals[n] = torch.where(xv > 0.5, math.log(p), math.log1p(-p))
        elif k == "product":
            vals[n] = torch.stack([vals[c] for c in builder.children[n]]).sum(0)
        elif k == "sum":
            lw = torch.tensor(builder.weights[n], dtype=x.dtype).log().unsqueeze(1)
            vals[n] = torch.logsumexp(torch.stack([vals[c] for c in builder.children[n]]) + lw, 0)
        else:
            raise ValueError(f"baseline handles Bernoulli circuits only, got {k}")
    return vals[root]


def cases(quick: bool) -> list[Case]:
    train, test = load_binary_digits()
    latent = 8 if quick else 32
    c = hclt(train, n_latent=latent, generator=0)
    b, root = c.to_builder(), c.root_id
    x = test if quick else train
    ref = _per_node_log_prob(b, root, x)
    assert torch.allclose(c(x).detach(), ref, atol=1e-3), "layered and per-node evaluation disagree"

    def ours():
        with torch.no_grad():
            return c(x)

    reps = 2 if quick else 8
    rat = random_region_circuit(64, depth=4, n_repetitions=reps, n_sums=4, n_inputs=4, generator=0)
    rb, rr = rat.to_builder(), rat.root_id
    assert torch.allclose(rat(x).detach(), _per_node_log_prob(rb, rr, x), atol=1e-3)

    def ours_rat():
        with torch.no_grad():
            return rat(x)

    n = 256 if quick else 1024
    vt = right_linear_vtree(n)
    sb, sr = random_structured_circuit(vt, width=2, generator=0)
    naive, interval = smooth((sb, sr), vt, method="naive"), smooth((sb, sr), vt, method="interval")
    return [
        Case(
            name=f"HCLT log-likelihood, 64 vars, latent {latent} ({c.n_edges} edges), batch {x.shape[0]}",
            ours=ours,
            baselines={"per-node Python loop": lambda: _per_node_log_prob(b, root, x)},
            repeat=3,
            note="float32, forward only",
        ),
        Case(
            name=f"RAT-SPN log-likelihood, 64 vars, {reps} repetitions ({rat.n_nodes} nodes), batch {x.shape[0]}",
            ours=ours_rat,
            baselines={"per-node Python loop": lambda: _per_node_log_prob(rb, rr, x)},
            repeat=3,
            note="float32, forward only",
        ),
        Case(
            name=f"smoothing, right-linear vtree, {n} vars ({sb.n_edges} edges)",
            ours=lambda: smooth((sb, sr), vt, method="interval"),
            baselines={"naive smoothing": lambda: smooth((sb, sr), vt, method="naive")},
            repeat=3,
            note=f"added edges: interval {interval.added_edges}, naive {naive.added_edges}",
        ),
    ]
