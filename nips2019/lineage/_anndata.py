"""AnnData in and out: Waddington-OT couplings from a scanpy-style ``AnnData``, results written back,
and transport maps saved as wot saves them (the optional ``sc`` extra: ``pip install nips2019[sc]``)."""

from __future__ import annotations

import dataclasses
import glob
import os
import re

import numpy as np
import torch

from nips2019.utils import Constraint, InstanceOf, Items, Options, Real, validate
from nips2019.utils._constraints import _show

from ._wot import _WOT_OPTIONS, Coupling, _wot_coupling, fate_probabilities


def _anndata():
    try:
        import anndata
    except ImportError as err:  # pragma: no cover - the extra is installed in the project's environment
        raise ImportError("AnnData support needs the optional extra: pip install nips2019[sc]") from err
    return anndata


class _AnnDataLike(Constraint):
    """An ``anndata.AnnData`` (checked by its attributes, so that importing the package needs no anndata)."""

    optional = False

    def check_value(self, value, name, ctx):
        if type(value).__name__ != "AnnData" or not all(hasattr(value, k) for k in ("obs", "obsm", "obs_names")):
            ctx.fail(TypeError, f"{name} must be an anndata.AnnData, got {_show(value)}")

    def describe(self):
        return "an anndata.AnnData"


@dataclasses.dataclass
class AnnDataCouplingsResult:
    """Couplings between consecutive time points of an ``AnnData``, with the cells they couple.

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Attributes
    ----------
    couplings : list of Coupling
        ``couplings[k]`` couples the cells of ``times[k]`` to those of ``times[k + 1]``.
    times : list of float
        The sorted distinct values of the time column.
    cells : list of list of str
        ``cells[k]``: the ``obs_names`` of the cells at ``times[k]``, in the order of the plans' rows
        (``k``) and columns (``k - 1``).
    """

    couplings: list
    times: list
    cells: list


_STR = InstanceOf(str)


@validate(adata=_AnnDataLike(), time_key=_STR, obsm_key=_STR, growth_key=InstanceOf(str, optional=True),
          dtype=Options(torch.float64, torch.float32), **_WOT_OPTIONS)
