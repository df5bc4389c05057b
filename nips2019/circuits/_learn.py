"""Parameter learning for circuits: full-batch / mini-batch EM and gradient training."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils import Bool, Generator, InstanceOf, Integer, Real, Tensor, as_generator, randperm, validate
from ..utils import progress as _progress
from ._circuit import Circuit

#: Complete training data for a circuit: checked against the circuit's variables, dtype, device
#: and leaf domains by ``Circuit._check_evidence(..., complete=True)`` (no NaN).
TRAIN = Tensor(shape=("n", "v"), dtype="floating", finite=False)


@dataclass
class EMResult:
    """The training history of :func:`fit_em` (the circuit itself is updated in place).

    Attributes
    ----------
    log_likelihoods : list of float
        Mean training log-value of every epoch, measured during its E-steps (for mini-batch EM,
        each batch before its own update); ``len == n_epochs``.
    """

    log_likelihoods: list


@dataclass
class GradientResult:
    """The training history of :func:`fit_gradient` (the circuit itself is updated in place).

    Attributes
    ----------
    log_likelihoods : list of float
        Mean normalised training log-likelihood of every epoch (each batch measured before its
        Adam step); ``len == n_epochs``.
    """

    log_likelihoods: list


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
    """Expected sufficient statistics (flows) of EM, summed over the rows of ``x`` (checked by the caller)."""
    chunk = chunk_size or x.shape[0]
    lo, hi = circuit._leaf_ranges["bernoulli"], circuit._leaf_ranges["categorical"]
    go = circuit._leaf_ranges["gaussian"]
    base = 2
    st = dict(edge=0.0, ll=0.0, b1=0.0, b0=0.0, g0=0.0, g1=0.0, g2=0.0)
    st["cat"] = torch.zeros_like(circuit.cat_logits, dtype=circuit.log_weights.dtype)
    for i in range(0, x.shape[0], chunk):
        xc = x[i : i + chunk]
        xp, miss = circuit._prepare(xc, None)
        flows, g_w, lp = circuit._leaf_flows(xp, miss)
        st["edge"] = st["edge"] + g_w
        st["ll"] = st["ll"] + lp.sum()  # a tensor: no host sync per chunk
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
    # Nodes no data reaches (zero flow, no pseudocount) keep their parameters: 0 / 0 is no estimate.
    seg = _edge_segments(circuit)
    a = pseudocount
    num = st["edge"] + a
    den = torch.zeros(int(seg.max()) + 1 if seg.numel() else 0, dtype=num.dtype, device=num.device)
    den.index_add_(0, seg, num)
    w_old = circuit.log_weights.exp()
    d = den[seg]
    w_new = torch.where(d > 0, num / d.clamp_min(torch.finfo(d.dtype).tiny), w_old)
    circuit.log_weights.copy_(((1 - step) * w_old + step * w_new).log())
    a = pseudocount if leaf_pseudocount is None else leaf_pseudocount
    if circuit.bern_logits.numel():
        p_old = torch.sigmoid(circuit.bern_logits)
        tot = st["b1"] + st["b0"] + 2 * a
        p_new = torch.where(tot > 0, (st["b1"] + a) / tot.clamp_min(torch.finfo(p_old.dtype).tiny), p_old)
        p = ((1 - step) * p_old + step * p_new).clamp(1e-6, 1 - 1e-6)
        circuit.bern_logits.copy_(p.log() - (-p).log1p())
    if circuit.cat_logits.numel():
        q_old = circuit._cat_logp().exp()
        cnt = (st["cat"] + a) * circuit.cat_valid
        tot = cnt.sum(1, keepdim=True)
        q_new = torch.where(tot > 0, cnt / tot.clamp_min(torch.finfo(q_old.dtype).tiny), q_old)
        q = ((1 - step) * q_old + step * q_new).clamp_min(1e-12)
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


@validate(
    circuit=InstanceOf(Circuit),
    x=TRAIN,
    pseudocount=Real(low=0.0),
    chunk_size=Integer(low=1, optional=True),
    leaf_pseudocount=Real(low=0.0, optional=True),
)
def em_step(
    circuit: Circuit,
    x: torch.Tensor,
    *,
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
    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Parameters
    ----------
    circuit : Circuit
        Smooth and decomposable; updated in place.
    x : Tensor, shape (n, n_vars)
        Complete training data (no NaN) in the variables' domains, with the circuit's dtype and
        device.
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
    >>> c = mixture_circuit(x, 3, generator=0)
    >>> ll0 = em_step(c, x); ll1 = em_step(c, x)
    >>> ll1 >= ll0
    True
    """
    circuit._check_evidence("em_step", x, complete=True)
    return _em_step(circuit, x, pseudocount, chunk_size, leaf_pseudocount).item()


