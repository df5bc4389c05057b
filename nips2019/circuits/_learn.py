"""Parameter learning for circuits: full-batch / mini-batch EM and gradient training."""

from __future__ import annotations

import torch

from ..utils import check_positive, check_tensor, progress
from ._circuit import Circuit


def _edge_segments(circuit: Circuit) -> torch.Tensor:
    """Sum-node index of every edge, shape (E,)."""
    seg = torch.empty(circuit.log_weights.numel(), dtype=torch.long, device=circuit.log_weights.device)
    offset = 0
    for is_sum, start, stop, name in circuit._layers:
        if not is_sum:
            continue
        _, eidx = circuit._layer(name)
        rows = torch.arange(offset, offset + eidx.shape[0], device=eidx.device).unsqueeze(1).expand_as(eidx)
        valid = eidx < seg.numel()
        seg[eidx[valid]] = rows[valid]
        offset += eidx.shape[0]
    return seg


def _statistics(circuit: Circuit, x: torch.Tensor, chunk_size: int | None):
    """Expected sufficient statistics (flows) of EM, summed over the rows of ``x``."""
    check_tensor(x, "x", ndim=2)
    if torch.isnan(x.to(torch.float64)).any():
        raise ValueError("x must be complete (no NaN) for EM")
    chunk = chunk_size or x.shape[0]
    lo, hi = circuit._leaf_ranges["bernoulli"], circuit._leaf_ranges["categorical"]
    go = circuit._leaf_ranges["gaussian"]
    base = 2
    st = dict(edge=0.0, ll=0.0, b1=0.0, b0=0.0, g0=0.0, g1=0.0, g2=0.0)
    st["cat"] = torch.zeros_like(circuit.cat_logits, dtype=circuit.log_weights.dtype)
    for i in range(0, x.shape[0], chunk):
        xc = x[i : i + chunk]
        flows, g_w, lp = circuit.leaf_flows(xc)
        xp, _ = circuit._prepare(xc, None)
        st["edge"] = st["edge"] + g_w
        st["ll"] += lp.sum().item()
        f = flows[:, lo[0] - base : lo[1] - base]
        xv = xp[:, circuit.var_bernoulli]
        st["b1"] = st["b1"] + (f * xv).sum(0)
        st["b0"] = st["b0"] + (f * (1 - xv)).sum(0)
        f = flows[:, hi[0] - base : hi[1] - base]
        if f.numel():
            idx = xp[:, circuit.var_categorical].long()
            rows = torch.arange(f.shape[1], device=f.device).expand_as(idx)
            st["cat"].index_put_((rows.reshape(-1), idx.reshape(-1)), f.reshape(-1), accumulate=True)
        f = flows[:, go[0] - base : go[1] - base]
        xv = xp[:, circuit.var_gaussian]
        st["g0"] = st["g0"] + f.sum(0)
        st["g1"] = st["g1"] + (f * xv).sum(0)
        st["g2"] = st["g2"] + (f * xv * xv).sum(0)
    return st


@torch.no_grad()
def _update(circuit: Circuit, st, pseudocount: float, step: float, leaf_pseudocount: float | None = None):
    seg = _edge_segments(circuit)
    a = pseudocount
    num = st["edge"] + a
    den = torch.zeros(int(seg.max()) + 1 if seg.numel() else 0, dtype=num.dtype, device=num.device)
    den.index_add_(0, seg, num)
    w_new = num / den[seg]
    w_old = circuit.log_weights.exp()
    circuit.log_weights.copy_(((1 - step) * w_old + step * w_new).log())
    a = pseudocount if leaf_pseudocount is None else leaf_pseudocount
    if circuit.bern_logits.numel():
        p_new = (st["b1"] + a) / (st["b1"] + st["b0"] + 2 * a)
        p = ((1 - step) * torch.sigmoid(circuit.bern_logits) + step * p_new).clamp(1e-6, 1 - 1e-6)
        circuit.bern_logits.copy_(p.log() - (-p).log1p())
    if circuit.cat_logits.numel():
        cnt = (st["cat"] + a) * circuit.cat_valid
        q_new = cnt / cnt.sum(1, keepdim=True)
        q = ((1 - step) * circuit._cat_logp().exp() + step * q_new).clamp_min(1e-12)
        circuit.cat_logits.copy_(q.log())
    if circuit.gauss_mean.numel():
        s0 = st["g0"].clamp_min(1e-12)
        mean = st["g1"] / s0
        var = (st["g2"] / s0 - mean**2).clamp_min(circuit.min_std**2)
        ok = st["g0"] > 1e-8
        mean = torch.where(ok, (1 - step) * circuit.gauss_mean + step * mean, circuit.gauss_mean)
        std = torch.where(ok, (1 - step) * circuit._std() + step * var.sqrt(), circuit._std())
        circuit.gauss_mean.copy_(mean)
        circuit.gauss_log_std.copy_(std.log())


