r"""Structured empirical NTK of any module (Novak et al. 2022, "structured derivatives").

For a dense layer :math:`z = s\, W h + \beta\, b` the Jacobian of output :math:`k` with
respect to :math:`W` is an outer product, :math:`\partial f_k / \partial W = s\, \delta_k h^\top`
with :math:`\delta_k = \partial f_k / \partial z`. Its contribution to the NTK therefore
factorises,

.. math::

    \Theta^{W}_{kl}(x, x') = s^2\, \big(h^\top h'\big)\, \big(\delta_k^\top \delta'_l\big),
    \qquad \Theta^{b}_{kl}(x, x') = \beta^2\, \delta_k^\top \delta'_l,

and costs :math:`O(n^2 (\text{out}^2 o + i))` per layer instead of
:math:`O(n^2\, \text{out}^2\, o\, i)` for the contraction of full Jacobians.

Any module is accepted. A layer is *recognised* (its parameters use the factorisation) when
it is exactly an ``nn.Linear`` or a :class:`DenseNTK` (not a subclass), carries no hooks of
its own, is called once per forward pass, shares no parameter with another module, and its
parameters have no other path to the output: this is checked on one example by running the
model with the layer's output detached and asking autograd whether the parameters are still
connected to the output. Every other parameter (convolutions, custom parameters, tied weights,
layers called twice) goes through the generic routes of :func:`empirical_ntk` with the
recognised ones held fixed, and the two parts are added: the result is exact for any module.
The inputs ``h`` and cotangents ``delta`` come from one ``vmap(jacrev)`` pass with respect to
zero perturbations added to every recognised layer's output (the layer inputs ride along as
auxiliary outputs), so they are per example whatever the model does with its batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import jacrev, vmap

from ._mlp import DenseNTK

_DENSE = (nn.Linear, DenseNTK)


def _scales(layer):
    """(s, beta) of a recognised dense layer: z = s W h + beta b."""
    if isinstance(layer, DenseNTK) and layer.parameterization == "ntk":
        bias = 0.0 if layer.b_std is None else float(layer.b_std)
        return layer.w_std / math.sqrt(layer.in_features), bias
    return 1.0, 1.0


class _Layer:
    """A recognised dense layer: the module, its parameters' keys in ``params`` (or None)."""

    def __init__(self, module, weight_key, bias_key):
        self.module, self.weight_key, self.bias_key = module, weight_key, bias_key
        self.s, self.beta = _scales(module)
        self.out_shape = None  # per-example output shape (batch of one), from the probe


def _candidates(model: nn.Module, params: dict) -> list:
    """Dense layers whose parameters may use the factorisation (before the graph check)."""
    counts: dict = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        counts[id(p)] = counts.get(id(p), 0) + 1
    layers = []
    for name, m in model.named_modules():
        if type(m) not in _DENSE or m._forward_hooks or m._forward_pre_hooks or m._backward_hooks:
            continue
        own = dict(m.named_parameters(recurse=False))
        if own.get("weight") is not m.weight or any(counts[id(p)] != 1 for p in own.values()):
            continue  # parametrised (weight is a property) or a parameter shared with another module
        prefix = f"{name}." if name else ""
        wk, bk = prefix + "weight", prefix + "bias"
        layer = _Layer(m, wk if wk in params else None, bk if (m.bias is not None and bk in params) else None)
        if layer.weight_key or layer.bias_key:
            layers.append(layer)
    return layers


def _probe(model, params, buffers, layers, x):
    """Keep the layers called once whose parameters reach the output only through that call."""
    while layers:
        calls: dict = {}
        shapes: dict = {}
        handles = []
        for i, layer in enumerate(layers):
            def hook(module, args, output, i=i):
                calls[i] = calls.get(i, 0) + 1
                shapes[i] = (tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else None,
                             tuple(output.shape) if isinstance(output, torch.Tensor) else None)
                return output.detach() if isinstance(output, torch.Tensor) else output

            handles.append(layer.module.register_forward_hook(hook))
        leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        try:
            with torch.enable_grad():
                out = call(model, leaves, buffers, x[:1])
                out = _flatten_out(out, 1)
                keys = [k for layer in layers for k in (layer.weight_key, layer.bias_key) if k]
                if out.requires_grad:
                    grads = torch.autograd.grad(out.sum(), [leaves[k] for k in keys], allow_unused=True)
                else:
                    grads = [None] * len(keys)
        finally:
            for h in handles:
                h.remove()
        connected = {k for k, g in zip(keys, grads) if g is not None}
        keep = []
        for i, layer in enumerate(layers):
            ins, outs = shapes.get(i, (None, None))
            ok = calls.get(i, 0) == 1 and ins is not None and outs is not None
            ok = ok and not ({layer.weight_key, layer.bias_key} & connected)
            if ok:
                layer.out_shape = outs
                keep.append(layer)
        if len(keep) == len(layers):
            return keep
        layers = keep  # excluding a layer can reveal other paths of the remaining ones: check again
    return []


