r"""Volumes, intersections and conditional probabilities of boxes: hard, softplus and Gumbel.

A box is given by its two corners, ``lo`` and ``hi`` (each of shape ``(..., d)``); the side
lengths are ``hi - lo``. Everything is computed in log space: a product of ``d`` side
lengths below one underflows quickly, and the training losses need ``log P``.
"""

from __future__ import annotations

import math

import torch

from ..utils import Bool, Generator, Integer, Options, Real, Tensor, as_generator, rand, validate

__all__ = [
    "METHODS",
    "box_intersection",
    "conditional_probability",
    "gumbel_side_length",
    "log_volume",
    "sample_gumbel_boxes",
]

#: The volume functions: Vilnis et al.'s hinge, Li et al.'s softplus, Dasgupta et al.'s Gumbel
#: boxes with the exact (Bessel) expected side length or its softplus surrogate.
METHODS = ("hard", "softplus", "gumbel", "gumbel-softplus")

EULER_GAMMA = 0.5772156649015329

#: Side lengths below this count as empty for ``method="hard"`` (log volume ``d * log(eps)``).
_HARD_EPS = 1e-30

_BOX = Tensor(dtype="floating")


def _log_softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(softplus(x))`` without ``log(0)`` for very negative ``x`` (there it equals ``x``)."""
    c = torch.clamp(x, min=-20.0)  # below, log(softplus(x)) = x to 2e-9; its slope 1 comes from x - c
    return torch.log(torch.nn.functional.softplus(c)) + (x - c)


class _LogK0(torch.autograd.Function):
    """``log K_0(z)`` for ``z > 0`` from the scaled Bessel function, with its derivative ``-K_1/K_0``."""

    @staticmethod
    def forward(ctx, z):
        k0 = torch.special.scaled_modified_bessel_k0(z)
        ctx.save_for_backward(z, k0)
        return torch.log(k0) - z

    @staticmethod
    def backward(ctx, grad):
        z, k0 = ctx.saved_tensors
        return -grad * torch.special.scaled_modified_bessel_k1(z) / k0


def _log_gumbel_length(delta: torch.Tensor, beta: float) -> torch.Tensor:
    r"""``log E[max(0, Y - X)]`` for ``X ~ MaxGumbel(lo, beta)``, ``Y ~ MinGumbel(hi, beta)``, ``delta = hi - lo``.

    Exact: ``log(2 beta) + log K_0(2 exp(-delta / (2 beta)))``. For ``delta > 30 beta`` the
    argument is below ``1e-6`` and ``K_0(z) = -log(z / 2) - gamma + O(z^2 log z)``, so the
    length is ``delta - 2 beta gamma`` to about 1e-12 relative: used there (``z`` underflows later).
    The exponent is capped at 80 on the disjoint side, where the length is below ``e^{-1e34}``.
    """
    s = delta / beta
    far = s > 30
    x = torch.clamp(-0.5 * torch.where(far, torch.zeros_like(s), s), max=80.0)
    exact = math.log(2 * beta) + _LogK0.apply(2 * torch.exp(x))
    asym = torch.log(torch.clamp(delta - 2 * beta * EULER_GAMMA, min=1e-300))
    return torch.where(far, asym, exact)


def _log_lengths(lo, hi, method: str, temperature: float) -> torch.Tensor:
    delta = hi - lo
    if method == "hard":
        return torch.log(torch.clamp(delta, min=_HARD_EPS))
    if method == "softplus":
        return math.log(temperature) + _log_softplus(delta / temperature)
    if method == "gumbel":
        return _log_gumbel_length(delta, temperature)
    return math.log(temperature) + _log_softplus(delta / temperature - 2 * EULER_GAMMA)


def _log_volume(lo, hi, method: str, temperature: float) -> torch.Tensor:
    return _log_lengths(lo, hi, method, temperature).sum(-1)


def _intersection(lo1, hi1, lo2, hi2, method: str, temperature: float):
    if method.startswith("gumbel"):
        b = temperature
        lo = b * torch.logaddexp(lo1 / b, lo2 / b)
        hi = -b * torch.logaddexp(-hi1 / b, -hi2 / b)
        return lo, hi
    return torch.maximum(lo1, lo2), torch.minimum(hi1, hi2)


def _log_conditional(lo_a, hi_a, lo_b, hi_b, method: str, temperature: float, log_vol_b=None) -> torch.Tensor:
    lo, hi = _intersection(lo_a, hi_a, lo_b, hi_b, method, temperature)
    if log_vol_b is None:
        log_vol_b = _log_volume(lo_b, hi_b, method, temperature)
    return torch.clamp(_log_volume(lo, hi, method, temperature) - log_vol_b, max=0.0)


_TEMP = Real(low=0, closed="neither")


@validate(lo=_BOX, hi=_BOX, method=Options(*METHODS), temperature=_TEMP, same=[("lo", "hi")])
def log_volume(lo: torch.Tensor, hi: torch.Tensor, *, method: str = "hard",
               temperature: float = 1.0) -> torch.Tensor:
    r"""Log volume of boxes: hard (hinge), softplus-smoothed, or the expected volume of a Gumbel box.

    With side lengths :math:`\Delta_i = \mathrm{hi}_i - \mathrm{lo}_i` and temperature :math:`t`
    (:math:`\beta` for Gumbel boxes),

    .. math::
        V_{\text{hard}} = \prod_i \max(0, \Delta_i), \qquad
        V_{\text{softplus}} = \prod_i t \log\bigl(1 + e^{\Delta_i / t}\bigr), \qquad
        V_{\text{gumbel}} = \prod_i 2\beta\, K_0\!\bigl(2 e^{-\Delta_i / (2\beta)}\bigr),

    and ``"gumbel-softplus"`` is Dasgupta et al.'s surrogate
    :math:`\prod_i \beta \log(1 + e^{\Delta_i/\beta - 2\gamma})` of the Bessel form
    (:math:`\gamma` is Euler's constant). For a Gumbel box, ``lo`` and ``hi`` are the
    *locations* of independent corners ``MaxGumbel(lo, beta)`` and ``MinGumbel(hi, beta)``, and
    :math:`V_{\text{gumbel}}` is exactly the expected volume :math:`E\prod_i\max(0, Y_i - X_i)`
    (see :func:`gumbel_side_length`). Hard side lengths below ``1e-30`` are clamped there, so an
    empty box has log volume ``d * log(1e-30)`` (finite) and **no gradient**.

    Parameters
    ----------
    lo, hi : Tensor, shape (..., d)
        Min and max corners (any floating dtype; the same device).
    method : {"hard", "softplus", "gumbel", "gumbel-softplus"}
    temperature : float
        Softplus temperature ``t`` or Gumbel scale ``beta`` (unused by ``"hard"``).

    Returns
    -------
    Tensor, shape (...)
        The log volumes, finite for finite input.

    References
    ----------
    Vilnis, Li, Murty & McCallum, ACL 2018 (hard boxes); Li, Vilnis, Zhang, Boratko & McCallum,
    ICLR 2019 (softplus); Dasgupta, Boratko, Zhang, Vilnis, Li & McCallum, NeurIPS 2020 (Gumbel).
    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Examples
    --------
    >>> import torch
    >>> lo, hi = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 0.4]])
    >>> round(log_volume(lo, hi).exp().item(), 6)
    0.2
    >>> bool(log_volume(lo, hi, method="softplus", temperature=1e-3).exp().sub(0.2).abs() < 1e-6)
    True
    """
    return _log_volume(lo, hi, method, temperature)


@validate(lo1=_BOX, hi1=_BOX, lo2=_BOX, hi2=_BOX, method=Options(*METHODS), temperature=_TEMP,
          same=[("lo1", "hi1", "lo2", "hi2")])
def box_intersection(lo1: torch.Tensor, hi1: torch.Tensor, lo2: torch.Tensor, hi2: torch.Tensor, *,
                     method: str = "hard", temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Corners of the intersection of two (broadcasting) boxes.

    Hard and softplus boxes: :math:`(\max(\mathrm{lo}_1, \mathrm{lo}_2), \min(\mathrm{hi}_1, \mathrm{hi}_2))`
    (the result may be empty: ``lo > hi``). Gumbel boxes: the maximum of two independent
    ``MaxGumbel`` variables with one scale is again ``MaxGumbel``, located at the log-sum-exp,

    .. math::
        \mathrm{lo} = \beta \log\bigl(e^{\mathrm{lo}_1/\beta} + e^{\mathrm{lo}_2/\beta}\bigr), \qquad
        \mathrm{hi} = -\beta \log\bigl(e^{-\mathrm{hi}_1/\beta} + e^{-\mathrm{hi}_2/\beta}\bigr),

    so the intersection of two Gumbel boxes is a Gumbel box, and every corner of both
    boxes moves its corners (the smooth maximum passes gradient to all four).

    Parameters
    ----------
    lo1, hi1, lo2, hi2 : Tensor, shape (..., d)
        Corners of the two boxes; they broadcast against each other.
    method : {"hard", "softplus", "gumbel", "gumbel-softplus"}
    temperature : float
        Gumbel scale ``beta`` (unused by the hard and softplus methods).

    Returns
    -------
    (lo, hi) : tuple of Tensor

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Examples
    --------
    >>> import torch
    >>> lo, hi = box_intersection(torch.tensor([0., 0.]), torch.tensor([2., 2.]),
    ...                           torch.tensor([1., -1.]), torch.tensor([3., 1.]))
    >>> lo.tolist(), hi.tolist()
    ([1.0, 0.0], [2.0, 1.0])
    """
    try:
        torch.broadcast_shapes(lo1.shape, hi1.shape, lo2.shape, hi2.shape)
    except RuntimeError:
        raise ValueError(f"box_intersection: the corners must broadcast, got shapes {tuple(lo1.shape)}, "
                         f"{tuple(hi1.shape)}, {tuple(lo2.shape)}, {tuple(hi2.shape)}") from None
    return _intersection(lo1, hi1, lo2, hi2, method, temperature)


