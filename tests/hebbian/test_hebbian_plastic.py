"""Plastic and neuromodulated RNNs against naive loops; gradients; training; episodes."""

import math

import pytest
import torch

from nips2019.hebbian import (
    NeuromodulatedRNN,
    PlasticRNN,
    RecurrentBaseline,
    completion_error,
    episode_loss,
    pattern_episodes,
    train_episodes,
)


def _naive_plastic(w, alpha, eta, x, rule):
    """Element by element, one episode at a time, following the paper's equations."""
    t_len, bsz, n = x.shape
    hs = torch.zeros(t_len, bsz, n, dtype=x.dtype)
    hebbs = torch.zeros(bsz, n, n, dtype=x.dtype)
    for b in range(bsz):
        h = [0.0] * n
        hebb = [[0.0] * n for _ in range(n)]
        for t in range(t_len):
            new = []
            for j in range(n):
                s = sum(h[i] * (float(w[i, j]) + float(alpha[i, j]) * hebb[i][j]) for i in range(n))
                new.append(math.tanh(s + float(x[t, b, j])))
            for i in range(n):
                for j in range(n):
                    if rule == "hebb":
                        hebb[i][j] = (1 - eta) * hebb[i][j] + eta * h[i] * new[j]
                    else:
                        hebb[i][j] = hebb[i][j] + eta * new[j] * (h[i] - new[j] * hebb[i][j])
            h = new
            hs[t, b] = torch.tensor(h, dtype=x.dtype)
        hebbs[b] = torch.tensor(hebb, dtype=x.dtype)
    return hs, hebbs


def _naive_neuromod(net, x):
    t_len, bsz, n = x.shape
    w, alpha, v, c = net.w.detach(), net.alpha.detach(), net.mod_w.detach(), float(net.mod_b.detach())
    eta = float(net.eta.detach())
    hs, ms = torch.zeros(t_len, bsz, n, dtype=x.dtype), torch.zeros(t_len, bsz, dtype=x.dtype)
    for b in range(bsz):
        h = torch.zeros(n, dtype=x.dtype)
        hebb = torch.zeros(n, n, dtype=x.dtype)
        elig = torch.zeros(n, n, dtype=x.dtype)
        for t in range(t_len):
            new = torch.tanh(h @ (w + alpha * hebb) + x[t, b])
            m = math.tanh(float(new @ v) + c)
            co = torch.outer(h, new)
            if net.modulation == "simple":
                hebb = (hebb + m * co).clamp(-1, 1)
            else:
                hebb = (hebb + m * elig).clamp(-1, 1)
                elig = (1 - eta) * elig + eta * co
            h = new
            hs[t, b], ms[t, b] = h, m
    return hs, ms


@pytest.mark.parametrize("rule", ["hebb", "oja"])
def test_plastic_forward_matches_naive_loop(rule):
    g = torch.Generator().manual_seed(0)
    net = PlasticRNN(4, rule=rule, alpha_init=1.0, w_init=0.5, eta_init=0.3, generator=g).double()
    x = torch.randn(6, 2, 4, generator=g, dtype=torch.float64)
    ep = net.run(x, record_trace=True)
    hs, hebbs = _naive_plastic(net.w.detach(), net.alpha.detach(), float(net.eta.detach()), x, rule)
    torch.testing.assert_close(ep.h, hs)
    torch.testing.assert_close(ep.hebb, hebbs)
    torch.testing.assert_close(ep.hebb_history[-1], ep.hebb)


@pytest.mark.parametrize("modulation", ["simple", "retroactive"])
def test_neuromodulated_forward_matches_naive_loop(modulation):
    g = torch.Generator().manual_seed(1)
    net = NeuromodulatedRNN(5, modulation=modulation, alpha_init=1.0, w_init=0.5, generator=g).double()
    with torch.no_grad():
        net.mod_w.normal_(0, 2, generator=g)
    x = 2 * torch.randn(8, 3, 5, generator=g, dtype=torch.float64)
    ep = net.run(x)
    hs, ms = _naive_neuromod(net, x)
    torch.testing.assert_close(ep.h, hs)
    torch.testing.assert_close(ep.modulation, ms)
    assert ep.hebb.abs().max() <= 1.0


def test_gradients_reach_alpha_and_eta_and_trace_is_not_a_parameter():
    g = torch.Generator().manual_seed(2)
    for net in (PlasticRNN(6, generator=g), NeuromodulatedRNN(6, modulation="retroactive", generator=g)):
        ep = pattern_episodes(3, 5, generator=g)
        net(ep.inputs)[-1, :, :5].pow(2).sum().backward()
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        assert not any("hebb" in k for k in net.state_dict())
    # gradient wrt eta checked against a finite difference
    net = PlasticRNN(4, alpha_init=1.0, w_init=0.5, generator=g).double()
    x = torch.randn(5, 2, 4, generator=g, dtype=torch.float64)
    net(x).sum().backward()
    eps = 1e-6
    with torch.no_grad():
        net.eta_logit += eps
        up = net(x).sum()
        net.eta_logit -= 2 * eps
        down = net(x).sum()
    torch.testing.assert_close(net.eta_logit.grad, (up - down) / (2 * eps), rtol=1e-5, atol=1e-8)


