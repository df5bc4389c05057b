"""Benchmarks for the dimension-reduction chapter, each against a peer or a naive baseline.

Sparse JL applied to sparse bag-of-words rows (``SparseJL.apply``: s scatter-adds per input
non-zero) against a dense Gaussian projection of the same sparse input (``torch.sparse.mm``),
scikit-learn's ``SparseRandomProjection.transform`` (scipy CSR) and scipy's CSR product with our
own matrix (the fastest scipy configuration: both operands CSR); the Monte-Carlo distortion
(``jl_distortion``, only the support's columns) against a loop that builds each dense matrix; and
the exact GPFA posterior (``gpfa_posterior``: one qT x qT Cholesky for all trials) against
dense Gaussian conditioning on the pT x pT covariance of each trial.
"""

from __future__ import annotations

import math

import scipy.sparse
import torch

from benchmarks.run import Case
from nips2019.gpfa import GPFAFit, gp_covariance, gpfa_posterior, make_gpfa_data
from nips2019.sketch import jl_distortion, sparse_jl


def _bow(n_docs, n_words, per_doc=60, seed=3):
    g = torch.Generator().manual_seed(seed)
    ranks = torch.multinomial(1.0 / torch.arange(1.0, n_words + 1), n_docs * per_doc, replacement=True, generator=g)
    doc = torch.arange(n_docs).repeat_interleave(per_doc)
    return torch.sparse_coo_tensor(torch.stack([doc, ranks]), torch.ones(n_docs * per_doc), (n_docs, n_words)).coalesce()


def _naive_distortion(x, m, s, n_trials):
    def run():
        out = []
        for t in range(n_trials):
            a = sparse_jl(x.numel(), m, sparsity=s, generator=t, dtype=x.dtype).to_dense()
            out.append((a @ x).square().sum() / x.square().sum() - 1)
        return torch.stack(out)

    return run


def _dense_posterior(fit, y):
    q, t = fit.n_latents, fit.times.numel()

    def run():
        kbar = torch.block_diag(*gp_covariance(fit.times, fit.timescales, gp_noise=fit.gp_noise))
        cbar = torch.kron(torch.eye(t, dtype=y.dtype), fit.loading)  # time-major rows, time-major latents
        perm = torch.arange(q * t).reshape(q, t).T.reshape(-1)  # latent-major -> time-major
        kt = kbar[perm][:, perm]
        cov_y = cbar @ kt @ cbar.T + torch.diag(fit.noise.repeat(t))
        gain = torch.linalg.solve(cov_y, cbar @ kt).T
        return (y.reshape(len(y), -1) - fit.offset.repeat(t)) @ gain.T

    return run


def cases(quick: bool) -> list:
    out = []
    m = 1024
    for n_docs in ([2000] if quick else [2000, 20_000]):
        n_words = 2**16
        bow = _bow(n_docs, n_words)
        a = sparse_jl(n_words, m, sparsity=4, generator=0)
        gauss = torch.randn(n_words, m, generator=torch.Generator().manual_seed(1)) / math.sqrt(m)
        csr = scipy.sparse.csr_matrix((bow.values().numpy(), bow.indices().numpy()), shape=(n_docs, n_words))
        a_csr = scipy.sparse.csr_matrix(a.to_dense().T.numpy())
        from sklearn.random_projection import SparseRandomProjection

        srp = SparseRandomProjection(m, random_state=0).fit(csr[:1])
        out.append(Case(name=f"project {n_docs} sparse rows, n = 2^16, m = {m}, {bow.values().numel()} non-zeros",
                        ours=lambda a=a, bow=bow: a.apply(bow),
                        baselines={"dense Gaussian, torch.sparse.mm": lambda bow=bow, g=gauss: torch.sparse.mm(bow, g),
                                   "sklearn SparseRandomProjection": lambda srp=srp, csr=csr: srp.transform(csr),
                                   "scipy CSR @ CSR (our matrix)": lambda csr=csr, a_csr=a_csr: csr @ a_csr},
                        note="s = 4, float32; sklearn's density is 1/sqrt(n) per entry (about 4 per column here)"))
    n_trials = 200 if quick else 1000
    x = torch.ones(256, dtype=torch.float64)
    out.append(Case(name=f"distortion of a 256-sparse vector, {n_trials} random matrices, m = {m}, s = 4",
                    ours=lambda: jl_distortion(x, m, sparsity=4, n_trials=n_trials, generator=0),
                    baselines={"dense matrix per trial": _naive_distortion(x, m, 4, n_trials)}, repeat=2))
    for t in ([40] if quick else [40, 80]):
        d = make_gpfa_data(20, t, 30, torch.tensor([2.0, 5.0, 12.0]), generator=0)
        fit = GPFAFit(d.loading, d.offset, d.noise, d.timescales, d.times, 1e-3, torch.zeros(0), 0)
        out.append(Case(name=f"GPFA posterior, 20 trials x {t} bins x 30 signals, 3 latents",
                        ours=lambda fit=fit, y=d.y: gpfa_posterior(fit, y),
                        baselines={"dense pT x pT conditioning": _dense_posterior(fit, d.y)},
                        note="float64; same means to 1e-10 (tests/gpfa compares with the dense form)"))
    return out