@validate(lo_a=_BOX, hi_a=_BOX, lo_b=_BOX, hi_b=_BOX, method=Options(*METHODS), temperature=_TEMP, log=Bool(),
          same=[("lo_a", "hi_a", "lo_b", "hi_b")])
def conditional_probability(lo_a: torch.Tensor, hi_a: torch.Tensor, lo_b: torch.Tensor, hi_b: torch.Tensor, *,
                            method: str = "hard", temperature: float = 1.0, log: bool = False) -> torch.Tensor:
    r"""Box conditional probability :math:`P(A \mid B) = V(A \cap B) / V(B)`.

    The volume :math:`V` and the intersection are those of ``method`` (:func:`log_volume`,
    :func:`box_intersection`). For Gumbel boxes it is the ratio of the *expected* volumes,
    :math:`E[V(A\cap B)] / E[V(B)]`, as in Dasgupta et al. (not the expectation of the ratio).
    The result is clamped to at most 1 (the ratio can only exceed it by rounding). A disjoint
    pair of hard boxes gets :math:`e^{d \log 10^{-30}} / V(B)`, essentially 0, and no gradient.

    Parameters
    ----------
    lo_a, hi_a, lo_b, hi_b : Tensor, shape (..., d)
        Corners of ``A`` and of the conditioning box ``B`` (broadcasting).
    method : {"hard", "softplus", "gumbel", "gumbel-softplus"}
    temperature : float
    log : bool
        Return :math:`\log P(A \mid B)` (finite) instead of the probability.

    Returns
    -------
    Tensor, shape (...)

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Examples
    --------
    >>> import torch
    >>> big = (torch.tensor([0., 0.]), torch.tensor([1., 1.]))
    >>> small = (torch.tensor([0.5, 0.5]), torch.tensor([0.9, 1.0]))
    >>> conditional_probability(*big, *small).item()   # the small box lies inside the big one
    1.0
    >>> round(conditional_probability(*small, *big).item(), 6)   # its share of the big one
    0.2
    """
    try:
        torch.broadcast_shapes(lo_a.shape, hi_a.shape, lo_b.shape, hi_b.shape)
    except RuntimeError:
        raise ValueError(f"conditional_probability: the corners must broadcast, got shapes {tuple(lo_a.shape)}, "
                         f"{tuple(hi_a.shape)}, {tuple(lo_b.shape)}, {tuple(hi_b.shape)}") from None
    out = _log_conditional(lo_a, hi_a, lo_b, hi_b, method, temperature)
    return out if log else out.exp()


