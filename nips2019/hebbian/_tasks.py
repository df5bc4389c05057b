"""Episode tasks for plastic networks, non-plastic baselines and a meta-training loop.

See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch
from torch import nn

from ..utils import (
    Bool,
    Device,
    DType,
    Generator,
    InstanceOf,
    Integer,
    IsCallable,
    Module,
    Options,
    Real,
    Tensor,
    as_generator,
    rand,
    randint,
    validate,
)
from ..utils import progress as _progress_bar

__all__ = ["EpisodeBatch", "pattern_episodes", "RecurrentBaseline", "TrainCurve", "train_episodes",
           "completion_error", "episode_loss"]


@dataclasses.dataclass
class EpisodeBatch:
    """A batch of pattern-memorisation episodes.

    Attributes
    ----------
    inputs : Tensor, shape (T, B, N)
        Inputs per time step: ``pattern_size`` pattern bits, then a constant bias input (1), then,
        when there are distractors, a flag input that is 1 while a to-be-remembered pattern is shown.
    target : Tensor, shape (B, pattern_size)
        The full pattern the probe was cut from.
    erased : Tensor of bool, shape (B, pattern_size)
        The probe bits that were set to zero (what must be completed).
    patterns : Tensor, shape (B, n_patterns + n_distractors, pattern_size)
        All patterns of each episode (targets first).
    """

    inputs: torch.Tensor
    target: torch.Tensor
    erased: torch.Tensor
    patterns: torch.Tensor

    @property
    def device_dtype(self) -> tuple[torch.device, torch.dtype]:
        """Device and dtype of the episodes (for the ``same=`` checks of :func:`nips2019.utils.validate`)."""
        return self.inputs.device, self.inputs.dtype


@validate(
    n_episodes=Integer(low=1),
    pattern_size=Integer(low=2),
    n_patterns=Integer(low=1),
    n_distractors=Integer(low=0),
    n_presentations=Integer(low=1),
    present_steps=Integer(low=1),
    gap_steps=Integer(low=0),
    probe_steps=Integer(low=1),
    generator=Generator(),
    dtype=DType(),
    device=Device(),
)
def pattern_episodes(
    n_episodes: int,
    pattern_size: int,
    *,
    n_patterns: int = 2,
    n_distractors: int = 0,
    n_presentations: int = 3,
    present_steps: int = 3,
    gap_steps: int = 2,
    probe_steps: int = 3,
    generator=None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> EpisodeBatch:
    r"""Sample binary pattern memorisation/completion episodes (after Miconi et al. 2018).

    Each episode draws ``n_patterns`` random :math:`\pm 1` patterns; in each of ``n_presentations``
    rounds they are shown in a random order, each for ``present_steps`` steps followed by
    ``gap_steps`` of zero input. Then one of them, with half of its bits set to zero, is shown for
    ``probe_steps`` steps; the task is to output the full pattern at the last step. With
    ``n_distractors > 0``, extra patterns are interleaved in the presentations and a flag input
    marks the ``n_patterns`` that can be probed: remembering everything overloads the memory,
    remembering only the flagged ones does not. Episode length:
    ``n_presentations * (n_patterns + n_distractors) * (present_steps + gap_steps) + probe_steps``.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    n_episodes : int
        Episodes in the batch, >= 1.
    pattern_size : int
        Bits per pattern, >= 2 (half of them, rounded down, are erased in the probe).
    n_patterns, n_distractors, n_presentations, present_steps, gap_steps, probe_steps : int
        Sizes and durations (all >= 1 except ``n_distractors`` and ``gap_steps`` >= 0).
    generator : None, int or torch.Generator
        CPU generator (the episodes are drawn on the CPU and moved to ``device``).
    dtype, device :
        Of the returned tensors (a floating dtype; CPU by default).

    Returns
    -------
    EpisodeBatch

    Examples
    --------
    >>> ep = pattern_episodes(4, 10, generator=torch.Generator().manual_seed(0))
    >>> ep.inputs.shape, ep.target.shape, int(ep.erased.sum(1)[0])
    (torch.Size([33, 4, 11]), torch.Size([4, 10]), 5)
    """
    gen = as_generator(generator)
    b, p, k = int(n_episodes), int(pattern_size), int(n_patterns) + int(n_distractors)
    flagged = int(n_distractors) > 0
    n_in = p + 1 + int(flagged)
    pats = (2 * randint(0, 2, (b, k, p), generator=gen) - 1).to(dtype)
    block = int(present_steps) + int(gap_steps)
    t_total = int(n_presentations) * k * block + int(probe_steps)
    x = torch.zeros(t_total, b, n_in, dtype=dtype)
    x[..., p] = 1.0
    rows = torch.arange(b)
    for r in range(int(n_presentations)):
        order = torch.argsort(rand(b, k, generator=gen), dim=1)
        for slot in range(k):
            idx = order[:, slot]
            t0 = (r * k + slot) * block
            x[t0 : t0 + int(present_steps), :, :p] = pats[rows, idx]
            if flagged:
                x[t0 : t0 + int(present_steps), :, p + 1] = (idx < int(n_patterns)).to(dtype)
    which = randint(0, int(n_patterns), (b,), generator=gen)
    target = pats[rows, which]
    erased = torch.argsort(rand(b, p, generator=gen), dim=1) < p // 2
    x[-int(probe_steps) :, :, :p] = torch.where(erased, torch.zeros_like(target), target)
    return EpisodeBatch(x.to(device), target.to(device), erased.to(device), pats.to(device))


class RecurrentBaseline(nn.Module):
    r"""A non-plastic recurrent baseline: ``nn.RNN`` (tanh) or ``nn.LSTM`` and a linear read-out.

    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Every parameter starts uniform in :math:`[-1/\sqrt{H}, 1/\sqrt{H}]` (``H = n_hidden``), PyTorch's
    default for these layers, but drawn from ``generator`` on the CPU.

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        Sizes, >= 1.
    cell : {"rnn", "lstm"}
        Recurrent cell.
    generator : None, int or torch.Generator
        Randomness of the initialisation.

    Examples
    --------
    >>> import torch
    >>> net = RecurrentBaseline(11, 32, 10, cell="lstm", generator=0)
    >>> net(torch.zeros(5, 2, 11)).shape
    torch.Size([5, 2, 10])
    """

    @validate(
        n_inputs=Integer(low=1),
        n_hidden=Integer(low=1),
        n_outputs=Integer(low=1),
        cell=Options("rnn", "lstm"),
        generator=Generator(),
    )
    def __init__(self, n_inputs: int, n_hidden: int, n_outputs: int, *, cell: str = "lstm", generator=None):
        super().__init__()
        self.cell, self.n_inputs = cell, int(n_inputs)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.RNN)(int(n_inputs), int(n_hidden))
        self.readout = nn.Linear(int(n_hidden), int(n_outputs))
        gen, bound = as_generator(generator), 1.0 / math.sqrt(int(n_hidden))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(bound * (2 * rand(*p.shape, generator=gen, dtype=p.dtype) - 1))

    @validate(self=Module(), x=Tensor(shape=("T", "B", None), dtype="floating"), same=[("self", "x")])
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for every step, shape ``(T, B, n_outputs)``, from finite inputs ``(T, B, n_inputs)``."""
        if x.shape[-1] != self.n_inputs:
            raise ValueError(f"RecurrentBaseline.forward: x must have shape (T, B, {self.n_inputs}), got {tuple(x.shape)}")
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unchecked :meth:`forward`, for training loops that checked their inputs once."""
        return self.readout(self.rnn(x)[0])


@validate(
    output=Tensor(shape=("B", "P"), dtype="floating"),
    episodes=InstanceOf(EpisodeBatch),
    same=[("output", "episodes")],
)
def completion_error(output: torch.Tensor, episodes: EpisodeBatch) -> torch.Tensor:
    r"""Fraction of erased probe bits whose sign is wrong (0 = perfect, 0.5 = chance).

    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    output : Tensor, shape (B, pattern_size)
        Prediction at the last step (finite, on the episodes' device and dtype).
    episodes : EpisodeBatch
        The episodes the prediction is for.

    Returns
    -------
    Tensor, shape ()
        The error rate, in the dtype of ``output``.

    Examples
    --------
    >>> ep = pattern_episodes(2, 6, generator=torch.Generator().manual_seed(0))
    >>> float(completion_error(ep.target, ep)), float(completion_error(-ep.target, ep))
    (0.0, 1.0)
    """
    if output.shape != episodes.target.shape:
        raise ValueError(
            f"completion_error: output must have the shape of episodes.target {tuple(episodes.target.shape)}, "
            f"got {tuple(output.shape)}"
        )
    return _completion_error(output, episodes)


def _completion_error(output, episodes):
    wrong = (torch.sign(output) != episodes.target) & episodes.erased
    return wrong.sum().to(output.dtype) / episodes.erased.sum().clamp_min(1)


@dataclasses.dataclass
class TrainCurve:
    """Learning curve of :func:`train_episodes`.

    Attributes
    ----------
    loss : Tensor, shape (n_steps,)
        :func:`episode_loss` of the last-step output on each training batch.
    error : Tensor, shape (n_steps,)
        :func:`completion_error` on each training batch (fresh episodes: a test error).
    """

    loss: torch.Tensor
    error: torch.Tensor


@validate(
    model=Module(),
    sampler=IsCallable(),
    n_steps=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    clip=Real(low=0, closed="neither"),
    margin=Real(low=0, optional=True),
    generator=Generator(),
    progress=Bool(optional=True),
    desc=InstanceOf(str, optional=True),
)
def train_episodes(
    model: nn.Module,
    sampler: Callable[[torch.Generator], EpisodeBatch],
    *,
    n_steps: int,
    lr: float = 3e-3,
    clip: float = 10.0,
    margin: float | None = 0.5,
    generator=None,
    progress: bool | None = None,
    desc: str | None = None,
) -> TrainCurve:
    r"""Meta-train ``model`` by backpropagation through episodes (Adam, one fresh batch per step).

    The model maps inputs ``(T, B, N_in)`` to outputs ``(T, B, N_out)``; the prediction is the
    first ``pattern_size`` outputs at the last step (for plastic networks: the activity of the
    pattern neurons), and the loss is their mean squared error to the full pattern. Every batch is
    new, so the error curve measures generalisation to unseen patterns.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    model : nn.Module
        :class:`PlasticRNN`, :class:`NeuromodulatedRNN` or :class:`RecurrentBaseline`.
    sampler : callable
        ``sampler(generator) -> EpisodeBatch`` on the model's device and dtype (checked on the
        first batch).
    n_steps : int
        Optimiser steps (= batches of episodes), >= 1.
    lr : float
        Adam learning rate, > 0.
    clip : float
        Gradient-norm clipping threshold, > 0.
    margin : float or None
        Passed to :func:`episode_loss`.
    generator : None, int or torch.Generator
        Turned into one CPU generator (:func:`nips2019.utils.as_generator`) and passed to
        ``sampler`` at every step.
    progress : bool, optional
        Show a progress bar; ``None``: only in interactive sessions (:func:`nips2019.utils.progress`).
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    TrainCurve

    Examples
    --------
    >>> from nips2019.hebbian import PlasticRNN
    >>> g = torch.Generator().manual_seed(0)
    >>> net = PlasticRNN(9, generator=g)
    >>> curve = train_episodes(net, lambda gen: pattern_episodes(4, 8, generator=gen), n_steps=3, generator=g)
    >>> curve.loss.shape
    torch.Size([3])
    """
    gen = as_generator(generator)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, errors = [], []
    bar = _progress_bar(range(int(n_steps)), desc=desc or "train_episodes", disable=None if progress is None else not progress)
    for step in bar:
        ep = sampler(gen)
        if step == 0:  # check once what the sampler makes; later steps run unchecked
            _check_first_batch(model, ep)
        p = ep.target.shape[1]
        fwd = model if step == 0 else getattr(model, "_forward", model)
        out = fwd(ep.inputs)[-1, :, :p]
        loss = _episode_loss(out, ep.target, margin)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.detach())
        errors.append(_completion_error(out.detach(), ep))
    loss_t, err_t = torch.stack(losses), torch.stack(errors)
    if not torch.isfinite(loss_t).all():
        raise FloatingPointError("train_episodes: training diverged (non-finite loss): lower lr")
    return TrainCurve(loss_t, err_t)


def _check_first_batch(model, ep):
    if not isinstance(ep, EpisodeBatch):
        raise TypeError(f"train_episodes: sampler must return an EpisodeBatch, got {type(ep).__name__}")
    params = [q for q in model.parameters() if q.is_floating_point()]
    if not params:
        raise ValueError("train_episodes: model has no floating-point parameters to train")
    ref = params[0]
    if ep.inputs.device != ref.device or ep.inputs.dtype != ref.dtype:
        raise ValueError(
            f"train_episodes: sampler made episodes on {ep.inputs.device} ({ep.inputs.dtype}) but model is on "
            f"{ref.device} ({ref.dtype}); make them on the model's device and dtype"
        )


@validate(
    output=Tensor(shape=("B", "P"), dtype="floating"),
    target=Tensor(shape=("B", "P"), dtype="floating", values=(-1, 1)),
    margin=Real(low=0, optional=True),
    same=[("output", "target")],
)
def episode_loss(output: torch.Tensor, target: torch.Tensor, *, margin: float | None = 0.5) -> torch.Tensor:
    r"""Training loss on the last-step prediction.

    ``margin=None``: the mean squared error :math:`\overline{(y - \xi)^2}` (Miconi et al.'s choice).
    Otherwise a squared hinge :math:`\overline{\max(0, m - \xi y)^2}`: zero once every bit has the right
    sign with margin :math:`m`. The hinge does not ask a tanh unit to saturate at :math:`\pm 1`,
    which would reward runaway recurrent excitation.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    output : Tensor, shape (B, pattern_size)
        Prediction at the last step.
    target : Tensor, shape (B, pattern_size)
        The patterns (entries -1 or +1), on ``output``'s device and dtype.
    margin : float or None
        Hinge margin, >= 0; ``None`` for the mean squared error.

    Returns
    -------
    Tensor, shape ()

    Examples
    --------
    >>> t = torch.tensor([[1.0, -1.0]])
    >>> round(float(episode_loss(0.6 * t, t)), 4), round(float(episode_loss(0.6 * t, t, margin=None)), 4)
    (0.0, 0.16)
    """
    return _episode_loss(output, target, margin)


def _episode_loss(output, target, margin):
    if margin is None:
        return ((output - target) ** 2).mean()
    return torch.relu(margin - target * output).pow(2).mean()