def em_step(
    circuit: Circuit,
    x: torch.Tensor,
    pseudocount: float = 0.0,
    chunk_size: int | None = None,
    leaf_pseudocount: float | None = None,
) -> float:
    r"""One full-batch EM update; returns the mean training log-value *before* the update.

    The E-step is a backward pass: the flow of edge :math:`(n, c)` summed over the data,
    :math:`F_{nc} = \sum_i \partial \log c(x^{(i)}) / \partial \log \theta_{nc}`, is the expected number of
    times the edge is used; the M-step sets :math:`\theta_{nc} \propto F_{nc} + \alpha` (and input
    distributions to their flow-weighted maximum likelihood estimates). With ``pseudocount=0`` this is
    exact EM on a smooth, decomposable circuit, so the training likelihood never decreases.
    See the chapter *Probabilistic circuits*.

    Parameters
    ----------
    circuit : Circuit
        Smooth and decomposable; updated in place.
    x : Tensor, shape (n, num_vars)
        Complete training data.
    pseudocount : float
        Dirichlet/Laplace smoothing :math:`\alpha \ge 0` added to every edge flow (a MAP-EM step
        when positive).
    chunk_size : int, optional
        Rows per forward/backward pass (memory only; the update is the same).
    leaf_pseudocount : float, optional
        Smoothing of the input distributions' counts (default: ``pseudocount``). Input nodes see
        few samples each in large circuits; a larger value here keeps them away from 0 and 1.

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import mixture_circuit
    >>> x = (torch.rand(200, 5, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    >>> c = mixture_circuit(x, 3, generator=torch.Generator().manual_seed(0))
    >>> ll0 = em_step(c, x); ll1 = em_step(c, x)
    >>> ll1 >= ll0
    True
    """
    check_positive(pseudocount, "pseudocount", strict=False)
    if leaf_pseudocount is not None:
        check_positive(leaf_pseudocount, "leaf_pseudocount", strict=False)
    st = _statistics(circuit, x, chunk_size)
    _update(circuit, st, pseudocount, 1.0, leaf_pseudocount)
    return st["ll"] / x.shape[0]


def fit_em(
    circuit: Circuit,
    x: torch.Tensor,
    epochs: int = 20,
    pseudocount: float = 0.1,
    batch_size: int | None = None,
    step_size: float = 0.5,
    chunk_size: int | None = 512,
    generator: torch.Generator | None = None,
    leaf_pseudocount: float | None = None,
) -> list[float]:
    r"""Train with full-batch EM (``batch_size=None``) or mini-batch (stochastic) EM.

    See the chapter *Probabilistic circuits*.

    Mini-batch EM moves the parameters a fraction ``step_size`` towards the M-step solution of each
    batch, :math:`\theta \leftarrow (1-\eta)\theta + \eta\,\theta^{\mathrm{batch}}`; it is faster per
    epoch but not monotone. Returns the mean training log-value of every epoch (measured during its
    E-steps, i.e. before the epoch's last update).

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import mixture_circuit
    >>> x = (torch.rand(300, 6, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    >>> c = mixture_circuit(x, 4, generator=torch.Generator().manual_seed(0))
    >>> hist = fit_em(c, x, epochs=5, batch_size=100, generator=torch.Generator().manual_seed(0))
    >>> len(hist)
    5
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not 0 < step_size <= 1:
        raise ValueError(f"step_size must lie in (0, 1], got {step_size}")
    history = []
    for _ in progress(range(epochs), desc="EM"):
        if batch_size is None:
            history.append(em_step(circuit, x, pseudocount, chunk_size, leaf_pseudocount))
            continue
        perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            xb = x[perm[i : i + batch_size]]
            st = _statistics(circuit, xb, chunk_size)
            frac = xb.shape[0] / x.shape[0]
            leaf = None if leaf_pseudocount is None else leaf_pseudocount * frac
            _update(circuit, st, pseudocount * frac, step_size, leaf)
            total += st["ll"]
        history.append(total / x.shape[0])
    return history


def fit_gradient(
    circuit: Circuit,
    x: torch.Tensor,
    epochs: int = 20,
    lr: float = 0.05,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
) -> list[float]:
    r"""Maximise :math:`\frac1n\sum_i \log c(x^{(i)}) - \log Z` with Adam on all parameters.

    See the chapter *Probabilistic circuits*.

    The partition function :math:`Z` is one extra forward pass (smooth, decomposable circuits),
    so the sum weights need not stay normalised. Returns the mean normalised training
    log-likelihood of each epoch.

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import mixture_circuit
    >>> x = (torch.rand(300, 6, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    >>> c = mixture_circuit(x, 4, generator=torch.Generator().manual_seed(0))
    >>> hist = fit_gradient(c, x, epochs=3, generator=torch.Generator().manual_seed(0))
    >>> hist[-1] > hist[0]
    True
    """
    check_positive(lr, "lr")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    opt = torch.optim.Adam(circuit.parameters(), lr=lr)
    history = []
    for _ in progress(range(epochs), desc="gradient"):
        perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            xb = x[perm[i : i + batch_size]]
            ll = circuit(xb) - circuit.log_partition()
            loss = -ll.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += ll.sum().item()
        history.append(total / x.shape[0])
    return history


def hclt_ensemble(
    x: torch.Tensor,
    members: int = 4,
    latent: int = 32,
    epochs: int = 12,
    pseudocount: float = 1e-3,
    seed: int = 0,
    chunk_size: int | None = 512,
) -> Circuit:
    r"""Uniform mixture of ``members`` HCLTs, each trained by full-batch EM from its own random start.

    See the chapter *Probabilistic circuits*.

    :math:`p(x) = \frac1M \sum_m p_m(x)`. On small data sets large HCLTs overfit after a few EM
    iterations; averaging a few of them (which differ only by their initialisation) lowers the
    variance at a linear cost. The result is one circuit (see :func:`mixture_of`).

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(100, 6, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    >>> c = hclt_ensemble(x, members=2, latent=2, epochs=2)
    >>> c.num_vars, round(c.log_partition().item(), 6)
    (6, 0.0)
    """
    from ._builders import hclt, mixture_of

    if not isinstance(members, int) or members < 1:
        raise ValueError(f"members must be a positive int, got {members!r}")
    trained = []
    for m in progress(range(members), desc="HCLT members"):
        c = hclt(x, latent=latent, generator=torch.Generator().manual_seed(seed + m))
        fit_em(c, x, epochs=epochs, pseudocount=pseudocount, chunk_size=chunk_size)
        trained.append(c)
    return trained[0] if members == 1 else mixture_of(trained, [1.0 / members] * members)
