"""Training a classifier with DEQ layers, and measuring what backpropagation stores."""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
from torch import nn

from ..utils import Bool, Generator, Integer, IsCallable, Module, Real, Tensor, as_generator, randperm, validate
from ..utils import progress as _bar
from ._deq import DEQ


@dataclasses.dataclass
class ClassifierFit:
    """Training record of :func:`fit_classifier`.

    Attributes
    ----------
    losses : Tensor, shape (n_steps,)
        Mini-batch cross-entropy per step.
    n_iter : list of int
        Forward solver iterations per step, summed over the model's :class:`DEQ` layers
        (empty when it has none).
    backward_iter : list of int
        Backward (implicit) solver iterations per step, likewise.
    train_accuracy : float
        Accuracy on the whole training set after the last epoch.
    """

    losses: torch.Tensor
    n_iter: list
    backward_iter: list
    train_accuracy: float


@validate(
    model=Module(),
    x=Tensor(shape=("n", None), dtype="floating"),
    y=Tensor(shape=("n",), dtype="integer", low=0),
    n_epochs=Integer(low=1),
    batch_size=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    weight_decay=Real(low=0),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("model", "x")],
)
def fit_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_epochs: int = 10, batch_size: int = 64,
                   lr: float = 1e-2, weight_decay: float = 0.0, generator=None,
                   progress: bool | None = None) -> ClassifierFit:
    r"""Train ``model`` (``x -> logits``) by Adam on the cross-entropy, in mini-batches.

    Every epoch visits the rows of ``x`` in a fresh random order drawn from ``generator``.
    The forward (and backward) solver iterations of every :class:`DEQ` inside ``model``
    are recorded per step, which is how the chapter follows the cost of the equilibrium
    as training changes the cell.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, d)`` inputs to ``(B, n_classes)`` logits; trained in place.
    x : Tensor, shape (n, d)
    y : Tensor of int, shape (n,)
        Class labels in ``[0, n_classes)``.
    n_epochs, batch_size : int
    lr : float
        Adam's learning rate.
    weight_decay : float
        Adam's L2 penalty.
    generator : None, int or torch.Generator
        Order of the mini-batches.
    progress : bool, optional
        Progress bar over epochs (default: on in interactive sessions only).

    Returns
    -------
    ClassifierFit

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> import torch
    >>> from nips2019.implicit import ContractiveCell, DEQ
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(40, 2, generator=g)
    >>> y = (x[:, 0] > 0).long()
    >>> model = torch.nn.Sequential(DEQ(ContractiveCell(2, 8, generator=0)), torch.nn.Linear(8, 2))
    >>> fit = fit_classifier(model, x, y, n_epochs=20, batch_size=20, lr=0.05, generator=0)
    >>> fit.train_accuracy > 0.9, len(fit.n_iter) == 40
    (True, True)
    """
    gen = as_generator(generator)
    n = x.shape[0]
    logits = model(x[:1])
    if logits.dim() != 2:
        raise ValueError(f"fit_classifier: model must return (B, n_classes) logits, got shape {tuple(logits.shape)}")
    if int(y.max()) >= logits.shape[1]:
        raise ValueError(f"fit_classifier: y has label {int(y.max())} but model returns {logits.shape[1]} classes")
    deqs = [mod for mod in model.modules() if isinstance(mod, DEQ)]
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses, n_iter, b_iter = [], [], []
    model.train()
    for _ in _bar(range(n_epochs), desc="fit_classifier", disable=None if progress is None else not progress):
        order = randperm(n, generator=gen, device=x.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            if deqs:
                n_iter.append(sum(d.forward_result.n_iter for d in deqs))
                b_iter.append(sum(d.backward_result.n_iter for d in deqs if d.backward_result is not None))
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).double().mean())
    return ClassifierFit(losses=torch.stack(losses), n_iter=n_iter, backward_iter=b_iter, train_accuracy=acc)


@validate(fn=IsCallable())
def saved_tensor_bytes(fn: Callable[[], torch.Tensor]) -> int:
    r"""Bytes of the tensors autograd saves for the backward pass while ``fn()`` runs.

    Runs ``fn`` under :class:`torch.autograd.graph.saved_tensors_hooks` and adds up
    ``numel * element_size`` of every distinct tensor storage packed for backward: the
    activation memory of training, measured the same way on CPU and CUDA (parameters
    count where an operation saves them; the optimizer's state does not count).

    Parameters
    ----------
    fn : callable
        Zero-argument callable running a forward pass with autograd on.

    Returns
    -------
    int

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> import torch
    >>> w = torch.ones(3, 3, requires_grad=True)
    >>> saved_tensor_bytes(lambda: torch.tanh(torch.ones(10, 3) @ w)) > 0
    True
    """
    seen: dict = {}

    def pack(t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device)
            size = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):
            key, size = id(t), t.numel() * t.element_size()
        seen[key] = size
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return int(sum(seen.values()))
