"""Contract cases for nips2019.ot (see tests/contract.py)."""

import importlib
from pathlib import Path

import torch

from nips2019 import ot
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _x():
    return torch.tensor([[0.0, 0.0], [1.0, 0.5], [0.2, 1.0]], **F64)


def _y():
    return torch.tensor([[0.5, 0.0], [1.5, 1.0], [0.0, 2.0], [1.0, 1.0]], **F64)


def _plan():
    return torch.tensor([[0.1, 0.05, 0.0, 0.2], [0.0, 0.1, 0.1, 0.1], [0.05, 0.1, 0.1, 0.0]], **F64)


def _uniform(n):
    return torch.full((n,), 1.0 / n, **F64)


def _cost():
    return torch.tensor([[0.0, 1.0, 4.0, 2.0], [1.0, 0.0, 1.0, 0.5], [4.0, 1.0, 0.0, 1.5]], **F64)


CASES = [
    Case(ot.cost_matrix, lambda: dict(x=_x(), y=_y(), metric="sqeuclidean", normalize="median"),
         bad=[Bad(dict(x=torch.zeros(0, 2, **F64), normalize="max"), "x must not be empty", why="issue 12: empty x"),
              Bad(dict(x=torch.zeros(3, 2, **F64), y=torch.zeros(4, 2, **F64)), "cannot normalise",
                  why="all points coincide: no scale to normalise by")]),
    Case(ot.normalize_cost, lambda: dict(cost=_cost(), normalize="max"),
         bad=[Bad(dict(cost=-_cost()), "cost must have values in", why="negative cost"),
              Bad(dict(cost=torch.zeros(2, 3, **F64)), "cannot normalise", why="zero cost")]),
    Case(ot.exact_ot, lambda: dict(a=_uniform(3), b=_uniform(4), cost=_cost()),
         bad=[Bad(dict(a=torch.ones(3, **F64)), "a and b must have equal mass", why="unequal masses"),
              Bad(dict(a=torch.zeros(3, **F64)), "a must have positive total mass", why="no mass")]),
    Case(ot.entropic_ot, lambda: dict(a=_uniform(3), b=_uniform(4), cost=_cost(), reg=0.5, method="sinkhorn_log",
                                      max_iter=200, tol=1e-9),
         bad=[Bad(dict(a=torch.ones(3, **F64)), "a and b must have equal mass", why="unequal masses")]),
    Case(ot.unbalanced_ot, lambda: dict(a=_uniform(3), b=_uniform(4), cost=_cost(), reg=0.5, reg_m=(1.0, 50.0),
                                        reg_type="kl", method="sinkhorn_log_ti", max_iter=5000, tol=1e-6,
                                        reg_scaling=None),
         bad=[Bad(dict(a=torch.tensor([0.0, 0.5, 0.5], **F64)), r"a must have values in \(0", why="a zero weight"),
              Bad(dict(reg_m=(1.0, 2.0, 3.0)), "reg_m must have 2 items", why="three penalties"),
              Bad(dict(reg_m=-1.0), "reg_m must be a real number or inf > 0", why="negative penalty")]),
    Case(ot.unbalanced_ot, lambda: dict(a=_uniform(3), b=_uniform(4), cost=_cost(), reg=0.5, reg_m=2.0,
                                        method="auto", max_iter=200), name="unbalanced_ot.auto"),
    Case(ot.barycentric_projection, lambda: dict(plan=_plan(), y=_y()),
         bad=[Bad(dict(plan=_plan().float()), "y has dtype torch.float64 but plan has torch.float32",
                  why="issue 12: float32 plan with float64 points"),
              Bad(dict(plan=-_plan()), "plan must have values in", why="negative plan")]),
    Case(ot.sample_coupling, lambda: dict(plan=_plan(), n_samples=5, generator=0),
         bad=[Bad(dict(plan=torch.zeros(3, 4, **F64)), "plan has no mass", why="zero plan")]),
    Case(ot.displacement_interpolation,
         lambda: dict(x=_x(), y=_y(), plan=_plan(), t=0.3, n_samples=5, generator=0),
         bad=[Bad(dict(plan=torch.zeros(3, 4, **F64), n_samples=None), "plan has no mass", why="zero plan")]),
    Case(ot.wasserstein_distance, lambda: dict(x=_x(), y=_y(), a=_uniform(3), b=torch.ones(4, **F64), p=2),
         bad=[Bad(dict(a=torch.zeros(3, **F64)), "a must have positive total mass", why="no mass")]),
    Case(ot.wasserstein_distance, lambda: dict(x=_x(), y=_y(), p=1, reg=0.5), name="wasserstein_distance.entropic"),
]

EXEMPT = {
    "ConvergenceWarning": "a warning category (no arguments to attack); raised by the solvers at max_iter",
    "OTResult": "result container (dataclass) returned by the solvers, attacked through them",
    "CouplingSampleResult": "result container (dataclass) returned by sample_coupling",
    "DisplacementResult": "result container (dataclass) returned by displacement_interpolation",
}


# Chapters that add to nips2019.ot keep their cases in tests/ot/cases_<chapter>.py (a CASES list and an
# optional EXEMPT dict), so two chapters never edit this file at once.
for _path in sorted(Path(__file__).parent.glob("cases_*.py")):
    _extra = importlib.import_module(f"tests.ot.{_path.stem}")
    CASES = CASES + list(_extra.CASES)
    EXEMPT = {**EXEMPT, **getattr(_extra, "EXEMPT", {})}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
