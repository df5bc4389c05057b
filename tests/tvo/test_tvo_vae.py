"""The Bernoulli VAE: log-weights against a quadrature grid, training, reproducibility."""

import math

import pytest
import torch
from torch import nn

from nips2019.tvo import BernoulliVAE, estimate_log_likelihood, fit_vae

F64 = torch.float64


def _data(n=60, p=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    proto = (torch.rand(2, p, generator=g) > 0.5).double()
    flip = (torch.rand(n, p, generator=g) < 0.1).double()
    return (proto[torch.arange(n) % 2] + flip) % 2


def test_log_likelihood_against_quadrature():
    """One latent dimension: log p(x) = log int N(z; 0, 1) p(x | z) dz on a grid."""
    vae = BernoulliVAE(6, 1, 5, generator=0, dtype=F64)
    x = _data(n=4)
    z = torch.linspace(-10, 10, 20001, dtype=F64)[:, None]
    with torch.no_grad():
        logits = vae.decoder(z)  # (m, p)
        log_lik = -nn.functional.binary_cross_entropy_with_logits(
            logits[None].expand(4, -1, -1), x[:, None].expand(-1, z.shape[0], -1), reduction="none").sum(-1)
        log_prior = -0.5 * z[:, 0] ** 2 - 0.5 * math.log(2 * math.pi)
        exact = torch.logsumexp(log_lik + log_prior, -1) + math.log(float(z[1] - z[0]))
    est = estimate_log_likelihood(vae, x, n_samples=20_000, generator=0)
    torch.testing.assert_close(est, exact, atol=0.02, rtol=0)
    assert (est <= exact + 0.02).all()


def test_importance_log_q_is_normal_density():
    vae = BernoulliVAE(6, 2, 5, generator=0, dtype=F64)
    x = _data(n=3)
    smp = vae.importance(x, 4, generator=0)
    mu, log_s = vae.encoder(x).chunk(2, -1)
    ref = torch.distributions.Normal(mu[:, None], torch.exp(log_s)[:, None]).log_prob(smp.z).sum(-1)
    torch.testing.assert_close(smp.log_q, ref)
    assert not vae.importance(x, 4, reparameterize=False, generator=0).z.requires_grad


@pytest.mark.parametrize("objective", ["elbo", pytest.param("iwae", marks=pytest.mark.slow), "tvo",
                                       pytest.param("tvo_reparam", marks=pytest.mark.slow)])
def test_training_improves_the_objective(objective):
    x = _data()
    res = fit_vae(x, objective=objective, n_latent=2, hidden=16, n_samples=5, n_partitions=3, n_epochs=12,
                  batch_size=20, lr=1e-2, generator=0)
    assert res.history[-1] > res.history[0] + 0.5, res.history
    assert torch.isfinite(res.history).all()


def test_same_seed_same_model():
    x = _data()
    kw = dict(objective="tvo", schedule="moment", n_latent=2, hidden=4, n_epochs=2, batch_size=30)
    a, b = fit_vae(x, generator=5, **kw), fit_vae(x, generator=5, **kw)
    torch.testing.assert_close(a.history, b.history, rtol=0, atol=0)
    assert a.betas[0] == 0 and a.betas[-1] == 1 and a.betas.shape == (6,)


def test_bad_inputs():
    with pytest.raises(ValueError, match="x"):
        fit_vae(_data() * 0.5)
    with pytest.raises(ValueError, match="objective"):
        fit_vae(_data(), objective="rws")


@pytest.mark.gpu
def test_gpu_core_path():
    x = _data().cuda()
    res = fit_vae(x, objective="tvo", n_latent=2, hidden=8, n_epochs=2, batch_size=30, generator=0)
    ll = estimate_log_likelihood(res.model, x, n_samples=50, generator=0)
    assert ll.device.type == "cuda" and torch.isfinite(ll).all()
