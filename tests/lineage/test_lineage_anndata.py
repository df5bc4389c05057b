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


# ---------------------------------------------------------------- against wot itself
# wot 1.0.8.post2 (the last release) calls anndata.read, which anndata 0.11 removed, so it cannot
# run beside the anndata this project pins. The test runs wot in the interpreter named by
# NIPS2019_WOT_PYTHON (e.g. a venv with `pip install wot==1.0.8.post2 anndata==0.10.9 statsmodels`)
# and skips when that is unset or cannot import wot.
_WOT_SIDE = r"""
import sys, warnings
warnings.simplefilter("ignore")
import anndata, numpy as np, wot
ours, adata_path, out = sys.argv[1:4]
model = wot.tmap.TransportMapModel.from_directory(ours)  # wot reads our maps
t = model.get_coupling(1.0, 1.5)
np.savez(out + "/from_wot_reader.npz", plan=np.asarray(t.X), rows=np.asarray(t.obs_names, dtype=str),
         cols=np.asarray(t.var_names, dtype=str))
ad = anndata.read_h5ad(adata_path)
x = anndata.AnnData(X=np.asarray(ad.obsm["X_pca"], dtype=np.float64), obs=ad.obs[["day"]].copy())
ot_model = wot.ot.OTModel(x, day_field="day", epsilon=0.05, lambda1=1, lambda2=50, local_pca=0, growth_iters=1)
ot_model.compute_all_transport_maps(tmap_out=out + "/wot")  # and writes its own
"""


def _wot_python():
    import os
    import subprocess

    exe = os.environ.get("NIPS2019_WOT_PYTHON")
    if not exe:
        pytest.skip("wot needs anndata < 0.11: set NIPS2019_WOT_PYTHON to an interpreter with wot installed")
    if subprocess.run([exe, "-W", "ignore", "-c", "import wot"], capture_output=True).returncode != 0:
        pytest.skip(f"{exe} cannot import wot")
    return exe


def test_wot_reads_our_transport_maps_and_we_read_its(tmp_path):
    import subprocess

    exe = _wot_python()
    ad, _ = _adata(25)
    res = couplings_from_anndata(ad, time_key="day")
    write_transport_maps(res, tmp_path / "ours")
    ad.write_h5ad(tmp_path / "adata.h5ad")
    subprocess.run([exe, "-c", _WOT_SIDE, str(tmp_path / "ours"), str(tmp_path / "adata.h5ad"), str(tmp_path)],
                   check=True, capture_output=True)
    seen = np.load(tmp_path / "from_wot_reader.npz")
    assert list(seen["rows"]) == res.cells[0] and list(seen["cols"]) == res.cells[1]
    np.testing.assert_array_equal(seen["plan"], res.couplings[0].plan.numpy())
    theirs = read_transport_maps(tmp_path / "wot")  # wot names them wot_1.0_1.5.h5ad
    assert theirs.times == res.times and theirs.cells == res.cells
    for c, o in zip(theirs.couplings, res.couplings):
        # wot scales its plans differently (total ~ n): compare the normalised plans and transitions
        p, q = c.plan / c.plan.sum(), o.plan / o.plan.sum()
        assert float((p - q).abs().max()) * p.numel() < 1e-3
        torch.testing.assert_close(c.transition, o.transition, rtol=0, atol=1e-4)