@validate(delta=Tensor(dtype="floating"), beta=_TEMP, approx=Options("bessel", "softplus"))
def gumbel_side_length(delta: torch.Tensor, *, beta: float = 1.0, approx: str = "bessel") -> torch.Tensor:
    r"""Expected side length :math:`E\max(0, Y - X)` of a Gumbel box, ``X ~ MaxGumbel(0, beta)``, ``Y ~ MinGumbel(delta, beta)``.

    Writing :math:`s = \Delta/\beta`, the exact value (Dasgupta et al. 2020, their appendix; we
    rederived it) and the surrogate are

    .. math::
        E\max(0, Y - X) = 2\beta\,K_0\!\bigl(2 e^{-s/2}\bigr)
        \;\approx\; \beta \log\bigl(1 + e^{s - 2\gamma}\bigr),

    with :math:`K_0` the modified Bessel function of the second kind. Both tend to
    :math:`\Delta - 2\beta\gamma` for large :math:`s` (the difference of the corners' means). For
    very negative ``s`` (disjoint corners) the exact length decays doubly exponentially, like
    :math:`\exp(-2e^{-s/2})`, the surrogate only like :math:`e^{s - 2\gamma}`: both stay positive,
    so a disjoint pair of Gumbel boxes still has a gradient, but the surrogate's is the tamer one.

    Parameters
    ----------
    delta : Tensor
        Differences of the corner locations, ``hi - lo``.
    beta : float
        Gumbel scale.
    approx : {"bessel", "softplus"}

    Returns
    -------
    Tensor, same shape as ``delta``

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Examples
    --------
    >>> import torch
    >>> gumbel_side_length(torch.tensor([40.0], dtype=torch.float64)).item()  # delta - 2 gamma
    38.84556867...
    """
    method = "gumbel" if approx == "bessel" else "gumbel-softplus"
    return _log_lengths(torch.zeros_like(delta), delta, method, beta).exp()


