"""A small training loop with the chapter's regularisers: noise, SmoothAdv, Jacobian penalty, label smoothing."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..utils import (Bool, DType, Generator, Integer, Items, Module, Options, Real, Tensor, as_generator, randn, randperm,
                     validate)
from ..utils import progress as _progress
from ._lipschitz import jacobian_penalty
from ._smoothing import _check_labels, _n_outputs, _pgd

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus}


@validate(sizes=Items(Integer(low=1), min_length=2), activation=Options(*_ACTIVATIONS), generator=Generator(),
          dtype=DType(optional=True))
def make_mlp(sizes, *, activation: str = "relu", generator=None, dtype=None) -> nn.Sequential:
    r"""A fully connected network ``Linear, act, ..., Linear`` with PyTorch's default initialisation.

    Parameters
    ----------
    sizes : sequence of int
        Widths :math:`(d, h_1, \dots, h_l, k)`: input, hidden layers, output.
    activation : {"relu", "tanh", "sigmoid", "softplus"}
        Hidden activation.
    generator : None, int or torch.Generator
        Randomness of the initialisation (drawn under a forked global RNG, which is left untouched).
    dtype : torch.dtype, optional
        Parameter dtype (default float32).

    Returns
    -------
    nn.Sequential

    Notes
    -----
    See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> net = make_mlp([4, 16, 3], activation="tanh", generator=0)
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=as_generator(generator)))
    layers = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


@dataclasses.dataclass
class TrainResult:
    """Training record (see :func:`train_classifier`).

    Attributes
    ----------
    loss : Tensor, shape (n_epochs,)
        Mean training objective per epoch (float64, CPU).
    n_epochs : int
        Epochs run.
    """

    loss: torch.Tensor
    n_epochs: int


@validate(model=Module(), x=Tensor(shape=("n", "d"), dtype="floating"),
          y=Tensor(shape=("n",), dtype="integer", low=0), n_epochs=Integer(low=1), batch_size=Integer(low=1),
          lr=Real(low=0, closed="neither"), weight_decay=Real(low=0), noise_sd=Real(low=0),
          adv_eps=Real(low=0), adv_steps=Integer(low=1), n_noise=Integer(low=1), jacobian_reg=Real(low=0),
          label_smoothing=Real(low=0, high=1, closed="left"), teacher=Module(optional=True),
          temperature=Real(low=0, closed="neither"), generator=Generator(), progress=Bool(optional=True), same=[("model", "x", "teacher")])
