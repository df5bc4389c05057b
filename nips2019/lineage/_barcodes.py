"""Lineage barcodes: distances, clades, and the lineage-informed coupling (LineageOT idea)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from nips2019.utils import check_positive, check_tensor

from ._wot import Coupling, wot_coupling


def barcode_distance(barcodes: torch.Tensor) -> torch.Tensor:
    r"""Fraction of barcode sites at which two cells differ (Hamming distance / number of sites).

    .. math::

        D_{jk} = \frac{1}{S} \sum_{s=1}^S \mathbb 1[c_{js} \ne c_{ks}].

    See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    barcodes : Tensor, shape (n, S), integer
        Allele per site, 0 for unedited.

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
    check_tensor(barcodes, "barcodes", ndim=2)
    if barcodes.is_floating_point() or barcodes.shape[1] == 0:
        raise ValueError(f"barcodes must be an integer tensor with at least one site, got {barcodes.dtype}, "
                         f"shape {tuple(barcodes.shape)}")
    diff = torch.zeros(barcodes.shape[0], barcodes.shape[0], dtype=torch.float64, device=barcodes.device)
    for s in range(barcodes.shape[1]):
        col = barcodes[:, s]
        diff += (col[:, None] != col[None, :]).to(torch.float64)
    return diff / barcodes.shape[1]


def expected_barcode_distance(t_split: float, t_final: float, edit_rate: float, n_alleles: int = 100) -> float:
    r"""Expected :func:`barcode_distance` of two cells whose last common ancestor lived at ``t_split``.

    Sites are edited independently at rate :math:`\mu` from time 0; a site differs between the
    two cells when it was still unedited at the split and at least one branch edited it
    afterwards, unless both drew the same of :math:`A` alleles:

    .. math::

        e^{-\mu \tau}\Bigl(1 - e^{-2\mu\Delta} - \frac{(1 - e^{-\mu\Delta})^2}{A}\Bigr),
        \qquad \Delta = t_{\text{final}} - \tau .

    See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> round(expected_barcode_distance(1.0, 1.0, 0.5), 6)
    0.0
    >>> round(expected_barcode_distance(0.0, 1e6, 1.0, n_alleles=10**9), 6)
    1.0
    """
    check_positive(edit_rate, "edit_rate")
    if not 0 <= t_split <= t_final:
        raise ValueError(f"need 0 <= t_split <= t_final, got {t_split}, {t_final}")
    delta = t_final - t_split
    both = (1.0 - math.exp(-edit_rate * delta)) ** 2
    return math.exp(-edit_rate * t_split) * (1.0 - math.exp(-2.0 * edit_rate * delta) - both / n_alleles)


def barcode_clades(barcodes: torch.Tensor, cut: float) -> torch.Tensor:
    """Group cells into clades: average-linkage (UPGMA) tree on :func:`barcode_distance`, cut at ``cut``.

    Returns integer clade labels, shape (n,), on the barcodes' device (labels start at 0).
    See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> import torch
    >>> barcode_clades(torch.tensor([[1, 0], [1, 2], [3, 0]]), cut=0.6).tolist()
    [0, 0, 1]
    """
    check_positive(cut, "cut")
    dist = barcode_distance(barcodes).cpu().numpy()
    if dist.shape[0] == 1:
        return torch.zeros(1, dtype=torch.long, device=barcodes.device)
    tree = linkage(squareform(dist, checks=False), method="average")
    labels = fcluster(tree, t=cut, criterion="distance") - 1
    return torch.as_tensor(labels.astype(np.int64), device=barcodes.device)


def clade_means(y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Replace each cell's state by the mean state of its clade, shape (n, d).

    See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> import torch
    >>> clade_means(torch.tensor([[0.0], [2.0], [5.0]]), torch.tensor([0, 0, 1]))
    tensor([[1.],
            [1.],
            [5.]])
    """
    check_tensor(y, "y", ndim=2, floating=True)
    check_tensor(labels, "labels", shape=(y.shape[0],))
    k = int(labels.max()) + 1
    sums = torch.zeros(k, y.shape[1], device=y.device, dtype=y.dtype).index_add_(0, labels, y)
    counts = torch.zeros(k, device=y.device, dtype=y.dtype).index_add_(0, labels, torch.ones_like(y[:, 0]))
    return (sums / counts[:, None])[labels]


def lineage_coupling(
    x_early: torch.Tensor,
    y_late: torch.Tensor,
    barcodes: torch.Tensor,
    t_early: float,
    t_late: float,
    edit_rate: float,
    n_alleles: int = 100,
    **wot_kwargs,
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
    favours early cells near the population mean (unbalanced): worse than plain OT. See the chapter *OT for lineage tracing*.

    Parameters
    ----------
    x_early : Tensor, shape (n, d)
    y_late : Tensor, shape (m, d)
    barcodes : Tensor, shape (m, S)
        Barcodes of the late cells.
    t_early, t_late : float
        Snapshot times, measured from the start of editing.
    edit_rate : float
        Per-site edit rate (assumed known, or estimated from the fraction of edited sites).
    n_alleles : int
    **wot_kwargs
        Passed to :func:`wot_coupling` (``dt`` defaults to ``t_late - t_early``).

    Returns
    -------
    Coupling

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> y = torch.tensor([[0.1], [-0.2], [1.2], [0.8]], dtype=torch.float64)
    >>> bc = torch.tensor([[1, 5], [1, 6], [2, 7], [2, 8]])
    >>> c = lineage_coupling(x, y, bc, 1.0, 2.0, edit_rate=1.0, eps=0.01)
    >>> c.ancestry.argmax(0).tolist()
    [0, 0, 1, 1]
    """
    check_tensor(y_late, "y_late", ndim=2, floating=True)
    check_tensor(barcodes, "barcodes", ndim=2, shape=(y_late.shape[0], None))
    cut = expected_barcode_distance(t_early, t_late, edit_rate, n_alleles)
    labels = barcode_clades(barcodes, max(cut, 1e-12))
    y_hat = clade_means(y_late, labels)
    wot_kwargs.setdefault("dt", t_late - t_early)
    return wot_coupling(x_early, y_hat, **wot_kwargs)
