"""Benchmarks for the NTK chapter: analytic kernels and empirical NTKs vs naive loops."""

from __future__ import annotations

import copy
import math

import torch

from benchmarks.run import Case
from nips2019.ntk import (
    analytic_kernels,
    cnn_kernels,
    empirical_ntk,
    empirical_ntk_naive,
    flat_jacobian,
    mlp,
    train_natural_gradient_mse,
)
from nips2019.ntk._activations import get_activation


def _naive_analytic(x, depth, w_std, b_std):
    """Per-pair Python loop over the same ReLU recursion (scalars, the math module)."""
    relu = get_activation("relu")
    n, d = x.shape
    xs = x.tolist()
    out = [[0.0] * n for _ in range(n)]
    w2, b2 = w_std**2, b_std**2
    for i in range(n):
        for j in range(n):
            k11 = sum(a * a for a in xs[i]) / d
            k22 = sum(a * a for a in xs[j]) / d
            k12 = sum(a * b for a, b in zip(xs[i], xs[j])) / d
            ntk = 0.0
            for layer in range(depth + 1):
                k11, k22, k12 = w2 * k11 + b2, w2 * k22 + b2, w2 * k12 + b2
                ntk = k12 + w2 * ntk
                if layer < depth:
                    c = max(-1.0, min(1.0, k12 / math.sqrt(k11 * k22)))
                    th = math.acos(c)
                    ntk *= (math.pi - th) / (2 * math.pi)
                    k12 = (math.sqrt(max(k11 * k22 - k12 * k12, 0.0)) + (math.pi - th) * k12) / (2 * math.pi)
                    k11, k22 = k11 / 2, k22 / 2
            out[i][j] = ntk
    return out


def _naive_ngd(net, x, y, lr, n_steps, damping):
    """The chapter's original loop: public Jacobian, parameters_to_vector, one dense solve per step."""
    net = copy.deepcopy(net)
    params = list(net.parameters())
    for _ in range(n_steps):
        with torch.no_grad():
            r = (net(x) - y).reshape(-1)
        jac = flat_jacobian(net, x).reshape(len(r), -1)
        eye = torch.eye(len(r), dtype=r.dtype)
        direction = jac.T @ torch.linalg.solve(jac @ jac.T + damping * eye, r)
        with torch.no_grad():
            vec = torch.nn.utils.parameters_to_vector(params)
            torch.nn.utils.vector_to_parameters(vec - lr * direction, params)
    return net


