"""Making a stochastic classifier deterministic by hashing its inputs (Cotter, Narasimhan & Gupta 2019)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..utils import Generator, Integer, Real, Tensor, numpy_rng, validate

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return z ^ (z >> np.uint64(31))


def _fingerprint(x: torch.Tensor) -> np.ndarray:
    """A fixed 64-bit key per row of ``x``: equal rows give equal keys, distinct rows distinct keys w.h.p."""
    bits = (x.detach().cpu().double() + 0.0).numpy().view(np.uint64)  # + 0.0 maps -0.0 to 0.0
    key = np.zeros(bits.shape[0], dtype=np.uint64)
    for j in range(bits.shape[1]):
        key = _splitmix64(key ^ bits[:, j])
    return key


@validate(x=Tensor(ndim=2, dtype="floating"), n_bits=Integer(low=1, high=52), generator=Generator())
def hash_uniform(x: torch.Tensor, *, n_bits: int = 32, generator=None) -> torch.Tensor:
    r"""A pairwise-independent hash of each row of ``x`` to a number in :math:`[0, 1)`.

    Each row is first reduced to a fixed 64-bit key :math:`u(x)` (its float64 bit pattern
    mixed by splitmix64, so equal rows get equal keys). The hash is then the affine map over
    :math:`\mathrm{GF}(2)`

    .. math::

        h(x) = \sum_{k=1}^{b} \bigl[(A\,u(x) + c) \bmod 2\bigr]_k\, 2^{-k},
        \qquad A \in \{0, 1\}^{b \times 64},\ c \in \{0, 1\}^b,

    with :math:`A` and :math:`c` drawn from ``generator``. For two distinct keys the pair
    :math:`(h(x), h(x'))` is uniform on the grid :math:`\{0, 2^{-b}, \dots\}^2`: the family
    is pairwise independent, the property the concentration bound of
    :func:`derandomize` needs.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        The inputs a decision depends on (any floating dtype; hashed in float64).
    n_bits : int in [1, 52]
        Resolution :math:`b` of the hash value.
    generator : None, int or torch.Generator
        Draws the hash function (``A`` and ``c``); the same seed gives the same function.

    Returns
    -------
    Tensor, shape (n,), float64
        On the device of ``x``.

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.5, 1.0], [2.0, -1.0], [0.5, 1.0]])
    >>> h = hash_uniform(x, generator=0)
    >>> bool(h[0] == h[2]), bool(((h >= 0) & (h < 1)).all())
    (True, True)
    """
    rng = numpy_rng(generator)
    a = rng.integers(0, 2, size=(64, n_bits), dtype=np.int64)
    c = rng.integers(0, 2, size=n_bits, dtype=np.int64)
    key = _fingerprint(x)
    key_bits = ((key[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)
    out_bits = (key_bits @ a + c) % 2
    value = out_bits @ (0.5 ** np.arange(1, n_bits + 1))
    return torch.as_tensor(value, dtype=torch.float64, device=x.device)


@validate(prob=Tensor(shape=("n",), dtype="floating", low=0, high=1), x=Tensor(shape=("n", "d"), dtype="floating"),
          n_bits=Integer(low=1, high=52), generator=Generator())
def derandomize(prob: torch.Tensor, x: torch.Tensor, *, n_bits: int = 32, generator=None) -> torch.Tensor:
    r"""Turn acceptance probabilities into deterministic decisions by hashing the inputs.

    A stochastic classifier accepts input :math:`x` with probability :math:`p(x)`; drawing
    a fresh coin for every query means the same applicant can get different answers. The
    hashed classifier of Cotter et al. answers :math:`\hat y(x) = [\,h(x) < p(x)\,]` with a
    pairwise-independent hash :math:`h` (:func:`hash_uniform`): a fixed function of
    :math:`x`, so equal inputs always get equal decisions.

    Over the random choice of :math:`h`, each decision is a Bernoulli variable with mean
    :math:`p(x)` (up to the grid, :math:`|\cdot| < 2^{-b}`), and any two decisions on
    distinct inputs are independent. So on a set :math:`S` of :math:`m` distinct inputs
    the rate :math:`\bar y_S = \frac1m \sum_{x \in S} \hat y(x)` (a group's TPR or FPR, say)
    has the stochastic classifier's expectation and variance at most :math:`1/(4m)`, and by
    Chebyshev

    .. math::

        P\Bigl(\bigl|\bar y_S - \tfrac1m \textstyle\sum_{x\in S} p(x)\bigr|
        \ge \tfrac{1}{2\sqrt{m\delta}} + 2^{-b}\Bigr) \le \delta

    (:func:`derandomization_bound`). A constraint met by the stochastic classifier in
    expectation therefore holds for the hashed one up to that slack.

    Parameters
    ----------
    prob : Tensor, shape (n,)
        Acceptance probabilities in [0, 1] (e.g. ``equalized_odds_predict(..., sample=False)``).
    x : Tensor, shape (n, d)
        The inputs the decision may depend on (include the group if the classifier uses it).
    n_bits : int in [1, 52]
    generator : None, int or torch.Generator
        Draws the hash function.

    Returns
    -------
    Tensor, shape (n,), int64
        0/1 decisions on the device of ``prob``.

    Notes
    -----
    Rows that are exactly equal share one hash value, so the variance bound counts
    distinct inputs. See the chapter :doc:`Fairness </book/fairness>`.

    References
    ----------
    Cotter, Narasimhan & Gupta, *On making stochastic classifiers deterministic*, NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0))
    >>> prob = torch.full((1000,), 0.3)
    >>> y = derandomize(prob, x, generator=0)
    >>> bool((y == derandomize(prob, x, generator=0)).all())  # deterministic
    True
    >>> abs(y.double().mean().item() - 0.3) < derandomization_bound(1000, 0.05)
    True
    """
    h = hash_uniform(x, n_bits=n_bits, generator=generator).to(prob.device)
    return (h < prob.double()).long()


@validate(n_samples=Integer(low=1), delta=Real(low=0, high=1, closed="neither"), n_bits=Integer(low=1, high=52))
def derandomization_bound(n_samples: int, delta: float = 0.05, *, n_bits: int = 32) -> float:
    r"""Chebyshev slack :math:`1/(2\sqrt{m\delta}) + 2^{-b}` of a hashed rate on ``m`` distinct inputs.

    With probability at least :math:`1 - \delta` over the hash function, the rate of the
    decisions of :func:`derandomize` on a fixed set of :math:`m` distinct inputs is within
    this distance of the stochastic classifier's expected rate.

    Parameters
    ----------
    n_samples : int
        Number :math:`m` of distinct inputs the rate averages over.
    delta : float in (0, 1)
        Failure probability.
    n_bits : int
        Resolution of the hash (as in :func:`derandomize`).

    Returns
    -------
    float

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> round(derandomization_bound(10000, 0.05), 4)
    0.0224
    """
    return 1.0 / (2.0 * math.sqrt(n_samples * delta)) + 2.0 ** (-n_bits)