def _factors(model, params, buffers, layers, x, bs):
    """Per-example inputs h_l (n, T, i) and output cotangents delta_l (n, out, T, o)."""
    eps: dict = {}
    seen: dict = {}

    def make_hook(i):
        def hook(module, args, output):
            seen[i] = args[0]
            return output + eps[i]

        return hook

    handles = [layer.module.register_forward_hook(make_hook(i)) for i, layer in enumerate(layers)]

    def single(perturbations, xi):
        eps.clear()
        eps.update(enumerate(perturbations))
        out = call(model, params, buffers, xi.unsqueeze(0))
        return _flatten_out(out, 1)[0], tuple(seen[i] for i in range(len(layers)))

    like = next(iter(params.values()))
    zeros = tuple(torch.zeros(layer.out_shape, dtype=like.dtype, device=like.device) for layer in layers)
    hs: list = [[] for _ in layers]
    ds: list = [[] for _ in layers]
    try:
        for s in range(0, x.shape[0], bs):
            deltas, inputs = vmap(jacrev(single, has_aux=True), in_dims=(None, 0))(zeros, x[s : s + bs])
            for i, layer in enumerate(layers):
                o = layer.module.out_features
                b, n_out = deltas[i].shape[:2]
                ds[i].append(deltas[i].reshape(b, n_out, -1, o))
                hs[i].append(inputs[i].reshape(b, -1, layer.module.in_features))
    finally:
        eps.clear()
        seen.clear()
        for h in handles:
            h.remove()
    return [torch.cat(h) for h in hs], [torch.cat(d) for d in ds]


def _dense_part(layers, h1, d1, h2, d2, trace):
    """The recognised layers' NTK: factorised (one position per example) or from their
    per-example Jacobians (a layer applied at several positions, e.g. over a sequence)."""
    total = None
    jac1: dict = {}
    jac2: dict = {}
    for i, layer in enumerate(layers):
        a, b, da, db = h1[i], h2[i], d1[i], d2[i]
        if a.shape[1] == 1 and b.shape[1] == 1:
            a, b, da, db = a[:, 0], b[:, 0], da[:, :, 0], db[:, :, 0]
            coef = torch.zeros(a.shape[0], b.shape[0], dtype=da.dtype, device=da.device)
            if layer.weight_key:
                coef = coef.addmm_(a, b.T, alpha=layer.s**2)
            if layer.bias_key:
                coef = coef.add_(layer.beta**2)
            if trace is None:
                blk = (da.reshape(-1, da.shape[-1]) @ db.reshape(-1, db.shape[-1]).T)
                term = coef[:, None, :, None] * blk.reshape(da.shape[0], da.shape[1], db.shape[0], db.shape[1])
                term = term.permute(0, 2, 1, 3)
            else:
                term = coef * (da.reshape(da.shape[0], -1) @ db.reshape(db.shape[0], -1).T)
            total = term if total is None else total + term
            continue
        for jac, h, d in ((jac1, a, da), (jac2, b, db)):
            if layer.weight_key:
                jac[layer.weight_key] = layer.s * torch.einsum("akto,ati->akoi", d, h).flatten(2)
            if layer.bias_key:
                jac[layer.bias_key] = layer.beta * d.sum(2)
    if jac1:
        from ._empirical import _contract

        term = _contract(jac1, jac2, trace)
        total = term if total is None else total + term
    return total


def call(model, params, buffers, x):
    from ._empirical import call as _call

    return _call(model, params, buffers, x)


def _flatten_out(out, n):
    from ._empirical import _flatten_out as _flat

    return _flat(out, n)


def structured_layers(model, params, buffers, x1, x2):
    """The recognised dense layers of ``model`` (see the module docstring)."""
    layers = _probe(model, params, buffers, _candidates(model, params), x1)
    if layers and x2 is not None:
        layers = _probe(model, params, buffers, layers, x2)
    return layers


def structured_dense_ntk(model, params, buffers, layers, x1, x2, trace, bs):
    """NTK contribution of the recognised layers' parameters (internal; see ``empirical_ntk``)."""
    h1, d1 = _factors(model, params, buffers, layers, x1, bs)
    h2, d2 = (h1, d1) if x2 is None else _factors(model, params, buffers, layers, x2, bs)
    return _dense_part(layers, h1, d1, h2, d2, trace)
