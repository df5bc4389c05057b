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

def _rules():
    return [pp.TemporalRule(1, (0,), 1.0), pp.TemporalRule(1, (0, 1), 2.0)]


def _b():
    return torch.tensor([-0.7, -1.2], dtype=F64)


def _w():
    return torch.tensor([0.8, 0.5], dtype=F64)


def _lev():
    return pp.simulate_logic(_rules(), _b(), _w(), 60.0, generator=0)


def _kg():
    return pp.make_temporal_kg(4, 2, 20.0, rate=0.3, n_preferred=2, generator=0).graph


def _q():
    g = _kg()
    return dict(times=g.times[-3:], subjects=g.subjects[-3:], relations=g.relations[-3:])


def _gh():
    return pp.GraphHawkes(4, 2, dim=3, generator=0)


def _uni():
    return pp.simulate_warped_hawkes(1.0, 1.0, 3.0, 60.0, amplitude=0.5, period=30.0, generator=0)


def _layer():
    return pp.fit_destructor_layer(_uni(), "piecewise", n_bins=4)


_WRONG_RULE = [pp.TemporalRule(3, (0,), 1.0)]

CASES += [
    Case(pp.logic_features, lambda: dict(events=_lev(), rules=_rules(), times=torch.tensor([1.0, 30.0], dtype=F64)),
         bad=[Bad(dict(rules=_WRONG_RULE), "only 2 types", why="rule on a type that does not exist"),
              Bad(dict(times=torch.tensor([1.0], dtype=torch.float32)), "times has", why="mixed dtypes")]),
    Case(pp.logic_intensity, lambda: dict(events=_lev(), rules=_rules(), base=_b(), weights=_w(),
                                          times=torch.tensor([1.0, 30.0], dtype=F64)),
         bad=[Bad(dict(weights=_w()[:1]), "weights has 1 entries", why="one weight for two rules")]),
    Case(pp.logic_compensator, lambda: dict(events=_lev(), rules=_rules(), base=_b(), weights=_w(),
                                            times=torch.tensor([1.0, 60.0], dtype=F64)),
         bad=[Bad(dict(times=torch.tensor([61.0], dtype=F64)), "t_max", why="after the window")]),
    Case(pp.logic_log_likelihood, lambda: dict(events=_lev(), rules=_rules(), base=_b(), weights=_w()),
         bad=[Bad(dict(events=_unsorted()), "sorted", why="unsorted times")]),
    Case(pp.simulate_logic, lambda: dict(rules=_rules(), base=_b(), weights=_w(), t_max=20.0, n_realizations=2,
                                         max_events=10_000, generator=0),
         bad=[Bad(dict(max_events=2, t_max=200.0), "max_events", why="too many events"),
              Bad(dict(base=torch.tensor([30.0, 30.0], dtype=F64)), "too large", why="huge rates")]),
    Case(pp.fit_logic_rules, lambda: dict(events=_lev(), rules=_rules(), max_iter=50, tol=1e-10),
         bad=[Bad(dict(rules=[pp.TemporalRule(1, (0,), 1.0), pp.TemporalRule(1, (0,), 1.0)]), "singular",
                  why="the same rule twice (unidentified)")]),
    Case(pp.make_temporal_kg, lambda: dict(n_entities=4, n_relations=2, t_max=10.0, rate=0.2, n_preferred=2,
                                           repeat=0.3, reciprocal=0.2, decay=1.0, generator=0),
         bad=[Bad(dict(n_preferred=4), "n_preferred", why="more preferred objects than other entities")]),
    Case(pp.graph_hawkes_intensity, lambda: dict(history=_kg(), base=torch.full((4, 2, 4), 0.1, dtype=F64),
                                                 repeat=0.3, reciprocal=0.2, decay=1.0, **_q()),
         bad=[Bad(dict(subjects=torch.tensor([0, 1, 7])), "subjects must be", why="entity out of range")]),
    Case(pp.GraphHawkes, lambda: dict(n_entities=4, n_relations=2, dim=3, excitation=True, generator=0,
                                      dtype=F64)),
    Case(pp.GraphHawkes.log_likelihood, lambda: (_gh().log_likelihood, dict(kg=_kg())),
         name="GraphHawkes.log_likelihood"),
    Case(pp.GraphHawkes.intensity, lambda: (_gh().intensity, dict(history=_kg(), **_q())),
         name="GraphHawkes.intensity",
         bad=[Bad(dict(relations=torch.tensor([0, 1, 5])), "relations must be", why="relation out of range")]),
    Case(pp.fit_graph_hawkes, lambda: dict(kg=_kg(), dim=3, excitation=True, n_steps=3, lr=0.05, generator=0,
                                           progress=False)),
    Case(pp.frequency_scores, lambda: dict(history=_kg(), **_q()),
         bad=[Bad(dict(times=torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32)), "times has", why="mixed dtypes")]),
    Case(pp.ranking_metrics, lambda: dict(scores=torch.tensor([[0.1, 0.5], [0.3, 0.2]], dtype=F64),
                                          targets=torch.tensor([1, 0]), ks=(1, 2)),
         bad=[Bad(dict(targets=torch.tensor([1, 2])), "targets", why="target out of range")]),
    Case(pp.fit_destructor_layer, lambda: dict(events=_uni(), family="piecewise", n_bins=4),
         bad=[Bad(dict(events=pp.HawkesEvents(_uni().times, _uni().marks, 60.0, 2)), "univariate",
                  why="two dimensions")]),
    Case(pp.apply_destructor_layer, lambda: dict(layer=_layer(), events=_uni()),
         bad=[Bad(dict(events=pp.HawkesEvents(_uni().times, _uni().marks, 70.0, 1)), "fitted on",
                  why="another window")]),
    Case(pp.unit_poisson_test, lambda: dict(events=_uni()),
         bad=[Bad(dict(events=pp.HawkesEvents(torch.tensor([1.0], dtype=F64), torch.tensor([0]), 5.0, 1)),
                  "at least 2", why="one event")]),
    Case(pp.destroy_point_process, lambda: dict(events=_uni(), families=("poisson", "piecewise"), max_layers=2,
                                                level=0.05, n_bins=4, penalty=1.0)),
    Case(pp.simulate_warped_hawkes, lambda: dict(baseline=1.0, adjacency=0.5, decay=1.0, t_max=20.0, amplitude=0.5,
                                                 period=10.0, generator=0, dtype=F64),
         bad=[Bad(dict(adjacency=2.0), "explosive", why="branching ratio 2")]),
    Case(pp.warp_clock, lambda: dict(times=torch.tensor([0.0, 3.0], dtype=F64), amplitude=0.5, period=10.0)),
]

EXEMPT = {
    "TemporalRule": "data container (frozen dataclass), validated in __post_init__ (tests/pointprocess/test_logic.py)",
    "LogicFit": "result container (dataclass) returned by fit_logic_rules",
    "TemporalKG": "data container (dataclass) of facts, validated in __post_init__ (test_graph.py)",
    "TemporalKGData": "result container (dataclass) returned by make_temporal_kg",
    "GraphHawkesFit": "result container (dataclass) returned by fit_graph_hawkes",
    "RankingResult": "result container (dataclass) returned by ranking_metrics",
    "DestructorLayer": "result container (dataclass) returned by fit_destructor_layer",
    "DestructorResult": "result container (dataclass) returned by destroy_point_process",
    "UnitPoissonTest": "result container (dataclass) returned by unit_poisson_test",
    "HawkesEvents": "data container (dataclass) of times and marks",
    "HawkesFit": "result container (dataclass) returned by fit_hawkes",
    "TimeRescalingResult": "result container (dataclass) returned by time_rescaling_test",
    "GrangerGraph": "result container (dataclass) returned by granger_graph",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
