"""Local learning rules for a linear neuron layer: Hebb, Oja, Sanger (generalised Hebbian algorithm).

All rules act on a linear layer ``y = W x`` and are vectorised twice: over a mini-batch of inputs
(the update is the batch mean of the single-sample update) and over any number of leading
"run" dimensions of the weights (independent neurons/layers trained side by side, e.g. several
random initialisations at once).
See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Generator, Integer, Options, Real, Tensor, as_generator, randn, randperm, validate
from ._common import check_batch_dims

__all__ = ["hebb_step", "oja_step", "sanger_step", "HebbianFit", "fit_hebbian"]

_RULES = ("hebb", "oja", "sanger")


def _check_pair(func: str, w: torch.Tensor, x: torch.Tensor, wdim: int) -> None:
    """What the declarations cannot say: the run dimensions of ``w`` and ``x`` broadcast."""
    check_batch_dims(func, "w", w.shape[: w.dim() - wdim], "x", x.shape[:-2])


_W_VECTOR = Tensor(shape=("...", "d"), dtype="floating")
_W_MATRIX = Tensor(shape=("...", "k", "d"), dtype="floating")
_X_BATCH = Tensor(shape=("...", "B", "d"), dtype="floating")
_LR = Real(low=0, closed="neither")


@validate(w=_W_VECTOR, x=_X_BATCH, lr=_LR, same=[("w", "x")])
def hebb_step(w: torch.Tensor, x: torch.Tensor, *, lr: float) -> torch.Tensor:
    r"""One step of plain Hebbian learning for a linear neuron, averaged over a mini-batch.

    .. math::
        y_b = w^\top x_b, \qquad w \leftarrow w + \frac{\mathrm{lr}}{B} \sum_b y_b\, x_b .

    The expected update is :math:`\mathrm{lr}\, C w` with :math:`C = E[x x^\top]`: the weight aligns
    with the top eigenvector of :math:`C` but its norm grows without bound (like :math:`(1 + \mathrm{lr}
    \lambda_1)^t`). See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    w : Tensor, shape (..., d)
        Weights; leading dimensions are independent runs.
    x : Tensor, shape (B, d) or (..., B, d)
        Mini-batch of inputs, B >= 1 (shared by all runs, or one batch per run; the run
        dimensions broadcast against those of ``w``).
    lr : float
        Learning rate, > 0.

    Returns
    -------
    Tensor, shape (..., d)
        Updated weights (a new tensor).

    References
    ----------
    D. O. Hebb, *The Organization of Behavior*, 1949.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 0.0]); x = torch.tensor([[2.0, 0.0]])
    >>> hebb_step(w, x, lr=0.5)
    tensor([3., 0.])
    """
    _check_pair("hebb_step", w, x, 1)
    return _hebb(w, x, lr)


def _hebb(w, x, lr):
    y = (x @ w.unsqueeze(-1)).squeeze(-1)  # (..., B)
    return w + lr * (y.unsqueeze(-1) * x).mean(-2)


@validate(w=_W_VECTOR, x=_X_BATCH, lr=_LR, same=[("w", "x")])
def oja_step(w: torch.Tensor, x: torch.Tensor, *, lr: float) -> torch.Tensor:
    r"""One step of Oja's rule for a linear neuron, averaged over a mini-batch.

    .. math::
        y_b = w^\top x_b, \qquad
        w \leftarrow w + \frac{\mathrm{lr}}{B} \sum_b y_b \,(x_b - y_b\, w).

    The decay term :math:`-y^2 w` keeps :math:`\|w\|` near 1; with a decaying rate the weight
    converges to :math:`\pm` the top eigenvector of :math:`E[x x^\top]` (the first principal
    component when ``x`` is centred).
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    w : Tensor, shape (..., d)
        Weights; leading dimensions are independent runs.
    x : Tensor, shape (B, d) or (..., B, d)
        Mini-batch of inputs.
    lr : float
        Learning rate, > 0.

    Returns
    -------
    Tensor, shape (..., d)

    References
    ----------
    E. Oja, "Simplified neuron model as a principal component analyzer", J. Math. Biology 15, 1982.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 0.0]); x = torch.tensor([[2.0, 0.0]])
    >>> oja_step(w, x, lr=0.1)   # already a unit eigenvector: a fixed point
    tensor([1., 0.])
    """
    _check_pair("oja_step", w, x, 1)
    return _oja(w, x, lr)


def _oja(w, x, lr):
    y = (x @ w.unsqueeze(-1)).squeeze(-1)  # (..., B)
    hebb = (y.unsqueeze(-1) * x).mean(-2)
    return w + lr * (hebb - (y * y).mean(-1, keepdim=True) * w)


@validate(w=_W_MATRIX, x=_X_BATCH, lr=_LR, same=[("w", "x")])
def sanger_step(w: torch.Tensor, x: torch.Tensor, *, lr: float) -> torch.Tensor:
    r"""One step of Sanger's generalised Hebbian algorithm for ``k`` linear neurons.

    .. math::
        y_b = W x_b, \qquad
        W \leftarrow W + \frac{\mathrm{lr}}{B} \sum_b \left( y_b x_b^\top
        - \operatorname{LT}(y_b y_b^\top)\, W \right),

    where :math:`\operatorname{LT}` keeps the lower triangle (diagonal included). Neuron :math:`i`
    runs Oja's rule on the input with the projections on neurons :math:`1..i-1` removed, so the
    rows converge to the top-``k`` eigenvectors in order. With ``k = 1`` this is :func:`oja_step`.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    w : Tensor, shape (..., k, d)
        Weights, one row per output neuron; leading dimensions are independent runs.
    x : Tensor, shape (B, d) or (..., B, d)
        Mini-batch of inputs.
    lr : float
        Learning rate, > 0.

    Returns
    -------
    Tensor, shape (..., k, d)

    References
    ----------
    T. D. Sanger, "Optimal unsupervised learning in a single-layer linear feedforward neural
    network", Neural Networks 2, 1989.

    Examples
    --------
    >>> import torch
    >>> w = torch.eye(2); x = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    >>> sanger_step(w, x, lr=0.1)   # the eigenbasis is a fixed point
    tensor([[1., 0.],
            [0., 1.]])
    """
    _check_pair("sanger_step", w, x, 2)
    return _sanger(w, x, lr)


def _sanger(w, x, lr):
    bsz = x.shape[-2]
    y = x @ w.transpose(-1, -2)  # (..., B, k)
    hebb = y.transpose(-1, -2) @ x / bsz  # (..., k, d)
    yy = torch.tril(y.transpose(-1, -2) @ y / bsz)  # (..., k, k)
    return w + lr * (hebb - yy @ w)


@dataclasses.dataclass
class HebbianFit:
    """Result of :func:`fit_hebbian`.

    Attributes
    ----------
    weights : Tensor, shape (..., d) or (..., k, d)
        Final weights.
    norms : Tensor, shape (n_steps + 1, ...) or (n_steps + 1, ..., k)
        Norm of each weight vector after every step (row 0: the initial weights).
    lrs : Tensor, shape (n_steps,)
        The learning rate used at each step.
    """

    weights: torch.Tensor
    norms: torch.Tensor
    lrs: torch.Tensor


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    rule=Options(*_RULES),
    k=Integer(low=1),
    n_epochs=Integer(low=1),
    batch_size=Integer(low=1),
    lr=_LR,
    decay=Real(low=0),
    w0=Tensor(shape=("...", "d"), dtype="floating", optional=True),
    n_runs=Integer(low=1, optional=True),
    shared_order=Bool(),
    generator=Generator(),
    same=[("x", "w0")],
)
def fit_hebbian(
    x: torch.Tensor,
    *,
    rule: str = "oja",
    k: int = 1,
    n_epochs: int = 10,
    batch_size: int = 1,
    lr: float = 0.01,
    decay: float = 0.0,
    w0: torch.Tensor | None = None,
    n_runs: int | None = None,
    shared_order: bool = False,
    generator=None,
) -> HebbianFit:
    r"""Train a linear layer on data ``x`` with a Hebbian rule, online or in mini-batches.

    The learning rate at step :math:`t` is :math:`\mathrm{lr}_t = \mathrm{lr} / (1 + \mathrm{decay}\, t)`
    (a Robbins-Monro schedule for ``decay > 0``, needed for tight convergence of the stochastic
    rules). Each epoch visits the samples in a fresh random order, drawn separately for every run
    (so several runs are independent samples of the stochastic rule), unless ``shared_order``.
    The rules see ``x`` as given: centre it first to obtain principal components.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Data, one sample per row (at least one sample, finite).
    rule : {"hebb", "oja", "sanger"}
        :func:`hebb_step`, :func:`oja_step` or :func:`sanger_step`.
    k : int
        Number of output neurons (``"sanger"`` only; must be 1 otherwise).
    n_epochs : int
        Passes over the data, >= 1.
    batch_size : int
        Samples per update (1 = the classical online rule).
    lr : float
        Initial learning rate, > 0.
    decay : float
        Learning-rate decay, >= 0.
    w0 : Tensor, shape (..., d) or (..., k, d), optional
        Initial weights, on ``x``'s device and dtype (nothing is converted); defaults to
        ``n_runs`` (or one) random unit vectors.
    n_runs : int, optional
        Number of independent runs trained at once when ``w0`` is not given.
    shared_order : bool
        If True, all runs (the leading dimensions of the weights) visit the samples in the same
        order, so they differ only by their initial weights; with a decaying rate they then
        tend to end at the same weights. Default False: each run draws its own order.
    generator : None, int or torch.Generator
        Randomness for the initial weights and the sample order (drawn on the CPU).

    Returns
    -------
    HebbianFit

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(500, 3, generator=g) * torch.tensor([3.0, 1.0, 0.5])
    >>> fit = fit_hebbian(x, rule="oja", n_epochs=5, lr=0.01, decay=1e-3, generator=g)
    >>> bool(fit.weights.abs().argmax() == 0), round(float(fit.weights.norm()), 1)
    (True, 1.0)
    """
    if rule != "sanger" and k != 1:
        raise ValueError(f"fit_hebbian: k must be 1 for rule {rule!r}, got {k}")
    n, d = x.shape
    k = int(k)
    gen = as_generator(generator)
    if w0 is None:
        lead = () if n_runs is None else (int(n_runs),)
        shape = lead + ((k, d) if rule == "sanger" else (d,))
        w = randn(*shape, generator=gen, device=x.device, dtype=x.dtype)
        w = w / w.norm(dim=-1, keepdim=True)
    else:
        if n_runs is not None:
            raise ValueError("fit_hebbian: give n_runs or w0, not both (w0's leading dimensions are the runs)")
        if rule == "sanger" and (w0.dim() < 2 or w0.shape[-2] != k):
            raise ValueError(f"fit_hebbian: w0 must have shape (..., k={k}, {d}) for rule 'sanger', got {tuple(w0.shape)}")
        w = w0.clone()
    step = {"hebb": _hebb, "oja": _oja, "sanger": _sanger}[rule]
    run_shape = w.shape[: w.dim() - (2 if rule == "sanger" else 1)]
    n_orders = 1 if shared_order else math.prod(run_shape)
    norms = [w.norm(dim=-1)]
    lrs = []
    t = 0
    for _ in range(int(n_epochs)):
        if n_orders == 1:
            xs = x[randperm(n, generator=gen, device=x.device)]
        else:  # one order per run: xs has shape run_shape + (n, d)
            perms = torch.stack([randperm(n, generator=gen, device=x.device) for _ in range(n_orders)])
            xs = x[perms].reshape(*run_shape, n, d)
        for start in range(0, n, int(batch_size)):
            rate = lr / (1.0 + decay * t)
            w = step(w, xs[..., start : start + int(batch_size), :], rate)
            norms.append(w.norm(dim=-1))
            lrs.append(rate)
            t += 1
    if not torch.isfinite(w).all():
        raise FloatingPointError(f"fit_hebbian: rule {rule!r} diverged (non-finite weights): lower lr")
    return HebbianFit(w, torch.stack(norms), torch.tensor(lrs, dtype=x.dtype, device=x.device))
