"""Contract cases for nips2019.lineage (see tests/contract.py)."""

import copy

import numpy as np
import torch

from nips2019 import lineage
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)
FAST = dict(reg=0.5, max_iter=5000)  # a blurred coupling converges in a few hundred iterations


def _cloud(n, seed, shift=0.0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), **F64) + shift



def _adata():
    import anndata
    import pandas as pd

    obs = pd.DataFrame({"day": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]}, index=[f"c{i}" for i in range(7)])
    ad = anndata.AnnData(obs=obs)
    ad.obsm["X_pca"] = np.concatenate([_cloud(3, 0).numpy(), _cloud(4, 1, 0.5).numpy()])
    ad.obs["fate"] = ["?", "?", "?", "a", "b", "a", "b"]
    return ad


def _anndata_result():
    return lineage.couplings_from_anndata(_adata(), **FAST)


def _tmp_prefix():
    import tempfile

    return tempfile.mkdtemp(prefix="nips2019_tmaps_") + "/maps"


def _written_prefix():
    prefix = _tmp_prefix()
    lineage.write_transport_maps(_anndata_result(), prefix)
    return prefix


_COUPLINGS = []


def _couplings():
    """Three snapshots' couplings, solved once and copied for every call (the functions must not modify them)."""
    if not _COUPLINGS:
        xs = [_cloud(4, 0), _cloud(5, 1, 0.5), _cloud(5, 2, 1.0)]
        _COUPLINGS.extend(lineage.wot_couplings(xs, [0.0, 1.0, 2.0], **FAST))
    return copy.deepcopy(_COUPLINGS)


def _barcodes():
    return torch.tensor([[1, 0, 2], [1, 3, 2], [4, 0, 0], [4, 0, 5]])


def _sim_kwargs():
    return dict(n_cells=4, times=(0.0, 0.2), n_founders=8, noise=0.25, progress_noise=0.0, x0_start=-0.5, birth=1.0,
                death=0.5, growth_bias=1.0, n_sites=2, edit_rate=1.0, n_alleles=5, n_genes=2, gene_noise=0.1,
                step=0.1, max_cells=1000, generator=0, dtype=torch.float64, device="cpu", progress=False)


def _wot_kwargs():
    return dict(x0=_cloud(4, 0), x1=_cloud(5, 1, 0.5), dt=1.0, growth_rate=torch.zeros(4, **F64), reg=0.5,
                reg_m=(1.0, 50.0), normalize="median", n_steps=1, reg_type="kl", method="sinkhorn_log_ti",
                balanced=False, tol=1e-6, max_iter=5000)


