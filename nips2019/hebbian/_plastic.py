"""Recurrent networks with differentiable plasticity (Miconi et al. 2018) and neuromodulation
(Backpropamine, Miconi et al. 2019), written from the papers' equations.

The Hebbian trace is episode state: it starts at zero for every episode, is carried through the
time steps by :meth:`run`, and is never a parameter. What is learned by backpropagation through
the episode are the fixed weights ``w``, the plasticity coefficients ``alpha`` and the plasticity
rate ``eta`` (or the modulation read-out).
See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..utils import Bool, Generator, Integer, Module, Options, Real, Tensor, as_generator, rand, validate

__all__ = ["PlasticEpisode", "PlasticRNN", "NeuromodulatedRNN"]


@dataclasses.dataclass
class PlasticEpisode:
    """What a plastic network did during an episode.

    Attributes
    ----------
    h : Tensor, shape (T, B, N)
        Activity after each step.
    hebb : Tensor, shape (B, N, N)
        Hebbian trace at the end of the episode.
    modulation : Tensor, shape (T, B) or None
        Neuromodulatory signal M(t) (:class:`NeuromodulatedRNN` only).
    hebb_history : Tensor, shape (T, B, N, N) or None
        The trace after each step, if requested.
    """

    h: torch.Tensor
    hebb: torch.Tensor
    modulation: torch.Tensor | None
    hebb_history: torch.Tensor | None


def _check_episode(func: str, x, n: int, h0):
    """What the declarations cannot say: the episode's width is the network's size."""
    if x.shape[-1] != n:
        raise ValueError(f"{func}: x must have shape (T, B, {n}), got {tuple(x.shape)}")
    if h0 is not None and h0.shape[-1] != n:
        raise ValueError(f"{func}: h0 must have shape (B, {n}), got {tuple(h0.shape)}")


#: Declarations shared by ``run`` and ``forward`` of both plastic networks.
_EPISODE = dict(
    self=Module(),
    x=Tensor(shape=("T", "B", "N"), dtype="floating"),
    h0=Tensor(shape=("B", "N"), dtype="floating", optional=True),
    same=[("self", "x", "h0")],
)


class PlasticRNN(nn.Module):
    r"""Fully recurrent layer whose connections are part fixed, part Hebbian.

    .. math::
        h_t = \tanh\!\big(h_{t-1} (W + \alpha \odot \mathrm{Hebb}_{t-1}) + x_t\big),

    with, for the ``"hebb"`` rule (a decaying Hebbian trace),

    .. math::
        \mathrm{Hebb}_t = (1 - \eta)\, \mathrm{Hebb}_{t-1} + \eta\, h_{t-1}^\top h_t,

    and for the ``"oja"`` rule (Oja's decay keeps the trace bounded without forgetting
    everything at rate :math:`\eta`),

    .. math::
        \mathrm{Hebb}_{t,ij} = \mathrm{Hebb}_{t-1,ij}
        + \eta\, h_{t,j} \big(h_{t-1,i} - h_{t,j}\, \mathrm{Hebb}_{t-1,ij}\big).

    Row vectors: :math:`W_{ij}` connects neuron :math:`i` to neuron :math:`j`. ``W``, ``alpha``
    (one coefficient per connection) and ``eta`` (a scalar, kept in (0, 1) by a sigmoid) are
    learned; :math:`\mathrm{Hebb}` starts at zero each episode. The input :math:`x_t` is added to
    the pre-activations, one input per neuron.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    n_neurons : int
        Number of neurons ``N``, >= 1.
    rule : {"hebb", "oja"}
        Trace update.
    alpha_init, w_init : float
        Half-widths ``s >= 0`` of the initial ``alpha`` and ``W`` entries (uniform in [-s, s]).
    eta_init : float
        Initial plasticity rate, in (0, 1).
    generator : None, int or torch.Generator
        Randomness of the initialisation (drawn on the CPU; move the module with ``.to``).

    References
    ----------
    T. Miconi, J. Clune, K. O. Stanley, "Differentiable plasticity: training plastic neural
    networks with backpropagation", ICML 2018.

    Examples
    --------
    >>> import torch
    >>> net = PlasticRNN(5, generator=torch.Generator().manual_seed(0))
    >>> ep = net.run(torch.randn(7, 3, 5))
    >>> ep.h.shape, ep.hebb.shape
    (torch.Size([7, 3, 5]), torch.Size([3, 5, 5]))
    """

    @validate(
        n_neurons=Integer(low=1),
        rule=Options("hebb", "oja"),
        alpha_init=Real(low=0),
        w_init=Real(low=0),
        eta_init=Real(0, 1, closed="neither"),
        generator=Generator(),
    )
    def __init__(self, n_neurons: int, *, rule: str = "hebb", alpha_init: float = 0.01, w_init: float = 0.01,
                 eta_init: float = 0.1, generator=None):
        super().__init__()
        self._init(n_neurons, rule, alpha_init, w_init, eta_init, as_generator(generator))

    def _init(self, n_neurons, rule, alpha_init, w_init, eta_init, gen):
        n = int(n_neurons)
        self.n_neurons, self.rule = n, rule
        self.w = nn.Parameter(w_init * (2 * rand(n, n, generator=gen) - 1))
        self.alpha = nn.Parameter(alpha_init * (2 * rand(n, n, generator=gen) - 1))
        self.eta_logit = nn.Parameter(torch.logit(torch.tensor(float(eta_init))))

    @property
    def eta(self) -> torch.Tensor:
        """The plasticity rate, ``sigmoid(eta_logit)``."""
        return torch.sigmoid(self.eta_logit)

    def initial_trace(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        """A zero Hebbian trace of shape ``(batch, N, N)`` on ``like``'s device and dtype."""
        return like.new_zeros(batch, self.n_neurons, self.n_neurons)

    def step(self, x: torch.Tensor, h: torch.Tensor, hebb: torch.Tensor):
        """One time step: returns the new activity ``(B, N)`` and trace ``(B, N, N)``."""
        pre = torch.bmm(h.unsqueeze(1), self.w + self.alpha * hebb).squeeze(1) + x
        h_new = torch.tanh(pre)
        eta = self.eta
        if self.rule == "hebb":
            hebb = (1 - eta) * hebb + eta * h.unsqueeze(2) * h_new.unsqueeze(1)
        else:
            post = h_new.unsqueeze(1)
            hebb = hebb + eta * post * (h.unsqueeze(2) - post * hebb)
        return h_new, hebb

    @validate(record_trace=Bool(), **_EPISODE)
    def run(self, x: torch.Tensor, h0: torch.Tensor | None = None, *, record_trace: bool = False) -> PlasticEpisode:
        """Run an episode and return a :class:`PlasticEpisode`.

        ``x`` (inputs, shape ``(T, B, N)``) and ``h0`` (initial activity, shape ``(B, N)``,
        zeros by default) must be finite and on the module's device and dtype.
        """
        _check_episode(f"{type(self).__name__}.run", x, self.n_neurons, h0)
        return self._run(x, h0, record_trace)

    def _run(self, x, h0=None, record_trace=False):
        h = x.new_zeros(x.shape[1], self.n_neurons) if h0 is None else h0
        hebb = self.initial_trace(x.shape[1], x)
        hs, traces = [], []
        for t in range(x.shape[0]):
            h, hebb = self.step(x[t], h, hebb)
            hs.append(h)
            if record_trace:
                traces.append(hebb)
        return PlasticEpisode(torch.stack(hs), hebb, None, torch.stack(traces) if record_trace else None)

    @validate(**_EPISODE)
    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Activity over the episode, shape ``(T, B, N)`` (arguments as in :meth:`run`)."""
        _check_episode(f"{type(self).__name__}.forward", x, self.n_neurons, h0)
        return self._run(x, h0).h

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Unchecked :meth:`forward`, for training loops that checked their inputs once."""
        return self._run(x).h


