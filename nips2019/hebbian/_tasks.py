"""Episode tasks for plastic networks, non-plastic baselines and a meta-training loop.

See the chapter *Hebbian learning and differentiable plasticity*.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn

from ..utils import check_positive, progress, torch_generator

__all__ = ["EpisodeBatch", "pattern_episodes", "RecurrentBaseline", "TrainCurve", "train_episodes",
           "completion_error", "episode_loss"]


class EpisodeBatch(NamedTuple):
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


def pattern_episodes(
    batch: int,
    pattern_size: int,
    n_patterns: int = 2,
    n_distractors: int = 0,
    n_presentations: int = 3,
    present_steps: int = 3,
    gap_steps: int = 2,
    probe_steps: int = 3,
    generator: torch.Generator | None = None,
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
    See the chapter *Hebbian learning and differentiable plasticity*.

    Parameters
    ----------
    batch, pattern_size, n_patterns, n_distractors, n_presentations, present_steps, gap_steps, probe_steps : int
        Sizes (all >= 1 except ``n_distractors`` and ``gap_steps`` >= 0).
    generator : torch.Generator, optional
        CPU generator.
    dtype, device :
        Of the returned tensors.

    Returns
    -------
    EpisodeBatch

    Examples
    --------
    >>> ep = pattern_episodes(4, 10, generator=torch.Generator().manual_seed(0))
    >>> ep.inputs.shape, ep.target.shape, int(ep.erased.sum(1)[0])
    (torch.Size([33, 4, 11]), torch.Size([4, 10]), 5)
    """
    sizes = dict(batch=batch, pattern_size=pattern_size, n_patterns=n_patterns,
                 n_presentations=n_presentations, present_steps=present_steps, probe_steps=probe_steps)
    for name, v in sizes.items():
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if int(n_distractors) < 0 or int(gap_steps) < 0:
        raise ValueError(f"n_distractors and gap_steps must be >= 0, got {n_distractors}, {gap_steps}")
    gen = generator if generator is not None else torch_generator()
    b, p, k = int(batch), int(pattern_size), int(n_patterns) + int(n_distractors)
    flagged = int(n_distractors) > 0
    n_in = p + 1 + int(flagged)
    pats = (2 * torch.randint(0, 2, (b, k, p), generator=gen) - 1).to(dtype)
    block = int(present_steps) + int(gap_steps)
    t_total = int(n_presentations) * k * block + int(probe_steps)
    x = torch.zeros(t_total, b, n_in, dtype=dtype)
    x[..., p] = 1.0
    rows = torch.arange(b)
    for r in range(int(n_presentations)):
        order = torch.argsort(torch.rand(b, k, generator=gen), dim=1)
        for slot in range(k):
            idx = order[:, slot]
            t0 = (r * k + slot) * block
            x[t0 : t0 + int(present_steps), :, :p] = pats[rows, idx]
            if flagged:
                x[t0 : t0 + int(present_steps), :, p + 1] = (idx < int(n_patterns)).to(dtype)
    which = torch.randint(0, int(n_patterns), (b,), generator=gen)
    target = pats[rows, which]
    erased = torch.argsort(torch.rand(b, p, generator=gen), dim=1) < p // 2
    x[-int(probe_steps) :, :, :p] = torch.where(erased, torch.zeros_like(target), target)
    return EpisodeBatch(x.to(device), target.to(device), erased.to(device), pats.to(device))


