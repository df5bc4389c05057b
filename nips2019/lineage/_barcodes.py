"""Lineage barcodes: distances, clades, and the lineage-informed coupling (LineageOT idea)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from nips2019.utils import Integer, Real, Tensor, validate

from ._wot import _WOT_OPTIONS, Coupling, _wot_coupling

_BARCODES = Tensor(ndim=2, dtype="integer", low=0)


def _barcode_distance(barcodes: torch.Tensor) -> torch.Tensor:
    diff = torch.zeros(barcodes.shape[0], barcodes.shape[0], dtype=torch.float64, device=barcodes.device)
    for s in range(barcodes.shape[1]):
        col = barcodes[:, s]
        diff += (col[:, None] != col[None, :]).to(torch.float64)
    return diff / barcodes.shape[1]


@validate(barcodes=_BARCODES)
def barcode_distance(barcodes: torch.Tensor) -> torch.Tensor:
    r"""Fraction of barcode sites at which two cells differ (Hamming distance / number of sites).

    .. math::

        D_{jk} = \frac{1}{S} \sum_{s=1}^S \mathbb 1[c_{js} \ne c_{ks}].

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    barcodes : Tensor, shape (n, S), integer
        Allele per site (non-negative), 0 for unedited; at least one cell and one site.

    Returns
    -------
    Tensor, shape (n, n), float64

    Examples
    --------
    >>> import torch
    >>> barcode_distance(torch.tensor([[0, 1], [0, 2]]))
    tensor([[0.0000, 0.5000],
            [0.5000, 0.0000]], dtype=torch.float64)
    """
    return _barcode_distance(barcodes)


def _expected_barcode_distance(t_split, t_final, edit_rate, n_alleles):
    delta = t_final - t_split
    both = (1.0 - math.exp(-edit_rate * delta)) ** 2
    return math.exp(-edit_rate * t_split) * (1.0 - math.exp(-2.0 * edit_rate * delta) - both / n_alleles)


@validate(t_split=Real(low=0), t_final=Real(low=0), edit_rate=Real(low=0, closed="neither"), n_alleles=Integer(low=1))
def expected_barcode_distance(t_split: float, t_final: float, *, edit_rate: float, n_alleles: int = 100) -> float:
    r"""Expected :func:`barcode_distance` of two cells whose last common ancestor lived at ``t_split``.

    Sites are edited independently at rate :math:`\mu` from time 0; a site differs between the
    two cells when it was still unedited at the split and at least one branch edited it
    afterwards, unless both drew the same of :math:`A` alleles:

    .. math::

        e^{-\mu \tau}\Bigl(1 - e^{-2\mu\Delta} - \frac{(1 - e^{-\mu\Delta})^2}{A}\Bigr),
        \qquad \Delta = t_{\text{final}} - \tau .

    Times are measured from the start of editing, :math:`0 \le \tau \le t_{\text{final}}`;
    ``edit_rate`` :math:`\mu > 0`, ``n_alleles`` :math:`A \ge 1`. See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> round(expected_barcode_distance(1.0, 1.0, edit_rate=0.5), 6)
    0.0
    >>> round(expected_barcode_distance(0.0, 1e6, edit_rate=1.0, n_alleles=10**9), 6)
    1.0
    """
    if t_split > t_final:
        raise ValueError(f"expected_barcode_distance: t_split must be <= t_final, got t_split={t_split}, "
                         f"t_final={t_final}")
    return _expected_barcode_distance(float(t_split), float(t_final), float(edit_rate), int(n_alleles))


def _barcode_clades(barcodes: torch.Tensor, cut: float) -> torch.Tensor:
    dist = _barcode_distance(barcodes).cpu().numpy()
    if dist.shape[0] == 1:
        return torch.zeros(1, dtype=torch.long, device=barcodes.device)
    tree = linkage(squareform(dist, checks=False), method="average")
    labels = fcluster(tree, t=cut, criterion="distance") - 1
    return torch.as_tensor(labels.astype(np.int64), device=barcodes.device)


@validate(barcodes=_BARCODES, cut=Real(low=0, closed="neither"))
def barcode_clades(barcodes: torch.Tensor, *, cut: float) -> torch.Tensor:
    """Group cells into clades: average-linkage (UPGMA) tree on :func:`barcode_distance`, cut at ``cut`` > 0.

    Returns integer clade labels, shape (n,), on the barcodes' device (labels start at 0).
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import torch
    >>> barcode_clades(torch.tensor([[1, 0], [1, 2], [3, 0]]), cut=0.6).tolist()
    [0, 0, 1]
    """
    return _barcode_clades(barcodes, float(cut))


def _clade_means(y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    k = int(labels.max()) + 1
    sums = torch.zeros(k, y.shape[1], device=y.device, dtype=y.dtype).index_add_(0, labels, y)
    counts = torch.zeros(k, device=y.device, dtype=y.dtype).index_add_(0, labels, torch.ones_like(y[:, 0]))
    return (sums / counts.clamp_min(1.0)[:, None])[labels]


@validate(y=Tensor(shape=("n", "d"), dtype="floating"), labels=Tensor(shape=("n",), dtype="integer", low=0),
          same=[("y", "labels")])
def clade_means(y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Replace each cell's state by the mean state of its clade, shape (n, d).

    ``labels`` are non-negative integer clade labels, shape (n,), on the device of ``y``.

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import torch
    >>> clade_means(torch.tensor([[0.0], [2.0], [5.0]]), torch.tensor([0, 0, 1]))
    tensor([[1.],
            [1.],
            [5.]])
    """
    return _clade_means(y, labels)


