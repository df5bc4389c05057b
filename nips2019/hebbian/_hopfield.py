"""Hopfield networks: Hebbian storage, synchronous/asynchronous recall, energy, capacity.

Everything is batched: a stack of networks ``(..., N, N)`` recalls a stack of probe sets
``(..., M, N)`` at once. See the chapter *Hebbian learning and differentiable plasticity*.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

from ..utils import check_probability, check_tensor, torch_generator

__all__ = [
    "hopfield_weights",
    "hopfield_energy",
    "HopfieldRecall",
    "hopfield_recall",
    "random_patterns",
    "CapacityCurve",
    "hopfield_capacity",
]


def _sign(u: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    """Sign with ties (u == 0) resolved by keeping the previous state."""
    return torch.where(u == 0, prev, torch.sign(u))


def random_patterns(n_patterns: int, n_units: int, batch_shape: Sequence[int] = (), generator=None,
                    dtype=torch.float32, device=None) -> torch.Tensor:
    r"""Draw i.i.d. uniform :math:`\pm 1` patterns, shape ``(*batch_shape, n_patterns, n_units)``.

    See the chapter *Hebbian learning and differentiable plasticity*.

    Examples
    --------
    >>> p = random_patterns(3, 8, generator=torch.Generator().manual_seed(0))
    >>> p.shape, bool(((p == 1) | (p == -1)).all())
    (torch.Size([3, 8]), True)
    """
    if int(n_patterns) < 1 or int(n_units) < 1:
        raise ValueError(f"n_patterns and n_units must be >= 1, got {n_patterns}, {n_units}")
    shape = tuple(batch_shape) + (int(n_patterns), int(n_units))
    bits = torch.randint(0, 2, shape, generator=generator)
    return (2 * bits - 1).to(dtype=dtype, device=device)


def hopfield_weights(patterns: torch.Tensor) -> torch.Tensor:
    r"""Hebbian (outer-product) storage of :math:`\pm 1` patterns.

    .. math::
        W = \frac{1}{N} \sum_{\mu=1}^{P} \xi^\mu \xi^{\mu\top}, \qquad W_{ii} = 0 .

    See the chapter *Hebbian learning and differentiable plasticity*.

    Parameters
    ----------
    patterns : Tensor, shape (..., P, N)
        Patterns to store (entries +-1); leading dimensions are independent networks.

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
    check_tensor(patterns, "patterns", floating=True)
    if patterns.dim() < 2:
        raise ValueError(f"patterns must have shape (..., P, N), got {tuple(patterns.shape)}")
    n = patterns.shape[-1]
    w = patterns.transpose(-1, -2) @ patterns / n
    return w * (1 - torch.eye(n, dtype=w.dtype, device=w.device))


def hopfield_energy(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    r"""Energy :math:`E(s) = -\tfrac12 s^\top W s` of states ``s``.

    See the chapter *Hebbian learning and differentiable plasticity*.

    Parameters
    ----------
    w : Tensor, shape (..., N, N)
    s : Tensor, shape (..., M, N)

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
    check_tensor(w, "w", floating=True)
    check_tensor(s, "s", floating=True)
    if w.dim() < 2 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"w must have shape (..., N, N), got {tuple(w.shape)}")
    if s.dim() < 2 or s.shape[-1] != w.shape[-1]:
        raise ValueError(f"s must have shape (..., M, {w.shape[-1]}), got {tuple(s.shape)}")
    return -0.5 * ((s @ w) * s).sum(-1)


class HopfieldRecall(NamedTuple):
    """Result of :func:`hopfield_recall`.

    Attributes
    ----------
    states : Tensor, shape (..., M, N)
        Final states.
    n_sweeps : int
        Sweeps (async) or synchronous steps performed.
    converged : Tensor of bool, shape (..., M)
        Whether each state stopped changing (a fixed point) before ``max_sweeps``.
    energies : Tensor, shape (n_sweeps + 1, ..., M) or None
        Energy after every sweep, if requested.
    """

    states: torch.Tensor
    n_sweeps: int
    converged: torch.Tensor
    energies: torch.Tensor | None


def hopfield_recall(
    w: torch.Tensor,
    s0: torch.Tensor,
    mode: str = "async",
    max_sweeps: int = 50,
    record_energy: bool = False,
    generator: torch.Generator | None = None,
) -> HopfieldRecall:
    r"""Run Hopfield dynamics from ``s0`` until a fixed point (or ``max_sweeps``).

    Asynchronous: one sweep visits the units in a random order (shared by the batch) and sets
    :math:`s_i \leftarrow \operatorname{sign}(\sum_j W_{ij} s_j)`; the energy never increases and
    the dynamics stop at a fixed point. Synchronous: all units at once, :math:`s \leftarrow
    \operatorname{sign}(W s)`; may end in a 2-cycle (then ``converged`` is False). Ties keep the
    previous state. See the chapter *Hebbian learning and differentiable plasticity*.

    Parameters
    ----------
    w : Tensor, shape (..., N, N)
        Symmetric weights.
    s0 : Tensor, shape (..., M, N)
        Initial states (+-1), ``M`` probes per network.
    mode : {"async", "sync"}
    max_sweeps : int
        Maximum number of sweeps (async) or steps (sync).
    record_energy : bool
        Also return the energy after each sweep.
    generator : torch.Generator, optional
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
    check_tensor(w, "w", floating=True)
    check_tensor(s0, "s0", floating=True)
    if w.dim() < 2 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"w must have shape (..., N, N), got {tuple(w.shape)}")
    if s0.dim() < 2 or s0.shape[-1] != w.shape[-1]:
        raise ValueError(f"s0 must have shape (..., M, {w.shape[-1]}), got {tuple(s0.shape)}")
    if mode not in ("async", "sync"):
        raise ValueError(f"mode must be 'async' or 'sync', got {mode!r}")
    if int(max_sweeps) < 1:
        raise ValueError(f"max_sweeps must be >= 1, got {max_sweeps}")
    n = w.shape[-1]
    s = torch.broadcast_to(s0, torch.broadcast_shapes(s0.shape, w.shape[:-2] + (1, n))).clone()
    energies = [hopfield_energy(w, s)] if record_energy else []
    gen = generator if generator is not None else torch_generator()
    wt = w.transpose(-1, -2)
    sweeps = 0
    converged = torch.zeros(s.shape[:-1], dtype=torch.bool, device=s.device)
    for sweeps in range(1, int(max_sweeps) + 1):
        prev = s.clone()
        if mode == "sync":
            s = _sign(s @ wt, s)
        else:
            for i in torch.randperm(n, generator=gen).tolist():
                s[..., i] = _sign(s @ w[..., i, :, None], s[..., i : i + 1]).squeeze(-1)
        if record_energy:
            energies.append(hopfield_energy(w, s))
        converged = (s == prev).all(-1)
        if bool(converged.all()):
            break
    return HopfieldRecall(s, sweeps, converged, torch.stack(energies) if record_energy else None)


