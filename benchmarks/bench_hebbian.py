"""Benchmarks for the chapter *Hebbian learning and differentiable plasticity*.

Each case times the batched implementation in :mod:`nips2019.hebbian` against a naive loop
(one run / one probe / one episode at a time) on the same inputs.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.hebbian import PlasticRNN, fit_hebbian, hopfield_recall, hopfield_weights, random_patterns


def _oja_case(quick: bool) -> Case:
    n, d, runs = (300, 64, 8) if quick else (1797, 64, 32)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w0 = torch.randn(runs, d, generator=g, dtype=torch.float64)
    w0 = w0 / w0.norm(dim=-1, keepdim=True)
    xn, w0n = x.numpy(), w0.numpy()

    def ours():
        # one sample order shared by the runs, as in the naive loop (the default draws one per run)
        return fit_hebbian(x, rule="oja", n_epochs=1, batch_size=1, lr=0.01, w0=w0, shared_order=True,
                           generator=torch.Generator().manual_seed(1))

    def naive():
        out = []
        for r in range(runs):
            w = w0n[r].copy()
            for i in np.random.default_rng(1).permutation(n):
                y = float(w @ xn[i])
                w += 0.01 * y * (xn[i] - y * w)
            out.append(w)
        return out

    return Case(f"online Oja, 1 epoch, {n} x {d}, {runs} runs", ours, {"numpy loop over runs": naive},
                repeat=3, note="float64; ours batches the runs")


def _sanger_case(quick: bool) -> Case:
    n, d, k, bsz = (320, 64, 5, 16) if quick else (1792, 64, 5, 16)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w0 = torch.randn(k, d, generator=g, dtype=torch.float64) / d**0.5
    xn, w0n = x.numpy(), w0.numpy()

    def ours():
        return fit_hebbian(x, rule="sanger", k=k, n_epochs=1, batch_size=bsz, lr=0.05, w0=w0,
                           generator=torch.Generator().manual_seed(1))

    def naive():
        w = w0n.copy()
        for start in range(0, n, bsz):
            dw = np.zeros_like(w)
            for xb in xn[start : start + bsz]:
                y = w @ xb
                for i in range(k):
                    dw[i] += y[i] * (xb - y[: i + 1] @ w[: i + 1]) / bsz
            w += 0.05 * dw
        return w

    return Case(f"mini-batch Sanger (GHA), 1 epoch, {n} x {d}, k={k}, batch {bsz}", ours,
                {"numpy loop per sample/neuron": naive}, repeat=3, note="float64")


def _hopfield_case(quick: bool) -> Case:
    n, nets, probes, sweeps = (100, 4, 8, 2) if quick else (200, 8, 16, 2)
    g = torch.Generator().manual_seed(0)
    pats = random_patterns(int(0.1 * n), n, batch_shape=(nets,), generator=g)
    w = hopfield_weights(pats)
    cues = pats[:, :probes] * torch.where(torch.rand(nets, probes, n, generator=g) < 0.1, -1.0, 1.0)
    wn, cn = w.numpy(), cues.numpy()

    def ours():
        return hopfield_recall(w, cues, mode="async", max_iter=sweeps, generator=torch.Generator().manual_seed(1))

    def naive():
        rng = np.random.default_rng(1)
        out = cn.copy()
        for k in range(nets):
            for p in range(probes):
                s = out[k, p]
                for _ in range(sweeps):
                    for i in rng.permutation(n):
                        u = wn[k, i] @ s
                        s[i] = 1.0 if u > 0 else (-1.0 if u < 0 else s[i])
        return out

    return Case(f"async Hopfield recall, N={n}, {nets} nets x {probes} probes, {sweeps} sweeps", ours,
                {"numpy loop per probe/unit": naive}, repeat=3, note="float32; ours batches nets and probes")


def _plastic_case(quick: bool) -> Case:
    n, t_len, bsz = (21, 20, 8) if quick else (51, 40, 32)
    g = torch.Generator().manual_seed(0)
    net = PlasticRNN(n, alpha_init=0.5, w_init=0.1, generator=g)
    x = torch.randn(t_len, bsz, n, generator=g)
    w, alpha, eta = net.w.detach(), net.alpha.detach(), net.eta.detach()

    def ours():
        with torch.no_grad():
            return net(x)

    def naive():
        outs = []
        for b in range(bsz):
            h, hebb = torch.zeros(n), torch.zeros(n, n)
            for t in range(t_len):
                new = torch.tanh(h @ (w + alpha * hebb) + x[t, b])
                hebb = (1 - eta) * hebb + eta * torch.outer(h, new)
                h = new
            outs.append(h)
        return outs

    return Case(f"plastic RNN episode forward, N={n}, T={t_len}, B={bsz}", ours,
                {"loop over episodes": naive}, repeat=5, note="float32, no grad")


def cases(quick: bool) -> list[Case]:
    return [_oja_case(quick), _sanger_case(quick), _hopfield_case(quick), _plastic_case(quick)]
