"""nips2019.lineage AnnData in and out (issue 17): couplings from .obs/.obsm, write-back, wot-style maps."""

import numpy as np
import pytest
import torch

anndata = pytest.importorskip("anndata")
pd = pytest.importorskip("pandas")

from nips2019.lineage import (  # noqa: E402
    annotate_anndata,
    couplings_from_anndata,
    fate_probabilities,
    read_transport_maps,
    simulate_lineage,
    wot_couplings,
    write_transport_maps,
)


def _adata(n=40):
    """Three snapshots of the simulator as a scanpy user would hold them: shuffled cells, PCA in obsm."""
    sim = simulate_lineage(n_cells=n, times=(1.0, 1.5, 2.0), generator=3, progress=False)
    x = torch.cat(sim.x).numpy()
    day = np.repeat([1.0, 1.5, 2.0], n)
    order = np.random.default_rng(0).permutation(len(day))
    obs = pd.DataFrame({"day": day[order]}, index=[f"cell{i}" for i in order])
    ad = anndata.AnnData(obs=obs)
    ad.obsm["X_pca"] = x[order]
    ad.obs["fate"] = np.where(x[order, 1] > 0, "upper", "lower")
    return ad, sim


def test_couplings_from_anndata_equal_wot_couplings_on_the_same_cells():
    ad, sim = _adata()
    res = couplings_from_anndata(ad, time_key="day")
    assert res.times == [1.0, 1.5, 2.0] and [len(c) for c in res.cells] == [40, 40, 40]
    # the cells of each time point, in obs order, are a permutation of the simulator's snapshot
    xs = [torch.as_tensor(ad[cells].obsm["X_pca"], dtype=torch.float64) for cells in res.cells]
    ref = wot_couplings(xs, [1.0, 1.5, 2.0])
    for c, r in zip(res.couplings, ref):
        torch.testing.assert_close(c.plan, r.plan)


def test_annotate_writes_growth_and_fates_matching_the_package():
    ad, _ = _adata()
    res = couplings_from_anndata(ad)
    annotate_anndata(ad, res, fate_key="fate")
    first = ad[res.cells[0]].obs
    np.testing.assert_allclose(first["growth_rate"], res.couplings[0].growth_rate.numpy())
    labels = (ad[res.cells[-1]].obs["fate"] == "upper").to_numpy().astype(np.int64)
    p = fate_probabilities(res.couplings, labels)
    np.testing.assert_allclose(first["fate_upper"], p[:, 1].numpy())
    np.testing.assert_allclose(first["fate_upper"] + first["fate_lower"], 1.0)
    assert ad[res.cells[-1]].obs["growth_rate"].isna().all()


def test_transport_maps_round_trip(tmp_path):
    ad, _ = _adata(25)
    res = couplings_from_anndata(ad)
    paths = write_transport_maps(res, tmp_path / "serum")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["serum_1_1.5.h5ad", "serum_1.5_2.h5ad"]
    tmap = anndata.read_h5ad(paths[0])  # wot's layout: obs = source cells, var = target cells, X = plan
    assert list(tmap.obs_names) == res.cells[0] and list(tmap.var_names) == res.cells[1]
    np.testing.assert_allclose(tmap.X, res.couplings[0].plan.numpy())
    back = read_transport_maps(tmp_path / "serum")
    assert back.times == res.times and back.cells == res.cells
    for c, r in zip(back.couplings, res.couplings):
        torch.testing.assert_close(c.plan, r.plan)
        torch.testing.assert_close(c.growth_rate, r.growth_rate)
        assert c.dt == r.dt and c.cost_scale == r.cost_scale and c.n_iter == r.n_iter


def test_anndata_bad_inputs(tmp_path):
    ad, _ = _adata(10)
    with pytest.raises(ValueError, match="time_key 'time' is not a column"):
        couplings_from_anndata(ad, time_key="time")
    with pytest.raises(ValueError, match="obsm_key 'X_umap' is not in adata.obsm"):
        couplings_from_anndata(ad, obsm_key="X_umap")
    with pytest.raises(TypeError, match="must be numeric"):
        couplings_from_anndata(ad, time_key="fate")
    with pytest.raises(TypeError, match="adata must be an anndata.AnnData"):
        couplings_from_anndata(ad.obsm["X_pca"])
    one = ad[ad.obs["day"] == 1.0].copy()
    with pytest.raises(ValueError, match="at least two time points"):
        couplings_from_anndata(one)
    with pytest.raises(ValueError, match="no transport maps"):
        read_transport_maps(tmp_path / "none")


def test_import_does_not_need_anndata():
    import subprocess
    import sys

    code = "import sys, nips2019.lineage; assert 'anndata' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