class CapacityCurve(NamedTuple):
    """Result of :func:`hopfield_capacity`.

    Attributes
    ----------
    loads : Tensor, shape (L,)
        Stored patterns per unit, :math:`\\alpha = P / N`.
    overlap : Tensor, shape (L,)
        Mean final overlap :math:`m = \\xi \\cdot s / N` with the cued pattern.
    recalled : Tensor, shape (L,)
        Fraction of probes recalled almost perfectly (``overlap >= threshold``).
    critical_load : float
        First load (linearly interpolated) where ``recalled`` falls below 1/2; ``nan`` if never.
    overlaps : Tensor, shape (L, n_nets * n_probes)
        Every final overlap, to apply other recall criteria.
    """

    loads: torch.Tensor
    overlap: torch.Tensor
    recalled: torch.Tensor
    critical_load: float
    overlaps: torch.Tensor


def hopfield_capacity(
    n_units: int,
    loads: Sequence[float],
    n_nets: int = 4,
    n_probes: int = 16,
    flip: float = 0.0,
    threshold: float = 0.99,
    mode: str = "async",
    max_sweeps: int = 30,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> CapacityCurve:
    r"""Measure recall quality against the number of stored random patterns.

    For each load :math:`\alpha`, ``n_nets`` networks of ``n_units`` units store
    :math:`P = \operatorname{round}(\alpha N)` random patterns; ``n_probes`` of them (with a
    fraction ``flip`` of bits flipped) are used as cues and the dynamics run to a fixed point.
    All loads and networks run as one batch. Amit, Gutfreund and Sompolinsky's mean-field theory
    puts the collapse of retrieval at :math:`\alpha_c \approx 0.138` for large :math:`N`.
    See the chapter *Hebbian learning and differentiable plasticity*.

    Parameters
    ----------
    n_units : int
        Network size ``N``.
    loads : sequence of float
        Values of :math:`\alpha = P/N`, increasing, each > 0.
    n_nets, n_probes : int
        Networks per load, cues per network (capped at ``P``).
    flip : float
        Fraction of cue bits flipped, in [0, 1).
    threshold : float
        Overlap above which a cue counts as recalled (0.99: at most 0.5% wrong bits). The
        crossing load depends on this criterion at finite ``N``: stricter criteria give lower loads.
    mode, max_sweeps :
        Passed to :func:`hopfield_recall`.
    generator : torch.Generator, optional
        CPU generator for patterns, noise and update order.
    dtype, device :
        Where to compute.

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
    if n < 2:
        raise ValueError(f"n_units must be >= 2, got {n_units}")
    loads_t = torch.as_tensor(list(loads), dtype=torch.float64)
    if loads_t.dim() != 1 or len(loads_t) == 0 or (loads_t <= 0).any():
        raise ValueError(f"loads must be a non-empty sequence of positive numbers, got {list(loads)}")
    check_probability(flip, "flip")
    gen = generator if generator is not None else torch_generator()
    counts = [max(1, round(float(a) * n)) for a in loads_t]
    pmax = max(counts)
    m = min(int(n_probes), min(counts))
    n_l = len(counts)
    pats = random_patterns(pmax, n, (n_l, int(n_nets)), generator=gen, dtype=dtype, device=device)
    keep = (torch.arange(pmax)[None, :] < torch.tensor(counts)[:, None]).to(dtype=dtype, device=device)
    w = hopfield_weights(pats * keep[:, None, :, None])  # zeroed rows store nothing
    cues = pats[..., :m, :]
    noise = torch.rand(cues.shape, generator=gen).to(device=cues.device) < flip
    out = hopfield_recall(w, torch.where(noise, -cues, cues), mode=mode, max_sweeps=max_sweeps, generator=gen)
    overlap = (out.states * cues).sum(-1) / n  # (L, nets, m)
    recalled = (overlap >= threshold).to(dtype).mean((-1, -2))
    crit = float("nan")
    r = recalled.double().cpu()
    for i in range(n_l):
        if r[i] < 0.5:
            if i == 0:
                crit = float(loads_t[0])
            else:
                a0, a1, r0, r1 = loads_t[i - 1], loads_t[i], r[i - 1], r[i]
                crit = float(a0 + (r0 - 0.5) / (r0 - r1) * (a1 - a0))
            break
    loads_out = loads_t.to(dtype=dtype, device=recalled.device)
    return CapacityCurve(loads_out, overlap.mean((-1, -2)), recalled, crit, overlap.reshape(n_l, -1))