def test_state_dict_round_trip_and_dtype(dtype, device):
    g = torch.Generator().manual_seed(3)
    net = NeuromodulatedRNN(5, generator=g).to(device=device, dtype=dtype)
    clone = NeuromodulatedRNN(5).to(device=device, dtype=dtype)
    clone.load_state_dict(net.state_dict())
    x = torch.randn(4, 2, 5, generator=g).to(device=device, dtype=dtype)
    out = net(x)
    assert out.dtype == dtype and out.device.type == device.type
    torch.testing.assert_close(clone(x), out)


def test_short_training_beats_chance_and_baseline():
    """A plastic net learns to complete patterns within 60 steps; an LSTM trained alike does not."""
    torch.manual_seed(0)
    sampler = lambda gen: pattern_episodes(16, 12, n_patterns=2, n_presentations=2, present_steps=3,  # noqa: E731
                                           gap_steps=1, probe_steps=2, generator=gen)
    net = PlasticRNN(13, generator=torch.Generator().manual_seed(0))
    curve = train_episodes(net, sampler, n_steps=60, lr=1e-2, generator=torch.Generator().manual_seed(1))
    lstm = RecurrentBaseline(13, 32, 12)
    base = train_episodes(lstm, sampler, n_steps=60, lr=1e-2, generator=torch.Generator().manual_seed(1))
    assert curve.error[-20:].mean() < 0.2, curve.error[-20:].mean()
    assert base.error[-20:].mean() > curve.error[-20:].mean() + 0.1
    assert curve.loss[-20:].mean() < 0.5 * curve.loss[:5].mean()


def test_episode_structure():
    g = torch.Generator().manual_seed(4)
    ep = pattern_episodes(5, 8, n_patterns=2, n_distractors=3, n_presentations=2, present_steps=2, gap_steps=1,
                          probe_steps=2, generator=g)
    assert ep.inputs.shape == (2 * 5 * 3 + 2, 5, 10)
    assert (ep.inputs[..., 8] == 1).all()  # bias input
    assert torch.equal(ep.erased.sum(1), torch.full((5,), 4))
    for b in range(5):
        assert any(torch.equal(ep.target[b], ep.patterns[b, k]) for k in range(2))
        probe = ep.inputs[-1, b, :8]
        torch.testing.assert_close(probe, torch.where(ep.erased[b], 0.0, ep.target[b]))
        # the flag is on exactly while one of the two targets is shown
        for t in range(2 * 5 * 3):
            shown = ep.inputs[t, b, :8]
            is_target = any(torch.equal(shown, ep.patterns[b, k]) for k in range(2))
            assert float(ep.inputs[t, b, 9]) == float(is_target and shown.abs().sum() > 0)
        # each pattern appears present_steps * n_presentations times
        for k in range(5):
            assert sum(torch.equal(ep.inputs[t, b, :8], ep.patterns[b, k]) for t in range(30)) == 4


def test_loss_and_error():
    ep = pattern_episodes(3, 10, generator=torch.Generator().manual_seed(5))
    assert float(completion_error(ep.target * 0.1, ep)) == 0.0
    wrong = torch.where(ep.erased, -ep.target, ep.target)
    assert float(completion_error(wrong, ep)) == 1.0
    torch.testing.assert_close(episode_loss(wrong, ep.target, margin=None), torch.tensor(2.0))  # 4 * half the bits


