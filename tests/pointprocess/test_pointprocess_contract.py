"""Contract cases for nips2019.pointprocess (see tests/contract.py)."""

import torch

from nips2019 import pointprocess as pp
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _mu():
    return torch.tensor([0.5, 0.4], dtype=F64)


def _a():
    return torch.tensor([[0.3, 0.0], [0.4, 0.2]], dtype=F64)


def _ev():
    return pp.simulate_hawkes(_mu(), _a(), 1.0, 20.0, generator=0)


def _fit():
    return pp.fit_hawkes(_ev(), decay=1.0)


def _unsorted():
    ev = _ev()
    return pp.HawkesEvents(ev.times.flip(0), ev.marks.flip(0), ev.t_max, 2)


CASES = [
    Case(pp.hawkes_spectral_radius, lambda: dict(adjacency=_a(), decay=1.5)),
    Case(pp.hawkes_expected_count, lambda: dict(baseline=_mu(), adjacency=_a(), decay=1.0, t_max=10.0),
         bad=[Bad(dict(adjacency=_a() * 5), "spectral radius", why="explosive")]),
    Case(pp.simulate_hawkes, lambda: dict(baseline=_mu(), adjacency=_a(), decay=torch.full((2, 2), 1.0, dtype=F64),
                                          t_max=10.0, n_realizations=2, max_events=10_000, generator=0,
                                          progress=False),
         bad=[Bad(dict(adjacency=_a() * 10, max_events=200, t_max=1e4), "max_events", why="explosive"),
              Bad(dict(baseline=torch.zeros(2, dtype=F64)), "positive entry", why="no events ever"),
              Bad(dict(decay=torch.full((2, 2), 1.0, dtype=torch.float32)), "decay has", why="mixed dtypes")]),
    Case(pp.hawkes_log_likelihood, lambda: dict(events=_ev(), baseline=_mu(), adjacency=_a(), decay=1.0),
         bad=[Bad(dict(events=_unsorted()), "sorted", why="unsorted times"),
              Bad(dict(baseline=torch.ones(3, dtype=F64), adjacency=torch.zeros(3, 3, dtype=F64)), "n_dims",
                  why="3 dimensions for 2-dimensional events")]),
    Case(pp.hawkes_compensator, lambda: dict(events=_ev(), baseline=_mu(), adjacency=_a(), decay=1.0),
         bad=[Bad(dict(events=pp.HawkesEvents(_ev().times + 100, _ev().marks, 20.0, 2)), r"t_max",
                  why="events after t_max")]),
    Case(pp.time_rescaling_test, lambda: dict(events=_ev(), baseline=_mu(), adjacency=_a(), decay=1.0),
         bad=[Bad(dict(events=pp.HawkesEvents(torch.zeros(0, dtype=F64), torch.zeros(0, dtype=torch.long), 5.0, 2)),
                  "no event", why="empty realisation")]),
    Case(pp.fit_hawkes, lambda: dict(events=[_ev(), _ev()], decay=1.0, max_iter=50, tol=1e-8),
         bad=[Bad(dict(events=[_ev(), pp.HawkesEvents(_ev().times, _ev().marks * 0, 20.0, 1)]), "n_dims",
                  why="realisations of different dimension")]),
    Case(pp.granger_graph, lambda: dict(fit=_fit(), method="wald", level=0.05, threshold=0.05,
                                        truth=torch.tensor([[True, False], [True, True]]), include_self=False),
         bad=[Bad(dict(truth=torch.ones(3, 3, dtype=torch.bool)), "truth must have shape", why="3 x 3 truth")]),
]

EXEMPT = {
    "HawkesEvents": "data container (dataclass) of times and marks",
    "HawkesFit": "result container (dataclass) returned by fit_hawkes",
    "TimeRescalingResult": "result container (dataclass) returned by time_rescaling_test",
    "GrangerGraph": "result container (dataclass) returned by granger_graph",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
