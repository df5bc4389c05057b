"""A compiled circuit: layered, vectorised, batched log-space evaluation and exact queries."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from ..utils import Device, DType, InstanceOf, Integer, Real, Tensor, validate
from . import _queries
from ._structure import LEAF_KINDS, CircuitBuilder, reachable

#: Declarations shared by every method that takes evidence: ``x`` (NaN marks a missing value, so
#: NaN is allowed; infinities are refused in :meth:`Circuit._check_evidence`, which also checks the
#: number of variables, the dtype/device against the circuit and every value against its leaves'
#: domain) and an optional boolean ``missing`` mask of the same shape on the same device.
EVIDENCE = dict(
    x=Tensor(shape=("n", "v"), dtype="floating", finite=False),
    missing=Tensor(shape=("n", "v"), dtype="bool", optional=True),
    same=[("x", "missing")],
)


_NEG_INF = -math.inf


def _logsumexp(x):
    """logsumexp over the last dim; rows that are all -inf give -inf (no NaN)."""
    m = x.amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (x - m).exp().sum(-1).log() + m.squeeze(-1)


class _Evaluate(torch.autograd.Function):
    """Upward pass with a hand-written downward (flow) pass as its backward.

    Autograd through the layer-by-layer writes would copy the whole node buffer once per layer;
    the flow pass below touches every edge once.
    """

    @staticmethod
    def forward(ctx, leafvals, logw, circuit):
        buf = circuit._upward(leafvals, logw)
        ctx.circuit, ctx.n_leaves = circuit, leafvals.shape[1]
        ctx.save_for_backward(buf, logw)
        return buf[:, circuit.root_slot].clone()

    @staticmethod
    def backward(ctx, g):
        buf, logw = ctx.saved_tensors
        G, g_w = ctx.circuit._downward(buf, logw, g)
        return G[:, 2 : 2 + ctx.n_leaves], g_w, None


class Circuit(nn.Module):
    r"""A probabilistic circuit compiled into layers for batched log-space evaluation.

    Nodes are grouped by depth (and fan-in); every layer is one gather plus a
    ``logsumexp`` (sum nodes, :math:`\log\sum_c e^{\log\theta_{nc} + \log c}`) or a
    ``sum`` of logs (product nodes), so a forward pass costs a handful of tensor ops
    per layer rather than one Python call per node. Sum nodes that share one list of
    children (as in HCLTs and region graphs) form blocks evaluated by one einsum in
    linear space after subtracting the maximum, as in EinNets. The backward pass is a
    hand-written flow pass (used by autograd, EM and :meth:`marginals`). Missing variables (``NaN`` in ``x``
    or ``missing=True``) make their input nodes output 1, which marginalises them out
    exactly when the circuit is smooth and decomposable.

    Evidence ``x`` must have the circuit's dtype and device (nothing is converted) and every
    observed value must lie in its variable's domain: ``{0, 1}`` for a binary (Bernoulli)
    variable, ``{0, ..., K-1}`` for a variable with ``K`` categories (categorical or indicator
    leaves), any finite real for a Gaussian one. ``NaN`` means missing; infinities are refused.

    Build one with :meth:`CircuitBuilder.build` or a structure builder
    (:func:`hclt`, :func:`random_region_circuit`). See the chapter
    :doc:`Probabilistic circuits </book/circuits>`.

    Parameters
    ----------
    builder : CircuitBuilder
    root : int
        Root node id; only nodes reachable from it are compiled.
    n_vars : int, optional
        Number of variables (default: largest variable id + 1); the attribute ``n_vars``.
    dtype, device : optional
        Of the parameters (default: PyTorch's default dtype, CPU).
    min_std : float
        Variance floor of Gaussian leaves: their standard deviation is at least this.

    Examples
    --------
    >>> import torch
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.product([b.bernoulli(0, 0.9), b.bernoulli(1, 0.2)]),
    ...            b.product([b.bernoulli(0, 0.1), b.bernoulli(1, 0.7)])], [0.5, 0.5])
    >>> c = b.build(s, dtype=torch.float64)
    >>> c(torch.tensor([[1.0, 0.0], [1.0, float("nan")]], dtype=torch.float64)).exp()
    tensor([0.3750, 0.5000], dtype=torch.float64, grad_fn=<ExpBackward0>)
    """

    @validate(
        builder=InstanceOf(CircuitBuilder),
        root=Integer(low=0),
        n_vars=Integer(low=1, optional=True),
        dtype=DType(optional=True),
        device=Device(),
        min_std=Real(low=0.0, closed="neither"),
    )
    def __init__(self, builder: CircuitBuilder, root: int, n_vars=None, *, dtype=None, device=None, min_std=1e-3):
        super().__init__()
        dtype = dtype or torch.get_default_dtype()
        self.min_std = float(min_std)
        order = reachable(builder, root, "Circuit")
        kinds, kids, var = builder.kinds, builder.children, builder.var
        leaves = [n for n in order if kinds[n] in LEAF_KINDS]
        max_var = max(var[n] for n in leaves)
        self.n_vars = max_var + 1 if n_vars is None else int(n_vars)
        if self.n_vars <= max_var:
            raise ValueError(f"Circuit: n_vars={n_vars} but the circuit uses variable {max_var}")
        # Domain of every variable: K >= 2 values {0, ..., K-1} if it has a discrete leaf, 0 = any real.
        card = [0] * self.n_vars
        for n in leaves:
            k, v = kinds[n], var[n]
            if k != "gaussian":
                size = 2 if k == "bernoulli" else len(builder.params[n]) if k == "categorical" else builder.params[n][0] + 1
                card[v] = max(card[v], 2, size)
        depth = {}
        for n in order:
            depth[n] = 0 if kinds[n] in LEAF_KINDS else 1 + max(depth[c] for c in kids[n])
        groups = {k: [n for n in leaves if kinds[n] == k] for k in LEAF_KINDS}
        slot, slots = {}, 2  # slot 0 holds log 0, slot 1 holds log 1 (padding)
        self._leaf_ranges = {}
        for k in LEAF_KINDS:
            self._leaf_ranges[k] = (slots, slots + len(groups[k]))
            for n in groups[k]:
                slot[n] = slots
                slots += 1
        inner = [n for n in order if kinds[n] not in LEAF_KINDS]
        key = {n: (depth[n], kinds[n] != "sum", max(1, len(kids[n]) - 1).bit_length()) for n in inner}
        inner.sort(key=lambda n: key[n])
        self._layers = []  # (is_sum, start, stop, buffer-name prefix)
        self._dense = {}  # buffer-name prefix -> (blocks, outputs per block, inputs per block)
        weights, i = [], 0
        while i < len(inner):
            j = i
            while j < len(inner) and key[inner[j]] == key[inner[i]]:
                j += 1
            nodes, is_sum = inner[i:j], kinds[inner[i]] == "sum"
            dense = None
            if is_sum:  # sums sharing one child list form blocks: an einsum (EinNet-style) layer
                nodes.sort(key=lambda n: kids[n])
                blocks = [len(list(grp)) for _, grp in itertools.groupby(nodes, key=lambda n: kids[n])]
                if min(blocks) == max(blocks) >= 2 and len({len(kids[n]) for n in nodes}) == 1:
                    dense = (len(blocks), blocks[0], len(kids[nodes[0]]))
            maxc = max(len(kids[n]) for n in nodes)
            cidx = torch.full((len(nodes), maxc), 0 if is_sum else 1, dtype=torch.long)
            eidx = torch.full((len(nodes), maxc), -1, dtype=torch.long)
            for r, n in enumerate(nodes):
                slot[n] = slots + r
                cidx[r, : len(kids[n])] = torch.tensor([slot[c] for c in kids[n]])
                if is_sum:
                    eidx[r, : len(kids[n])] = torch.arange(len(weights), len(weights) + len(kids[n]))
                    weights.extend(builder.weights[n])
            name = f"_layer{len(self._layers)}"
            self.register_buffer(name + "_c", cidx)
            self.register_buffer(name + "_e", eidx)
            if dense is not None:
                self.register_buffer(name + "_d", cidx[:: dense[1]].clone())
                self._dense[name] = dense
            self._layers.append((is_sum, slots, slots + len(nodes), name))
            slots += len(nodes)
            i = j
        self.n_slots = slots
        self.root_slot = slot[root]
        self._order, self._slot = order, slot
        self._kinds = {n: kinds[n] for n in order}
        self._children = {n: kids[n] for n in order}
        E = len(weights)
        for name, t in ((n + "_e", getattr(self, n + "_e")) for *_, n in self._layers):
            t.masked_fill_(t < 0, E)  # padding edges point to an extra log-weight 0
        opts = dict(dtype=dtype, device=device)
        self.log_weights = nn.Parameter(torch.tensor(weights, dtype=torch.float64).log().to(**opts))
        p = torch.tensor([builder.params[n][0] for n in groups["bernoulli"]], dtype=torch.float64)
        self.bern_logits = nn.Parameter((p.log() - (-p).log1p()).to(**opts))
        K = max([len(builder.params[n]) for n in groups["categorical"]] + [2])
        probs = torch.zeros(len(groups["categorical"]), K, dtype=torch.float64)
        for r, n in enumerate(groups["categorical"]):
            probs[r, : len(builder.params[n])] = torch.tensor(builder.params[n], dtype=torch.float64)
        self.register_buffer("cat_valid", probs > 0)
        self.cat_logits = nn.Parameter(probs.clamp_min(1e-300).log().to(**opts))
        g = torch.tensor([builder.params[n] for n in groups["gaussian"]], dtype=torch.float64).reshape(-1, 2)
        self.gauss_mean = nn.Parameter(g[:, 0].to(**opts))
        self.gauss_log_std = nn.Parameter(g[:, 1].log().to(**opts))
        ind = [builder.params[n][0] for n in groups["indicator"]]
        self.register_buffer("ind_value", torch.tensor(ind, dtype=torch.long))
        for k in LEAF_KINDS:
            self.register_buffer(f"var_{k}", torch.tensor([var[n] for n in groups[k]], dtype=torch.long))
        self.register_buffer("_domain", torch.tensor(card, dtype=torch.long), persistent=False)
        self.to(device)
        self.root_id = len(order) - 1  # root's id in to_builder()

    # --------------------------------------------------------------- basics
    @property
    def n_nodes(self) -> int:
        """Number of nodes (input, sum and product)."""
        return len(self._order)

    @property
    def n_edges(self) -> int:
        """Number of edges (child links)."""
        return sum(len(c) for c in self._children.values())

    def extra_repr(self) -> str:
        return f"n_vars={self.n_vars}, nodes={self.n_nodes}, edges={self.n_edges}, layers={len(self._layers)}"

    def _layer(self, name):
        return getattr(self, name + "_c"), getattr(self, name + "_e")

    def to_builder(self) -> CircuitBuilder:
        """A :class:`CircuitBuilder` holding this circuit with its current parameters (root: ``root_id``)."""
        b, new = CircuitBuilder(), {}
        logw = self.log_weights.detach().double().cpu()
        probs = self._cat_logp().detach().double().exp().cpu()
        p = torch.sigmoid(self.bern_logits.detach().double()).cpu()
        std = self._std().detach().double().cpu()
        for n in self._order:
            s, k = self._slot[n], self._kinds[n]
            if k in LEAF_KINDS:
                r = s - self._leaf_ranges[k][0]
                v = int(getattr(self, f"var_{k}")[r])
                if k == "indicator":
                    new[n] = b.indicator(v, int(self.ind_value[r]))
                elif k == "bernoulli":
                    new[n] = b.bernoulli(v, float(p[r].clamp(1e-12, 1 - 1e-12)))
                elif k == "categorical":
                    q = probs[r][self.cat_valid[r].cpu()].clamp_min(1e-300)
                    new[n] = b.categorical(v, (q / q.sum()).tolist())
                else:
                    new[n] = b.gaussian(v, float(self.gauss_mean[r]), float(std[r]))
                continue
            ch = [new[c] for c in self._children[n]]
            if k == "product":
                new[n] = b.product(ch)
            else:
                for is_sum, start, stop, name in self._layers:
                    if start <= s < stop:
                        e = self._layer(name)[1][s - start, : len(ch)].cpu()
                        new[n] = b.sum(ch, logw[e].exp().clamp_min(1e-300).tolist())
        return b

    # --------------------------------------------------------------- inputs
    def _std(self):
        return self.gauss_log_std.exp().clamp_min(self.min_std)

    def _cat_logp(self):
        return torch.log_softmax(self.cat_logits.masked_fill(~self.cat_valid, _NEG_INF), dim=-1)

    def _check_evidence(self, func, x, missing=None, *, complete=False):
        """Refuse evidence the circuit cannot score (after ``validate`` checked ranks, dtypes, shapes).

        Checks the number of variables, the dtype and device against the circuit's parameters
        (never converted), infinities, and every observed value against its variable's domain.
        With ``complete=True`` (learning) NaN is refused too. One host sync when the data is valid.
        """
        if x.shape[1] != self.n_vars:
            raise ValueError(
                f"{func}: x must have shape (n, {self.n_vars}) for a circuit over {self.n_vars} variables, "
                f"got {tuple(x.shape)}"
            )
        ref = self.log_weights
        if x.device != ref.device:
            raise ValueError(f"{func}: x is on {x.device} but the circuit is on {ref.device}; move one explicitly")
        if x.dtype != ref.dtype:
            raise TypeError(
                f"{func}: x has dtype {x.dtype} but the circuit's parameters have {ref.dtype}; convert one "
                "explicitly (nothing is converted silently)"
            )
        nan = torch.isnan(x)
        miss = nan if missing is None else nan | missing
        card = self._domain.to(x.dtype)
        outside = (card > 0) & ((x < 0) | (x >= card) | (x != x.round()))
        bad = torch.isinf(x) | (outside & ~miss)
        if complete:
            bad = bad | nan
        if not bool(bad.any()):
            return
        i, v = (int(t) for t in bad.nonzero()[0])
        val = float(x[i, v])
        if complete and math.isnan(val):
            raise ValueError(f"{func}: x must be complete (no NaN) for learning, got NaN at x[{i}, {v}]")
        if math.isinf(val):
            raise ValueError(
                f"{func}: x contains {int(torch.isinf(x).sum())} infinite value(s), first at x[{i}, {v}]; "
                "mark a missing value with NaN"
            )
        k = int(self._domain[v])
        values = "{0, 1}" if k == 2 else f"{{0, ..., {k - 1}}}"
        raise ValueError(
            f"{func}: x[{i}, {v}] = {val:g} is not in the domain {values} of variable {v} "
            f"({int(outside.sum())} such value(s)); mark a missing value with NaN"
        )

    def _prepare(self, x, missing):
        """Missing mask and x with missing entries zeroed (unchecked; see :meth:`_check_evidence`)."""
        miss = torch.isnan(x)
        if missing is not None:
            miss = miss | missing
        return torch.where(miss, torch.zeros_like(x), x), miss

    def _leaf_values(self, x, miss, mode=False):
        """Log-values of all input nodes, (B, n_leaves); missing variables give 1 (or the mode)."""
        out = []
        for k in LEAF_KINDS:
            v = getattr(self, f"var_{k}")
            if v.numel() == 0:
                continue
            xv, mv = x[:, v], miss[:, v]
            if k == "indicator":
                val = torch.where(xv == self.ind_value.to(xv.dtype), 0.0, _NEG_INF).to(xv.dtype)
                best = torch.zeros_like(val)
            elif k == "bernoulli":
                l = self.bern_logits
                val = torch.where(xv > 0.5, nn.functional.logsigmoid(l), nn.functional.logsigmoid(-l))
                best = nn.functional.logsigmoid(l.abs()).expand_as(val)
            elif k == "categorical":
                lp = self._cat_logp()
                idx = xv.long().clamp(0, lp.shape[1] - 1)
                val = lp.unsqueeze(0).expand(x.shape[0], -1, -1).gather(2, idx.unsqueeze(-1)).squeeze(-1)
                val = torch.where((xv >= 0) & (xv < lp.shape[1]) & (xv == xv.round()), val, _NEG_INF)
                best = lp.amax(-1).expand_as(val)
            else:
                std = self._std()
                val = -0.5 * ((xv - self.gauss_mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)
                best = (-std.log() - 0.5 * math.log(2 * math.pi)).expand_as(val)
            out.append(torch.where(mv, best if mode else torch.zeros_like(val), val))
        return torch.cat(out, dim=1)

    @torch.no_grad()
    def _upward(self, leafvals, logw, reduce="lse"):
        B = leafvals.shape[0]
        buf = leafvals.new_empty(B, self.n_slots)
        buf[:, 0] = _NEG_INF
        buf[:, 1] = 0.0
        buf[:, 2 : 2 + leafvals.shape[1]] = leafvals
        logw = torch.cat([logw, logw.new_zeros(1)])
        for is_sum, start, stop, name in self._layers:
            cidx, eidx = self._layer(name)
            if reduce == "lse" and name in self._dense:
                ch, m, e, W = self._dense_inputs(buf, logw, name)
                out = torch.einsum("bgi,goi->bgo", e, W).log() + m
                buf[:, start:stop] = out.reshape(B, -1)
                continue
            ch = buf.index_select(1, cidx.reshape(-1)).view(B, *cidx.shape)
            if is_sum:
                ch = ch + logw[eidx]
                out = _logsumexp(ch) if reduce == "lse" else ch.amax(-1)
            else:
                out = ch.sum(-1)
            buf[:, start:stop] = out
        return buf

    def _dense_inputs(self, buf, logw, name):
        G, nout, nin = self._dense[name]
        cd = getattr(self, name + "_d")
        ch = buf.index_select(1, cd.reshape(-1)).view(buf.shape[0], G, nin)
        m = ch.amax(-1, keepdim=True)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        W = logw[getattr(self, name + "_e")].view(G, nout, nin).exp()
        return ch, m, (ch - m).exp(), W

    @torch.no_grad()
    def _downward(self, buf, logw, g):
        r"""Flows :math:`G_n = \sum_b g_b\, \partial \log r(x_b) / \partial \log n(x_b)` per sample, and per edge."""
        B = buf.shape[0]
        G = torch.zeros_like(buf)
        G[:, self.root_slot] = g
        logw = torch.cat([logw, logw.new_zeros(1)])
        g_w = torch.zeros_like(logw)
        for is_sum, start, stop, name in reversed(self._layers):
            cidx, eidx = self._layer(name)
            gn = G[:, start:stop].unsqueeze(-1).clone()
            if name in self._dense:
                ch, m, e, W = self._dense_inputs(buf, logw, name)
                out = buf[:, start:stop].view(B, *W.shape[:2])
                r = torch.where(torch.isneginf(out), 0.0, gn.view_as(out) * (m - out).exp())
                g_w.index_add_(0, eidx.reshape(-1), (W * torch.einsum("bgo,bgi->goi", r, e)).reshape(-1))
                fc = e * torch.einsum("bgo,goi->bgi", r, W)
                G.index_add_(1, getattr(self, name + "_d").reshape(-1), fc.reshape(B, -1))
                continue
            if is_sum:
                ch = buf.index_select(1, cidx.reshape(-1)).view(B, *cidx.shape) + logw[eidx]
                w = torch.where(torch.isneginf(ch), 0.0, (ch - buf[:, start:stop].unsqueeze(-1)).exp())
                contrib = gn * w
                g_w.index_add_(0, eidx.reshape(-1), contrib.sum(0).reshape(-1))
            else:
                contrib = gn.expand(B, *cidx.shape)
            G.index_add_(1, cidx.reshape(-1), contrib.reshape(B, -1))
        return G, g_w[:-1]

    # -------------------------------------------------------------- queries
    @validate(**EVIDENCE)
    def forward(self, x: torch.Tensor, missing: torch.Tensor | None = None) -> torch.Tensor:
        r"""Log-value :math:`\log c(x_o)` with missing variables summed/integrated out.

        See the chapter :doc:`Probabilistic circuits </book/circuits>`.

        Parameters
        ----------
        x : Tensor, shape (batch, n_vars)
            Values in the variables' domains, the circuit's dtype and device; ``NaN`` marks a
            missing variable.
        missing : bool Tensor, shape (batch, n_vars), optional
            ``True`` where the variable is marginalised out (in addition to NaNs).

        Returns
        -------
        Tensor, shape (batch,)
        """
        self._check_evidence("Circuit.forward", x, missing)
        return self._forward(*self._prepare(x, missing))

    def _forward(self, x, miss):
        return _Evaluate.apply(self._leaf_values(x, miss), self.log_weights, self)

    def log_partition(self) -> torch.Tensor:
        """:math:`\\log Z = \\log \\sum_x c(x)`: the forward pass with every variable missing."""
        x = self.log_weights.new_zeros((1, self.n_vars))
        return self._forward(x, torch.ones_like(x, dtype=torch.bool))[0]

    @validate(**EVIDENCE)
    def log_likelihood(self, x, missing=None) -> torch.Tensor:
        """Normalised :math:`\\log p(x_o) = \\log c(x_o) - \\log Z` (needs smooth + decomposable).

        ``x`` and ``missing`` as in :meth:`forward`.
        """
        self._check_evidence("Circuit.log_likelihood", x, missing)
        return self._forward(*self._prepare(x, missing)) - self.log_partition()

    @validate(**EVIDENCE)
    def leaf_flows(self, x, missing=None):
        r"""Per-sample input-node flows :math:`\partial \log c(x_o) / \partial \log \ell(x)` and edge flows.

        See the chapter :doc:`Probabilistic circuits </book/circuits>`.

        Returns ``(leaf_flows (B, n_leaves), edge_flows (E,) summed over the batch, log c(x_o) (B,))``.
        These are the expected sufficient statistics of EM and the all-marginals backward pass.
        ``x`` and ``missing`` as in :meth:`forward`.
        """
        self._check_evidence("Circuit.leaf_flows", x, missing)
        return self._leaf_flows(*self._prepare(x, missing))

    def _leaf_flows(self, x, miss):
        with torch.no_grad():
            buf = self._upward(self._leaf_values(x, miss), self.log_weights)
            lp = buf[:, self.root_slot]
            G, g_w = self._downward(buf, self.log_weights, torch.ones_like(lp))
        g_leaf = G[:, 2 : 2 + sum(hi - lo for lo, hi in self._leaf_ranges.values())]
        return g_leaf, g_w, lp.detach()

    # Queries live in _queries.py (module length); bound here so they are ordinary methods.
    marginals = _queries.marginals
    mpe = _queries.mpe
    sample = _queries.sample
    _topdown = _queries._topdown
    _fill = _queries._fill
    _n_values = _queries._n_values
    _value_table = _queries._value_table
    _observed_rows = _queries._observed_rows