class RecurrentBaseline(nn.Module):
    """A non-plastic recurrent baseline: ``nn.RNN`` (tanh) or ``nn.LSTM`` and a linear read-out.

    See the chapter *Hebbian learning and differentiable plasticity*.

    Parameters
    ----------
    n_inputs, hidden, n_outputs : int
        Sizes.
    cell : {"rnn", "lstm"}

    Examples
    --------
    >>> import torch
    >>> net = RecurrentBaseline(11, 32, 10, cell="lstm")
    >>> net(torch.zeros(5, 2, 11)).shape
    torch.Size([5, 2, 10])
    """

    def __init__(self, n_inputs: int, hidden: int, n_outputs: int, cell: str = "lstm"):
        super().__init__()
        if cell not in ("rnn", "lstm"):
            raise ValueError(f"cell must be 'rnn' or 'lstm', got {cell!r}")
        for name, v in dict(n_inputs=n_inputs, hidden=hidden, n_outputs=n_outputs).items():
            if int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        self.cell = cell
        self.rnn = (nn.LSTM if cell == "lstm" else nn.RNN)(int(n_inputs), int(hidden))
        self.readout = nn.Linear(int(hidden), int(n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for every step, shape ``(T, B, n_outputs)``."""
        return self.readout(self.rnn(x)[0])


def completion_error(output: torch.Tensor, episodes: EpisodeBatch) -> torch.Tensor:
    r"""Fraction of erased probe bits whose sign is wrong (0 = perfect, 0.5 = chance).

    See the chapter *Hebbian learning and differentiable plasticity*.

    Parameters
    ----------
    output : Tensor, shape (B, pattern_size)
        Prediction at the last step.
    episodes : EpisodeBatch

    Examples
    --------
    >>> ep = pattern_episodes(2, 6, generator=torch.Generator().manual_seed(0))
    >>> float(completion_error(ep.target, ep)), float(completion_error(-ep.target, ep))
    (0.0, 1.0)
    """
    wrong = (torch.sign(output) != episodes.target) & episodes.erased
    return wrong.sum().to(output.dtype) / episodes.erased.sum().clamp_min(1)


class TrainCurve(NamedTuple):
    """Learning curve of :func:`train_episodes`.

    Attributes
    ----------
    loss : Tensor, shape (n_iters,)
        Mean squared error of the last-step output on each training batch.
    error : Tensor, shape (n_iters,)
        :func:`completion_error` on each training batch (fresh episodes: a test error).
    """

    loss: torch.Tensor
    error: torch.Tensor


def train_episodes(
    model: nn.Module,
    sampler: Callable[[torch.Generator], EpisodeBatch],
    n_iters: int,
    lr: float = 3e-3,
    clip: float = 10.0,
    margin: float | None = 0.5,
    generator: torch.Generator | None = None,
    desc: str | None = None,
) -> TrainCurve:
    r"""Meta-train ``model`` by backpropagation through episodes (Adam, one fresh batch per step).

    The model maps inputs ``(T, B, N_in)`` to outputs ``(T, B, N_out)``; the prediction is the
    first ``pattern_size`` outputs at the last step (for plastic networks: the activity of the
    pattern neurons), and the loss is their mean squared error to the full pattern. Every batch is
    new, so the error curve measures generalisation to unseen patterns. See the chapter *Hebbian
    learning and differentiable plasticity*.

    Parameters
    ----------
    model : nn.Module
        :class:`PlasticRNN`, :class:`NeuromodulatedRNN` or :class:`RecurrentBaseline`.
    sampler : callable
        ``sampler(generator) -> EpisodeBatch`` on the model's device and dtype.
    n_iters : int
        Optimiser steps (= batches of episodes).
    lr : float
        Adam learning rate.
    clip : float
        Gradient-norm clipping threshold.
    generator : torch.Generator, optional
        Passed to ``sampler``.
    desc : str, optional
        Show a progress bar with this label (no bar when omitted).

    Returns
    -------
    TrainCurve

    Examples
    --------
    >>> from nips2019.hebbian import PlasticRNN
    >>> g = torch.Generator().manual_seed(0)
    >>> net = PlasticRNN(9, generator=g)
    >>> curve = train_episodes(net, lambda gen: pattern_episodes(4, 8, generator=gen), 3, generator=g)
    >>> curve.loss.shape
    torch.Size([3])
    """
    if int(n_iters) < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")
    check_positive(lr, "lr")
    gen = generator if generator is not None else torch_generator()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, errors = [], []
    for _ in progress(range(int(n_iters)), desc=desc, disable=None if desc else True):
        ep = sampler(gen)
        p = ep.target.shape[1]
        out = model(ep.inputs)[-1, :, :p]
        loss = episode_loss(out, ep.target, margin)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.detach())
        errors.append(completion_error(out.detach(), ep))
    loss_t, err_t = torch.stack(losses), torch.stack(errors)
    if not torch.isfinite(loss_t).all():
        raise FloatingPointError("training diverged (non-finite loss): lower lr")
    return TrainCurve(loss_t, err_t)


def episode_loss(output: torch.Tensor, target: torch.Tensor, margin: float | None = 0.5) -> torch.Tensor:
    r"""Training loss on the last-step prediction.

    ``margin=None``: the mean squared error :math:`\overline{(y - \xi)^2}` (Miconi et al.'s choice).
    Otherwise a squared hinge :math:`\overline{\max(0, m - \xi y)^2}`: zero once every bit has the right
    sign with margin :math:`m`. The hinge does not ask a tanh unit to saturate at :math:`\pm 1`,
    which would reward runaway recurrent excitation. See the chapter *Hebbian learning and
    differentiable plasticity*.

    Examples
    --------
    >>> t = torch.tensor([[1.0, -1.0]])
    >>> round(float(episode_loss(0.6 * t, t)), 4), round(float(episode_loss(0.6 * t, t, margin=None)), 4)
    (0.0, 0.16)
    """
    if margin is None:
        return ((output - target) ** 2).mean()
    return torch.relu(margin - target * output).pow(2).mean()