class NeuromodulatedRNN(PlasticRNN):
    r"""Plastic recurrent layer whose plasticity is gated by a signal the network computes
    (Backpropamine).

    The network outputs a neuromodulatory signal :math:`M_t = \tanh(h_t \cdot v + b)` which
    multiplies the Hebbian update; the trace is clipped to [-1, 1]. ``"simple"`` modulation:

    .. math::
        \mathrm{Hebb}_t = \operatorname{clip}\big(\mathrm{Hebb}_{t-1} + M_t\, h_{t-1}^\top h_t\big).

    ``"retroactive"`` modulation keeps an eligibility trace :math:`E` and lets :math:`M` decide
    afterwards what of the recent co-activity to keep:

    .. math::
        E_t = (1 - \eta) E_{t-1} + \eta\, h_{t-1}^\top h_t, \qquad
        \mathrm{Hebb}_t = \operatorname{clip}\big(\mathrm{Hebb}_{t-1} + M_t E_{t-1}\big).

    The recurrence is the one of :class:`PlasticRNN`. With :math:`M_t` negative the network can
    erase what it stored; with :math:`M_t \approx 0` it can stop storing.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    n_neurons : int
        Number of neurons ``N``, >= 1.
    modulation : {"simple", "retroactive"}
        How the neuromodulatory signal gates the trace update.
    alpha_init, w_init, eta_init, generator :
        As in :class:`PlasticRNN` (``eta`` is used by the eligibility trace only).

    References
    ----------
    T. Miconi, A. Rawal, J. Clune, K. O. Stanley, "Backpropamine: training self-modifying neural
    networks with differentiable neuromodulated plasticity", ICLR 2019.

    Examples
    --------
    >>> import torch
    >>> net = NeuromodulatedRNN(4, generator=torch.Generator().manual_seed(0))
    >>> ep = net.run(torch.randn(6, 2, 4))
    >>> ep.modulation.shape, bool(ep.hebb.abs().max() <= 1)
    (torch.Size([6, 2]), True)
    """

    @validate(
        n_neurons=Integer(low=1),
        modulation=Options("simple", "retroactive"),
        alpha_init=Real(low=0),
        w_init=Real(low=0),
        eta_init=Real(0, 1, closed="neither"),
        generator=Generator(),
    )
    def __init__(self, n_neurons: int, *, modulation: str = "simple", alpha_init: float = 0.01,
                 w_init: float = 0.01, eta_init: float = 0.1, generator=None):
        nn.Module.__init__(self)
        gen = as_generator(generator)
        self._init(n_neurons, "hebb", alpha_init, w_init, eta_init, gen)
        self.modulation = modulation
        self.mod_w = nn.Parameter(0.01 * (2 * rand(self.n_neurons, generator=gen) - 1))
        self.mod_b = nn.Parameter(torch.zeros(()))

    def step(self, x, h, hebb, elig=None):
        """One time step: returns ``(h_new, hebb, elig, m)``."""
        h_new = torch.tanh(torch.bmm(h.unsqueeze(1), self.w + self.alpha * hebb).squeeze(1) + x)
        m = torch.tanh(h_new @ self.mod_w + self.mod_b)  # (B,)
        co = h.unsqueeze(2) * h_new.unsqueeze(1)
        if self.modulation == "simple":
            hebb = torch.clamp(hebb + m[:, None, None] * co, -1.0, 1.0)
        else:
            hebb = torch.clamp(hebb + m[:, None, None] * elig, -1.0, 1.0)
            elig = (1 - self.eta) * elig + self.eta * co
        return h_new, hebb, elig, m

    @validate(record_trace=Bool(), **_EPISODE)
    def run(self, x: torch.Tensor, h0: torch.Tensor | None = None, *, record_trace: bool = False) -> PlasticEpisode:
        """Run an episode and return a :class:`PlasticEpisode` (arguments as in :meth:`PlasticRNN.run`)."""
        _check_episode(f"{type(self).__name__}.run", x, self.n_neurons, h0)
        return self._run(x, h0, record_trace)

    def _run(self, x, h0=None, record_trace=False):
        h = x.new_zeros(x.shape[1], self.n_neurons) if h0 is None else h0
        hebb = self.initial_trace(x.shape[1], x)
        elig = torch.zeros_like(hebb)
        hs, ms, traces = [], [], []
        for t in range(x.shape[0]):
            h, hebb, elig, m = self.step(x[t], h, hebb, elig)
            hs.append(h)
            ms.append(m)
            if record_trace:
                traces.append(hebb)
        return PlasticEpisode(torch.stack(hs), hebb, torch.stack(ms), torch.stack(traces) if record_trace else None)
