"""All-marginals on decomposable circuits that are not smooth, in one forward and one backward pass.

Shih, Van den Broeck, Beame & Amarilli, *Smoothing structured decomposable circuits*, NeurIPS 2019,
show that All-Marginals does not need the circuit to be smoothed first when subtraction is
available. This module implements that idea for real-valued circuits with discrete variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils import InstanceOf, Tensor, validate
from ._circuit import Circuit
from ._structure import LEAF_KINDS


@dataclass
class AllMarginalsResult:
    """Marginals of a (possibly non-smooth) circuit, returned by :func:`all_marginals`.

    Attributes
    ----------
    marginals : Tensor, shape (batch, n_vars, K)
        :math:`p(X_v = a \\mid x_o)` under the function the circuit computes on complete inputs.
        Observed variables get a one-hot row.
    log_value : Tensor, shape (batch,)
        :math:`\\log \\sum_{x_m} c(x_o, x_m)`, the value a smoothed copy of the circuit would give.
    """

    marginals: torch.Tensor
    log_value: torch.Tensor


def _is_decomposable(circuit) -> bool:
    """Decomposability on the compiled graph (scopes as bitmasks), without rebuilding a builder."""
    leaf_var = {k: getattr(circuit, f"var_{k}").tolist() for k in LEAF_KINDS}
    sc = {}
    for n in circuit._order:
        k = circuit._kinds[n]
        if k in LEAF_KINDS:
            sc[n] = 1 << leaf_var[k][circuit._slot[n] - circuit._leaf_ranges[k][0]]
            continue
        acc = 0
        for c in circuit._children[n]:
            if k == "product" and acc & sc[c]:
                return False
            acc |= sc[c]
        sc[n] = acc
    return True


@validate(
    circuit=InstanceOf(Circuit),
    x=Tensor(shape=("n", "v"), dtype="floating", finite=False),
    missing=Tensor(shape=("n", "v"), dtype="bool", optional=True),
    same=[("x", "missing")],
)
def all_marginals(circuit, x, missing=None) -> AllMarginalsResult:
    r"""All single-variable marginals of a decomposable circuit that need not be smooth.

    See the chapter :doc:`Probabilistic circuits </book/circuits>`.

    Let :math:`f` be the function the circuit computes on complete inputs (a variable outside a
    node's scope does not affect it) and :math:`k_v` the domain size of variable :math:`v`. Scale
    every input node of a *missing* variable by :math:`1/k_v` and call the root's value
    :math:`T`. Because products have disjoint scopes, :math:`T \prod_{v\ \mathrm{missing}} k_v =
    \sum_{x_m} f(x_o, x_m)`: a child that misses a variable is implicitly multiplied by its
    uniform average, which is what a smoothing gadget does. Every monomial of :math:`T` holds
    at most one input node of :math:`v`, so with the flows
    :math:`F_\ell = \partial \log T / \partial \log \ell` of one backward pass

    .. math::

        p(X_v = a \mid x_o) = \sum_{\ell:\,v(\ell) = v} F_\ell\, \ell(a)
        + \frac{1}{k_v}\Bigl(1 - \sum_{\ell:\,v(\ell) = v} F_\ell\Bigr).

    The last term is the mass of the monomials that skip :math:`v` (the gaps), obtained by
    **subtraction** instead of by adding gadget nodes. Cost: one forward and one backward pass
    over the circuit as it is, :math:`O(m)` for :math:`m` edges, against :math:`O(m\,\alpha(m,n))`
    or more for smoothing first.

    Conditions (checked): the circuit is decomposable and every variable is discrete (finite
    :math:`k_v`). Implicit: the arithmetic has subtraction and division (real numbers: the
    sum-product semiring on :math:`\mathbb R`); it does not hold for max-product (MPE), where
    nothing can be subtracted. Input nodes are normalised distributions (mass 1), as in
    :class:`Circuit`. On a smooth circuit :math:`\sum_\ell F_\ell = 1` and this is the classic
    backward pass of :meth:`Circuit.marginals`.

    Parameters
    ----------
    circuit : Circuit
        Decomposable, discrete variables; need not be smooth.
    x : Tensor, shape (batch, n_vars)
        Evidence; ``NaN`` marks a missing variable.
    missing : bool Tensor, shape (batch, n_vars), optional

    Returns
    -------
    AllMarginalsResult
        ``marginals`` (batch, n_vars, K) and ``log_value`` (batch,).

    References
    ----------
    Shih, Van den Broeck, Beame & Amarilli (2019), Smoothing structured decomposable circuits,
    NeurIPS (All-Marginals section).

    Examples
    --------
    >>> import torch
    >>> from nips2019.circuits import CircuitBuilder
    >>> b = CircuitBuilder()
    >>> s = b.sum([b.product([b.bernoulli(0, .9), b.bernoulli(1, .8)]), b.bernoulli(0, .1)], [.5, .5])
    >>> c = b.build(s, dtype=torch.float64)   # not smooth: the second child ignores X1
    >>> r = all_marginals(c, torch.tensor([[float("nan")] * 2], dtype=torch.float64))
    >>> r.marginals[0, 1]   # p(X1 = 1) = (.5 * .8 + .5 * 2 * .5) / (.5 + .5 * 2)
    tensor([0.4000, 0.6000], dtype=torch.float64)
    >>> round(r.log_value.exp().item(), 6)   # sum over the four states of the function
    1.5
    """
    func = "all_marginals"
    circuit._check_evidence(func, x, missing)
    if circuit.var_gaussian.numel() > 0:
        raise ValueError(f"{func}: circuit must have discrete variables only; found a Gaussian input")
    if not getattr(circuit, "_decomposable", False):
        if not _is_decomposable(circuit):
            raise ValueError(f"{func}: circuit must be decomposable (a product's children share a variable)")
        circuit._decomposable = True  # the structure of a compiled circuit never changes
    xp, miss = circuit._prepare(x, missing)
    dom = circuit._domain
    used = dom > 0
    log_k = torch.where(used, dom.clamp_min(1).to(xp.dtype), torch.ones_like(xp[0])).log()
    with torch.no_grad():
        leafvals = circuit._leaf_values(xp, miss)
        leaf_var = torch.cat([getattr(circuit, f"var_{k}") for k in ("indicator", "bernoulli", "categorical")])
        scale = torch.where(miss[:, leaf_var], log_k[leaf_var].unsqueeze(0), torch.zeros_like(leafvals))
        buf = circuit._upward(leafvals - scale, circuit.log_weights)
        log_t = buf[:, circuit.root_slot]
        G, _ = circuit._downward(buf, circuit.log_weights, torch.ones_like(log_t))
    flows = G[:, 2 : 2 + leafvals.shape[1]]
    table, var, K = circuit._value_table(flows.dtype)
    covered = flows.new_zeros(flows.shape[0], circuit.n_vars).index_add_(1, var, flows)
    out = flows.new_zeros(flows.shape[0], circuit.n_vars, K)
    out.index_add_(1, var, flows.unsqueeze(-1) * table.unsqueeze(0))
    gap = (1 - covered).clamp_min(0) / dom.clamp_min(1).to(flows.dtype)  # mass of monomials skipping v
    values = torch.arange(K, device=dom.device).unsqueeze(0) < dom.unsqueeze(1)  # (n_vars, K)
    out = out + gap.unsqueeze(-1) * values.to(out.dtype).unsqueeze(0)
    log_value = log_t + (miss & used).to(xp.dtype) @ log_k
    return AllMarginalsResult(circuit._observed_rows(out, xp, miss, K), log_value)
