"""Benchmarks for the prototype-layers chapter, each against a simpler or general-purpose peer.

The prototype distance layer (``nips2019.prototypes.prototype_distances``: the expansion
``||z||^2 - 2 z.p + ||p||^2`` as two convolutions) against ``torch.cdist`` on the unfolded
patches (``F.unfold``, the other vectorised route) and a naive loop over prototypes; the push
(``push_prototypes``) over all training images; and the convex last-layer problem
(``fit_last_layer``, FISTA with restart on the frozen similarity scores) against cvxpy with
Clarabel on the same objective (scipy's L-BFGS-B on a split formulation agrees in the tests).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.run import Case
from nips2019.prototypes import (ConvBackbone, ProtoPNet, fit_last_layer, load_digit_images, prototype_distances,
                                 push_prototypes)


def _unfold_cdist(z, p):
    def run():
        n, d, hh, ww = z.shape
        m, _, h, w = p.shape
        cols = F.unfold(z, (h, w)).transpose(1, 2)  # (n, L, d h w)
        dist = torch.cdist(cols, p.reshape(1, m, -1).expand(n, -1, -1)) ** 2
        return dist.transpose(1, 2).reshape(n, m, hh - h + 1, ww - w + 1)

    return run


def _loop(z, p):
    def run():
        h, w = p.shape[2:]
        cols = F.unfold(z, (h, w))  # (n, d h w, L)
        return torch.stack([(cols - pj.reshape(1, -1, 1)).pow(2).sum(1) for pj in p], 1)

    return run


def _cvxpy(s, y, wrong, l1, l2):
    def run():
        import cvxpy as cp

        n, m = s.shape
        k = wrong.shape[0]
        w = cp.Variable((k, m))
        logits = s @ w.T
        ce = cp.sum(cp.log_sum_exp(logits, axis=1) - cp.sum(cp.multiply(np.eye(k)[y], logits), axis=1)) / n
        obj = ce + l1 * cp.sum(cp.abs(cp.multiply(wrong, w))) + 0.5 * l2 * cp.sum_squares(w)
        prob = cp.Problem(cp.Minimize(obj))
        prob.solve(solver="CLARABEL")
        return w.value

    return run


def cases(quick: bool) -> list:
    out = []
    g = torch.Generator().manual_seed(0)
    sizes = [(64, 128, 7, 200)] if quick else [(64, 128, 7, 200), (80, 128, 7, 2000)]
    for n, d, hw, m in sizes:
        z = torch.rand(n, d, hw, hw, generator=g)
        p = torch.rand(m, d, 1, 1, generator=g)
        out.append(Case(name=f"prototype distances, {n} maps {d} x {hw} x {hw}, {m} prototypes",
                        ours=lambda z=z, p=p: prototype_distances(z, p),
                        baselines={"unfold + torch.cdist": _unfold_cdist(z, p),
                                   "loop over prototypes": _loop(z, p)},
                        note="float32, 1 x 1 prototypes as in the paper (CUB: 2000 prototypes, d = 128)"))
    data = load_digit_images(1297, 0, generator=0)
    net = ProtoPNet(ConvBackbone(1, (16, 32), generator=0), 32, 10, n_features=16, generator=0)
    out.append(Case(name="push: 20 prototypes onto 1297 digits (4 x 4 latent maps)",
                    ours=lambda: push_prototypes(net, data.x_train, data.y_train), repeat=3,
                    note="untrained network; cost is one forward pass plus the argmin"))
    push_prototypes(net, data.x_train, data.y_train)
    with torch.no_grad():
        s = net.details(data.x_train).similarities.double().numpy()
    wrong = (1 - net.class_connection()).numpy()
    y = data.y_train.numpy()
    net64 = copy.deepcopy(net).double()
    x64 = data.x_train.double()
    out.append(Case(name="convex last layer, 1297 x 20 scores, 10 classes, l1 = l2 = 1e-3",
                    ours=lambda: (net64.reset_last_layer(), fit_last_layer(net64, x64, data.y_train, l1=1e-3,
                                                                           l2=1e-3)),
                    baselines={"cvxpy + Clarabel": _cvxpy(s, y, wrong, 1e-3, 1e-3)}, repeat=1,
                    note="ours includes the forward pass that computes the scores; float64"))
    return out
