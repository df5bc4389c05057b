"""Learning a k-sparse (low-degree) Fourier spectrum from few queries (Amrollahi et al. 2019), and Lasso."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import torch

from ..utils import (Bool, DType, Generator, Integer, IsCallable, Options, Real, Tensor, as_generator,
                     check_arguments, validate)
from ..utils import progress as _progress
from ._wht import SetFunctionSpectrum, _parity, fwht

_SETS = dict(dtype="bool")


@dataclasses.dataclass
class SparseFourierResult:
    """What :func:`sparse_fourier` recovered and what it cost.

    Attributes
    ----------
    spectrum : SetFunctionSpectrum
        The recovered frequencies and coefficients.
    n_queries : int
        Number of evaluations of the set function.
    n_rounds : int
        Hashing rounds used.
    converged : bool
        True when the last round's measurements were all explained by ``spectrum``
        (then, with high probability, the spectrum is exact).
    """

    spectrum: SetFunctionSpectrum
    n_queries: int
    n_rounds: int
    converged: bool


def _shift_design(n: int, decoder: str, n_groups: int, n_checks: int, gen: torch.Generator):
    """The shifts of one round: row 0 is empty; returns (shifts (s, n) bool, groups (n,) long or None)."""
    rows = [torch.zeros(n, dtype=torch.bool)]
    groups = None
    if decoder == "bits":
        rows.extend(torch.eye(n, dtype=torch.bool))
    else:
        groups = torch.randint(0, n_groups, (n,), generator=gen)
        n_bits = max(1, math.ceil(math.log2(n)))
        index_bits = ((torch.arange(n)[:, None] >> torch.arange(n_bits)) & 1).bool()  # (n, T)
        for g in range(n_groups):
            member = groups == g
            rows.append(member)
            rows.extend((member[:, None] & index_bits).T)
    rows.extend(torch.rand(n_checks, n, generator=gen) < 0.5)
    return torch.stack(rows), groups


def _decode(flips: torch.Tensor, n: int, decoder: str, groups, n_groups: int) -> torch.Tensor | None:
    """Frequency indicator from the sign flips of one bucket (flips[s] = parity of |f cap shift_s|)."""
    if decoder == "bits":
        return flips[1:n + 1].clone()
    n_bits = max(1, math.ceil(math.log2(n)))
    freq = torch.zeros(n, dtype=torch.bool)
    block = flips[1:1 + n_groups * (1 + n_bits)].reshape(n_groups, 1 + n_bits)
    weights = 2 ** torch.arange(n_bits)
    for g in torch.nonzero(block[:, 0]).flatten().tolist():
        idx = int((block[g, 1:].long() * weights).sum())
        if idx >= n or int(groups[idx]) != g:
            return None
        freq[idx] = True
    return freq


@validate(query=IsCallable(), n_vars=Integer(low=1, high=4096), sparsity=Integer(low=1),
          degree=Integer(low=1, optional=True), decoder=Options("low-degree", "bits"),
          n_groups=Integer(low=1, optional=True), n_checks=Integer(low=0), max_rounds=Integer(low=1),
          tol=Real(low=0, closed="neither"), generator=Generator(), dtype=DType(optional=True),
          progress=Bool(optional=True))
def sparse_fourier(query, n_vars: int, sparsity: int, *, degree: int | None = None, decoder: str = "low-degree",
                   n_groups: int | None = None, n_checks: int = 4, max_rounds: int = 30, tol: float = 1e-8,
                   generator=None, dtype=None, progress: bool | None = None) -> SparseFourierResult:
    r"""Recover a :math:`k`-sparse Fourier spectrum from a few queries, by hashing (Amrollahi et al. 2019).

    Each round draws a random linear hash :math:`H \in \mathbb F_2^{b \times n}` with
    :math:`2^b \ge 2k'` buckets (:math:`k'` the coefficients still missing) and a set of
    shifts :math:`a_0 = 0, a_1, \dots, a_s`. For each shift it queries :math:`f` on the
    :math:`2^b` sets :math:`H^\top m \oplus a` and takes a :math:`2^b`-point transform
    (:func:`fwht`), which gives the bucket sums

    .. math::

        U_a(j) = \sum_{B:\ H B = j} \hat f(B)\, (-1)^{|a \cap B|}.

    A bucket holding one frequency :math:`B` has :math:`|U_a(j)| = |U_0(j)|` for every
    shift, and the signs :math:`U_a(j) / U_0(j) = (-1)^{|a \cap B|}` spell :math:`B`:

    - ``decoder="bits"``: shifts :math:`e_1, \dots, e_n` read the :math:`n` bits
      directly (:math:`n + 1` shifts; any degree);
    - ``decoder="low-degree"``: for :math:`|B| \le d`, the coordinates are hashed into
      :math:`G` groups (default :math:`2 d^2`); one shift per group says whether the group
      holds an element of :math:`B`, and :math:`\lceil \log_2 n \rceil` shifts per group
      read that element's index bit by bit: :math:`O(d^2 \log n)` shifts instead of
      :math:`n`.

    A decoded :math:`B` is accepted only if :math:`H B = j`, :math:`|B| \le d` and it
    predicts the sign of every shift (including ``n_checks`` random ones); its
    coefficient is :math:`U_0(j)`. Found coefficients are subtracted from later
    rounds' bucket sums (peeling); the loop stops when a round's measurements are all
    explained.

    This is a simplified version of the paper's algorithm: same hashing, bucket
    isolation and peeling, but the support of an isolated low-degree frequency is read
    by group testing with :math:`O(d^2 \log n)` shifts, where the paper's decoder reaches
    :math:`O(d \log n)`; the query count is :math:`O(k d^2 \log n)` per round rather than the
    paper's :math:`O(k d \log n)` overall. Noise-free functions only (``tol`` is the
    threshold for a zero bucket); the paper's robust variant is not implemented.

    Parameters
    ----------
    query : callable
        ``query(sets)`` takes a CPU bool tensor of shape (m, n) (one subset per row) and
        returns the m values as a floating tensor of shape (m,).
    n_vars : int
        Ground-set size :math:`n`.
    sparsity : int
        An upper bound :math:`k` on the number of non-zero coefficients.
    degree : int, optional
        An upper bound :math:`d` on the frequency size (required for ``"low-degree"``).
    decoder : {"low-degree", "bits"}
    n_groups : int, optional
        Groups :math:`G` of the low-degree decoder (default :math:`2 d^2`).
    n_checks : int
        Random verification shifts per round.
    max_rounds : int
        Hashing rounds at most.
    tol : float > 0
        Relative threshold: a bucket is empty when :math:`|U_a(j)|` is below
        ``tol`` times the largest query magnitude, and isolated when every
        :math:`|U_a(j)|/|U_0(j)|` is within :math:`10^{3}` ``tol`` of 1.
    generator : None, int or torch.Generator
        Draws the hashes and shifts.
    dtype : torch.dtype, optional
        Dtype of the computation (default: that of the first query's answer).
    progress : bool, optional
        Progress bar over rounds.

    Returns
    -------
    SparseFourierResult

    References
    ----------
    A. Amrollahi, A. Zandieh, M. Kapralov, A. Krause. Efficiently learning Fourier sparse
    set functions. NeurIPS 2019.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> from nips2019.setfunctions import cut_value
    >>> edges, w = torch.tensor([[0, 5], [3, 7]]), torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> res = sparse_fourier(lambda s: cut_value(s, edges, w), 8, 3, degree=2, generator=0)
    >>> res.converged, sorted(res.spectrum.coefficients.tolist())
    (True, [-1.0, -0.5, 1.5])
    """
    if decoder == "low-degree" and degree is None:
        raise ValueError("sparse_fourier: degree is required with decoder='low-degree' (or use decoder='bits')")
    n = n_vars
    if n_groups is None:
        n_groups = max(2, 2 * (degree or 1) ** 2)
    gen = as_generator(generator)
    found: dict[bytes, tuple[torch.Tensor, float]] = {}
    n_queries, converged, rounds = 0, False, 0
    scale = None
    disable = None if progress is None else not progress
    for rounds in _progress(range(1, max_rounds + 1), desc="sparse_fourier rounds", disable=disable):
        missing = max(1, sparsity - len(found))
        b = min(n, max(1, math.ceil(math.log2(2 * missing))))
        hash_ = torch.rand(b, n, generator=gen) < 0.5
        shifts, groups = _shift_design(n, decoder, n_groups, n_checks, gen)
        m_bits = ((torch.arange(2**b)[:, None] >> torch.arange(b)) & 1).bool()  # (B, b)
        base = _parity(m_bits, hash_.T)  # (B, n): H^T m
        sets = (base[None, :, :] ^ shifts[:, None, :]).reshape(-1, n)
        values = query(sets)
        check_arguments("sparse_fourier", **{"query(sets)": (values, Tensor(shape=(len(sets),), dtype="floating"))})
        if dtype is not None:
            values = values.to(dtype)
        values = values.detach().cpu()
        n_queries += len(sets)
        if scale is None:
            scale = float(values.abs().max()) or 1.0
        u = fwht(values.reshape(len(shifts), 2**b)) / 2**b  # (s, B)
        if found:
            freqs = torch.stack([f for f, _ in found.values()])
            coefs = torch.tensor([c for _, c in found.values()], dtype=u.dtype)
            bucket = (_parity(freqs, hash_).long() * 2 ** torch.arange(b)).sum(1)
            signs = 1 - 2 * _parity(shifts, freqs).to(u.dtype)  # (s, r)
            u.index_add_(1, bucket, -(signs * coefs))
        zero = tol * scale
        if bool((u.abs() <= zero).all()):
            converged = True
            break
        for j in torch.nonzero(u[0].abs() > zero).flatten().tolist():
            ratio = u[:, j] / u[0, j]
            if not bool(((ratio.abs() - 1).abs() < 1e3 * tol).all()):
                continue  # a collision (or noise): try again next round
            flips = ratio < 0
            freq = _decode(flips, n, decoder, groups, n_groups)
            if freq is None or (degree is not None and int(freq.sum()) > degree):
                continue
            if int((_parity(freq[None], hash_).long()[0] * 2 ** torch.arange(b)).sum()) != j:
                continue
            if not bool((_parity(shifts, freq[None])[:, 0] == flips).all()):
                continue
            key = freq.numpy().tobytes()
            old = found.get(key, (freq, 0.0))[1]
            coef = old + float(u[0, j])
            if abs(coef) <= zero:
                found.pop(key, None)
            else:
                found[key] = (freq, coef)
    out_dtype = dtype or (values.dtype if n_queries else torch.get_default_dtype())
    if found:
        freqs = torch.stack([f for f, _ in found.values()])
        coefs = torch.tensor([c for _, c in found.values()], dtype=out_dtype)
        order = torch.argsort(freqs.sum(1) * (n + 1) + torch.argmax(freqs.long(), 1), stable=True)
        freqs, coefs = freqs[order], coefs[order]
    else:
        freqs, coefs = torch.zeros(0, n, dtype=torch.bool), torch.zeros(0, dtype=out_dtype)
    return SparseFourierResult(SetFunctionSpectrum(freqs, coefs), n_queries, rounds, converged)


@validate(sets=Tensor(shape=("m", "n"), **_SETS), degree=Integer(low=0))
def parity_features(sets: torch.Tensor, degree: int):
    r"""The Fourier features :math:`(-1)^{|A \cap B|}` of each subset for every :math:`|B| \le d`.

    Parameters
    ----------
    sets : Tensor, shape (m, n), bool
    degree : int
        Largest frequency size :math:`d`; there are :math:`\sum_{r \le d} \binom{n}{r}` columns.

    Returns
    -------
    features : Tensor, shape (m, p), float64
    frequencies : Tensor, shape (p, n), bool
        The frequency of each column (empty set first, then by size).

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> feats, freqs = parity_features(torch.tensor([[True, True, False]]), 1)
    >>> feats
    tensor([[ 1., -1., -1.,  1.]], dtype=torch.float64)
    """
    n = sets.shape[1]
    p = sum(math.comb(n, r) for r in range(min(degree, n) + 1))
    if p > 2_000_000:
        raise ValueError(f"parity_features: degree {degree} on n = {n} gives {p} columns (> 2e6)")
    freqs = torch.zeros(p, n, dtype=torch.bool)
    row = 1
    for r in range(1, min(degree, n) + 1):
        for comb in itertools.combinations(range(n), r):
            freqs[row, list(comb)] = True
            row += 1
    freqs = freqs.to(sets.device)
    return 1 - 2 * _parity(sets, freqs).double(), freqs


@validate(sets=Tensor(shape=("m", "n"), **_SETS), values=Tensor(shape=("m",), dtype="floating"),
          degree=Integer(low=0), alpha=Real(low=0, closed="neither"), threshold=Real(low=0),
          max_iter=Integer(low=1), tol=Real(low=0, closed="neither"))
def lasso_fourier(sets: torch.Tensor, values: torch.Tensor, *, degree: int, alpha: float = 1e-3,
                  threshold: float = 1e-3, max_iter: int = 10_000, tol: float = 1e-6) -> SetFunctionSpectrum:
    r"""Fit a low-degree Fourier spectrum to (random) queries with the Lasso (scikit-learn).

    The compressed-sensing baseline of Stobbe & Krause (2012): regress the values on all
    parity features of degree :math:`\le d` (:func:`parity_features`) with an
    :math:`\ell_1` penalty,

    .. math::

        \min_c \tfrac1{2m} \| y - \Phi c \|^2 + \alpha \|c\|_1,

    then keep the coefficients above ``threshold`` (times the largest) and refit them by
    least squares (which removes the Lasso's shrinkage).

    Parameters
    ----------
    sets : Tensor, shape (m, n), bool
        The queried subsets (uniformly random ones in the theory).
    values : Tensor, shape (m,)
    degree : int
    alpha : float > 0
        ``sklearn.linear_model.Lasso``'s penalty, relative to the values' scale (the values are
        divided by their largest magnitude for the fit).
    threshold : float >= 0
        Relative magnitude below which a coefficient is dropped.
    max_iter, tol : passed to scikit-learn's coordinate descent.

    Returns
    -------
    SetFunctionSpectrum
        Dtype and device of ``values``.

    References
    ----------
    P. Stobbe, A. Krause. Learning Fourier sparse set functions. AISTATS 2012.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> from nips2019.setfunctions import cut_value
    >>> sets = torch.rand(60, 6, generator=torch.Generator().manual_seed(0)) < 0.5
    >>> edges, w = torch.tensor([[0, 1], [2, 5]]), torch.tensor([1.0, 3.0], dtype=torch.float64)
    >>> spec = lasso_fourier(sets, cut_value(sets, edges, w), degree=2)
    >>> sorted(round(c, 3) for c in spec.coefficients.tolist())
    [-1.5, -0.5, 2.0]
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso
    import warnings

    feats, freqs = parity_features(sets, degree)
    x = feats.cpu().numpy()
    y = values.detach().cpu().double().numpy()
    scale = float(np.abs(y).max()) or 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Lasso(alpha=alpha, fit_intercept=False, max_iter=max_iter, tol=tol).fit(x, y / scale)
    coef = model.coef_ * scale
    keep = np.abs(coef) > threshold * max(np.abs(coef).max(), 1e-300)
    if keep.any():
        refit = np.linalg.lstsq(x[:, keep], y, rcond=None)[0]
        coef = np.zeros_like(coef)
        coef[keep] = refit
    idx = torch.from_numpy(np.nonzero(keep)[0])
    return SetFunctionSpectrum(freqs[idx.to(freqs.device)],
                               torch.from_numpy(coef[keep]).to(dtype=values.dtype, device=values.device))
