"""Queries on compiled circuits: all marginals by one backward pass, MPE, exact (conditional) sampling.

These functions are methods of :class:`~nips2019.circuits.Circuit` (bound in its class body).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..utils import Generator, Tensor, rand, randn, validate, as_generator
from ._structure import LEAF_KINDS

_EVIDENCE = dict(
    x=Tensor(shape=("n", "v"), dtype="floating", finite=False),
    missing=Tensor(shape=("n", "v"), dtype="bool", optional=True),
    same=[("x", "missing")],
)


def _method(fn):
    """Name a query function as the Circuit method it becomes (for error messages)."""
    fn.__qualname__ = f"Circuit.{fn.__name__}"
    return fn


@dataclass
class MPEResult:
    """Most probable explanation, returned by :meth:`Circuit.mpe`.

    Attributes
    ----------
    x : Tensor, shape (batch, n_vars)
        The input with its missing entries completed.
    log_value : Tensor, shape (batch,)
        The max-product log value of the completion.
    """

    x: torch.Tensor
    log_value: torch.Tensor


@validate(**_EVIDENCE)
@_method
def marginals(self, x, missing=None) -> torch.Tensor:
    r"""All single-variable conditionals :math:`p(X_v = a \mid x_o)` from one backward pass.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    For a smooth, decomposable circuit, :math:`p(X_v = a, x_o) = \sum_{\ell:\,v(\ell)=v}
    \frac{\partial c}{\partial \ell}\, \ell(a)`, so the flows into the input nodes of each
    variable give every marginal at the cost of one forward and one backward pass.
    The circuit must be smooth; for a decomposable circuit that is not,
    :func:`~nips2019.circuits.all_marginals` gives the right answer without smoothing it.

    Parameters
    ----------
    x : Tensor, shape (batch, n_vars)
        Evidence in the variables' domains (see :class:`Circuit`); ``NaN`` marks a missing variable.
    missing : bool Tensor, shape (batch, n_vars), optional
        Extra missing-value mask.

    Returns
    -------
    Tensor, shape (batch, n_vars, K)
        ``K`` is the largest cardinality of a discrete variable; observed variables get
        a one-hot row; rows of continuous (Gaussian) variables are zero.

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import CircuitBuilder
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.product([b.bernoulli(0, 0.9), b.bernoulli(1, 0.8)]),
    ...            b.product([b.bernoulli(0, 0.1), b.bernoulli(1, 0.3)])], [0.5, 0.5])
    >>> c = b.build(s, dtype=torch.float64)
    >>> x = torch.tensor([[1.0, float("nan")]], dtype=torch.float64)
    >>> c.marginals(x)[0, 1]   # p(X1 | X0 = 1) = (.9 * .8 + .1 * .3) / (.9 + .1)
    tensor([0.2500, 0.7500], dtype=torch.float64)
    """
    self._check_evidence("Circuit.marginals", x, missing)
    xp, miss = self._prepare(x, missing)
    flows, _, _ = self._leaf_flows(xp, miss)
    table, var, K = self._value_table(flows.dtype)
    out = flows.new_zeros(flows.shape[0], self.n_vars, K)
    out.index_add_(1, var, flows.unsqueeze(-1) * table.unsqueeze(0))
    return self._observed_rows(out, xp, miss, K)


def _n_values(self):
    """Width of a marginal table: the largest domain of a discrete variable (at least 2)."""
    return max(2, int(self._domain.max()))


def _value_table(self, dtype):
    """Every input node's probabilities of the values ``0..K-1`` (rows), its variable, and ``K``.

    Indicators ``[X = a]`` are one-hot at ``a``; Gaussian rows are zero.
    """
    K = self._n_values()
    table, var = [], []
    for k in LEAF_KINDS:
        v = getattr(self, f"var_{k}")
        if k == "indicator":
            t = nn.functional.one_hot(self.ind_value, K)
        elif k == "bernoulli":
            q = torch.sigmoid(self.bern_logits.detach())
            t = torch.stack([1 - q, q] + [torch.zeros_like(q)] * (K - 2), dim=1)
        elif k == "categorical":
            t = nn.functional.pad(self._cat_logp().detach().exp(), (0, K - self.cat_logits.shape[1]))
        else:
            t = torch.zeros(v.numel(), K, dtype=dtype, device=v.device)
        table.append(t.to(dtype))
        var.append(v)
    return torch.cat(table), torch.cat(var), K


def _observed_rows(self, out, xp, miss, K):
    """One-hot rows for observed discrete variables, zero rows for observed continuous ones."""
    obs = nn.functional.one_hot(xp.long().clamp(0, K - 1), K).to(out.dtype)
    obs = obs * (self._domain > 0).to(out.dtype).unsqueeze(-1)
    return torch.where(miss.unsqueeze(-1), out, obs)

def _topdown(self, buf, logw, noise=None):
    """Select one child per active sum node (argmax of weight x child value [+ Gumbel noise])."""
    B = buf.shape[0]
    active = torch.zeros(B, self.n_slots, dtype=torch.bool, device=buf.device)
    active[:, self.root_slot] = True
    logw = torch.cat([logw, logw.new_zeros(1)])
    for is_sum, start, stop, name in reversed(self._layers):
        cidx, eidx = self._layer(name)
        a = active[:, start:stop]
        if is_sum:
            score = buf[:, cidx] + logw[eidx]
            if noise is not None:
                score = score + noise(score.shape)
            target = cidx.gather(1, score.argmax(-1).T).T  # (B, n)
            active.scatter_(1, torch.where(a, target, 0), True)
        else:
            target = torch.where(a.unsqueeze(-1), cidx.unsqueeze(0), 0).reshape(B, -1)
            active.scatter_(1, target, True)
    return active

def _fill(self, x, miss, active, leaf_choice):
    out = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)
    for k in LEAF_KINDS:
        lo, hi = self._leaf_ranges[k]
        if hi == lo:
            continue
        a = active[:, lo:hi]
        val = leaf_choice(k, x.shape[0])
        idx = torch.where(a, getattr(self, f"var_{k}").unsqueeze(0), self.n_vars)
        out.scatter_(1, idx, val.to(out.dtype))
    return torch.where(miss, out[:, :-1], x)

@validate(**_EVIDENCE)
@_method
@torch.no_grad()
def mpe(self, x, missing=None) -> MPEResult:
    r"""Max-product completion of the missing variables, by an upward max pass and backtracking.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Exact :math:`\arg\max_{x_m} p(x_m, x_o)` for deterministic circuits; for other
    circuits it maximises over single induced trees, a lower bound (approximate MPE).

    Parameters
    ----------
    x : Tensor, shape (batch, n_vars)
        Evidence in the variables' domains (see :class:`Circuit`); ``NaN`` marks a variable to complete.
    missing : bool Tensor, shape (batch, n_vars), optional

    Returns
    -------
    MPEResult
        ``x`` (completed copy of the input) and ``log_value`` (max-product value, shape (batch,)).

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import CircuitBuilder
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.product([b.bernoulli(0, 0.9), b.bernoulli(1, 0.8)]),
    ...            b.product([b.bernoulli(0, 0.1), b.bernoulli(1, 0.3)])], [0.5, 0.5])
    >>> c = b.build(s, dtype=torch.float64)
    >>> x = torch.tensor([[1.0, float("nan")]], dtype=torch.float64)
    >>> c.mpe(x).x
    tensor([[1., 1.]], dtype=torch.float64)
    """
    self._check_evidence("Circuit.mpe", x, missing)
    xp, miss = self._prepare(x, missing)
    buf = self._upward(self._leaf_values(xp, miss, mode=True), self.log_weights, reduce="max")
    active = self._topdown(buf, self.log_weights)

    def mode(k, B):
        if k == "indicator":
            return self.ind_value.expand(B, -1)
        if k == "bernoulli":
            return (self.bern_logits > 0).expand(B, -1)
        if k == "categorical":
            return self._cat_logp().argmax(-1).expand(B, -1)
        return self.gauss_mean.expand(B, -1)

    return MPEResult(self._fill(xp, miss, active, mode), buf[:, self.root_slot])

@validate(**_EVIDENCE, generator=Generator())
@_method
@torch.no_grad()
def sample(self, x, missing=None, *, generator=None) -> torch.Tensor:
    r"""Exact samples of the missing variables given the observed ones, :math:`x_m \sim p(x_m \mid x_o)`.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Sum nodes pick a child with probability :math:`\propto \theta_{nc}\, c(x_o)` (Gumbel-max),
    products visit all children, input nodes sample their distribution. With every variable
    missing this is ordinary ancestral sampling. Needs a smooth, decomposable circuit.

    Parameters
    ----------
    x : Tensor, shape (batch, n_vars)
        Evidence in the variables' domains (see :class:`Circuit`); ``NaN`` marks a variable to
        sample. One sample per row.
    missing : bool Tensor, shape (batch, n_vars), optional
    generator : None, int or CPU torch.Generator
        Randomness (see :func:`nips2019.utils.as_generator`): drawn on the CPU and moved to the
        circuit's device, so CPU and CUDA give the same samples.

    Returns
    -------
    Tensor, shape (batch, n_vars)

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import CircuitBuilder
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.product([b.bernoulli(0, 0.9), b.bernoulli(1, 0.8)]),
    ...            b.product([b.bernoulli(0, 0.1), b.bernoulli(1, 0.3)])], [0.5, 0.5])
    >>> c = b.build(s, dtype=torch.float64)
    >>> x = torch.tensor([[1.0, float("nan")]], dtype=torch.float64)
    >>> s = c.sample(x.repeat(4000, 1), generator=0)
    >>> bool(abs(s[:, 1].mean() - 0.75) < 0.03)
    True
    """
    self._check_evidence("Circuit.sample", x, missing)
    xp, miss = self._prepare(x, missing)
    buf = self._upward(self._leaf_values(xp, miss), self.log_weights)
    opts = dict(device=xp.device, dtype=xp.dtype, generator=as_generator(generator))

    def gumbel(shape):
        u = rand(*shape, **opts).clamp(1e-12, 1 - 1e-12)
        return -(-u.log()).log()

    active = self._topdown(buf, self.log_weights, noise=gumbel)

    def draw(k, B):
        if k == "indicator":
            return self.ind_value.expand(B, -1)
        if k == "bernoulli":
            return rand(B, self.bern_logits.numel(), **opts) < torch.sigmoid(self.bern_logits)
        if k == "categorical":
            return (self._cat_logp().unsqueeze(0) + gumbel((B, *self.cat_logits.shape))).argmax(-1)
        return self.gauss_mean + self._std() * randn(B, self.gauss_mean.numel(), **opts)

    return self._fill(xp, miss, active, draw)

