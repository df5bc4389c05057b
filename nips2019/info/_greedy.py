r"""Greedy InfoMax: a stack of modules, each trained with its own contrastive (InfoNCE) loss.

Löwe, O'Connor and Veeling (2019) cut a deep encoder into modules and train each to maximise a
lower bound on the mutual information between its outputs at nearby time steps (the CPC loss of
van den Oord et al. 2018), with no gradient passing from one module to the one below it.
:class:`ContrastivePredictiveLoss` is that loss for sequences; :func:`greedy_infomax` trains any
stack of modules with any per-module losses, gradient-isolated or end to end.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..utils import (
    Bool,
    Generator,
    Integer,
    IsCallable,
    Items,
    Module,
    Options,
    Real,
    Tensor,
    as_generator,
    validate,
)
from ..utils import progress as _progress_bar


def _cpc_scores(z, weight, offset):
    """Scores (N, N) of anchors z[:, :T-k] against positives z[:, k:], N = B (T - k)."""
    d = z.shape[-1]
    anchors = z[:, :-offset].reshape(-1, d)
    positives = z[:, offset:].reshape(-1, d)
    return (anchors @ weight) @ positives.T


class ContrastivePredictiveLoss(nn.Module):
    r"""The CPC / InfoNCE loss of a sequence of representations, one bilinear critic per offset.

    For representations :math:`z_{b,t} \in \mathbb R^D` (sequence :math:`b`, time :math:`t`) and
    each offset :math:`k` in ``offsets``, the critic :math:`s(z, z') = z^\top W_k z'` scores the
    positive pair :math:`(z_{b,t}, z_{b,t+k})` against every other position of the batch,

    .. math::

        \mathcal L = \frac{1}{|K|} \sum_{k \in K} \frac{1}{N_k} \sum_{(b,t)}
        \Bigl(\log \sum_{(b',t')} e^{s(z_{b,t},\, z_{b',t'+k})} - s(z_{b,t},\, z_{b,t+k})\Bigr),

    :math:`N_k = B (T - k)` anchors, all other positions serving as negatives. For each offset,
    :math:`\log N_k - \mathcal L_k` is the InfoNCE lower bound (:func:`infonce_bound`) on the mutual
    information between :math:`z_t` and :math:`z_{t+k}`. The critics start at zero (the loss
    starts at :math:`\log N_k`). See the chapter :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    n_features : int
        :math:`D`, the size of each representation.
    offsets : tuple of int
        The prediction offsets :math:`k \ge 1`.

    References
    ----------
    van den Oord, Li & Vinyals (2018), *Representation learning with contrastive predictive coding*,
    arXiv:1807.03748; Löwe, O'Connor & Veeling (2019), *Putting an end to end-to-end:
    gradient-isolated learning of representations*, NeurIPS.

    Examples
    --------
    >>> import math, torch
    >>> loss = ContrastivePredictiveLoss(4, offsets=(1, 2))
    >>> z = torch.randn(3, 10, 4)
    >>> round(loss(z).item(), 4) == round((math.log(27) + math.log(24)) / 2, 4)  # zero critics
    True
    """

    @validate(n_features=Integer(low=1), offsets=Items(Integer(low=1), min_length=1))
    def __init__(self, n_features: int, offsets=(1, 2, 3)):
        super().__init__()
        self.offsets = tuple(int(k) for k in offsets)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.zeros(n_features, n_features)) for _ in self.offsets])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The loss of ``z`` (batch, time, n_features), averaged over the offsets."""
        if z.ndim != 3 or z.shape[-1] != self.weights[0].shape[0]:
            raise ValueError(f"ContrastivePredictiveLoss: z must have shape (batch, time, "
                             f"{self.weights[0].shape[0]}), got {tuple(z.shape)}")
        if z.shape[1] <= max(self.offsets):
            raise ValueError(f"ContrastivePredictiveLoss: sequences of length {z.shape[1]} are too "
                             f"short for the offset {max(self.offsets)}")
        total = 0.0
        for k, w in zip(self.offsets, self.weights):
            s = _cpc_scores(z, w, k)
            total = total + (torch.logsumexp(s, -1) - s.diagonal()).mean()
        return total / len(self.offsets)


@dataclasses.dataclass
class GreedyInfoMaxResult:
    r"""The training record of :func:`greedy_infomax`.

    See the chapter :doc:`Comparing distributions </book/distributions>`.

    Attributes
    ----------
    losses : Tensor, shape (n_steps, n_losses)
        The loss of each module per step (``mode="greedy"``: one column per module), or of the
        last module alone (``mode="end-to-end"``: one column).
    mode : str
        ``"greedy"`` or ``"end-to-end"``.
    n_steps : int
    """

    losses: torch.Tensor
    mode: str
    n_steps: int


def _step_losses(modules, losses, x, mode):
    """The per-module losses of one batch: greedy (each module's input detached) or end to end
    (the last loss only, gradients through the whole stack)."""
    z = x
    out = []
    for i, module in enumerate(modules):
        z = module(z.detach() if mode == "greedy" else z)
        if mode == "greedy":
            out.append(losses[i](z))
    if mode == "end-to-end":
        out.append(losses[-1](z))
    return out