def cases(quick: bool) -> list[Case]:
    g = torch.Generator().manual_seed(0)
    n_a = 60 if quick else 300
    xa = torch.randn(n_a, 16, generator=g)
    kw = dict(depth=5, activation="relu", w_std=math.sqrt(2), b_std=0.1)
    n_big = 500 if quick else 5000
    xb = torch.randn(n_big, 16, generator=g)

    width, n_e = (128, 20) if quick else (512, 64)
    net = mlp(64, width, depth=2, out_features=10, activation="relu", w_std=math.sqrt(2), b_std=0.1, generator=g)
    xe = torch.randn(n_e, 64, generator=g)
    n_p = 20 if quick else 200
    n_c = 20 if quick else 100
    xc = torch.randn(n_c, 1, 8, 8, generator=g)
    peer = mlp(64, 512, depth=2, out_features=10, activation="relu", w_std=math.sqrt(2), b_std=0.1, generator=g)
    xp = torch.randn(n_p, 64, generator=g)
    width_n, n_n = (512, 32) if quick else (2048, 64)
    ngd_net = mlp(64, width_n, depth=1, out_features=1, activation="relu", w_std=math.sqrt(2), b_std=0.1,
                  generator=g)
    xn, yn = torch.randn(n_n, 64, generator=g), torch.randn(n_n, 1, generator=g)
    return [
        Case(f"analytic NTK+NNGP, ReLU depth 5, {n_a} x {n_a}", lambda: analytic_kernels(xa, **kw),
             {"naive per-pair Python loop": lambda: _naive_analytic(xa, 5, math.sqrt(2), 0.1)},
             repeat=3 if quick else 2, note="float32, 1 thread"),
        Case(f"analytic NTK+NNGP, ReLU depth 5, {n_big} x {n_big}, default arguments",
             lambda: analytic_kernels(xb, **kw),
             {"batch_size=64 (the issue-14 fast setting)": lambda: analytic_kernels(xb, batch_size=64, **kw),
              "batch_size=n (one block: the old default's temporaries)":
                  lambda: analytic_kernels(xb, batch_size=n_big, **kw)},
             repeat=3, note="float32, 1 thread; issue 14 target: 5000 x 5000 in <= 2 s "
                            "(neural-tangents 0.6.5 jit 4.9-5.3 s)"),
        Case(f"empirical NTK full, MLP 64-{width}-{width}-10, {n_e} pts",
             lambda: empirical_ntk(net, xe),
             {"jacobian contraction (ours, generic)":
                  lambda: empirical_ntk(net, xe, method="jacobian", batch_size=32),
              "ntvp (ours, jvp of vjp)": lambda: empirical_ntk(net, xe, method="ntvp", batch_size=32),
              "naive per-example autograd loop": lambda: empirical_ntk_naive(net, xe)},
             repeat=2, note="float32, (n, n, 10, 10), default method"),
        Case(f"empirical NTK traced, MLP 64-{width}-{width}-10, {n_e} pts",
             lambda: empirical_ntk(net, xe, trace="mean"),
             {"jacobian contraction (ours, generic)":
                  lambda: empirical_ntk(net, xe, method="jacobian", trace="mean", batch_size=32),
              "naive loop then trace":
                  lambda: empirical_ntk_naive(net, xe).diagonal(dim1=2, dim2=3).mean(-1)},
             repeat=2, note="float32, mean over outputs, default method"),
        Case(f"empirical NTK full, MLP 64-512-512-10, {n_p} pts, generic default (method='auto')",
             lambda: empirical_ntk(peer, xp),
             {"method='ntvp' (no layer recognised)": lambda: empirical_ntk(peer, xp, method="ntvp"),
              "method='jacobian' (contraction)": lambda: empirical_ntk(peer, xp, method="jacobian"),
              "naive per-example autograd loop": lambda: empirical_ntk_naive(peer, xp)},
             repeat=1, note="float32; dense layers recognised by the generic code (structured derivatives, "
                            "any module); issue 14 target <= 8 s; neural-tangents full 16.6 s"),
        Case(f"empirical NTK traced, MLP 64-512-512-10, {n_p} pts, generic default (method='auto')",
             lambda: empirical_ntk(peer, xp, trace="mean"),
             {"method='jacobian' (no layer recognised)":
                  lambda: empirical_ntk(peer, xp, method="jacobian", trace="mean"),
              "method='ntvp'": lambda: empirical_ntk(peer, xp, method="ntvp", trace="mean"),
              "naive loop then trace":
                  lambda: empirical_ntk_naive(peer, xp).diagonal(dim1=2, dim2=3).mean(-1)},
             repeat=1, note="float32; issue 14 target <= 4 s; neural-tangents traced 14.0 s"),
        Case(f"CNTK + CNN-GP, 8x8 images, 2 conv layers, {n_c} x {n_c}",
             lambda: cnn_kernels(xc, depth=2, readout="flatten", w_std=math.sqrt(2), b_std=0.1),
             {"global average pooling readout (all pairs of positions)":
                  lambda: cnn_kernels(xc, depth=2, readout="gap", w_std=math.sqrt(2), b_std=0.1)},
             repeat=2, note="float32; no peer here (neural-tangents stax.Conv is the reference convention)"),
        Case(f"natural-gradient training, MLP 64-{width_n}-1, {n_n} pts, 10 steps",
             lambda: train_natural_gradient_mse(copy.deepcopy(ngd_net), xn, yn, lr=0.5, n_steps=10,
                                                damping=1e-3),
             {"naive loop (flat_jacobian + parameters_to_vector)":
                  lambda: _naive_ngd(ngd_net, xn, yn, 0.5, 10, 1e-3)},
             repeat=2, note="float32; the loop of the chapter before it moved into the package"),
    ]
