"""Probabilistic circuits: layered evaluation and EM vs per-node baselines; smoothing growth by method."""

from __future__ import annotations

import copy
import math

import torch

from benchmarks.run import Case
from nips2019.circuits import (
    CircuitBuilder,
    all_marginals,
    em_step,
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


def _per_node_em_step(builder, root, x, pseudocount=0.0):
    """Baseline EM epoch: per-node forward, autograd for the flows, per-node M-step.

    Returns ``{sum node: new weights}`` and ``{Bernoulli node: new p}`` (same update as em_step).
    """
    order = reachable(builder, root)
    logw = {n: torch.tensor(builder.weights[n], dtype=x.dtype).log().requires_grad_() for n in order
            if builder.kinds[n] == "sum"}
    leaf = {}
    vals = {}
    for n in order:
        k = builder.kinds[n]
        if k == "bernoulli":
            p = builder.params[n][0]
            xv = x[:, builder.var[n]]
            leaf[n] = torch.where(xv > 0.5, math.log(p), math.log1p(-p)).requires_grad_()
            vals[n] = leaf[n]
        elif k == "product":
            vals[n] = torch.stack([vals[c] for c in builder.children[n]]).sum(0)
        else:
            ch = torch.stack([vals[c] for c in builder.children[n]])
            vals[n] = torch.logsumexp(ch + logw[n].unsqueeze(1), 0)
    vals[root].sum().backward()
    weights = {}
    for n, lw in logw.items():
        num = lw.grad + pseudocount
        weights[n] = (num / num.sum()).tolist()
    probs = {}
    for n, lv in leaf.items():
        f, xv = lv.grad, x[:, builder.var[n]]
        b1, b0 = (f * xv).sum(), (f * (1 - xv)).sum()
        probs[n] = float(((b1 + pseudocount) / (b1 + b0 + 2 * pseudocount)).clamp(1e-6, 1 - 1e-6))
    return weights, probs


def _check_em_baseline(c, x):
    """The baseline's update equals em_step's on the same circuit (float64, pseudocount 0.1)."""
    c64 = copy.deepcopy(c).double()
    b, root = c64.to_builder(), c64.root_id
    weights, probs = _per_node_em_step(b, root, x.double(), 0.1)
    em_step(c64, x.double(), pseudocount=0.1)
    b2 = c64.to_builder()
    err_w = max(abs(u - v) for n, w in weights.items() for u, v in zip(w, b2.weights[n]))
    err_p = max(abs(p - b2.params[n][0]) for n, p in probs.items())
    assert err_w < 1e-6 and err_p < 1e-6, (err_w, err_p)


def _chain_circuit(n):
    """Root sum over c_0..c_{n-1}, c_d = Bern(x_d) c_{d+1}: c_d is d levels deep (right-linear vtree)."""
    b, g = CircuitBuilder(), torch.Generator().manual_seed(n)
    c = b.bernoulli(n - 1, 0.3)
    cs = [c]
    for d in range(n - 2, -1, -1):
        c = b.product([b.bernoulli(d, 0.1 + 0.8 * torch.rand(1, generator=g).item()), c])
        cs.append(c)
    return b, b.sum(cs)


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

    out = [
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
    ]

    # EM epoch (full batch): layered em_step vs the per-node loop, HCLT with 32 and 64 latents in
    # both modes (quick: the 360 test images, one timed call; full: the 1437 training images)
    em_x = test if quick else train
    for lat in (32, 64):
        hc = hclt(train, n_latent=lat, generator=0)
        _check_em_baseline(hc, test[:64])
        hb, hr = hc.to_builder(), hc.root_id
        out.append(
            Case(
                name=f"HCLT EM epoch, latent {lat} ({hc.n_edges} edges), {em_x.shape[0]} images",
                ours=lambda hc=hc: em_step(hc, em_x, pseudocount=0.1),
                baselines={"per-node loop + autograd": lambda hb=hb, hr=hr: _per_node_em_step(hb, hr, em_x, 0.1)},
                repeat=1 if quick else 2,
                note="float32; the baseline's update checked equal to em_step's (float64, 64 images)",
            )
        )

    # smoothing growth: the three methods on the same right-linear circuits, then on the chain
    # (c_d = Bern(x_d) c_{d+1}, a root sum over all c_d), whose vtree-keeping bound is n(n-1)/2
    growth = [("random", n) for n in ((128, 256, 512) if quick else (256, 1024, 2048))]
    growth += [("chain", n) for n in ((256, 512) if quick else (512, 1024))]
    for family, n in growth:
        vt = right_linear_vtree(n)
        if family == "chain":
            sb, sr = _chain_circuit(n)
        else:
            sb, sr = random_structured_circuit(vt, width=2, generator=0)
        res = {m: smooth((sb, sr), vt, method=m) for m in ("near_linear", "interval", "naive")}
        assert res["naive"].lifting_products == res["naive"].structured_lower_bound
        out.append(
            Case(
                name=f"smoothing, {family} circuit, right-linear, {n} vars ({sb.n_edges} edges)",
                ours=lambda sb=sb, sr=sr, vt=vt: smooth((sb, sr), vt, method="near_linear"),
                baselines={
                    "interval (sparse table)": lambda sb=sb, sr=sr, vt=vt: smooth((sb, sr), vt, method="interval"),
                    "naive (structured lifting)": lambda sb=sb, sr=sr, vt=vt: smooth((sb, sr), vt, method="naive"),
                },
                repeat=3 if n <= 512 else 2,
                note="added edges: " + ", ".join(f"{m} {r.added_edges}" for m, r in res.items())
                + f"; vtree-keeping lower bound {res['naive'].structured_lower_bound} products",
            )
        )

    # all-marginals on a non-smooth circuit: no smoothing vs smoothing first
    n = 256 if quick else 1024
    vt = right_linear_vtree(n)
    ab, ar = random_structured_circuit(vt, width=3, generator=3)
    raw = ab.build(ar, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    ev = (torch.rand(256, n, generator=g) < 0.5).double()
    ev[torch.rand(256, n, generator=g) < 0.5] = float("nan")
    sm = smooth((ab, ar), vt).circuit(dtype=torch.float64)
    assert torch.allclose(all_marginals(raw, ev).marginals, sm.marginals(ev), atol=1e-8)
    out.append(
        Case(
            name=f"all marginals, non-smooth circuit, {n} vars ({raw.n_edges} edges), batch 256",
            ours=lambda: all_marginals(raw, ev),
            baselines={
                "smooth + compile + backward pass": lambda: smooth((ab, ar), vt).circuit(dtype=torch.float64).marginals(ev),
                "backward pass on a pre-smoothed circuit": lambda: sm.marginals(ev),
            },
            repeat=3,
            note=f"float64; smoothed circuit {sm.n_edges} edges",
        )
    )
    return out
