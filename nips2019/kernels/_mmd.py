"""The maximum mean discrepancy (biased and unbiased) and its permutation and spectral two-sample tests."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Bool, Generator, Integer, Options, Tensor, as_generator, progress, validate
from ._kernels import _KERNEL_ARGS, _bandwidth, _kernel_matrix

_CHUNK = 256  # permutations per batched product


def _mean_offdiag(k: torch.Tensor) -> torch.Tensor:
    n = k.shape[-1]
    return (k.sum((-1, -2)) - k.diagonal(0, -2, -1).sum(-1)) / (n * (n - 1))


def _mmd2(x, y, kernel, bandwidth, unbiased):
    kxx = _kernel_matrix(x, x, kernel, bandwidth)
    kyy = _kernel_matrix(y, y, kernel, bandwidth)
    kxy = _kernel_matrix(x, y, kernel, bandwidth)
    if unbiased:
        return _mean_offdiag(kxx) + _mean_offdiag(kyy) - 2.0 * kxy.mean((-1, -2))
    return kxx.mean((-1, -2)) + kyy.mean((-1, -2)) - 2.0 * kxy.mean((-1, -2))


def _check_sizes(func, x, y, unbiased):
    if x.shape[:-2] != y.shape[:-2]:
        raise ValueError(f"{func}: x and y must have the same batch shape, got {tuple(x.shape[:-2])} "
                         f"and {tuple(y.shape[:-2])}")
    if unbiased and min(x.shape[-2], y.shape[-2]) < 2:
        raise ValueError(f"{func}: the unbiased estimate needs at least 2 points in x and in y, got "
                         f"{x.shape[-2]} and {y.shape[-2]} (use unbiased=False)")


_SAMPLES = dict(
    x=Tensor(shape=("...", "n", "d"), dtype="floating"),
    y=Tensor(shape=("...", "m", "d"), dtype="floating"),
)


@validate(**_SAMPLES, **_KERNEL_ARGS, unbiased=Bool(), same=[("x", "y")])
def mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kernel: str = "gaussian",
    bandwidth: float | None = None,
    unbiased: bool = True,
) -> torch.Tensor:
    r"""Squared maximum mean discrepancy between two samples.

    The MMD is the integral probability metric over the unit ball of the kernel's RKHS,
    :math:`\mathrm{MMD}(P, Q) = \sup_{\lVert g \rVert_{\mathcal H} \le 1} E_P g - E_Q g
    = \lVert \mu_P - \mu_Q \rVert_{\mathcal H}`, and its square has the estimates

    .. math::

        \widehat{\mathrm{MMD}}^2_u = \frac{1}{n(n-1)} \sum_{i \ne i'} k(x_i, x_{i'})
        + \frac{1}{m(m-1)} \sum_{j \ne j'} k(y_j, y_{j'}) - \frac{2}{nm} \sum_{i, j} k(x_i, y_j)

    (unbiased: a U-statistic, can be negative) and :math:`\widehat{\mathrm{MMD}}^2_b`, the same
    with the diagonal terms kept and divided by :math:`n^2`, :math:`m^2` (biased, a
    V-statistic, never negative for a positive definite kernel). Leading batch dimensions
    are computed in one batched product (one bandwidth per batch from the median
    heuristic). See the chapter :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    x : Tensor, shape (..., n, d)
    y : Tensor, shape (..., m, d)
        Same device, dtype and batch shape as ``x``.
    kernel : {"gaussian", "laplace", "imq", "energy"}
        See :func:`kernel_matrix`.
    bandwidth : float, optional
        The median heuristic on the pooled sample if None.
    unbiased : bool
        The U-statistic (default) or the V-statistic.

    Returns
    -------
    Tensor, shape (...)

    References
    ----------
    Gretton, Borgwardt, Rasch, Schölkopf, Smola (2012), *A kernel two-sample test*, JMLR 13.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]]); y = torch.tensor([[0.0], [3.0]])
    >>> mmd2(x, y, kernel="energy", unbiased=False)  # the energy distance
    tensor(1.)
    """
    _check_sizes("mmd2", x, y, unbiased)
    return _mmd2(x, y, kernel, _bandwidth(x, y, kernel, bandwidth), unbiased)


@dataclasses.dataclass
class TwoSampleTestResult:
    """Outcome of a two-sample test (:func:`mmd_test`, :func:`graph_test`, :func:`nips2019.ot.sinkhorn_test`).

    See the chapter :doc:`Comparing distributions </book/distributions>`.

    Attributes
    ----------
    statistic : Tensor, scalar
        The observed statistic (:math:`\\widehat{\\mathrm{MMD}}^2`, :math:`S_\\varepsilon` or the
        difference of graph edge densities).
    p_value : float
        :math:`(1 + \\#\\{\\text{null draws} \\ge \\text{statistic}\\}) / (1 + \\text{n\\_null\\_samples})`.
    null_samples : Tensor, shape (n_null_samples,)
        Draws of the statistic under the null (permutations or the spectral approximation).
    bandwidth : float or None
        The kernel bandwidth used (None for the energy kernel and the Sinkhorn test).
    method : str
        ``"permutation"`` or ``"spectral"`` (:func:`mmd_test`), ``"sinkhorn-permutation"``,
        ``"graph-permutation"``.
    """

    statistic: torch.Tensor
    p_value: float
    null_samples: torch.Tensor
    bandwidth: float | None
    method: str

    def reject(self, level: float = 0.05) -> bool:
        """Whether the test rejects equality of the distributions at ``level``."""
        return self.p_value <= level


def _group_statistics(k: torch.Tensor, member: torch.Tensor, n: int, m: int, unbiased: bool) -> torch.Tensor:
    """MMD² for each row of ``member`` (B, N), 1 marking the first sample, from the pooled Gram ``k``."""
    km = member @ k  # (B, N)
    sxx = (km * member).sum(1)
    total_x = km.sum(1)  # member^T K 1
    all_sum = k.sum()
    sxy = total_x - sxx
    syy = all_sum - 2.0 * sxy - sxx
    if unbiased:
        diag = k.diagonal()
        dx = member @ diag
        dy = diag.sum() - dx
        return (sxx - dx) / (n * (n - 1)) + (syy - dy) / (m * (m - 1)) - 2.0 * sxy / (n * m)
    return sxx / n**2 + syy / m**2 - 2.0 * sxy / (n * m)


def _permutation_null(statistic, like, n, m, n_null, gen, show):
    """``statistic(member)`` over random relabellings of the pooled sample.

    ``member`` is a ``(b, n + m)`` 0/1 mask (in ``like``'s device and dtype) marking the
    points relabelled as the first sample; relabellings come in batches of ``_CHUNK``.
    """
    big_n = n + m
    out = []
    chunks = range(0, n_null, _CHUNK)
    # None: the package default (off under pytest, quick mode, book builds), and no bar for one batch
    disable = (True if len(chunks) <= 1 else None) if show is None else not show
    for start in progress(chunks, desc="permutations", disable=disable):
        b = min(_CHUNK, n_null - start)
        perm = torch.argsort(torch.rand(b, big_n, generator=gen), dim=1).to(like.device)
        member = torch.zeros(b, big_n, device=like.device, dtype=like.dtype)
        member.scatter_(1, perm[:, :n], 1.0)
        out.append(statistic(member))
    return torch.cat(out)


def _spectral_null(k, n, m, unbiased, n_null, gen):
    big_n = n + m
    kc = k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()
    lam = torch.linalg.eigvalsh(0.5 * (kc + kc.T)) / big_n
    lam = lam.clamp_min(0.0)
    z2 = torch.randn(n_null, big_n, generator=gen, dtype=torch.float64).to(k.device, k.dtype) ** 2
    if unbiased:
        z2 = z2 - 1.0
    return (1.0 / n + 1.0 / m) * (z2 @ lam)


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y=Tensor(shape=("m", "d"), dtype="floating"),
    **_KERNEL_ARGS,
    unbiased=Bool(),
    method=Options("permutation", "spectral"),
    n_null_samples=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("x", "y")],
)
def mmd_test(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kernel: str = "gaussian",
    bandwidth: float | None = None,
    unbiased: bool = True,
    method: str = "permutation",
    n_null_samples: int = 500,
    generator=None,
    progress: bool | None = None,
) -> TwoSampleTestResult:
    r"""Kernel two-sample test of :math:`H_0: P = Q` with the MMD² statistic.

    ``method="permutation"``: the null distribution is that of the statistic over random
    relabellings of the pooled sample (exact level for any sizes). The pooled Gram matrix
    :math:`K` (N x N, N = n + m) is formed once; a relabelling with indicator :math:`e` of
    the first sample has :math:`\sum_{i, i' \in x} k = e^\top K e`, :math:`\sum_{i \in x,
    j \in y} k = e^\top K (1 - e)`, ..., so a batch of B relabellings costs one (B, N) x (N, N)
    product (chunks of 256 on the inputs' device).

    ``method="spectral"``: the asymptotic null of Gretton et al. (2009). Under :math:`H_0`,
    with :math:`\lambda_l` the eigenvalues of the centred kernel operator (estimated by those
    of :math:`H K H / N`, :math:`H = I - \tfrac1N 11^\top`) and :math:`Z_l` iid standard normal,

    .. math::

        \widehat{\mathrm{MMD}}^2_u \approx \Bigl(\frac1n + \frac1m\Bigr) \sum_l \lambda_l (Z_l^2 - 1),
        \qquad
        \widehat{\mathrm{MMD}}^2_b \approx \Bigl(\frac1n + \frac1m\Bigr) \sum_l \lambda_l Z_l^2,

    sampled ``n_null_samples`` times. One eigendecomposition instead of many Gram sums; valid
    only for large samples. The bandwidth (median heuristic when None) is computed once on the
    pooled sample, so it is the same under every relabelling. See the chapter
    :doc:`Comparing distributions </book/distributions>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
    kernel : {"gaussian", "laplace", "imq", "energy"}
    bandwidth : float, optional
    unbiased : bool
        Statistic: the U-statistic (default) or the V-statistic (see :func:`mmd2`).
    method : {"permutation", "spectral"}
    n_null_samples : int
        Permutations, or draws of the spectral null.
    generator : None, int or torch.Generator
        The randomness of the relabellings / normal draws.
    progress : bool, optional
        Progress bar over chunks of permutations.

    Returns
    -------
    TwoSampleTestResult

    References
    ----------
    Gretton et al. (2012), JMLR 13; Gretton, Fukumizu, Harchaoui, Sriperumbudur (2009),
    *A fast, consistent kernel two-sample test*, NeurIPS.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(50, 2, generator=g); y = torch.randn(50, 2, generator=g) + 1.0
    >>> mmd_test(x, y, generator=0).p_value < 0.01
    True
    """
    _check_sizes("mmd_test", x, y, unbiased)
    n, m = x.shape[0], y.shape[0]
    if n + m < 3:
        raise ValueError(f"mmd_test: needs at least 3 points in total, got {n + m}")
    bw = _bandwidth(x, y, kernel, bandwidth)
    z = torch.cat([x, y])
    k = _kernel_matrix(z, z, kernel, bw)
    member = torch.zeros(1, n + m, device=k.device, dtype=k.dtype)
    member[0, :n] = 1.0
    stat = _group_statistics(k, member, n, m, unbiased)[0]
    gen = as_generator(generator)
    if method == "permutation":
        null = _permutation_null(lambda member: _group_statistics(k, member, n, m, unbiased), k,
                                 n, m, n_null_samples, gen, progress)
    else:
        null = _spectral_null(k, n, m, unbiased, n_null_samples, gen)
    p = (1.0 + float((null >= stat).sum())) / (1.0 + n_null_samples)
    return TwoSampleTestResult(statistic=stat, p_value=p, null_samples=null,
                         bandwidth=None if bw is None else float(bw), method=method)