def couplings_from_anndata(
    adata,
    *,
    time_key: str = "day",
    obsm_key: str = "X_pca",
    growth_key: str | None = None,
    dtype: torch.dtype = torch.float64,
    reg: float = 0.05,
    reg_m: float | tuple[float, float] = (1.0, 50.0),
    normalize: str | None = "median",
    n_steps: int = 1,
    reg_type: str = "kl",
    method: str = "sinkhorn_log",
    balanced: bool = False,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> AnnDataCouplingsResult:
    """Waddington-OT couplings between consecutive time points of an ``AnnData``.

    Cells are grouped by the numeric column ``adata.obs[time_key]``; each is represented by its
    row of ``adata.obsm[obsm_key]`` (``"X_pca"``, scanpy's PCA, by default); ``growth_key``
    optionally names a column of prior growth rates (:func:`wot_coupling`'s ``growth_rate``).
    The solver options are those of :func:`wot_coupling`. Needs ``anndata`` (the ``sc`` extra).
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Returns
    -------
    AnnDataCouplingsResult

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> ad = anndata.AnnData(obs=pd.DataFrame({"day": [0.0, 0.0, 1.0, 1.0]}, index=list("abcd")))
    >>> ad.obsm["X_pca"] = np.array([[0.0], [1.0], [0.1], [1.1]])
    >>> res = couplings_from_anndata(ad)
    >>> res.times, res.cells
    ([0.0, 1.0], [['a', 'b'], ['c', 'd']])
    """
    func = "couplings_from_anndata"
    if time_key not in adata.obs:
        raise ValueError(f"{func}: time_key {time_key!r} is not a column of adata.obs (columns: "
                         f"{list(adata.obs.columns)})")
    if obsm_key not in adata.obsm:
        raise ValueError(f"{func}: obsm_key {obsm_key!r} is not in adata.obsm (keys: {list(adata.obsm.keys())})")
    if growth_key is not None and growth_key not in adata.obs:
        raise ValueError(f"{func}: growth_key {growth_key!r} is not a column of adata.obs")
    try:
        t = np.asarray(adata.obs[time_key], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{func}: adata.obs[{time_key!r}] must be numeric, got dtype "
                        f"{adata.obs[time_key].dtype}") from err
    x = np.asarray(adata.obsm[obsm_key], dtype=np.float64)
    if x.ndim != 2 or not np.isfinite(x).all() or not np.isfinite(t).all():
        raise ValueError(f"{func}: adata.obsm[{obsm_key!r}] must be a finite 2-D array and the times finite")
    times = sorted(set(t.tolist()))
    if len(times) < 2:
        raise ValueError(f"{func}: need at least two time points in adata.obs[{time_key!r}], got {times}")
    names = np.asarray(adata.obs_names)
    groups = [np.flatnonzero(t == s) for s in times]
    g = None if growth_key is None else np.asarray(adata.obs[growth_key], dtype=np.float64)
    opts = dict(reg=reg, reg_m=reg_m, normalize=normalize, n_steps=n_steps, reg_type=reg_type, method=method,
                balanced=balanced, tol=tol, max_iter=max_iter)
    couplings = []
    for k in range(len(times) - 1):
        x0 = torch.as_tensor(x[groups[k]], dtype=dtype)
        x1 = torch.as_tensor(x[groups[k + 1]], dtype=dtype)
        prior = None if g is None else torch.as_tensor(g[groups[k]], dtype=dtype)
        couplings.append(_wot_coupling(x0, x1, times[k + 1] - times[k], prior, func=func, **opts))
    return AnnDataCouplingsResult(couplings=couplings, times=times, cells=[names[i].tolist() for i in groups])


@validate(adata=_AnnDataLike(), result=InstanceOf(AnnDataCouplingsResult), fate_key=InstanceOf(str, optional=True),
          growth_key=_STR, prefix=_STR)
def annotate_anndata(adata, result: AnnDataCouplingsResult, *, fate_key: str | None = None,
                     growth_key: str = "growth_rate", prefix: str = "fate_") -> None:
    """Write a coupling result back into ``adata.obs``, in place.

    ``adata.obs[growth_key]``: each cell's relative growth rate from the coupling that starts at
    its time point (the ``growth_rate`` of :class:`Coupling`; NaN at the last time point). With ``fate_key``,
    a column of ``adata.obs`` whose values at the last time point are the fates, one column
    ``prefix + fate`` per fate with every cell's probability of ending there
    (:func:`fate_probabilities`; the last time point gets its own 0/1 indicators). Cells are
    matched by ``obs_names``. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> ad = anndata.AnnData(obs=pd.DataFrame({"day": [0.0, 0.0, 1.0, 1.0]}, index=list("abcd")))
    >>> ad.obsm["X_pca"] = np.array([[0.0], [1.0], [0.1], [1.1]])
    >>> ad.obs["fate"] = ["?", "?", "x", "y"]
    >>> annotate_anndata(ad, couplings_from_anndata(ad, reg=0.01, normalize="max"), fate_key="fate")
    >>> ad.obs["fate_x"].round(2).tolist()
    [1.0, 0.0, 1.0, 0.0]
    """
    func = "annotate_anndata"
    index = {name: i for i, name in enumerate(adata.obs_names)}
    missing = [c for cells in result.cells for c in cells if c not in index]
    if missing:
        raise ValueError(f"{func}: {len(missing)} cells of result are not in adata.obs_names (e.g. {missing[0]!r})")
    growth = np.full(adata.n_obs, np.nan)
    for c, cells in zip(result.couplings, result.cells):
        growth[[index[n] for n in cells]] = c.growth_rate.detach().cpu().double().numpy()
    adata.obs[growth_key] = growth
    if fate_key is None:
        return
    if fate_key not in adata.obs:
        raise ValueError(f"{func}: fate_key {fate_key!r} is not a column of adata.obs")
    last = [index[n] for n in result.cells[-1]]
    fates_last = np.asarray(adata.obs[fate_key])[last]
    names, labels = np.unique(fates_last.astype(str), return_inverse=True)
    probs = np.full((adata.n_obs, len(names)), np.nan)
    probs[last] = np.eye(len(names))[labels]
    for k, cells in enumerate(result.cells[:-1]):
        p = fate_probabilities(result.couplings[k:], labels.astype(np.int64))
        probs[[index[n] for n in cells]] = p.detach().cpu().double().numpy()
    for j, name in enumerate(names):
        adata.obs[f"{prefix}{name}"] = probs[:, j]


def _time_str(t: float) -> str:
    return f"{t:g}"


@validate(result=InstanceOf(AnnDataCouplingsResult), path_prefix=InstanceOf(str, os.PathLike))
def write_transport_maps(result: AnnDataCouplingsResult, path_prefix) -> list:
    """Save the couplings as wot saves transport maps: one ``.h5ad`` per pair of time points.

    File ``{path_prefix}_{t0}_{t1}.h5ad`` holds an ``AnnData`` whose ``X`` is the plan (float64),
    ``obs_names`` the source cells, ``var_names`` the target cells, and ``obs["g0"]`` the growth
    over the interval implied by the plan, :math:`e^{\\Delta t\\, r_i}` (what wot stores as ``g``;
    written here as we understand wot's format, not tested against wot itself).
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Returns
    -------
    list of str
        The paths written.
    """
    anndata = _anndata()
    import pandas as pd

    paths = []
    for k, c in enumerate(result.couplings):
        t0, t1 = result.times[k], result.times[k + 1]
        plan = c.plan.detach().cpu().double().numpy()
        growth = np.exp(c.dt * c.growth_rate.detach().cpu().double().numpy())
        tmap = anndata.AnnData(X=plan, obs=pd.DataFrame({"g0": growth}, index=list(result.cells[k])),
                               var=pd.DataFrame(index=list(result.cells[k + 1])))
        tmap.uns["dt"] = float(c.dt)  # ours, for the round trip; wot ignores them
        tmap.uns["cost_scale"] = float(c.cost_scale)
        tmap.uns["n_iter"] = int(c.n_iter)
        path = f"{os.fspath(path_prefix)}_{_time_str(t0)}_{_time_str(t1)}.h5ad"
        tmap.write_h5ad(path)
        paths.append(path)
    return paths


@validate(path_prefix=InstanceOf(str, os.PathLike), dtype=Options(torch.float64, torch.float32))
def read_transport_maps(path_prefix, *, dtype: torch.dtype = torch.float64) -> AnnDataCouplingsResult:
    """Read the transport maps ``{path_prefix}_{t0}_{t1}.h5ad`` (wot's layout, or
    :func:`write_transport_maps`') back into couplings, in time order.

    The growth rates are recomputed from the plans' row sums, as :func:`wot_coupling` defines them;
    ``cost_scale`` and ``n_iter`` are read from ``uns`` where :func:`write_transport_maps` put them
    (1 and 0 for maps written by wot). See the chapter
    :doc:`OT for lineage tracing </book/lineage>`.
    """
    anndata = _anndata()
    func = "read_transport_maps"
    prefix = os.fspath(path_prefix)
    number = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
    found = []
    for path in glob.glob(glob.escape(prefix) + "_*_*.h5ad"):
        m = re.fullmatch(re.escape(prefix) + f"_{number}_{number}\\.h5ad", path)
        if m:
            found.append((float(m.group(1)), float(m.group(2)), path))
    if not found:
        raise ValueError(f"{func}: no transport maps {prefix}_<t0>_<t1>.h5ad found for path_prefix {prefix!r}")
    found.sort()
    couplings, times, cells = [], [found[0][0]], []
    for k, (t0, t1, path) in enumerate(found):
        if t0 != times[-1]:
            raise ValueError(f"{func}: the maps do not chain: one ends at {times[-1]}, the next starts at {t0}")
        tmap = anndata.read_h5ad(path)
        plan = torch.as_tensor(np.asarray(tmap.X, dtype=np.float64), dtype=dtype)
        if k == 0:
            cells.append(list(tmap.obs_names))
        elif list(tmap.obs_names) != cells[-1]:
            raise ValueError(f"{func}: the source cells of {path} are not the target cells of the previous map")
        cells.append(list(tmap.var_names))
        dt = t1 - t0
        rows = plan.sum(1).clamp_min(torch.finfo(dtype).tiny)
        growth = torch.log(plan.shape[0] * rows / rows.sum()) / dt
        couplings.append(Coupling(plan=plan, dt=dt, growth_rate=growth,
                                  cost_scale=float(tmap.uns.get("cost_scale", 1.0)),
                                  n_iter=int(tmap.uns.get("n_iter", 0))))
        times.append(t1)
    return AnnDataCouplingsResult(couplings=couplings, times=times, cells=cells)