def _em_step(circuit, x, pseudocount, chunk_size, leaf_pseudocount):
    """One full-batch EM update (unchecked); the mean log-value before it, as a 0-d tensor."""
    st = _statistics(circuit, x, chunk_size)
    _update(circuit, st, pseudocount, 1.0, leaf_pseudocount)
    return st["ll"] / x.shape[0]


@validate(
    circuit=InstanceOf(Circuit),
    x=TRAIN,
    n_epochs=Integer(low=1),
    pseudocount=Real(low=0.0),
    batch_size=Integer(low=1, optional=True),
    step_size=Real(0.0, 1.0, closed="right"),
    chunk_size=Integer(low=1, optional=True),
    leaf_pseudocount=Real(low=0.0, optional=True),
    generator=Generator(),
    progress=Bool(optional=True),
)
def fit_em(
    circuit: Circuit,
    x: torch.Tensor,
    *,
    n_epochs: int = 20,
    pseudocount: float = 0.1,
    batch_size: int | None = None,
    step_size: float = 0.5,
    chunk_size: int | None = 512,
    leaf_pseudocount: float | None = None,
    generator=None,
    progress: bool | None = None,
) -> EMResult:
    r"""Train with full-batch EM (``batch_size=None``) or mini-batch (stochastic) EM.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Mini-batch EM moves the parameters a fraction ``step_size`` in ``(0, 1]`` towards the M-step
    solution of each batch, :math:`\theta \leftarrow (1-\eta)\theta + \eta\,\theta^{\mathrm{batch}}`;
    it is faster per epoch but not monotone. Full-batch EM is :func:`em_step` ``n_epochs`` times
    (``step_size`` is not used). ``x``, ``pseudocount``, ``chunk_size`` and ``leaf_pseudocount`` as in
    :func:`em_step`; ``generator`` (None, an int seed or a CPU ``torch.Generator``) shuffles the
    mini-batches; ``progress`` shows a bar (``None``: automatic, see :func:`nips2019.utils.progress`).

    Returns
    -------
    EMResult
        ``log_likelihoods``: the mean training log-value of every epoch, measured during its
        E-steps (i.e. before the epoch's last update).

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import mixture_circuit
    >>> x = (torch.rand(300, 6, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    >>> c = mixture_circuit(x, 4, generator=0)
    >>> res = fit_em(c, x, n_epochs=5, batch_size=100, generator=0)
    >>> len(res.log_likelihoods)
    5
    """
    circuit._check_evidence("fit_em", x, complete=True)
    return EMResult(_fit_em(circuit, x, n_epochs, pseudocount, batch_size, step_size, chunk_size,
                            leaf_pseudocount, generator, progress, "EM"))


def _fit_em(circuit, x, n_epochs, pseudocount, batch_size, step_size, chunk_size, leaf_pseudocount, generator,
            show, desc):
    """The EM loop (unchecked); per-epoch mean log-values as floats (one host sync per epoch)."""
    g = as_generator(generator) if batch_size is not None else None
    history = []
    for _ in _progress(range(n_epochs), desc=desc, disable=None if show is None else not show):
        if batch_size is None:
            history.append(_em_step(circuit, x, pseudocount, chunk_size, leaf_pseudocount))
            continue
        perm = randperm(x.shape[0], generator=g, device=x.device)
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            xb = x[perm[i : i + batch_size]]
            st = _statistics(circuit, xb, chunk_size)
            frac = xb.shape[0] / x.shape[0]
            leaf = None if leaf_pseudocount is None else leaf_pseudocount * frac
            _update(circuit, st, pseudocount * frac, step_size, leaf)
            total = total + st["ll"]
        history.append(total / x.shape[0])
    return [float(h) for h in history]


