"""The Walsh-Hadamard (Fourier) basis of set functions and its fast transform."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import DType, Device, Integer, Tensor, validate

_SETS = dict(dtype="bool")


@dataclasses.dataclass
class SetFunctionSpectrum:
    r"""A sparse Fourier expansion :math:`f(A) = \sum_B \hat f(B) (-1)^{|A \cap B|}`.

    Attributes
    ----------
    frequencies : Tensor, shape (k, n), bool
        Row ``i`` is the indicator of the frequency :math:`B_i \subseteq [n]`.
    coefficients : Tensor, shape (k,)
        The Fourier coefficients :math:`\hat f(B_i)`.
    """

    frequencies: torch.Tensor
    coefficients: torch.Tensor

    def __call__(self, sets: torch.Tensor) -> torch.Tensor:
        """Evaluate the expansion on the rows of ``sets`` (shape (m, n)); see :func:`evaluate_fourier`."""
        return evaluate_fourier(sets, self.frequencies, self.coefficients)

    @property
    def degree(self) -> int:
        """The largest frequency size (0 for an empty or constant spectrum)."""
        return int(self.frequencies.sum(1).max()) if len(self.frequencies) else 0


def _parity(sets: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """``|A_i cap B_j| mod 2`` for every row pair, as a (m, k) bool tensor (exact integer arithmetic)."""
    a = sets.to(torch.int32)
    b = freqs.to(torch.int32)
    if a.device.type == "cpu":  # integer matmul is not implemented on every backend: use float64 counts
        return (a.double() @ b.double().T).remainder(2).bool()
    return (a.float() @ b.float().T).remainder(2).bool()


@validate(values=Tensor(shape=("...", None), dtype="floating"))
def fwht(values: torch.Tensor) -> torch.Tensor:
    r"""The fast Walsh-Hadamard transform along the last dimension (unnormalised).

    .. math::

        (H v)_j = \sum_{i=0}^{2^n - 1} (-1)^{\langle i, j\rangle} v_i,

    where :math:`\langle i, j\rangle` counts the common 1-bits of the indices, i.e.
    :math:`|A \cap B|` for the sets with indicator bits :math:`i` and :math:`j`. The
    butterfly takes :math:`n 2^n` additions instead of the :math:`4^n` of the dense
    matrix (:func:`hadamard_matrix`); :math:`H H = 2^n I`.

    Parameters
    ----------
    values : Tensor, shape (..., 2**n)
        Any batch shape; the last size must be a power of two.

    Returns
    -------
    Tensor, shape (..., 2**n)
        Same dtype and device as ``values``.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> fwht(torch.tensor([1.0, 0.0, 0.0, 0.0]))
    tensor([1., 1., 1., 1.])
    >>> fwht(fwht(torch.tensor([1.0, 2.0]))) / 2
    tensor([1., 2.])
    """
    size = values.shape[-1]
    if size & (size - 1):
        raise ValueError(f"fwht: values must have a power-of-two last dimension, got {size}")
    batch = values.shape[:-1]
    x = values.reshape(-1, size)
    h = 1
    while h < size:
        x = x.reshape(x.shape[0], size // (2 * h), 2, h)
        a, b = x[:, :, 0, :], x[:, :, 1, :]
        x = torch.stack((a + b, a - b), dim=2)
        h *= 2
    return x.reshape(*batch, size)


@validate(n_vars=Integer(low=0, high=14), dtype=DType(optional=True), device=Device())
def hadamard_matrix(n_vars: int, *, dtype=None, device=None) -> torch.Tensor:
    r"""The dense Walsh-Hadamard matrix :math:`H_{ij} = (-1)^{\langle i, j\rangle}` of size :math:`2^n`.

    The reference against which :func:`fwht` is tested; it costs :math:`4^n` memory, hence
    ``n_vars <= 14``.

    Parameters
    ----------
    n_vars : int in [0, 14]
        The ground-set size :math:`n`.
    dtype, device : optional
        Of the output (default float32 on the CPU).

    Returns
    -------
    Tensor, shape (2**n_vars, 2**n_vars)

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> hadamard_matrix(1)
    tensor([[ 1.,  1.],
            [ 1., -1.]])
    """
    idx = torch.arange(2**n_vars, device=device)
    bits = (idx[:, None] >> torch.arange(n_vars, device=device)) & 1
    odd = (bits.double() @ bits.double().T).remainder(2)
    return (1 - 2 * odd).to(dtype or torch.get_default_dtype())


@validate(values=Tensor(shape=("...", None), dtype="floating"))
def fourier_transform(values: torch.Tensor) -> torch.Tensor:
    r"""All :math:`2^n` Fourier coefficients of a set function given on every subset.

    With the subset :math:`A` stored at index :math:`\sum_{i \in A} 2^i` (see
    :func:`sets_to_index`),

    .. math::

        \hat f(B) = 2^{-n} \sum_{A \subseteq [n]} (-1)^{|A \cap B|} f(A),
        \qquad f(A) = \sum_{B \subseteq [n]} (-1)^{|A \cap B|} \hat f(B).

    Parameters
    ----------
    values : Tensor, shape (..., 2**n)
        :math:`f` on all subsets, in index order.

    Returns
    -------
    Tensor, shape (..., 2**n)
        :math:`\hat f` in the same index order; same dtype and device.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> fourier_transform(torch.tensor([0.0, 1.0]))  # f({}) = 0, f({0}) = 1
    tensor([ 0.5000, -0.5000])
    """
    return fwht(values) / values.shape[-1]


@validate(index=Tensor(ndim=1, dtype="integer", low=0), n_vars=Integer(low=0, high=62))
def index_to_sets(index: torch.Tensor, n_vars: int) -> torch.Tensor:
    r"""The indicator rows of the subsets with the given indices :math:`\sum_{i \in A} 2^i`.

    Parameters
    ----------
    index : Tensor, shape (m,), integer
        Indices in :math:`[0, 2^n)`.
    n_vars : int
        Ground-set size :math:`n`.

    Returns
    -------
    Tensor, shape (m, n_vars), bool

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> index_to_sets(torch.tensor([5]), 3)
    tensor([[ True, False,  True]])
    """
    if n_vars < 63 and bool((index >= 2**n_vars).any()):
        raise ValueError(f"index_to_sets: index must be < 2**n_vars = {2**n_vars}")
    return ((index[:, None] >> torch.arange(n_vars, device=index.device)) & 1).bool()


@validate(sets=Tensor(ndim=2, **_SETS))
def sets_to_index(sets: torch.Tensor) -> torch.Tensor:
    r"""The index :math:`\sum_{i \in A} 2^i` of each subset (row of indicators); inverse of :func:`index_to_sets`.

    Parameters
    ----------
    sets : Tensor, shape (m, n), bool, n <= 62

    Returns
    -------
    Tensor, shape (m,), int64

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> sets_to_index(torch.tensor([[True, False, True]]))
    tensor([5])
    """
    n = sets.shape[1]
    if n > 62:
        raise ValueError(f"sets_to_index: sets must have at most 62 columns, got {n}")
    weights = 2 ** torch.arange(n, device=sets.device, dtype=torch.int64)
    return (sets.to(torch.int64) * weights).sum(1)


@validate(sets=Tensor(shape=("m", "n"), **_SETS), frequencies=Tensor(shape=("k", "n"), **_SETS),
          coefficients=Tensor(shape=("k",), dtype="floating"))
def evaluate_fourier(sets: torch.Tensor, frequencies: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    r"""Evaluate a sparse Fourier expansion on given subsets.

    .. math::

        f(A) = \sum_{i=1}^{k} c_i\, (-1)^{|A \cap B_i|}.

    Parameters
    ----------
    sets : Tensor, shape (m, n), bool
        The subsets :math:`A` (one indicator row each).
    frequencies : Tensor, shape (k, n), bool
        The frequencies :math:`B_i`.
    coefficients : Tensor, shape (k,)
        The coefficients :math:`c_i`.

    Returns
    -------
    Tensor, shape (m,)
        Dtype and device of ``coefficients``.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> freqs = torch.tensor([[False, False], [True, True]])
    >>> sets = torch.tensor([[True, False], [True, True]])
    >>> evaluate_fourier(sets, freqs, torch.tensor([1.0, -1.0]))
    tensor([2., 0.])
    """
    signs = 1 - 2 * _parity(sets, frequencies).to(coefficients.dtype)
    return signs @ coefficients


def _log2(size: int) -> int:
    return int(round(math.log2(size)))
