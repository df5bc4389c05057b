"""Benchmarks for the chapter :doc:`Meta-learned preconditioning </book/metalearning>`.

The meta-gradient of a linear warp (``nips2019.warpgrad.warpgrad_meta_loss``, one sampled point
of the trajectory, all tasks batched) against the gradient through the whole inner loop, computed
two ways: our batched ``maml_meta_loss`` and the peer library ``higher`` 0.2.1 (its
``innerloop_ctx`` with a differentiable SGD, one task at a time, which is how it is used); and the
adaptation of many tasks at once (``adapt``) against a loop over the tasks.
"""

from __future__ import annotations

import importlib.util

import torch

from benchmarks.run import Case
from nips2019.warpgrad import WarpedMLP, adapt, make_linear_tasks, maml_meta_loss, warpgrad_meta_loss


def _higher_unrolled(tasks, d, k, lr):
    import higher

    warp = torch.nn.Linear(d, d, bias=False)
    task = torch.nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        warp.weight.copy_(torch.eye(d))
        task.weight.zero_()
    model = torch.nn.Sequential(warp, task)
    xs, ys, xq, yq = tasks.arrays()

    def run():
        grads = torch.zeros_like(warp.weight)
        for t in range(xs.shape[0]):
            inner = torch.optim.SGD(task.parameters(), lr=lr)
            with higher.innerloop_ctx(model, inner, copy_initial_weights=False) as (fmodel, diffopt):
                for _ in range(k):
                    diffopt.step(0.5 * (fmodel(xs[t]) - ys[t]).pow(2).sum(-1).mean())
                loss = 0.5 * (fmodel(xq[t]) - yq[t]).pow(2).sum(-1).mean() / xs.shape[0]
                grads += torch.autograd.grad(loss, warp.weight)[0]
        return grads

    return run


def _meta_gradient_cases(quick: bool) -> list:
    out = []
    d, n_tasks, lr = 8, 16, 1.0
    tasks = make_linear_tasks(n_tasks, 32, 32, d, condition=100.0, generator=0)
    net = WarpedMLP([d, 1], bias=False, init_scale=0.0)
    for k in ([16] if quick else [16, 128]):
        def ours(k=k):
            loss = warpgrad_meta_loss(net, *tasks.arrays(), n_steps=k, lr=lr, n_points=1, generator=0)
            return torch.autograd.grad(loss, net.warp_parameters())

        def unrolled(k=k):
            return torch.autograd.grad(maml_meta_loss(net, *tasks.arrays(), n_steps=k, lr=lr),
                                       net.warp_parameters())

        baselines = {"unrolled, batched (maml_meta_loss)": unrolled}
        if importlib.util.find_spec("higher") is not None:  # optional peer library
            baselines["unrolled, higher 0.2.1, task loop"] = _higher_unrolled(tasks, d, k, lr)
        out.append(Case(name=f"meta-gradient of a linear warp, k = {k} inner steps, {n_tasks} tasks, d = {d}",
                        ours=ours, baselines=baselines,
                        repeat=3,
                        note="float32, 1 thread; WarpGrad differentiates one sampled step, the others all k"))
    return out


def _adapt_case(quick: bool) -> Case:
    n_tasks = 200 if quick else 2000
    tasks = make_linear_tasks(n_tasks, 32, 32, 8, generator=0)
    net = WarpedMLP([8, 16, 1], generator=0)

    def ours():
        return adapt(net, *tasks.arrays(), n_steps=5, lr=0.3).query_loss

    def loop():
        xs, ys, xq, yq = tasks.arrays()
        return [adapt(net, xs[t:t + 1], ys[t:t + 1], xq[t:t + 1], yq[t:t + 1], n_steps=5, lr=0.3).query_loss
                for t in range(n_tasks)]

    return Case(name=f"adapt {n_tasks} tasks, 5 steps, MLP 8-16-1 with warps", ours=ours,
                baselines={"loop over tasks": loop}, repeat=3, note="float32; the same losses to rounding")


def cases(quick: bool) -> list:
    return [*_meta_gradient_cases(quick), _adapt_case(quick)]