@validate(lo=_BOX, hi=_BOX, beta=_TEMP, n_samples=Integer(low=1), generator=Generator(), same=[("lo", "hi")])
def sample_gumbel_boxes(lo: torch.Tensor, hi: torch.Tensor, *, beta: float = 1.0, n_samples: int = 1,
                        generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw the random corners of Gumbel boxes (the Monte-Carlo reference for the expected volumes).

    Min corners :math:`X = \mathrm{lo} - \beta\log(-\log U)` (``MaxGumbel(lo, beta)``) and max
    corners :math:`Y = \mathrm{hi} + \beta\log(-\log U')` (``MinGumbel(hi, beta)``), all independent;
    uniforms drawn on the CPU from ``generator`` and moved to ``lo``'s device.

    Parameters
    ----------
    lo, hi : Tensor, shape (..., d)
        Corner locations.
    beta : float
    n_samples : int
    generator : None, int or CPU torch.Generator
        The package's randomness rule.

    Returns
    -------
    (x, y) : tuple of Tensor, each shape (n_samples, ..., d)

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Examples
    --------
    >>> import torch
    >>> x, y = sample_gumbel_boxes(torch.zeros(3), torch.ones(3), n_samples=4, generator=0)
    >>> x.shape
    torch.Size([4, 3])
    """
    if lo.shape != hi.shape:
        raise ValueError(f"sample_gumbel_boxes: lo and hi must have one shape, got {tuple(lo.shape)} and "
                         f"{tuple(hi.shape)}")
    g = as_generator(generator)
    shape = (n_samples, *lo.shape)
    tiny = torch.finfo(lo.dtype).tiny
    u = rand(2, *shape, generator=g, device=lo.device, dtype=lo.dtype).clamp(min=tiny, max=1 - torch.finfo(lo.dtype).eps)
    gum = -torch.log(-torch.log(u))  # standard MaxGumbel draws
    return lo + beta * gum[0], hi - beta * gum[1]