def _parameters(modules, losses):
    seen, params = set(), []
    for obj in list(modules) + list(losses):
        if isinstance(obj, nn.Module):
            for p in obj.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params


@validate(
    modules=Items(Module(), min_length=1),
    losses=Items(IsCallable(), min_length=1),
    data=Tensor(dtype="floating"),
    mode=Options("greedy", "end-to-end"),
    n_steps=Integer(low=1),
    batch_size=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    generator=Generator(),
    progress=Bool(optional=True),
)
def greedy_infomax(
    modules,
    losses,
    data: torch.Tensor,
    *,
    mode: str = "greedy",
    n_steps: int = 200,
    batch_size: int = 32,
    lr: float = 1e-3,
    generator=None,
    progress: bool | None = None,
) -> GreedyInfoMaxResult:
    r"""Train a stack of modules greedily, each by its own loss, with no gradient between modules.

    The encoder is the composition :math:`f = f_L \circ \dots \circ f_1` of ``modules``; module
    :math:`l` has the loss :math:`\mathcal L_l` (``losses[l]``, e.g. a
    :class:`ContrastivePredictiveLoss`). In Greedy InfoMax (``mode="greedy"``, Löwe et al. 2019)
    each step minimises

    .. math::

        \sum_{l=1}^{L} \mathcal L_l\bigl(f_l(\operatorname{sg}[z_{l-1}])\bigr), \qquad
        z_0 = x,\ z_l = f_l(z_{l-1}),

    where :math:`\operatorname{sg}` stops the gradient (``detach``): module :math:`l` is trained only
    by its own loss, from the current output of the modules below it, as if they were data. The
    modules could then be trained on separate devices or asynchronously; here they share one Adam
    optimiser, which is equivalent (Adam's update is per parameter and no gradient is shared).
    ``mode="end-to-end"`` is the baseline: only the last loss, back-propagated through the whole
    stack. Batches of ``batch_size`` rows of ``data`` are drawn with replacement. Trains the
    modules (and loss modules with parameters) in place. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    modules : sequence of torch.nn.Module
        Applied in order to a batch ``data[idx]``; on the device and dtype of ``data``.
    losses : sequence of callables
        ``losses[l](z_l) -> scalar``, one per module (``"end-to-end"`` uses the last only); those that
        are ``nn.Module`` have their parameters trained too.
    data : Tensor, shape (n, ...)
        The training set, one example per row.
    mode : {"greedy", "end-to-end"}
    n_steps : int
        Optimiser steps.
    batch_size : int
    lr : float
        Adam's learning rate.
    generator : None, int or torch.Generator
        The randomness of the batches.
    progress : bool, optional
        Progress bar over the steps.

    Returns
    -------
    GreedyInfoMaxResult

    References
    ----------
    Löwe, O'Connor & Veeling (2019), *Putting an end to end-to-end: gradient-isolated learning of
    representations*, NeurIPS.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> stack = [torch.nn.Linear(3, 4), torch.nn.Linear(4, 4)]
    >>> heads = [ContrastivePredictiveLoss(4, offsets=(1,)), ContrastivePredictiveLoss(4, offsets=(1,))]
    >>> seqs = torch.randn(20, 8, 3).cumsum(1)  # random walks: neighbours in time are alike
    >>> res = greedy_infomax(stack, heads, seqs, n_steps=30, batch_size=8, lr=0.01, generator=0)
    >>> res.losses.shape, bool(res.losses[-5:].mean() < res.losses[:5].mean())
    (torch.Size([30, 2]), True)
    """
    if mode == "greedy" and len(losses) != len(modules):
        raise ValueError(f"greedy_infomax: mode='greedy' needs one loss per module, got {len(losses)} "
                         f"losses for {len(modules)} modules")
    params = _parameters(modules, losses)
    if not params:
        raise ValueError("greedy_infomax: the modules and losses have no trainable parameters")
    for p in params:
        if p.device != data.device or p.dtype != data.dtype:
            raise ValueError(f"greedy_infomax: the parameters must be on the device and dtype of data "
                             f"({data.device}, {data.dtype}), got ({p.device}, {p.dtype}) (move them)")
    gen = as_generator(generator)
    opt = torch.optim.Adam(params, lr=lr)
    record = []
    n = data.shape[0]
    disable = None if progress is None else not progress
    for it in _progress_bar(range(n_steps), desc=f"Greedy InfoMax ({mode})", disable=disable):
        idx = torch.randint(0, n, (batch_size,), generator=gen).to(data.device)
        if it == 0:
            try:
                step = _step_losses(modules, losses, data[idx], mode)
            except (ValueError, RuntimeError, TypeError) as err:
                raise ValueError(f"greedy_infomax: the modules and losses fail on a batch of data of shape "
                                 f"{tuple(data[idx].shape)}: {err}") from err
        else:
            step = _step_losses(modules, losses, data[idx], mode)
        opt.zero_grad(set_to_none=True)
        sum(step).backward()
        opt.step()
        record.append(torch.stack([v.detach() for v in step]))
    out = torch.stack(record)
    if not bool(torch.isfinite(out).all()):
        raise FloatingPointError("greedy_infomax: a loss became non-finite (lower lr?)")
    return GreedyInfoMaxResult(losses=out, mode=mode, n_steps=n_steps)
