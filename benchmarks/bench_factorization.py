"""Benchmarks for the factorization chapter (deep matrix factorisation and positional normalisation).

Gradient descent on a depth-3 factorisation of 30 x 30 matrices (8 observation sets batched):
``nips2019.factorization.deep_factorization`` (gradients by hand from prefix products) against the
same steps with autograd (``loss.backward()`` on the product, the obvious PyTorch loop);
minimum nuclear norm completion by cvxpy with SCS at 1e-8 (ours) against Clarabel (interior
point, the more accurate default choice); and PONO forward + backward
(``nips2019.pono.positional_normalize``) against ``torch.nn.functional.layer_norm`` over the channel
axis moved last (PyTorch's fused kernel; the same numbers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.run import Case
from nips2019.factorization import deep_factorization, make_completion_problem, nuclear_norm_completion
from nips2019.pono import positional_normalize


def _autograd_gd(target, mask, depth, lr, n_steps, init_scale):
    def run():
        g = torch.Generator().manual_seed(0)
        m, n = target.shape[-2:]
        ws = [(init_scale / m**0.5 * torch.randn(*target.shape[:-2], m, m, generator=g, dtype=target.dtype))
              .requires_grad_(True) for _ in range(depth)]
        maskf = mask.to(target.dtype)
        for _ in range(n_steps):
            prod = ws[0]
            for w in ws[1:]:
                prod = w @ prod
            loss = 0.5 * ((prod - target) * maskf).square().sum()
            grads = torch.autograd.grad(loss, ws)
            with torch.no_grad():
                for w, gr in zip(ws, grads):
                    w -= lr * gr
        return prod

    return run


def _clarabel(target, mask):
    import cvxpy as cp

    def run():
        w = cp.Variable(tuple(target.shape))
        k = mask.numpy().astype(float)
        cp.Problem(cp.Minimize(cp.normNuc(w)), [cp.multiply(k, w) == k * target.numpy()]).solve(solver=cp.CLARABEL)
        return w.value

    return run


def _pono_step(x, fn):
    def run():
        y = x.detach().requires_grad_(True)
        fn(y).square().sum().backward()
        return y.grad

    return run


def cases(quick: bool) -> list:
    out = []
    obs = [300, 350, 400, 450, 500, 550, 600, 650]
    p = make_completion_problem(30, 30, 5, obs, generator=0)
    batch = p.target.expand(len(obs), 30, 30).contiguous()
    n_steps = 300 if quick else 2000
    out.append(Case(
        name=f"deep factorisation GD, depth 3, 8 x (30 x 30), {n_steps} steps",
        ours=lambda: deep_factorization(batch, p.mask, depth=3, lr=1.0, n_steps=n_steps, init_scale=0.03,
                                        record_every=n_steps, generator=0, progress=False),
        baselines={"autograd loop (same steps)": _autograd_gd(batch, p.mask, 3, 1.0, n_steps, 0.03)},
        repeat=1 if not quick else 2, note="float64, 1 thread; ours records singular values once"))
    out.append(Case(
        name="min nuclear norm completion, 30 x 30, 400 observed",
        ours=lambda: nuclear_norm_completion(p.target, p.mask[2]),
        baselines={"cvxpy + Clarabel": _clarabel(p.target, p.mask[2])},
        repeat=1, note="cvxpy + SCS (eps 1e-8); solutions agree to 1e-5 (tests/factorization)"))
    shape = (16, 32, 16, 16) if quick else (64, 64, 32, 32)
    x = torch.randn(*shape)
    out.append(Case(
        name=f"PONO forward + backward, {shape}",
        ours=_pono_step(x, lambda t: positional_normalize(t).output),
        baselines={"F.layer_norm on channels-last": _pono_step(
            x, lambda t: F.layer_norm(t.movedim(1, -1), (t.shape[1],)).movedim(-1, 1))},
        note="float32; ours also returns the two moment maps"))
    return out