CASES = [
    Case(lineage.simulate_lineage, _sim_kwargs,
         bad=[Bad(dict(max_cells=float("nan")), "max_cells must be an integer", why="issue 12: max_cells=nan"),
              Bad(dict(times=(0.2, 0.0)), "times must increase", why="decreasing times"),
              Bad(dict(n_cells=(4, 4, 4)), "n_cells must be one integer or one per time point", why="3 sizes, 2 times"),
              Bad(dict(n_founders=2), "n_founders must be >= n_cells", why="fewer founders than sampled cells"),
              Bad(dict(step=0.5), "too coarse", why="step coarser than the snapshot gaps"),
              Bad(dict(max_cells=5), "exceeds max_cells", why="founders above max_cells")]),
    Case(lineage.birth_death_rates, lambda: dict(x=_cloud(3, 0), birth=1.0, death=0.5, growth_bias=0.5)),
    Case(lineage.wot_coupling, _wot_kwargs,
         bad=[Bad(dict(x1=_cloud(5, 1).float()), "x1 has dtype torch.float32 but x0 has torch.float64",
                  why="mixed dtypes"),
              Bad(dict(x0=torch.zeros(4, 2, **F64), x1=torch.zeros(5, 2, **F64)), "cannot normalise",
                  why="coincident points")]),
    Case(lineage.wot_coupling, lambda: dict(x0=_cloud(4, 0), x1=_cloud(5, 1), reg=0.5, reg_m=3.0, balanced=True,
                                            normalize=None, max_iter=5000), name="wot_coupling.balanced"),
    Case(lineage.wot_couplings,
         lambda: dict(xs=[_cloud(4, 0), _cloud(5, 1, 0.5), _cloud(5, 2, 1.0)], times=[0.0, 1.0, 2.0],
                      growth_rates=[torch.zeros(4, **F64), torch.zeros(5, **F64)], **FAST),
         bad=[Bad(dict(times=[0.0, 1.0]), "xs and times must have the same length", why="2 times for 3 snapshots"),
              Bad(dict(growth_rates=[torch.zeros(3, **F64), torch.zeros(5, **F64)]), r"growth_rates\[0\] must have shape",
                  why="growth prior of the wrong size")]),
    Case(lineage.descendants, lambda: dict(couplings=_couplings(), weights=torch.tensor([1.0, 0.0, 2.0, 0.0], **F64),
                                           k_end=1),
         bad=[Bad(dict(weights=torch.ones(5, **F64)), "weights must have shape", why="weights for the wrong snapshot"),
              Bad(dict(k_end=3), "k_end must be at most", why="more steps than couplings")]),
    Case(lineage.ancestors, lambda: dict(couplings=_couplings(), weights=torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0], **F64)),
         bad=[Bad(dict(weights=torch.zeros(5, **F64)), "positive sum", why="no mass")]),
    Case(lineage.fate_probabilities, lambda: dict(couplings=_couplings(), labels=torch.tensor([0, 1, 1, 2, 0])),
         bad=[Bad(dict(labels=[0, 1]), "labels must have one entry per cell", why="too few labels"),
              Bad(dict(labels=np.array([0.5, 0.5, 0.0, 1.0, 1.0])), "must hold integer fate indices",
                  why="NumPy soft labels")]),
    Case(lineage.independent_plan, lambda: dict(x0=_cloud(3, 0), x1=_cloud(4, 1), growth_rate=torch.ones(3, **F64),
                                                dt=0.5)),
    Case(lineage.growth_corrected_plan, lambda: dict(plan=torch.rand(3, 4, generator=torch.Generator().manual_seed(0),
                                                                     **F64), t=0.5),
         bad=[Bad(dict(plan=torch.zeros(3, 4, **F64)), "plan has no mass", why="zero plan")]),
    Case(lineage.validate_interpolation,
         lambda: dict(x0=_cloud(6, 0), x1=_cloud(6, 1, 0.5), x2=_cloud(6, 2, 1.0), times=(0.0, 1.0, 2.0),
                      x1_batch2=_cloud(5, 3, 0.5), growth_rate=torch.zeros(6, **F64), n_samples=8, generator=0, **FAST),
         bad=[Bad(dict(times=(0.0, 2.0, 1.0)), "t0 < t1 < t2", why="unordered times")]),
    Case(lineage.ancestor_error,
         lambda: dict(plan=torch.rand(3, 4, generator=torch.Generator().manual_seed(0), **F64), x_early=_cloud(3, 0),
                      true_ancestors=_cloud(4, 1), relative=True),
         bad=[Bad(dict(x_early=torch.zeros(3, 2, **F64), true_ancestors=torch.zeros(4, 2, **F64)),
                  "relative error is undefined", why="coincident points")]),
    Case(lineage.barcode_distance, lambda: dict(barcodes=_barcodes())),
    Case(lineage.expected_barcode_distance, lambda: dict(t_split=0.5, t_final=1.0, edit_rate=1.0, n_alleles=10),
         bad=[Bad(dict(t_split=2.0), "t_split must be <= t_final", why="split after the snapshot")]),
    Case(lineage.barcode_clades, lambda: dict(barcodes=_barcodes(), cut=0.5)),
    Case(lineage.clade_means, lambda: dict(y=_cloud(4, 0), labels=torch.tensor([0, 0, 2, 2]))),
    Case(lineage.pca, lambda: dict(x=_cloud(6, 0), n_components=2),
         bad=[Bad(dict(n_components=3), r"n_components must be <= min\(n, d\) = 2", why="more axes than columns"),
              Bad(dict(x=_cloud(1, 0)), "at least 2 rows", why="one row has no variance"),
              Bad(dict(x=torch.ones(4, 2, **F64)), "x has no variance", why="all rows equal")]),
    Case(lineage.linear_r2, lambda: dict(x=_cloud(6, 0), y=_cloud(6, 1)),
         bad=[Bad(dict(y=torch.ones(6, 2, **F64)), "y has no variance", why="constant targets"),
              Bad(dict(y=_cloud(5, 1)), "y has size 5 along axis 0", why="fewer targets than predictor rows")]),
    Case(lineage.lineage_coupling,
         lambda: dict(x_early=_cloud(3, 0), y_late=_cloud(4, 1, 0.5), barcodes=_barcodes(), t_early=1.0, t_late=2.0,
                      edit_rate=1.0, n_alleles=10, dt=1.0, growth_rate=torch.zeros(3, **F64), **FAST),
         bad=[Bad(dict(t_early=2.0), "t_early must be < t_late", why="t_early after t_late"),
              Bad(dict(barcodes=_barcodes()[:3]), "barcodes has size 3", why="barcodes for fewer late cells")]),
    Case(lineage.couplings_from_anndata, lambda: dict(adata=_adata(), time_key="day", obsm_key="X_pca",
                                                      growth_key=None, dtype=torch.float64, **FAST),
         bad=[Bad(dict(time_key="nope"), "time_key 'nope' is not a column", why="missing time column"),
              Bad(dict(obsm_key="X_umap"), "obsm_key 'X_umap' is not in adata.obsm", why="missing representation")]),
    Case(lineage.annotate_anndata, lambda: dict(adata=_adata(), result=_anndata_result(), fate_key="fate",
                                                growth_key="growth_rate", prefix="fate_"),
         bad=[Bad(dict(fate_key="nope"), "fate_key 'nope' is not a column", why="missing fate column")]),
    Case(lineage.write_transport_maps, lambda: dict(result=_anndata_result(), path_prefix=_tmp_prefix())),
    Case(lineage.read_transport_maps, lambda: dict(path_prefix=_written_prefix(), dtype=torch.float64),
         bad=[Bad(dict(path_prefix="/nonexistent/none"), "no transport maps", why="nothing written there")]),
]

EXEMPT = {
    "AnnDataCouplingsResult": "result container (dataclass) returned by couplings_from_anndata",
    "Coupling": "result container (dataclass) returned by wot_coupling and lineage_coupling",
    "InterpolationResult": "result container (dataclass) returned by validate_interpolation",
    "LineageSimulation": "result container (dataclass) returned by simulate_lineage",
    "BirthDeathResult": "result container (dataclass) returned by birth_death_rates",
    "PCAResult": "result container (dataclass) returned by pca",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