@validate(
    circuit=InstanceOf(Circuit),
    x=TRAIN,
    n_epochs=Integer(low=1),
    lr=Real(low=0.0, closed="neither"),
    batch_size=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
)
def fit_gradient(
    circuit: Circuit,
    x: torch.Tensor,
    *,
    n_epochs: int = 20,
    lr: float = 0.05,
    batch_size: int = 256,
    generator=None,
    progress: bool | None = None,
) -> GradientResult:
    r"""Maximise :math:`\frac1n\sum_i \log c(x^{(i)}) - \log Z` with Adam on all parameters.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    The partition function :math:`Z` is one extra forward pass (smooth, decomposable circuits),
    so the sum weights need not stay normalised. ``x``: complete data as in :func:`em_step`;
    ``generator`` (None, an int seed or a CPU ``torch.Generator``) shuffles the mini-batches;
    ``progress`` as in :func:`fit_em`.

    Returns
    -------
    GradientResult
        ``log_likelihoods``: the mean normalised training log-likelihood of each epoch.

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import mixture_circuit
    >>> x = (torch.rand(300, 6, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    >>> c = mixture_circuit(x, 4, generator=0)
    >>> hist = fit_gradient(c, x, n_epochs=3, generator=0).log_likelihoods
    >>> hist[-1] > hist[0]
    True
    """
    circuit._check_evidence("fit_gradient", x, complete=True)
    g = as_generator(generator)
    opt = torch.optim.Adam(circuit.parameters(), lr=lr)
    history = []
    for _ in _progress(range(n_epochs), desc="gradient", disable=None if progress is None else not progress):
        perm = randperm(x.shape[0], generator=g, device=x.device)
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            xb = x[perm[i : i + batch_size]]
            ll = circuit._forward(*circuit._prepare(xb, None)) - circuit.log_partition()
            loss = -ll.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total = total + ll.detach().sum()  # a tensor: no host sync per step
        history.append(total / x.shape[0])
    return GradientResult([float(h) for h in history])


@validate(
    x=TRAIN,
    n_members=Integer(low=1),
    n_latent=Integer(low=1),
    n_epochs=Integer(low=1),
    pseudocount=Real(low=0.0),
    chunk_size=Integer(low=1, optional=True),
    generator=Generator(),
    progress=Bool(optional=True),
)
def hclt_ensemble(
    x: torch.Tensor,
    *,
    n_members: int = 4,
    n_latent: int = 32,
    n_epochs: int = 12,
    pseudocount: float = 1e-3,
    chunk_size: int | None = 512,
    generator=None,
    progress: bool | None = None,
) -> Circuit:
    r"""Uniform mixture of ``n_members`` HCLTs, each trained by full-batch EM from its own random start.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    :math:`p(x) = \frac1M \sum_m p_m(x)`. On small data sets large HCLTs overfit after a few EM
    iterations; averaging a few of them (which differ only by their initialisation) lowers the
    variance at a linear cost. The result is one circuit (see :func:`mixture_of`), with ``x``'s
    dtype and device. ``x``: complete binary/discrete training data (floating); ``n_latent`` as in
    :func:`hclt`; ``n_epochs``, ``pseudocount``, ``chunk_size`` as in :func:`fit_em`;
    ``generator`` (None, an int seed or a CPU ``torch.Generator``) draws the members' random
    starts one after the other; ``progress`` as in :func:`fit_em`.

    Examples
    --------
    >>> import torch
    >>> x = (torch.rand(100, 6, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    >>> c = hclt_ensemble(x, n_members=2, n_latent=2, n_epochs=2, generator=0)
    >>> c.n_vars, round(c.log_partition().item(), 6)
    (6, 0.0)
    """
    from ._builders import _cardinalities, _hclt, mixture_of

    _cardinalities(x, "hclt_ensemble")  # discrete, complete
    g = as_generator(generator)
    show = None if progress is None else not progress
    trained = []
    for _ in _progress(range(n_members), desc="HCLT members", disable=show):
        c = _hclt(x, n_latent, 1.0, g)
        _fit_em(c, x, n_epochs, pseudocount, None, 0.5, chunk_size, None, None, False, "EM")
        trained.append(c)
    return trained[0] if n_members == 1 else mixture_of(trained, weights=[1.0 / n_members] * n_members)
