"""Structured empirical NTK for networks made of dense layers (Novak et al. 2022, "structured derivatives").

For a dense layer :math:`z = s\\, W h + \\beta\\, b` the Jacobian of output :math:`k` with
respect to :math:`W` is an outer product, :math:`\\partial f_k / \\partial W = s\\, \\delta_k h^\\top`
with :math:`\\delta_k = \\partial f_k / \\partial z`. Its contribution to the NTK therefore
factorises,

.. math::

    \\Theta^{W}_{kl}(x, x') = s^2\\, \\big(h^\\top h'\\big)\\, \\big(\\delta_k^\\top \\delta'_l\\big),
    \\qquad \\Theta^{b}_{kl}(x, x') = \\beta^2\\, \\delta_k^\\top \\delta'_l,

and costs :math:`O(n^2 (\\text{out}^2 o + i))` per layer instead of
:math:`O(n^2\\, \\text{out}^2\\, o\\, i)` for the contraction of full Jacobians.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import jacrev, vmap

from ._mlp import DenseNTK


def _scales(layer):
    if isinstance(layer, DenseNTK):
        if layer.parameterization == "ntk":
            bias = 0.0 if layer.b_std is None else float(layer.b_std)
            return layer.w_std / math.sqrt(layer.in_features), bias
        return 1.0, 1.0
    return 1.0, 1.0


def _dense_layers(model: nn.Module):
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, DenseNTK))]
    covered = {id(p) for m in layers for p in m.parameters(recurse=False)}
    others = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
    if others:
        raise ValueError(
            "empirical_ntk: method='structured' supports a model whose trainable parameters all belong to "
            f"nn.Linear or DenseNTK layers; found others: {others[:3]}"
        )
    return layers


def _factors(model, layers, x):
    """Inputs h_l (n, i) and output cotangents delta_l (n, out, o) of every dense layer."""
    inputs: dict = {}
    eps: dict = {}
    calls: dict = {}

    def make_hook(i):
        def hook(module, args, output):
            calls[i] = calls.get(i, 0) + 1
            if i in eps:
                return output + eps[i]
            inputs[i] = args[0]
            return None

        return hook

    handles = [m.register_forward_hook(make_hook(i)) for i, m in enumerate(layers)]
    try:
        with torch.no_grad():
            out = model(x)
        if any(c != 1 for c in calls.values()) or len(calls) != len(layers):
            raise ValueError(
                "empirical_ntk: method='structured' needs every dense layer of model to be called exactly once per "
                "forward pass"
            )
        for i, h in inputs.items():
            if h.dim() != 2:
                raise ValueError(
                    "empirical_ntk: method='structured' needs 2-D inputs (n, features) to the dense layers of model, "
                    f"got shape {tuple(h.shape)} from x1 or x2 of shape {tuple(x.shape)}"
                )
        shapes = [(1, m.out_features) for m in layers]

        def single(perturbations, xi):
            eps.clear()
            eps.update(enumerate(perturbations))
            return model(xi.unsqueeze(0)).reshape(-1)

        zeros = tuple(torch.zeros(s, dtype=out.dtype, device=out.device) for s in shapes)
        deltas = vmap(jacrev(single), in_dims=(None, 0))(zeros, x)  # tuple of (n, out, 1, o)
    finally:
        eps.clear()
        for h in handles:
            h.remove()
    return [inputs[i] for i in range(len(layers))], [d[:, :, 0, :] for d in deltas]


def structured_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None, trace) -> torch.Tensor:
    """Empirical NTK of a dense network from per-layer factors (internal; see ``empirical_ntk``)."""
    layers = _dense_layers(model)
    h1, d1 = _factors(model, layers, x1)
    h2, d2 = (h1, d1) if x2 is None else _factors(model, layers, x2)
    total = None
    for layer, a, b, da, db in zip(layers, h1, h2, d1, d2):
        s, beta = _scales(layer)
        coef = torch.zeros(a.shape[0], b.shape[0], dtype=da.dtype, device=da.device)
        if layer.weight.requires_grad:
            coef = coef + s * s * (a @ b.T)
        if layer.bias is not None and layer.bias.requires_grad:
            coef = coef + beta * beta
        if trace is None:
            term = coef[:, :, None, None] * torch.einsum("ako,blo->abkl", da, db)
        else:
            term = coef * torch.einsum("ako,bko->ab", da, db)
        total = term if total is None else total + term
    return total
