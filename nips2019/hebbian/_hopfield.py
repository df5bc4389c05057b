"""Hopfield networks: Hebbian storage, synchronous/asynchronous recall, energy, capacity.

Everything is batched: a stack of networks ``(..., N, N)`` recalls a stack of probe sets
``(..., M, N)`` at once.
See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import torch
from scipy.optimize import minimize_scalar
from scipy.special import erf, erfinv

from ..utils import (
    Bool,
    Device,
    DType,
    Generator,
    Integer,
    Items,
    Options,
    Real,
    Tensor,
    as_generator,
    rand,
    randint,
    randperm,
    validate,
)
from ._common import check_batch_dims

__all__ = [
    "hopfield_weights",
    "hopfield_energy",
    "HopfieldRecall",
    "hopfield_recall",
    "random_patterns",
    "CapacityCurve",
    "hopfield_capacity",
    "hopfield_mean_field_load",
]


def _sign(u: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    """Sign with ties (u == 0) resolved by keeping the previous state."""
    return torch.where(u == 0, prev, torch.sign(u))


@validate(
    n_patterns=Integer(low=1),
    n_units=Integer(low=1),
    batch_shape=Items(Integer(low=1)),
    generator=Generator(),
    dtype=DType(),
    device=Device(),
)
def random_patterns(n_patterns: int, n_units: int, *, batch_shape: Sequence[int] = (), generator=None,
                    dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    r"""Draw i.i.d. uniform :math:`\pm 1` patterns, shape ``(*batch_shape, n_patterns, n_units)``.

    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    n_patterns, n_units : int
        Patterns per network and units per pattern, >= 1.
    batch_shape : sequence of int
        Leading dimensions (independent networks), each >= 1.
    generator : None, int or torch.Generator
        Randomness (CPU generator; the bits are drawn on the CPU and moved to ``device``).
    dtype : torch.dtype
        Floating dtype of the result.
    device : torch.device or str, optional
        Device of the result (CPU by default).

    Returns
    -------
    Tensor, shape (*batch_shape, n_patterns, n_units)
        Entries -1 or +1.

    Examples
    --------
    >>> p = random_patterns(3, 8, generator=torch.Generator().manual_seed(0))
    >>> p.shape, bool(((p == 1) | (p == -1)).all())
    (torch.Size([3, 8]), True)
    """
    return _random_patterns(n_patterns, n_units, tuple(batch_shape), as_generator(generator), dtype, device)


def _random_patterns(n_patterns, n_units, batch_shape, gen, dtype, device):
    shape = tuple(int(b) for b in batch_shape) + (int(n_patterns), int(n_units))
    bits = randint(0, 2, shape, generator=gen)
    return (2 * bits - 1).to(dtype=dtype, device=device)


@validate(patterns=Tensor(shape=("...", "P", "N"), dtype="floating", values=(-1, 1)))
def hopfield_weights(patterns: torch.Tensor) -> torch.Tensor:
    r"""Hebbian (outer-product) storage of :math:`\pm 1` patterns.

    .. math::
        W = \frac{1}{N} \sum_{\mu=1}^{P} \xi^\mu \xi^{\mu\top}, \qquad W_{ii} = 0 .

    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    patterns : Tensor, shape (..., P, N)
        Patterns to store (entries -1 or +1, floating dtype); leading dimensions are independent
        networks.

    Returns
    -------
    Tensor, shape (..., N, N)
        Symmetric weights with zero diagonal.

    References
    ----------
    J. J. Hopfield, "Neural networks and physical systems with emergent collective computational
    abilities", PNAS 79, 1982.

    Examples
    --------
    >>> import torch
    >>> hopfield_weights(torch.tensor([[1.0, -1.0, 1.0]]))
    tensor([[ 0.0000, -0.3333,  0.3333],
            [-0.3333,  0.0000, -0.3333],
            [ 0.3333, -0.3333,  0.0000]])
    """
    return _weights(patterns)


def _weights(patterns):
    n = patterns.shape[-1]
    w = patterns.transpose(-1, -2) @ patterns / n
    return w * (1 - torch.eye(n, dtype=w.dtype, device=w.device))


@validate(
    w=Tensor(shape=("...", "N", "N"), dtype="floating"),
    s=Tensor(shape=("...", "M", "N"), dtype="floating"),
    same=[("w", "s")],
)
def hopfield_energy(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    r"""Energy :math:`E(s) = -\tfrac12 s^\top W s` of states ``s``.

    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    w : Tensor, shape (..., N, N)
        Weights.
    s : Tensor, shape (..., M, N)
        States (any finite real vectors; the energy is the quadratic form). Batch dimensions
        broadcast against those of ``w``.

    Returns
    -------
    Tensor, shape (..., M)

    Examples
    --------
    >>> import torch
    >>> xi = torch.tensor([[1.0, -1.0, 1.0, 1.0]])
    >>> hopfield_energy(hopfield_weights(xi), xi)
    tensor([-1.5000])
    """
    _check_w_s("hopfield_energy", w, s, "s")
    return _energy(w, s)


def _energy(w, s):
    return -0.5 * ((s @ w) * s).sum(-1)


def _check_w_s(func, w, s, s_name):
    """What the declarations cannot say: the batch dimensions of ``w`` and the states broadcast."""
    check_batch_dims(func, "w", w.shape[:-2], s_name, s.shape[:-2])


@dataclasses.dataclass
class HopfieldRecall:
    """Result of :func:`hopfield_recall`.

    Attributes
    ----------
    states : Tensor, shape (..., M, N)
        Final states.
    n_iter : int
        Sweeps (async) or synchronous steps performed.
    converged : Tensor of bool, shape (..., M)
        Whether each state stopped changing (a fixed point) within ``max_iter``.
    energies : Tensor, shape (n_iter + 1, ..., M) or None
        Energy before the first and after every sweep, if requested.
    """

    states: torch.Tensor
    n_iter: int
    converged: torch.Tensor
    energies: torch.Tensor | None


@validate(
    w=Tensor(shape=("...", "N", "N"), dtype="floating"),
    s0=Tensor(shape=("...", "M", "N"), dtype="floating", values=(-1, 1)),
    mode=Options("async", "sync"),
    max_iter=Integer(low=1),
    record_energy=Bool(),
    generator=Generator(),
    same=[("w", "s0")],
)
def hopfield_recall(
    w: torch.Tensor,
    s0: torch.Tensor,
    *,
    mode: str = "async",
    max_iter: int = 50,
    record_energy: bool = False,
    generator=None,
) -> HopfieldRecall:
    r"""Run Hopfield dynamics from ``s0`` until a fixed point (or ``max_iter`` sweeps).

    Asynchronous: one sweep visits the units in a random order (shared by the batch) and sets
    :math:`s_i \leftarrow \operatorname{sign}(\sum_j W_{ij} s_j)`; the energy never increases and
    the dynamics stop at a fixed point. Synchronous: all units at once, :math:`s \leftarrow
    \operatorname{sign}(W s)`; may end in a 2-cycle (then ``converged`` is False). Ties keep the
    previous state. See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    w : Tensor, shape (..., N, N)
        Symmetric weights.
    s0 : Tensor, shape (..., M, N)
        Initial states (entries -1 or +1), ``M`` probes per network; batch dimensions broadcast
        against those of ``w``.
    mode : {"async", "sync"}
        Asynchronous (one unit at a time, random order) or synchronous updates.
    max_iter : int
        Maximum number of sweeps (async) or steps (sync), >= 1.
    record_energy : bool
        Also return the energy after each sweep.
    generator : None, int or torch.Generator
        Randomness of the asynchronous visiting order (CPU generator).

    Returns
    -------
    HopfieldRecall

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> xi = random_patterns(3, 100, generator=g)
    >>> noisy = xi * torch.where(torch.rand(3, 100, generator=g) < 0.1, -1.0, 1.0)
    >>> out = hopfield_recall(hopfield_weights(xi), noisy, generator=g)
    >>> bool(torch.equal(out.states, xi))
    True
    """
    _check_w_s("hopfield_recall", w, s0, "s0")
    return _recall(w, s0, mode, max_iter, record_energy, as_generator(generator))


def _recall(w, s0, mode, max_iter, record_energy, gen):
    n = w.shape[-1]
    s = torch.broadcast_to(s0, torch.broadcast_shapes(s0.shape, w.shape[:-2] + (1, n))).clone()
    energies = [_energy(w, s)] if record_energy else []
    wt = w.transpose(-1, -2)
    sweeps = 0
    converged = torch.zeros(s.shape[:-1], dtype=torch.bool, device=s.device)
    for sweeps in range(1, int(max_iter) + 1):
        prev = s.clone()
        if mode == "sync":
            s = _sign(s @ wt, s)
        else:
            for i in randperm(n, generator=gen).tolist():
                s[..., i] = _sign(s @ w[..., i, :, None], s[..., i : i + 1]).squeeze(-1)
        if record_energy:
            energies.append(_energy(w, s))
        converged = (s == prev).all(-1)
        if bool(converged.all()):
            break
    return HopfieldRecall(s, sweeps, converged, torch.stack(energies) if record_energy else None)


@dataclasses.dataclass
class CapacityCurve:
    """Result of :func:`hopfield_capacity`.

    Attributes
    ----------
    loads : Tensor, shape (L,)
        Stored patterns per unit, :math:`\\alpha = P / N`.
    overlap : Tensor, shape (L,)
        Mean final overlap :math:`m = \\xi \\cdot s / N` with the cued pattern.
    recalled : Tensor, shape (L,)
        Fraction of probes recalled almost perfectly (``overlap >= threshold``).
    critical_load : float or None
        First load (linearly interpolated) where ``recalled`` falls below 1/2; ``None`` if it
        never does within ``loads``.
    overlaps : Tensor, shape (L, n_nets * n_probes)
        Every final overlap, to apply other recall criteria.
    mean_critical_load : float
        The mean load at which a cue stops being recalled, estimated as the area under the
        ``recalled`` curve (trapezoid rule) plus the first load: unbiased when ``recalled`` is 1 at
        the first load and 0 at the last, and much less noisy than ``critical_load``, the crossing
        of 1/2 (the two agree as the transition sharpens with ``N``).
    """

    loads: torch.Tensor
    overlap: torch.Tensor
    recalled: torch.Tensor
    critical_load: float | None
    overlaps: torch.Tensor
    mean_critical_load: float


@validate(
    n_units=Integer(low=2),
    loads=Items(Real(low=0, closed="neither"), min_length=1),
    n_nets=Integer(low=1),
    n_probes=Integer(low=1),
    flip=Real(0, 1, closed="left"),
    threshold=Real(0, 1, closed="right"),
    mode=Options("async", "sync"),
    max_iter=Integer(low=1),
    generator=Generator(),
    dtype=DType(),
    device=Device(),
)
def hopfield_capacity(
    n_units: int,
    loads: Sequence[float],
    *,
    n_nets: int = 4,
    n_probes: int = 16,
    flip: float = 0.0,
    threshold: float = 0.99,
    mode: str = "async",
    max_iter: int = 30,
    generator=None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> CapacityCurve:
    r"""Measure recall quality against the number of stored random patterns.

    For each load :math:`\alpha`, ``n_nets`` networks of ``n_units`` units store
    :math:`P = \operatorname{round}(\alpha N)` random patterns; ``n_probes`` of them (with a
    fraction ``flip`` of bits flipped) are used as cues and the dynamics run to a fixed point.
    All loads and networks run as one batch. Amit, Gutfreund and Sompolinsky's mean-field theory
    puts the collapse of retrieval at :math:`\alpha_c \approx 0.138` for large :math:`N`.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    n_units : int
        Network size ``N``, >= 2.
    loads : sequence of float
        Values of :math:`\alpha = P/N`, strictly increasing, each > 0.
    n_nets, n_probes : int
        Networks per load, cues per network (capped at ``P``), >= 1.
    flip : float
        Fraction of cue bits flipped, in [0, 1).
    threshold : float
        Overlap criterion, in (0, 1]: a cue counts as recalled when its final overlap with the
        cued pattern is ``>= threshold`` (0.99: at most 0.5% wrong bits; 1: perfect recall). The
        crossing load depends on this criterion at finite ``N``: stricter criteria give lower loads.
    mode, max_iter :
        Passed to :func:`hopfield_recall`.
    generator : None, int or torch.Generator
        CPU generator for patterns, noise and update order (drawn on the CPU, moved to ``device``).
    dtype, device :
        Where to compute (a floating dtype; CPU by default).

    Returns
    -------
    CapacityCurve

    References
    ----------
    D. J. Amit, H. Gutfreund, H. Sompolinsky, "Storing infinite numbers of patterns in a
    spin-glass model of neural networks", Phys. Rev. Lett. 55, 1985.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> c = hopfield_capacity(100, [0.05, 0.4], n_nets=2, n_probes=4, generator=g)
    >>> c.recalled.tolist()
    [1.0, 0.0]
    """
    n = int(n_units)
    loads_t = torch.as_tensor([float(a) for a in loads], dtype=torch.float64)
    if len(loads_t) > 1 and not bool((loads_t.diff() > 0).all()):
        raise ValueError(f"hopfield_capacity: loads must be strictly increasing, got {loads_t.tolist()}")
    gen = as_generator(generator)
    counts = [max(1, round(float(a) * n)) for a in loads_t]
    pmax = max(counts)
    m = min(int(n_probes), min(counts))
    n_l = len(counts)
    pats = _random_patterns(pmax, n, (n_l, int(n_nets)), gen, dtype, device)
    keep = (torch.arange(pmax)[None, :] < torch.tensor(counts)[:, None]).to(dtype=dtype, device=pats.device)
    w = _weights(pats * keep[:, None, :, None])  # zeroed rows store nothing
    cues = pats[..., :m, :]
    noise = rand(*cues.shape, generator=gen, device=cues.device) < flip
    out = _recall(w, torch.where(noise, -cues, cues), mode, max_iter, False, gen)
    overlap = (out.states * cues).sum(-1) / n  # (L, nets, m)
    recalled = (overlap >= threshold).to(dtype).mean((-1, -2))
    crit = None
    r = recalled.double().cpu()
    for i in range(n_l):
        if r[i] < 0.5:
            if i == 0:
                crit = float(loads_t[0])
            else:
                a0, a1, r0, r1 = loads_t[i - 1], loads_t[i], r[i - 1], r[i]
                crit = float(a0 + (r0 - 0.5) / (r0 - r1) * (a1 - a0))
            break
    mean_crit = float(loads_t[0] + ((r[1:] + r[:-1]) / 2 * loads_t.diff()).sum())
    loads_out = loads_t.to(dtype=dtype, device=recalled.device)
    return CapacityCurve(loads_out, overlap.mean((-1, -2)), recalled, crit, overlap.reshape(n_l, -1), mean_crit)


def _mf_load(y: float) -> float:
    """Load at which the T = 0 replica-symmetric retrieval state has erf argument ``y``."""
    return float(0.5 * (erf(y) / y - 2.0 / math.sqrt(math.pi) * math.exp(-y * y)) ** 2)


#: (alpha_c, m_c, y_c) of the zero-temperature mean-field theory, computed once on first use.
_MF_CRITICAL: list = []


def _mf_critical() -> tuple[float, float, float]:
    if not _MF_CRITICAL:
        res = minimize_scalar(lambda y: -_mf_load(y), bounds=(0.5, 4.0), method="bounded",
                              options=dict(xatol=1e-12))
        y = float(res.x)
        _MF_CRITICAL.append((_mf_load(y), float(erf(y)), y))
    return _MF_CRITICAL[0]


@validate(threshold=Real(0, 1, closed="right", optional=True))
def hopfield_mean_field_load(threshold: float | None = None) -> float:
    r"""Largest load at which the mean-field retrieval state still meets an overlap criterion.

    Amit, Gutfreund and Sompolinsky's replica-symmetric theory at zero temperature gives the
    overlap :math:`m` of the retrieval state at load :math:`\alpha = P/N` (:math:`N \to \infty`)
    through

    .. math::
        m = \operatorname{erf}(y), \qquad
        \sqrt{2\alpha}\, y = \operatorname{erf}(y) - \tfrac{2}{\sqrt\pi}\, y\, e^{-y^2},

    (eliminating :math:`C` and :math:`r` from :math:`m = \operatorname{erf}(m/\sqrt{2\alpha r})`,
    :math:`C = \sqrt{2/(\pi\alpha r)}\, e^{-m^2/(2\alpha r)}`, :math:`r = (1-C)^{-2}`), so
    :math:`\alpha(m) = \tfrac12 \big(m/y - \tfrac{2}{\sqrt\pi} e^{-y^2}\big)^2` with
    :math:`y = \operatorname{erf}^{-1}(m)`. The retrieval branch exists up to the maximum of
    :math:`\alpha(m)`, :math:`\alpha_c \approx 0.138` at :math:`m_c \approx 0.967`; along it
    :math:`m` decreases with the load. Hence the limit, as :math:`N \to \infty`, of the load where
    cued recall stops meeting "overlap >= threshold": :math:`\alpha(\mathrm{threshold})` for a
    threshold above :math:`m_c` (about 0.126 for 0.99), and :math:`\alpha_c` for any looser one.
    Compare with the finite-N measurement of :func:`hopfield_capacity`.
    See the chapter :doc:`Hebbian learning and differentiable plasticity </book/hebbian>`.

    Parameters
    ----------
    threshold : float, optional
        Overlap criterion in (0, 1]; ``None`` (default) gives :math:`\alpha_c` itself. A threshold
        of 1 gives 0 (the retrieval state has errors at any positive load).

    Returns
    -------
    float

    References
    ----------
    D. J. Amit, H. Gutfreund, H. Sompolinsky, "Statistical mechanics of neural networks near
    saturation", Annals of Physics 173, 1987.

    Examples
    --------
    >>> round(hopfield_mean_field_load(), 4), round(hopfield_mean_field_load(0.99), 4)
    (0.1379, 0.1263)
    >>> hopfield_mean_field_load(0.9) == hopfield_mean_field_load()
    True
    """
    alpha_c, m_c, _ = _mf_critical()
    if threshold is None or threshold <= m_c:
        return alpha_c
    if threshold >= 1.0:
        return 0.0
    return _mf_load(float(erfinv(threshold)))