def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_epochs: int = 50,
                     batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.0, noise_sd: float = 0.0,
                     adv_eps: float = 0.0, adv_steps: int = 1, n_noise: int = 1, jacobian_reg: float = 0.0,
                     label_smoothing: float = 0.0, teacher: nn.Module | None = None,
                     temperature: float = 1.0, generator=None,
                     progress: bool | None = None) -> TrainResult:
    r"""Train a classifier with Adam on cross-entropy plus the chapter's regularisers.

    Per mini-batch the objective is

    .. math::

        \frac1{nm}\sum_{i,j} \ell_\alpha\big(f(\tilde x_i + \sigma \varepsilon_{ij}), y_i\big)
        + \lambda\, \frac1n \sum_i \|J_f(x_i)\|_F^2,

    with :math:`m` = ``n_noise`` Gaussian draws of standard deviation :math:`\sigma` =
    ``noise_sd`` (Gaussian data augmentation, Cohen et al. 2019), :math:`\ell_\alpha` the
    cross-entropy with label smoothing :math:`\alpha`, :math:`\lambda` = ``jacobian_reg``
    and :math:`\tilde x_i = x_i` unless ``adv_eps > 0``: then :math:`\tilde x_i` is the
    SmoothAdv point (Salman et al. 2019), ``adv_steps`` steps of l2 PGD within ``adv_eps``
    against the smoothed soft classifier, using the same noise draws. With a
    ``teacher``, :math:`\ell` is replaced by the distillation loss
    :math:`T^2\,\mathrm{KL}(\mathrm{softmax}(g/T)\,\|\,\mathrm{softmax}(f/T))` against the
    teacher's logits :math:`g` at ``temperature`` :math:`T` (Hinton et al. 2015).

    Parameters
    ----------
    model : nn.Module
        Maps ``(batch, d)`` to logits ``(batch, k)``; trained in place.
    x : Tensor, shape (n, d)
        Training inputs.
    y : Tensor, shape (n,), integer
        Labels.
    n_epochs, batch_size, lr, weight_decay
        Adam settings (``weight_decay`` is AdamW's decoupled decay).
    noise_sd : float
        Gaussian augmentation :math:`\sigma` (0: none).
    adv_eps, adv_steps : float, int
        SmoothAdv radius and PGD steps (needs ``noise_sd > 0``; 0: off).
    n_noise : int
        Noise draws per example.
    jacobian_reg : float
        Weight :math:`\lambda` of :func:`jacobian_penalty` (exact; 0: off).
    label_smoothing : float
        :math:`\alpha` in [0, 1).
    teacher : nn.Module, optional
        Teacher for distillation (its logits replace the labels).
    temperature : float
        Distillation temperature.
    generator : None, int or torch.Generator
        Randomness of the batch order and the noise.
    progress : bool, optional
        Progress bar over epochs.

    Returns
    -------
    TrainResult

    Notes
    -----
    See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(40, 2); y = (x[:, 0] > 0).long()
    >>> net = make_mlp([2, 8, 2], generator=0)
    >>> res = train_classifier(net, x, y, n_epochs=30, lr=0.05, generator=0)
    >>> bool(res.loss[-1] < res.loss[0])
    True
    """
    from ..calibration._losses import _distill, _smoothed_ce

    if adv_eps > 0 and noise_sd == 0:
        raise ValueError("train_classifier: adv_eps > 0 (SmoothAdv) needs noise_sd > 0")
    k = _check_labels("train_classifier", model, x, y)
    if teacher is not None and _n_outputs("train_classifier", teacher, x, "teacher") != k:
        raise ValueError(f"train_classifier: teacher must have as many outputs as model ({k}), got "
                         f"{_n_outputs('train_classifier', teacher, x, 'teacher')}")
    gen = as_generator(generator)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = x.shape[0]
    record = []
    if teacher is not None:
        teacher.eval()
        with torch.no_grad():
            teacher_logits = teacher(x)
    model.train()
    for _ in _progress(range(n_epochs), desc="train", disable=None if progress is None else not progress):
        order = randperm(n, generator=gen, device=x.device)
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            b = xb.shape[0]
            m = n_noise if noise_sd > 0 else 1
            noise = randn(b, m, x.shape[1], generator=gen, device=x.device, dtype=x.dtype)
            if adv_eps > 0:
                for p in model.parameters():
                    p.requires_grad_(False)
                eps = torch.full((b,), adv_eps, dtype=x.dtype, device=x.device)
                xb_in = _pgd(model, xb, yb, eps, adv_steps, eps * 2.0 / adv_steps, noise_sd, noise)
                for p in model.parameters():
                    p.requires_grad_(True)
            else:
                xb_in = xb
            xn = (xb_in[:, None] + noise_sd * noise).reshape(b * m, -1)
            logits = model(xn)
            if teacher is not None:
                loss = _distill(logits, teacher_logits[idx].repeat_interleave(m, 0), temperature)
            else:
                loss = _smoothed_ce(logits, yb.repeat_interleave(m), label_smoothing, "mean")
            if jacobian_reg > 0:
                loss = loss + jacobian_reg * jacobian_penalty(model, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total = total + loss.detach() * b
        record.append(total / n)
    model.eval()
    return TrainResult(loss=torch.stack(record).cpu().double(), n_epochs=n_epochs)

