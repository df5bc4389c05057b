"""Benchmarks for the lineage chapter: our log-domain unbalanced Sinkhorn vs POT's, in one run.

Every case solves the same problem (two snapshots of the simulator, squared Euclidean cost divided
by its median, reg 0.05 on that normalised cost, reg_m (1, 50), KL regularisation, stopping
threshold 1e-6 on POT's statistic, the relative change of the scalings) with

- ours: ``nips2019.ot.unbalanced_ot`` (log domain, the default ``method="sinkhorn_log"``: POT's
  iterates and iteration count, each iteration one pass over the stabilised kernel in row blocks;
  and ``method="sinkhorn_log_ti"``, POT's translation-invariant updates in the log domain: half
  the iterations, but not the default since they converge to a plan with a higher objective, see
  ``unbalanced_ot``; and ``method="sinkhorn_log_shift"``, the plain updates with the total-mass
  mode extrapolated away, at the ``tol`` that gives POT's accuracy: 1e-6 in float32, 1e-8 in
  float64), and ``nips2019.lineage.wot_coupling`` (cost + median normalisation +
  solver + growth rates, from the points);
- POT 0.9's ``ot.unbalanced.sinkhorn_unbalanced(method="sinkhorn", reg_type="kl")``, i.e.
  ``sinkhorn_knopp_unbalanced``, its kernel iteration and its fastest unbalanced method here (its
  ``"sinkhorn_stabilized"`` variant pays absorptions and did not converge on these problems), on
  numpy arrays and on torch tensors, in float32 and in float64 (at this reg POT's float32 kernel
  iteration runs and agrees with ours: the chapter checks it).

``python -m benchmarks.bench_lineage --sizes 2000 5000 10000`` prints the head-to-head table with
CPU seconds, wall seconds, iteration counts, the ratio of CPU time to POT torch in the same dtype
and the load average (POT numpy is left out from 10,000 cells on: ``--numpy-max``). Times are the
best of ``--repeat`` runs, the solvers interleaved. ``cases(quick)`` registers the same comparisons
with :mod:`benchmarks.run` (quick: 300 cells; full: 2000 and 5000 cells, and 10,000 cells in
float32). One torch thread unless ``--threads`` says otherwise: the machines this was measured on
are shared, so CPU seconds are the number to read (wall time is inflated by the load).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import ot
import torch

from benchmarks.run import Case
from nips2019.lineage import simulate_lineage, validate_interpolation, wot_coupling
from nips2019.ot import cost_matrix, unbalanced_ot

REG, REG_M, TOL = 0.05, (1.0, 50.0), 1e-6


def _problem(n: int):
    sim = simulate_lineage(n_cells=n, n_founders=2 * n, times=(1.5, 2.0), generator=n, progress=False)
    return sim.x[0], sim.x[1]


def _solvers(x0, x1, dtype, numpy=True):
    """name -> zero-argument callable returning (plan as float64 numpy or tensor, iterations)."""
    x0, x1 = x0.to(dtype), x1.to(dtype)
    cost = cost_matrix(x0, x1, normalize="median")
    n0, n1 = cost.shape
    a_t, b_t = torch.full((n0,), 1.0 / n0, dtype=dtype), torch.full((n1,), 1.0 / n1, dtype=dtype)
    cost_np, a_np, b_np = cost.numpy(), a_t.numpy(), b_t.numpy()
    shift_tol = TOL if dtype == torch.float32 else TOL / 100

    def pot(a, b, c):
        def solve():
            plan, log = ot.unbalanced.sinkhorn_unbalanced(a, b, c, REG, REG_M, method="sinkhorn", reg_type="kl",
                                                          stopThr=TOL, numItermax=10_000, log=True)
            return plan, len(log["err"])
        return solve

    def ours(method, tol=TOL):
        def solve():
            res = unbalanced_ot(None, None, cost, reg=REG, reg_m=REG_M, method=method, tol=tol)
            return res.plan, res.n_iter
        return solve

    def wot():
        c = wot_coupling(x0, x1, reg=REG, reg_m=REG_M, normalize="median", tol=TOL, method="sinkhorn_log")
        return c.plan, c.n_iter

    out = {
        "ours unbalanced_ot (log, plain)": ours("sinkhorn_log"),
        "ours wot_coupling": wot,
        "ours unbalanced_ot (log, translation invariant)": ours("sinkhorn_log_ti"),
        # the mass-mode shift at POT's accuracy: float64 needs a 100x smaller tol (see unbalanced_ot);
        # float32 stops at the dtype's resolution at tol 1e-6 (the lineage chapter checks both)
        f"ours unbalanced_ot (log, mass-mode shift, tol {shift_tol:g})": ours("sinkhorn_log_shift", shift_tol),
        "POT torch": pot(a_t, b_t, cost),
    }
    if numpy:
        out["POT numpy"] = pot(a_np, b_np, cost_np)
    return out


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def table(sizes, dtypes=("float32", "float64"), threads=1, repeat=1, numpy_max=5000, skip=()):
    """Time every solver (best of ``repeat``, interleaved) per (size, dtype) after a warm-up at
    300 cells; print a markdown table with CPU-time ratios to POT torch in the same dtype."""
    torch.set_num_threads(threads)
    for name, fn in _solvers(*_problem(300), torch.float64).items():
        fn()
    print(f"threads {threads}, POT {ot.__version__}, torch {torch.__version__}, best of {repeat}")
    print("| n | dtype | solver | CPU s | wall s | iterations | CPU / POT torch | max abs plan diff x n^2 vs POT torch "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        x0, x1 = _problem(n)
        for dname in dtypes:
            if (n, dname) in skip:
                continue
            solvers = _solvers(x0, x1, getattr(torch, dname), numpy=n <= numpy_max)
            best = {name: (float("inf"), float("inf")) for name in solvers}
            plans, iters = {}, {}
            for _ in range(repeat):
                for name, fn in solvers.items():
                    c0, w0 = _cpu(), time.perf_counter()
                    plan, iters[name] = fn()
                    cpu, wall = _cpu() - c0, time.perf_counter() - w0
                    best[name] = (min(best[name][0], cpu), min(best[name][1], wall))
                    plans[name] = torch.as_tensor(np.asarray(plan)).double()
                    del plan
            load = os.getloadavg()[0]
            ref, ref_cpu = plans["POT torch"], best["POT torch"][0]
            for name, (cpu, wall) in best.items():
                diff = float((plans[name] - ref).abs().max()) * n * n
                print(f"| {n} | {dname} | {name} | {cpu:.2f} | {wall:.2f} | {iters[name]} | {cpu / ref_cpu:.2f} "
                      f"| {diff:.2g} | {load:.1f} |", flush=True)
            del plans, solvers


def cases(quick: bool) -> list:
    sizes = [(300, ("float64", "float32"))] if quick else [(2000, ("float64", "float32")),
                                                          (5000, ("float64", "float32")), (10_000, ("float32",))]
    out = []
    for n, dnames in sizes:
        x0, x1 = _problem(n)
        for dname in dnames:
            s = _solvers(x0, x1, getattr(torch, dname), numpy=n <= 5000)
            out.append(Case(
                name=f"unbalanced Sinkhorn {n} x {n}, {dname}",
                ours=s.pop("ours unbalanced_ot (log, plain)"),
                baselines=s,
                repeat=1 if n > 2000 else 3,
                note="reg 0.05 on the median-normalised cost, reg_m (1, 50), stopThr 1e-6; torch threads as set",
            ))
    n = 200 if quick else 500
    sim = simulate_lineage(n_cells=n, times=(1.5, 2.0, 2.5), generator=0, progress=False)

    def validation():
        return validate_interpolation(*sim.x, sim.times.tolist(), x1_batch2=sim.x_batch2[1],
                                      growth_rate=sim.growth_rate[0], generator=1)

    out.append(Case(name=f"held-out validation, {n} cells per snapshot", ours=validation, repeat=1,
                    note="1 coupling + 3 interpolations + 6 exact W2 (no peer)"))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--numpy-max", type=int, default=5000, help="largest n that runs POT numpy")
    args = parser.parse_args()
    table(args.sizes, args.dtypes, args.threads, args.repeat, args.numpy_max)
