"""Greedy InfoMax (nips2019.info.greedy_infomax, ContrastivePredictiveLoss): the CPC loss against a
naive loop, gradient isolation between modules, the end-to-end baseline, training, bad input."""

import math

import pytest
import torch
from torch import nn

from nips2019.info import ContrastivePredictiveLoss, greedy_infomax, infonce_bound

F64 = dict(dtype=torch.float64)


def _naive_cpc(z, weights, offsets):
    """Per anchor (b, t): -log softmax of its positive among all positions (b', t' + k)."""
    bsz, t_len, _ = z.shape
    total = 0.0
    for k, w in zip(offsets, weights):
        anchors = [(b, t) for b in range(bsz) for t in range(t_len - k)]
        terms = []
        for b, t in anchors:
            scores = torch.stack([z[b, t] @ w @ z[b2, t2 + k] for b2, t2 in anchors])
            pos = anchors.index((b, t))
            terms.append(torch.logsumexp(scores, 0) - scores[pos])
        total = total + torch.stack(terms).mean()
    return total / len(offsets)


def test_cpc_loss_matches_a_naive_loop_and_the_infonce_bound():
    g = torch.Generator().manual_seed(0)
    loss = ContrastivePredictiveLoss(3, offsets=(1, 3)).double()
    with torch.no_grad():
        for w in loss.weights:
            w.copy_(torch.randn(3, 3, generator=g, **F64))
    z = torch.randn(2, 6, 3, generator=g, **F64)
    ours = loss(z)
    ref = _naive_cpc(z, list(loss.weights), (1, 3))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    # log N_k - L_k is the InfoNCE bound of the same score matrix
    single = ContrastivePredictiveLoss(3, offsets=(1,)).double()
    with torch.no_grad():
        single.weights[0].copy_(loss.weights[0])
    anchors, positives = z[:, :-1].reshape(-1, 3), z[:, 1:].reshape(-1, 3)
    scores = anchors @ loss.weights[0] @ positives.T
    torch.testing.assert_close(math.log(10) - single(z), infonce_bound(scores), rtol=1e-12, atol=1e-12)


def _stack():
    torch.manual_seed(0)
    modules = [nn.Sequential(nn.Linear(3, 5), nn.Tanh()), nn.Sequential(nn.Linear(5, 4), nn.Tanh())]
    heads = [ContrastivePredictiveLoss(5, offsets=(1,)), ContrastivePredictiveLoss(4, offsets=(1,))]
    with torch.no_grad():
        for h in heads:
            h.weights[0].normal_()
    return modules, heads


def test_no_gradient_crosses_a_module_boundary():
    """Greedy: module 1's gradient is that of its own loss alone (module 2's loss adds nothing);
    end to end: module 1 is trained by module 2's loss."""
    from nips2019.info._greedy import _step_losses

    x = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(1))
    modules, heads = _stack()
    first = modules[0][0].weight
    own = torch.autograd.grad(heads[0](modules[0](x)), first)[0]
    total = sum(_step_losses(modules, heads, x, "greedy"))
    greedy = torch.autograd.grad(total, first)[0]
    torch.testing.assert_close(greedy, own, rtol=0, atol=0)
    only_second = _step_losses(modules, heads, x, "greedy")[1]
    assert torch.autograd.grad(only_second, first, allow_unused=True)[0] is None
    e2e = _step_losses(modules, heads, x, "end-to-end")
    assert len(e2e) == 1
    grad = torch.autograd.grad(e2e[0], first)[0]
    assert float(grad.abs().max()) > 0


def test_training_lowers_each_module_loss_and_is_reproducible():
    seqs = torch.randn(30, 10, 3, generator=torch.Generator().manual_seed(2)).cumsum(1)
    runs = []
    for _ in range(2):
        modules, heads = _stack()
        res = greedy_infomax(modules, heads, seqs, n_steps=40, batch_size=8, lr=0.02, generator=3,
                             progress=False)
        runs.append(res.losses)
    assert res.losses.shape == (40, 2) and res.mode == "greedy"
    assert bool((res.losses[-5:].mean(0) < res.losses[:5].mean(0) - 0.2).all()), res.losses
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    modules, heads = _stack()
    e2e = greedy_infomax(modules, heads, seqs, mode="end-to-end", n_steps=5, batch_size=8, generator=0,
                         progress=False)
    assert e2e.losses.shape == (5, 1)


def test_bad_inputs():
    modules, heads = _stack()
    x = torch.randn(5, 6, 3)
    with pytest.raises(ValueError, match="one loss per module"):
        greedy_infomax(modules, heads[:1], x, n_steps=1)
    with pytest.raises(ValueError, match="device and dtype of data"):
        greedy_infomax(modules, heads, x.double(), n_steps=1)
    with pytest.raises(ValueError, match="no trainable parameters"):
        greedy_infomax([nn.Identity()], [lambda z: z.sum()], x, n_steps=1)
    with pytest.raises(ValueError, match="too short"):
        heads[0](torch.randn(2, 1, 5))
    with pytest.raises(ValueError, match="shape"):
        heads[0](torch.randn(2, 6, 4))
    with pytest.raises(ValueError, match="offsets"):
        ContrastivePredictiveLoss(3, offsets=(0,))


@pytest.mark.gpu
def test_gpu_training_step():
    modules, heads = _stack()
    modules = [m.cuda() for m in modules]
    heads = [h.cuda() for h in heads]
    seqs = torch.randn(20, 8, 3, generator=torch.Generator().manual_seed(4)).cumsum(1).cuda()
    res = greedy_infomax(modules, heads, seqs, n_steps=10, batch_size=4, generator=0, progress=False)
    assert res.losses.is_cuda and torch.isfinite(res.losses).all()
