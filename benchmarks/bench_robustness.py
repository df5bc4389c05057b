"""Benchmarks for the robustness chapter, each against a naive or peer implementation on the same inputs.

Certification by randomised smoothing (``nips2019.robust.certify``: noise for many inputs per
forward pass, one vectorised ``betaincinv`` call) against a per-input loop with scipy's
``binomtest(...).proportion_ci(method="exact")``, as in a direct reading of Cohen et al.'s
procedure; LipSDP-neuron (``lipsdp_lipschitz``: the matrix inequality as one constant linear map
of the multipliers) against the same SDP written as cvxpy expressions ``A.T @ diag(t) @ A``, both
solved by Clarabel; the exact Jacobian penalty (``jacobian_penalty``, k backward passes with a
graph) against ``torch.func.vmap(jacrev)``; and the expected calibration error against a NumPy
loop over bins.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.run import Case
from nips2019.calibration import expected_calibration_error
from nips2019.robust import certify, jacobian_penalty, lipsdp_lipschitz, make_mlp


def _certify_loop(model, x, sigma, n0, n, alpha, batch=1000):
    from scipy import stats

    def run():
        g = torch.Generator().manual_seed(0)
        out = []
        with torch.no_grad():
            for xi in x:
                def counts(num):
                    c = torch.zeros(10, dtype=torch.long)
                    left = num
                    while left > 0:
                        m = min(batch, left)
                        noisy = xi + sigma * torch.randn(m, xi.numel(), generator=g)
                        c += torch.bincount(model(noisy).argmax(1), minlength=10)
                        left -= m
                    return c
                c_a = int(counts(n0).argmax())
                n_a = int(counts(n)[c_a])
                low = stats.binomtest(n_a, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low
                out.append(sigma * stats.norm.ppf(low) if low > 0.5 else 0.0)
        return out

    return run


def _lipsdp_expressions(model):
    import cvxpy as cp

    ws = [m.weight.detach().double().numpy() for m in model if isinstance(m, torch.nn.Linear)]

    def run():
        n0, hidden = ws[0].shape[1], [w.shape[0] for w in ws[:-1]]
        nn_, dim = sum(hidden), ws[0].shape[1] + sum(hidden)
        a = np.zeros((nn_, dim))
        r = c = 0
        for w in ws[:-1]:
            a[r:r + w.shape[0], c:c + w.shape[1]] = w
            r, c = r + w.shape[0], c + w.shape[1]
        b = np.hstack([np.zeros((nn_, n0)), np.eye(nn_)])
        t, rho = cp.Variable(nn_, nonneg=True), cp.Variable(nonneg=True)
        first = np.zeros((dim, dim))
        first[:n0, :n0] = np.eye(n0)
        last = np.zeros((dim, dim))
        last[dim - hidden[-1]:, dim - hidden[-1]:] = ws[-1].T @ ws[-1]
        cross = a.T @ cp.diag(t) @ b
        m = cross + cross.T - 2 * b.T @ cp.diag(t) @ b - rho * first + last
        cp.Problem(cp.Minimize(rho), [(m + m.T) / 2 << 0]).solve(solver="CLARABEL")
        return float(np.sqrt(rho.value))

    return run


def _jacrev(model, x):
    def run():
        jac = torch.func.vmap(torch.func.jacrev(lambda z: model(z[None])[0]))(x)
        return (jac**2).sum() / x.shape[0]

    return run


def _ece_loop(probs, y, n_bins=15):
    p, t = probs.numpy(), y.numpy()

    def run():
        conf, pred = p.max(1), p.argmax(1)
        total = 0.0
        for b in range(n_bins):
            lo, hi = b / n_bins, (b + 1) / n_bins
            inside = (conf > lo) & (conf <= hi) if b else (conf <= hi)
            if inside.any():
                total += inside.mean() * abs((pred[inside] == t[inside]).mean() - conf[inside].mean())
        return total

    return run


def cases(quick: bool) -> list:
    out = []
    torch.manual_seed(0)
    net = make_mlp([64, 256, 256, 10], generator=0).eval()
    for n_points in ([50] if quick else [100, 360]):
        x = torch.rand(n_points, 64)
        out.append(Case(name=f"certify, {n_points} inputs x 1000 draws, MLP 64-256-256-10",
                        ours=lambda x=x: certify(net, x, sigma=0.25, n_samples=1000, generator=0),
                        baselines={"per-input loop + scipy binomtest CI": _certify_loop(net, x, 0.25, 100, 1000,
                                                                                         0.001)},
                        repeat=1 if n_points > 100 else 3, note="1 thread; same radii up to the noise draws"))
    for depth in ([2] if quick else [2, 3]):
        mlp = make_mlp([4] + [16] * depth + [3], generator=depth)
        out.append(Case(name=f"LipSDP-neuron, width 16, {depth} hidden layers",
                        ours=lambda m=mlp: lipsdp_lipschitz(m),
                        baselines={"cvxpy expressions A.T @ diag(t) @ A": _lipsdp_expressions(mlp)},
                        repeat=1, note="Clarabel for both; values agree to 1e-6"))
    mlp = make_mlp([64, 128, 128, 10], activation="tanh", generator=0)
    x = torch.rand(256, 64)
    out.append(Case(name="Jacobian penalty, 256 inputs, MLP 64-128-128-10",
                    ours=lambda: jacobian_penalty(mlp, x), baselines={"torch.func vmap(jacrev)": _jacrev(mlp, x)},
                    note="ours keeps the graph for training"))
    g = torch.Generator().manual_seed(0)
    for n in ([10_000] if quick else [10_000, 1_000_000]):
        probs = torch.softmax(torch.randn(n, 10, generator=g, dtype=torch.float64) * 3, 1)
        y = torch.randint(0, 10, (n,), generator=g)
        out.append(Case(name=f"ECE, {n} predictions, 10 classes, 15 bins",
                        ours=lambda p=probs, t=y: expected_calibration_error(p, t),
                        baselines={"NumPy loop over bins": _ece_loop(probs, y)}, note="same value to 1e-12"))
    return out