@validate(
    x_early=Tensor(shape=("n", "d"), dtype="floating"),
    y_late=Tensor(shape=("m", "d"), dtype="floating"),
    barcodes=Tensor(shape=("m", None), dtype="integer", low=0),
    t_early=Real(low=0),
    t_late=Real(low=0),
    edit_rate=Real(low=0, closed="neither"),
    n_alleles=Integer(low=1),
    dt=Real(low=0, closed="neither", optional=True),
    growth_rate=Tensor(shape=("n",), dtype="floating", optional=True),
    **_WOT_OPTIONS,
    same=[("x_early", "y_late", "growth_rate"), ("y_late", "barcodes")],
)
def lineage_coupling(
    x_early: torch.Tensor,
    y_late: torch.Tensor,
    barcodes: torch.Tensor,
    *,
    t_early: float,
    t_late: float,
    edit_rate: float,
    n_alleles: int = 100,
    dt: float | None = None,
    growth_rate: torch.Tensor | None = None,
    reg: float = 0.05,
    reg_m: float | tuple[float, float] = (1.0, 50.0),
    normalize: str | None = "median",
    n_steps: int = 1,
    reg_type: str = "kl",
    method: str = "sinkhorn_log",
    balanced: bool = False,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> Coupling:
    r"""A lineage-informed coupling: couple early cells to barcode-clade estimates of late cells' ancestors.

    Late cells that descend from one early ancestor share the edits made before
    :math:`t_{\text{early}}`. Cutting the barcode tree at the expected distance of cells split at
    :math:`t_{\text{early}}` (:func:`expected_barcode_distance`) groups them into clades; the
    clade mean averages out the noise each lineage accumulated after :math:`t_{\text{early}}`
    and replaces :math:`y_j` in the cost :math:`\lVert x_i - \hat y_j \rVert^2` of
    :func:`wot_coupling`. This is a simplified version of LineageOT (Forrow & Schiebinger
    2021), which instead infers ancestor states by Gaussian message passing on a fitted tree.
    When barcodes carry no information every late cell falls into one clade and the
    coupling degenerates to the independent one (``balanced=True``) or to one that only
    favours early cells near the population mean (unbalanced): worse than plain OT.
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    x_early : Tensor, shape (n, d)
    y_late : Tensor, shape (m, d)
    barcodes : Tensor, shape (m, S)
        Barcodes of the late cells.
    t_early, t_late : float
        Snapshot times, measured from the start of editing, ``t_early < t_late``.
    edit_rate : float
        Per-site edit rate (assumed known, or estimated from the fraction of edited sites).
    n_alleles : int
    dt : float, optional
        Time between the snapshots for the growth terms; ``t_late - t_early`` by default.
    growth_rate, reg, reg_m, normalize, n_steps, reg_type, method, balanced, tol, max_iter
        As in :func:`wot_coupling` (``reg`` multiplies the normalised cost).

    Returns
    -------
    Coupling

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> y = torch.tensor([[0.1], [-0.2], [1.2], [0.8]], dtype=torch.float64)
    >>> bc = torch.tensor([[1, 5], [1, 6], [2, 7], [2, 8]])
    >>> c = lineage_coupling(x, y, bc, t_early=1.0, t_late=2.0, edit_rate=1.0, reg=0.01)
    >>> c.ancestry.argmax(0).tolist()
    [0, 0, 1, 1]
    """
    func = "lineage_coupling"
    if not t_early < t_late:
        raise ValueError(f"{func}: t_early must be < t_late, got t_early={t_early}, t_late={t_late}")
    cut = _expected_barcode_distance(float(t_early), float(t_late), float(edit_rate), int(n_alleles))
    labels = _barcode_clades(barcodes, max(cut, 1e-12))
    y_hat = _clade_means(y_late, labels)
    dt = float(t_late - t_early) if dt is None else dt
    return _wot_coupling(x_early, y_hat, dt, growth_rate, func=func, reg=reg, reg_m=reg_m, normalize=normalize,
                         n_steps=n_steps, reg_type=reg_type, method=method, balanced=balanced, tol=tol,
                         max_iter=max_iter)
