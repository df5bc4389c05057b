"""Optimal transport for lineage tracing: Waddington-OT, validation and lineage barcodes.

A simulator of a developing, dividing population with known ancestry; unbalanced
entropic couplings between snapshots with growth (Waddington-OT, Schiebinger et
al. 2019); ancestors, descendants and fates through chained couplings;
validation by held-out time points and against the simulator's truth; and a
barcode-informed coupling in the spirit of LineageOT (Forrow & Schiebinger 2021);
principal components of a read-out and how much of a latent space they keep; AnnData in and
out (couplings from ``.obs``/``.obsm``, results written back, transport maps saved as wot saves
them; the optional ``sc`` extra, imported only when used).
The generic OT pieces live in :mod:`nips2019.ot`. See the chapter
:doc:`OT for lineage tracing </book/lineage>`.
"""

from ._anndata import (
    AnnDataCouplingsResult,
    annotate_anndata,
    couplings_from_anndata,
    read_transport_maps,
    write_transport_maps,
)
from ._barcodes import barcode_clades, barcode_distance, clade_means, expected_barcode_distance, lineage_coupling
from ._embed import PCAResult, linear_r2, pca
from ._simulate import BirthDeathResult, LineageSimulation, birth_death_rates, simulate_lineage
from ._validate import InterpolationResult, ancestor_error, growth_corrected_plan, validate_interpolation
from ._wot import Coupling, ancestors, descendants, fate_probabilities, independent_plan, wot_coupling, wot_couplings

__all__ = [
    "AnnDataCouplingsResult",
    "annotate_anndata",
    "couplings_from_anndata",
    "read_transport_maps",
    "write_transport_maps",
    "BirthDeathResult",
    "Coupling",
    "InterpolationResult",
    "LineageSimulation",
    "PCAResult",
    "ancestor_error",
    "ancestors",
    "barcode_clades",
    "barcode_distance",
    "birth_death_rates",
    "clade_means",
    "descendants",
    "expected_barcode_distance",
    "fate_probabilities",
    "growth_corrected_plan",
    "independent_plan",
    "linear_r2",
    "lineage_coupling",
    "pca",
    "simulate_lineage",
    "validate_interpolation",
    "wot_coupling",
    "wot_couplings",
]
