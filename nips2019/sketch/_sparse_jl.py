"""Sparse Johnson-Lindenstrauss transforms and feature hashing (Kane & Nelson 2014; Jagadeesan 2019)."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import (
    Device,
    DType,
    Generator,
    Integer,
    Items,
    Options,
    Real,
    Tensor,
    as_generator,
    check_arguments,
    randint,
    randn,
    validate,
)

_CONSTRUCTIONS = ("block", "graph")
_CHUNK = 1 << 22  # non-zeros drawn at once by the Monte-Carlo loops


@dataclasses.dataclass
class SparseJL:
    r"""A sparse Johnson-Lindenstrauss matrix :math:`A \in \mathbb R^{m \times n}`, stored by its non-zeros.

    Column :math:`i` has exactly :math:`s` non-zero entries, each :math:`\pm 1/\sqrt s`, in rows
    ``rows[:, i]`` with signs ``signs[:, i]``. Build one with :func:`sparse_jl`; apply it with
    :meth:`SparseJL.apply`.

    Attributes
    ----------
    rows : Tensor, shape (s, n), int64
        Row of each non-zero; distinct within a column.
    signs : Tensor, shape (s, n)
        :math:`\pm 1` (floating, of the matrix's dtype).
    n_components : int
        :math:`m`, the target dimension.
    construction : str
        ``"block"`` or ``"graph"`` (see :func:`sparse_jl`).
    """

    rows: torch.Tensor
    signs: torch.Tensor
    n_components: int
    construction: str

    @property
    def sparsity(self) -> int:
        """:math:`s`, the number of non-zeros per column."""
        return self.rows.shape[0]

    @property
    def n_features(self) -> int:
        """:math:`n`, the input dimension."""
        return self.rows.shape[1]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        r"""Compute :math:`x A^\top` for a batch of rows ``x`` of shape (..., n) in :math:`O(s\,n)` per row.

        A sparse COO ``x`` (2-D) is multiplied through its non-zeros only. The result is dense,
        shape (..., m), on ``x``'s device and dtype.

        Examples
        --------
        >>> a = sparse_jl(1000, 64, sparsity=4, generator=0, dtype=torch.float64)
        >>> x = torch.randn(3, 1000, dtype=torch.float64)
        >>> torch.allclose(a.apply(x), x @ a.to_dense().T)
        True
        """
        check_arguments("SparseJL.apply", x=(x, Tensor(dtype="floating", finite=False)))
        values = x.coalesce().values() if x.is_sparse else x
        if not torch.isfinite(values).all():
            raise ValueError("SparseJL.apply: x must be finite (no NaN or inf)")
        if x.shape[-1] != self.n_features:
            raise ValueError(f"SparseJL.apply: x must have {self.n_features} columns (n_features), got {x.shape[-1]}")
        rows = self.rows.to(x.device)
        vals = self.signs.to(device=x.device, dtype=x.dtype) / math.sqrt(self.sparsity)
        if x.is_sparse:
            x = x.coalesce()
            (r, c), v = x.indices(), x.values()
            out = torch.zeros(x.shape[0] * self.n_components, device=x.device, dtype=x.dtype)
            flat_idx = rows.index_select(1, c).add_(r * self.n_components).reshape(-1)  # all s at once
            out.scatter_add_(0, flat_idx, vals.index_select(1, c).mul_(v).reshape(-1))
            return out.reshape(x.shape[0], self.n_components)
        flat = x.reshape(-1, self.n_features)
        out = torch.zeros(flat.shape[0], self.n_components, device=x.device, dtype=x.dtype)
        for j in range(self.sparsity):
            out.index_add_(1, rows[j], flat * vals[j])
        return out.reshape(*x.shape[:-1], self.n_components)

    def to_dense(self) -> torch.Tensor:
        """The matrix :math:`A` as a dense (m, n) tensor (for checks and small sizes)."""
        a = torch.zeros(self.n_components, self.n_features, dtype=self.signs.dtype, device=self.signs.device)
        cols = torch.arange(self.n_features, device=self.rows.device).expand_as(self.rows)
        a[self.rows, cols] = self.signs / math.sqrt(self.sparsity)
        return a


def _draw_rows(n_features: int, n_components: int, sparsity: int, construction: str, n_trials: int,
               g: torch.Generator, device) -> torch.Tensor:
    """Rows of the non-zeros, shape (n_trials, s, n): blocks of m/s rows, or s distinct rows per column."""
    if construction == "block":
        size = n_components // sparsity
        offset = (torch.arange(sparsity, device=device) * size)[None, :, None]
        return randint(0, size, (n_trials, sparsity, n_features), generator=g, device=device) + offset
    # "graph": s distinct rows per column, uniformly: draw s rows, redraw the columns with a repeat
    rows = randint(0, n_components, (n_trials, sparsity, n_features), generator=g, device=device)
    if sparsity == 1:
        return rows
    while True:
        srt = rows.sort(dim=1).values
        dup = (srt[:, 1:] == srt[:, :-1]).any(dim=1)  # (n_trials, n): columns with a repeated row
        n_dup = int(dup.sum())
        if n_dup == 0:
            return rows
        fresh = randint(0, n_components, (n_dup, sparsity), generator=g, device=device)
        rows = rows.transpose(1, 2).clone()
        rows[dup] = fresh
        rows = rows.transpose(1, 2)


def _draw_signs(shape, g: torch.Generator, dtype, device) -> torch.Tensor:
    return randint(0, 2, shape, generator=g, device=device).to(dtype).mul_(2).sub_(1)


def _check_sizes(func: str, n_components: int, sparsity: int, construction: str) -> None:
    if sparsity > n_components:
        raise ValueError(f"{func}: sparsity must be at most n_components ({n_components}), got {sparsity}")
    if construction == "block" and n_components % sparsity:
        raise ValueError(f"{func}: construction='block' needs sparsity to divide n_components; "
                         f"got n_components={n_components}, sparsity={sparsity}")


@validate(
    n_features=Integer(low=1),
    n_components=Integer(low=1),
    sparsity=Integer(low=1),
    construction=Options(*_CONSTRUCTIONS),
    generator=Generator(),
    dtype=DType(),
    device=Device(),
)
def sparse_jl(n_features: int, n_components: int, *, sparsity: int = 1, construction: str = "block",
              generator=None, dtype: torch.dtype = torch.float32, device=None) -> SparseJL:
    r"""Draw a sparse Johnson-Lindenstrauss matrix with :math:`s` non-zeros :math:`\pm 1/\sqrt s` per column.

    ``construction="block"`` (Kane & Nelson's block construction, the one Jagadeesan 2019 analyses):
    the :math:`m` rows are cut into :math:`s` blocks of :math:`m/s`; column :math:`i` has one
    non-zero in each block, at a uniformly random row, with an independent random sign.
    ``construction="graph"``: column :math:`i` has non-zeros in :math:`s` distinct rows drawn
    uniformly from all :math:`m`. With :math:`s = 1` both are *feature hashing*
    (Weinberger et al. 2009): each coordinate is hashed to one bucket with a random sign.

    Every column has unit norm, so :math:`E\|Ax\|^2 = \|x\|^2` for every :math:`x`; for the block
    construction (see :func:`jl_distortion_variance`)

    .. math::

        \operatorname{Var} \|Ax\|_2^2 = \frac{2}{m} \bigl(\|x\|_2^4 - \|x\|_4^4\bigr),

    whatever :math:`s`: sparsity does not change the variance, only the tails.

    Parameters
    ----------
    n_features : int
        :math:`n`, the input dimension.
    n_components : int
        :math:`m`, the target dimension.
    sparsity : int
        :math:`s` (``1``: feature hashing). The block construction needs :math:`s \mid m`.
    construction : {"block", "graph"}
    generator : None, int or torch.Generator
        Source of the rows and signs (drawn on the CPU, then moved).
    dtype, device
        Of the signs (and so of :meth:`SparseJL.to_dense`); ``rows`` are int64 on ``device``.

    Returns
    -------
    SparseJL

    References
    ----------
    Kane & Nelson, *Sparser Johnson-Lindenstrauss transforms*, J. ACM 2014.
    Jagadeesan, *Understanding sparse JL for feature hashing*, NeurIPS 2019.

    Notes
    -----
    See the chapter :doc:`Dimension reduction </book/reduction>`.

    Examples
    --------
    >>> a = sparse_jl(10_000, 256, sparsity=4, generator=0)
    >>> a.rows.shape, a.to_dense().abs().sum(0).unique()
    (torch.Size([4, 10000]), tensor([2.]))
    """
    _check_sizes("sparse_jl", n_components, sparsity, construction)
    g = as_generator(generator)
    rows = _draw_rows(n_features, n_components, sparsity, construction, 1, g, device)[0]
    signs = _draw_signs(rows.shape, g, dtype, device)
    return SparseJL(rows, signs, n_components, construction)


@validate(
    x=Tensor(ndim=1, dtype="floating"),
    n_components=Integer(low=1),
    sparsity=Integer(low=1),
    construction=Options("block", "graph", "gaussian"),
)
def jl_distortion_variance(x: torch.Tensor, n_components: int, *, sparsity: int = 1,
                           construction: str = "block") -> torch.Tensor:
    r"""Exact variance of :math:`\|Ax\|^2 / \|x\|^2` for a random JL matrix :math:`A` (closed form).

    Write :math:`u = x/\|x\|_2`. The diagonal of :math:`\|Ax\|^2` is exactly :math:`\|x\|^2`
    (unit columns). Two coordinates :math:`i \ne i'` interact only through the rows their
    non-zeros share, each with an independent random sign product of size :math:`1/s`; the
    expected number of shared rows is :math:`s \cdot s/m` in both sparse constructions, and the
    cross terms are uncorrelated, so

    .. math::

        \operatorname{Var} \frac{\|Ax\|^2}{\|x\|^2}
        = \frac{4}{m} \sum_{i < i'} u_i^2 u_{i'}^2 = \frac{2}{m}\bigl(1 - \|u\|_4^4\bigr)
        \quad \text{(block and graph, any } s\text{)}, \qquad
        \frac{2}{m} \quad \text{(gaussian)},

    where ``"gaussian"`` is the dense matrix with i.i.d. :math:`\mathcal N(0, 1/m)` entries.
    The sparse transforms are never worse in variance; sparsity changes the higher moments.

    Parameters
    ----------
    x : Tensor, shape (n,)
        A non-zero vector.
    n_components : int
        :math:`m`.
    sparsity : int
        :math:`s` (ignored for ``"gaussian"``).
    construction : {"block", "graph", "gaussian"}

    Returns
    -------
    Tensor, scalar
        The variance, on ``x``'s device and dtype.

    Examples
    --------
    >>> x = torch.ones(4, dtype=torch.float64)
    >>> jl_distortion_variance(x, 100).item()  # (2/100) * (1 - 4/16)
    0.015
    """
    norm2 = x.square().sum()
    if norm2 == 0:
        raise ValueError("jl_distortion_variance: x must be non-zero")
    if construction == "gaussian":
        return torch.full((), 2.0 / n_components, dtype=x.dtype, device=x.device)
    _check_sizes("jl_distortion_variance", n_components, sparsity, construction)
    u4 = x.pow(4).sum() / norm2.square()
    return 2.0 / n_components * (1 - u4)


@dataclasses.dataclass
class DistortionResult:
    r"""Monte-Carlo distortions :math:`\|Ax\|^2/\|x\|^2 - 1` over independent random matrices.

    Attributes
    ----------
    distortion : Tensor, shape (n_trials,) or (n_vectors, n_trials)
        One value per random matrix (and per input vector).
    failure : Tensor, shape () or (n_vectors,)
        Fraction of trials with :math:`|\text{distortion}| > \varepsilon` (``eps_distortion``).
    eps_distortion : float
        The tolerance :math:`\varepsilon` the failures were counted against.
    """

    distortion: torch.Tensor
    failure: torch.Tensor
    eps_distortion: float


def _distortions(u, n_components, sparsity, construction, n_trials, g):
    """||A u||^2 - 1 for ``n_trials`` fresh matrices, drawing only the columns on u's support."""
    k = u.numel()
    if construction == "gaussian":
        a = randn(n_trials, n_components, k, generator=g, dtype=u.dtype, device=u.device)
        y = (a @ u) / math.sqrt(n_components)
    else:
        rows = _draw_rows(k, n_components, sparsity, construction, n_trials, g, u.device)
        vals = _draw_signs(rows.shape, g, u.dtype, u.device) * u / math.sqrt(sparsity)  # (trials, s, k)
        y = torch.zeros(n_trials, n_components, dtype=u.dtype, device=u.device)
        y.scatter_add_(1, rows.reshape(n_trials, -1), vals.reshape(n_trials, -1))
    return y.square().sum(1) - 1


@validate(
    x=Tensor(ndim=(1, 2), dtype="floating"),
    n_components=Integer(low=1),
    sparsity=Integer(low=1),
    construction=Options("block", "graph", "gaussian"),
    n_trials=Integer(low=1),
    eps_distortion=Real(low=0, closed="neither"),
    generator=Generator(),
)
def jl_distortion(x: torch.Tensor, n_components: int, *, sparsity: int = 1, construction: str = "block",
                  n_trials: int = 1000, eps_distortion: float = 0.1, generator=None) -> DistortionResult:
    r"""Distortion of :math:`\|x\|^2` under many independent JL matrices, vectorised over the trials.

    Only the columns of :math:`A` on the support of :math:`x` matter, so each trial draws the
    rows and signs of those :math:`k` columns only: cost :math:`O(n_\text{trials}\, s\, k)` for
    the sparse constructions, whatever :math:`n`. ``"gaussian"`` draws the :math:`m \times k`
    block of a dense :math:`\mathcal N(0, 1/m)` matrix.

    Parameters
    ----------
    x : Tensor, shape (n,) or (n_vectors, n)
        Non-zero input vector(s); each is measured against its own independent matrices.
    n_components : int
        :math:`m`.
    sparsity : int
        :math:`s` (ignored for ``"gaussian"``).
    construction : {"block", "graph", "gaussian"}
    n_trials : int
        Number of independent random matrices.
    eps_distortion : float > 0
        :math:`\varepsilon` for the failure rate :math:`P(|\|Ax\|^2/\|x\|^2 - 1| > \varepsilon)`.
    generator : None, int or torch.Generator

    Returns
    -------
    DistortionResult

    Examples
    --------
    >>> x = torch.ones(50, dtype=torch.float64)
    >>> r = jl_distortion(x, 200, sparsity=4, n_trials=4000, generator=0)
    >>> abs(r.distortion.mean().item()) < 0.01
    True
    """
    if construction != "gaussian":
        _check_sizes("jl_distortion", n_components, sparsity, construction)
    single = x.ndim == 1
    xs = x[None] if single else x
    norms = xs.square().sum(1)
    if (norms == 0).any():
        raise ValueError("jl_distortion: every x must be non-zero")
    g = as_generator(generator)
    dists, fails = [], []
    for row, norm2 in zip(xs, norms):
        u = row[row != 0] / norm2.sqrt()
        k = u.numel()
        per_trial = n_components * k if construction == "gaussian" else sparsity * k
        chunk = max(1, _CHUNK // per_trial)  # bounded memory: about _CHUNK random numbers at once
        d = torch.cat([_distortions(u, n_components, sparsity, construction, min(chunk, n_trials - start), g)
                       for start in range(0, n_trials, chunk)])
        dists.append(d)
        fails.append((d.abs() > eps_distortion).to(x.dtype).mean())
    dist, fail = torch.stack(dists), torch.stack(fails)
    if single:
        dist, fail = dist[0], fail[0]
    return DistortionResult(dist, fail, float(eps_distortion))


@dataclasses.dataclass
class RatioTradeoff:
    r"""The largest :math:`\ell_\infty/\ell_2` ratio a JL distribution handles at a given :math:`(\varepsilon, \delta)`.

    Attributes
    ----------
    support_sizes : Tensor, shape (n_sizes,), int64
        The support sizes :math:`k` of the test vectors :math:`\mathbf 1_k/\sqrt k`.
    ratios : Tensor, shape (n_sizes,)
        Their ratios :math:`\|x\|_\infty/\|x\|_2 = 1/\sqrt k`.
    failure : Tensor, shape (n_sizes,)
        Estimated failure probability at each size.
    v : float
        The largest ratio up to which every tested vector failed at most :math:`\delta`, i.e.
        :math:`1/\sqrt{k}` for the smallest tested :math:`k` above the largest failing one
        (``1.0`` when none fails).
    delta : float
        The failure probability :math:`\delta` allowed.
    """

    support_sizes: torch.Tensor
    ratios: torch.Tensor
    failure: torch.Tensor
    v: float
    delta: float


@validate(
    support_sizes=Items(Integer(low=1), min_length=1),
    n_components=Integer(low=1),
    sparsity=Integer(low=1),
    construction=Options("block", "graph", "gaussian"),
    eps_distortion=Real(low=0, closed="neither"),
    delta=Real(low=0, high=1, closed="neither"),
    n_trials=Integer(low=1),
    generator=Generator(),
    dtype=DType(),
    device=Device(),
)
def ratio_tradeoff(support_sizes, n_components: int, *, sparsity: int = 1, construction: str = "block",
                   eps_distortion: float = 0.1, delta: float = 0.05, n_trials: int = 2000, generator=None,
                   dtype: torch.dtype = torch.float64, device=None) -> RatioTradeoff:
    r"""Estimate :math:`v(m, \varepsilon, \delta, s)`: how spread out must :math:`x` be for the JL guarantee?

    Jagadeesan (2019) defines :math:`v(m, \varepsilon, \delta, s)` as the largest :math:`v` such
    that every :math:`x` with :math:`\|x\|_\infty \le v \|x\|_2` keeps
    :math:`|\|Ax\|^2 - \|x\|^2| \le \varepsilon \|x\|^2` with probability at least
    :math:`1 - \delta`, and shows that it grows like :math:`\sqrt s` (times a factor in
    :math:`m, \varepsilon, \delta`) over a range of sparsities. We estimate it on the family of
    flat vectors :math:`\mathbf 1_k/\sqrt k` (ratio :math:`1/\sqrt k`), which are the hard
    instances at a given ratio in that analysis; the estimate is therefore an upper bound on
    the true :math:`v`, which quantifies over all vectors.

    Parameters
    ----------
    support_sizes : sequence of int
        The :math:`k` to test (sorted increasingly here).
    n_components : int
    sparsity : int
    construction : {"block", "graph", "gaussian"}
    eps_distortion : float > 0
        :math:`\varepsilon`.
    delta : float in (0, 1)
        :math:`\delta`. The Monte-Carlo standard error of each failure rate is about
        :math:`\sqrt{\delta/n_\text{trials}}`: take ``n_trials`` well above :math:`1/\delta`.
    n_trials : int
    generator : None, int or torch.Generator
    dtype, device
        Of the test vectors.

    Returns
    -------
    RatioTradeoff

    Examples
    --------
    >>> r = ratio_tradeoff([2, 4, 8, 16, 32, 64], 2048, sparsity=1, n_trials=500, generator=0)
    >>> 0 < r.v <= 1
    True
    """
    ks = sorted(set(int(k) for k in support_sizes))
    g = as_generator(generator)
    fails = []
    for k in ks:
        x = torch.ones(k, dtype=dtype, device=device)
        fails.append(jl_distortion(x, n_components, sparsity=sparsity, construction=construction,
                                   n_trials=n_trials, eps_distortion=eps_distortion, generator=g).failure)
    failure = torch.stack(fails)
    bad = (failure > delta).nonzero().flatten()
    if bad.numel() == 0:
        v = 1.0
    elif bad[-1].item() == len(ks) - 1:
        v = 0.0  # fails even at the flattest tested vector
    else:
        v = 1.0 / math.sqrt(ks[bad[-1].item() + 1])
    sizes = torch.tensor(ks, dtype=torch.int64, device=device)
    return RatioTradeoff(sizes, 1.0 / sizes.to(dtype).sqrt(), failure, v, float(delta))