def test_bad_inputs():
    net = PlasticRNN(4)
    with pytest.raises(ValueError, match=r"PlasticRNN.forward: x must have shape \(T, B, 4\)"):
        net(torch.zeros(3, 2, 5))
    with pytest.raises(ValueError, match="PlasticRNN.forward: x must be 3-D"):
        net(torch.zeros(3, 4))
    with pytest.raises(TypeError, match="x has dtype torch.float64 but the PlasticRNN has torch.float32"):
        net(torch.zeros(3, 2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"PlasticRNN.run: h0 has size 3 along axis 0 \(B\)"):
        net.run(torch.zeros(3, 2, 4), torch.zeros(3, 4))
    x_nan = torch.zeros(3, 2, 4)
    x_nan[1, 0, 2] = float("nan")
    with pytest.raises(ValueError, match="PlasticRNN.run: x contains 1 non-finite"):
        net.run(x_nan)
    with pytest.raises(ValueError, match="PlasticRNN: rule must be one of"):
        PlasticRNN(4, rule="bcm")
    with pytest.raises(ValueError, match=r"PlasticRNN: eta_init must be a real number in \(0, 1\)"):
        PlasticRNN(4, eta_init=1.5)
    with pytest.raises(ValueError, match="NeuromodulatedRNN: modulation must be one of"):
        NeuromodulatedRNN(4, modulation="dopamine")
    with pytest.raises(ValueError, match="RecurrentBaseline: cell must be one of"):
        RecurrentBaseline(3, 4, 5, cell="gru")
    with pytest.raises(ValueError, match=r"RecurrentBaseline.forward: x must have shape \(T, B, 3\)"):
        RecurrentBaseline(3, 4, 5)(torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="pattern_episodes: n_distractors must be an integer >= 0"):
        pattern_episodes(2, 4, n_distractors=-1)
    with pytest.raises(ValueError, match="pattern_episodes: pattern_size must be an integer >= 2"):
        pattern_episodes(2, 0)
    with pytest.raises(ValueError, match="train_episodes: n_steps must be an integer >= 1"):
        train_episodes(net, lambda g: pattern_episodes(2, 3, generator=g), n_steps=0)
    with pytest.raises(TypeError, match="train_episodes: sampler must return an EpisodeBatch"):
        train_episodes(net, lambda g: torch.zeros(3, 2, 4), n_steps=1)
    with pytest.raises(ValueError, match="train_episodes: sampler made episodes on cpu \\(torch.float64\\)"):
        train_episodes(net, lambda g: pattern_episodes(2, 3, generator=g, dtype=torch.float64), n_steps=1)
    ep = pattern_episodes(2, 6, generator=0)
    with pytest.raises(ValueError, match=r"completion_error: output must have the shape of episodes.target"):
        completion_error(torch.zeros(2, 5), ep)
    with pytest.raises(TypeError, match="episodes has dtype torch.float32 but output has torch.float64"):
        completion_error(ep.target.double(), ep)
    with pytest.raises(ValueError, match="episode_loss: target may only contain the values"):
        episode_loss(ep.target, ep.target * 0.5)


def test_same_seed_same_numbers(device):
    """The randomness rule: an int seed gives the same initialisation and episodes, on CPU and on CUDA."""
    for make in (lambda: PlasticRNN(5, rule="oja", generator=3), lambda: NeuromodulatedRNN(5, generator=3),
                 lambda: RecurrentBaseline(5, 6, 4, generator=3)):
        a, b = make().to(device), make()
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.equal(p.detach().cpu(), q.detach()), name
    e1 = pattern_episodes(3, 6, n_distractors=1, generator=4, device=device)
    e2 = pattern_episodes(3, 6, n_distractors=1, generator=4)
    assert e1.inputs.device.type == device.type
    for f in ("inputs", "target", "erased", "patterns"):
        assert torch.equal(getattr(e1, f).cpu(), getattr(e2, f)), f
    assert not torch.equal(pattern_episodes(3, 6, generator=5).inputs, e2.inputs)
    # one stream for the whole initialisation: w, alpha, then the modulation read-out
    net, g = NeuromodulatedRNN(5, w_init=0.5, alpha_init=0.2, generator=3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(net.w.detach(), 0.5 * (2 * torch.rand(5, 5, generator=g) - 1))
    torch.testing.assert_close(net.alpha.detach(), 0.2 * (2 * torch.rand(5, 5, generator=g) - 1))
    torch.testing.assert_close(net.mod_w.detach(), 0.01 * (2 * torch.rand(5, generator=g) - 1))


def test_recurrent_baseline_init_matches_pytorch_default_range():
    net = RecurrentBaseline(4, 25, 3, cell="lstm", generator=0)
    for name, p in net.named_parameters():  # PyTorch's default: uniform in [-1/sqrt(25), 1/sqrt(25)]
        p = p.detach()
        assert p.abs().max() <= 0.2, name
        if p.numel() >= 75:
            assert p.abs().max() > 0.18 and abs(float(p.mean())) < 0.03, name


@pytest.mark.gpu
def test_same_seed_same_numbers_on_cuda():
    test_same_seed_same_numbers(torch.device("cuda"))


@pytest.mark.gpu
def test_core_path_on_cuda():
    from nips2019.hebbian import fit_hebbian, hopfield_recall, hopfield_weights, random_patterns

    dev = torch.device("cuda")
    x = torch.randn(200, 5, device=dev) * torch.tensor([3.0, 1, 1, 1, 1], device=dev)
    fit = fit_hebbian(x, rule="oja", n_epochs=3, batch_size=10, lr=0.01)
    assert fit.weights.device.type == "cuda" and abs(float(fit.weights[0].abs())) > 0.9
    pats = random_patterns(3, 64, device=dev)
    assert torch.equal(hopfield_recall(hopfield_weights(pats), pats).states, pats)
    net = NeuromodulatedRNN(7).to(dev)
    ep = pattern_episodes(4, 5, n_distractors=1, device=dev)
    curve = train_episodes(net, lambda g: pattern_episodes(4, 5, n_distractors=1, generator=g, device=dev), n_steps=3)
    assert net(ep.inputs).device.type == "cuda" and torch.isfinite(curve.loss).all()
