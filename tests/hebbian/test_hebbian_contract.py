"""Contract cases for nips2019.hebbian (see tests/contract.py)."""

import torch

from nips2019 import hebbian as hb
from tests.contract import Bad, Case, check_case, contract_params


def _pm1(*shape, seed=0):
    """A small +-1 tensor."""
    return hb.random_patterns(shape[-2], shape[-1], batch_shape=shape[:-2], generator=seed)


def _weights():
    return hb.hopfield_weights(_pm1(2, 6))


def _episodes():
    return hb.pattern_episodes(2, 4, n_presentations=1, present_steps=1, gap_steps=0, probe_steps=1, generator=0)


def _sampler(gen):
    return hb.pattern_episodes(2, 4, n_presentations=1, present_steps=1, gap_steps=0, probe_steps=1, generator=gen)


def _plastic_run():
    net = hb.PlasticRNN(3, rule="oja", generator=0)
    return net.run, dict(x=torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(0)), h0=torch.zeros(2, 3),
                         record_trace=True)


def _plastic_forward():
    net = hb.PlasticRNN(3, generator=0)
    return net, dict(x=torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(0)), h0=torch.zeros(2, 3))


def _neuromod_run():
    net = hb.NeuromodulatedRNN(3, modulation="retroactive", generator=0)
    return net.run, dict(x=torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(0)), h0=torch.zeros(2, 3),
                         record_trace=True)


def _baseline_forward():
    net = hb.RecurrentBaseline(3, 4, 2, cell="rnn", generator=0)
    return net, dict(x=torch.randn(2, 2, 3, generator=torch.Generator().manual_seed(0)))


def _x(n=6, d=3):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(1))


CASES = [
    # Hopfield networks
    Case(hb.random_patterns, lambda: dict(n_patterns=3, n_units=4, batch_shape=(2,), generator=0,
                                          dtype=torch.float32, device="cpu"),
         bad=[Bad(dict(dtype=torch.int64), "dtype must be a torch.dtype with a floating-point dtype", why="integer dtype"),
              Bad(dict(device="gpu-nonsense"), "device must name a device", why="unknown device")]),
    Case(hb.hopfield_weights, lambda: dict(patterns=_pm1(2, 5)),
         bad=[Bad(dict(patterns=0.5 * _pm1(2, 5)), "patterns may only contain the values", why="non-binary patterns")]),
    Case(hb.hopfield_energy, lambda: dict(w=_weights(), s=_pm1(3, 6, seed=1)),
         bad=[Bad(dict(w=torch.zeros(6, 5)), r"w has size 5 along axis 1 \(N\) but w has N = 6", why="non-square w"),
              Bad(dict(s=_pm1(3, 5)), r"s has size 5 along axis 1 \(N\) but w has N = 6", why="s of the wrong width"),
              Bad(dict(w=torch.zeros(2, 6, 6), s=_pm1(3, 2, 6)), "batch dimensions of w", why="batch mismatch")]),
    Case(hb.hopfield_recall, lambda: dict(w=_weights(), s0=_pm1(3, 6, seed=1), mode="async", max_iter=3,
                                          record_energy=True, generator=0),
         bad=[Bad(dict(s0=torch.full((3, 6), float("nan"))), "s0 contains", why="issue 12: NaN state"),
              Bad(dict(s0=torch.zeros(3, 6)), "s0 may only contain the values", why="non-binary state"),
              Bad(dict(s0=_pm1(3, 5)), r"s0 has size 5 along axis 1 \(N\) but w has N = 6", why="s0 of the wrong width"),
              Bad(dict(w=torch.zeros(2, 6, 6), s0=_pm1(3, 2, 6)), "batch dimensions of w", why="batch mismatch")]),
    Case(hb.hopfield_capacity, lambda: dict(n_units=12, loads=[0.1, 0.5], n_nets=2, n_probes=2, flip=0.1,
                                            threshold=0.99, mode="sync", max_iter=3, generator=0,
                                            dtype=torch.float32, device="cpu"),
         bad=[Bad(dict(threshold=-1.0), r"threshold must be a real number in \(0, 1\]", why="issue 12: threshold -1"),
              Bad(dict(threshold=1.5), r"threshold must be a real number in \(0, 1\]", why="threshold above 1"),
              Bad(dict(flip=1.0), r"flip must be a real number in \[0, 1\)", why="flip 1"),
              Bad(dict(loads=[0.5, 0.1]), "loads must be strictly increasing", why="decreasing loads"),
              Bad(dict(loads=[]), "loads must have at least 1", why="no loads"),
              Bad(dict(dtype=torch.int32), "dtype must be a torch.dtype with a floating-point dtype", why="integer dtype")]),
    # Hebbian rules
    Case(hb.hebb_step, lambda: dict(w=torch.ones(3), x=_x(4), lr=0.1),
         bad=[Bad(dict(x=torch.zeros(0, 3)), "x must not be empty", why="issue 12: empty batch"),
              Bad(dict(x=_x(4, 2)), r"x has size 2 along axis 1 \(d\) but w has d = 3", why="feature mismatch"),
              Bad(dict(w=torch.ones(2, 3), x=torch.ones(5, 4, 3)), "batch dimensions of w", why="runs mismatch")]),
    Case(hb.oja_step, lambda: dict(w=torch.ones(2, 3) / 3**0.5, x=_x(4), lr=0.1),
         bad=[Bad(dict(x=torch.zeros(0, 3)), "x must not be empty", why="issue 12: empty batch"),
              Bad(dict(x=_x(4, 2)), r"x has size 2 along axis 1 \(d\) but w has d = 3", why="feature mismatch")]),
    Case(hb.sanger_step, lambda: dict(w=torch.eye(3)[:2], x=_x(4), lr=0.1),
         bad=[Bad(dict(x=torch.zeros(0, 3)), "x must not be empty", why="issue 12: empty batch"),
              Bad(dict(x=_x(4, 2)), r"x has size 2 along axis 1 \(d\) but w has d = 3", why="feature mismatch")]),
    Case(hb.hopfield_mean_field_load, lambda: dict(threshold=0.99)),
    Case(hb.fit_hebbian, lambda: dict(x=_x(), rule="sanger", k=2, n_epochs=2, batch_size=2, lr=0.05, decay=0.1,
                                      n_runs=2, shared_order=False, generator=0),
         bad=[Bad(dict(x=torch.zeros(0, 3)), "x must not be empty", why="issue 12: empty data"),
              Bad(dict(rule="oja"), "k must be 1", why="k > 1 for oja"),
              Bad(dict(n_runs=None, w0=torch.ones(3, 3)), r"w0 must have shape \(\.\.\., k=2, 3\)", why="w0 vs k"),
              Bad(dict(n_runs=None, w0=torch.ones(2, 4)), r"w0 has size 4 along axis 1 \(d\) but x has d = 3", why="w0 width"),
              Bad(dict(n_runs=None, w0=torch.ones(2, 3, dtype=torch.float64)), "w0 has dtype", why="w0 dtype")]),
    Case(hb.fit_hebbian, lambda: dict(x=_x(), rule="oja", w0=torch.ones(2, 3) / 3**0.5, n_epochs=1, generator=0),
         name="fit_hebbian.w0"),
    # plastic networks
    Case(hb.PlasticRNN, lambda: dict(n_neurons=3, rule="oja", alpha_init=0.1, w_init=0.1, eta_init=0.2, generator=0),
         bad=[Bad(dict(eta_init=1.0), r"eta_init must be a real number in \(0, 1\)", why="eta_init 1")]),
    Case(hb.PlasticRNN.run, _plastic_run, name="PlasticRNN.run",
         bad=[Bad(dict(x=torch.zeros(2, 2, 4), h0=None), r"x must have shape \(T, B, 3\)", why="width != n_neurons"),
              Bad(dict(h0=torch.zeros(2, 4)), "h0 has size 4", why="h0 width mismatch")]),
    Case(hb.PlasticRNN.forward, _plastic_forward, name="PlasticRNN.forward",
         bad=[Bad(dict(h0=torch.zeros(3, 3)), "h0 has size 3", why="h0 batch mismatch")]),
    Case(hb.NeuromodulatedRNN, lambda: dict(n_neurons=3, modulation="simple", alpha_init=0.1, w_init=0.1,
                                            eta_init=0.2, generator=0)),
    Case(hb.NeuromodulatedRNN.run, _neuromod_run, name="NeuromodulatedRNN.run",
         bad=[Bad(dict(x=torch.zeros(2, 2, 4), h0=None), r"x must have shape \(T, B, 3\)", why="width != n_neurons")]),
    # tasks
    Case(hb.pattern_episodes, lambda: dict(n_episodes=2, pattern_size=4, n_patterns=2, n_distractors=1,
                                           n_presentations=1, present_steps=1, gap_steps=1, probe_steps=1,
                                           generator=0, dtype=torch.float32, device="cpu"),
         bad=[Bad(dict(pattern_size=1), "pattern_size must be an integer >= 2", why="nothing to erase")]),
    Case(hb.RecurrentBaseline, lambda: dict(n_inputs=3, n_hidden=4, n_outputs=2, cell="rnn", generator=0)),
    Case(hb.RecurrentBaseline.forward, _baseline_forward, name="RecurrentBaseline.forward",
         bad=[Bad(dict(x=torch.zeros(2, 2, 4)), r"x must have shape \(T, B, 3\)", why="width != n_inputs")]),
    Case(hb.completion_error, lambda: dict(output=_episodes().target * 0.3, episodes=_episodes()),
         bad=[Bad(dict(output=torch.zeros(2, 3)), "output must have the shape of episodes.target", why="width")]),
    Case(hb.episode_loss, lambda: dict(output=torch.full((2, 3), 0.2), target=_pm1(2, 3), margin=0.5),
         bad=[Bad(dict(target=torch.zeros(2, 3)), "target may only contain the values", why="non-binary target")]),
    Case(hb.train_episodes, lambda: dict(model=hb.PlasticRNN(5, generator=0), sampler=_sampler, n_steps=2, lr=1e-2,
                                         clip=1.0, margin=0.5, generator=0, progress=False, desc="contract"),
         bad=[Bad(dict(sampler=lambda g: torch.zeros(3, 2, 5)), "sampler must return an EpisodeBatch",
                  why="sampler returns a tensor"),
              Bad(dict(model=hb.PlasticRNN(5, generator=0).double()), "sampler made episodes on cpu",
                  why="sampler and model disagree on dtype")]),
]

EXEMPT = {
    "CapacityCurve": "result container of hopfield_capacity (a dataclass, no checks of its own)",
    "EpisodeBatch": "result container of pattern_episodes (a dataclass, no checks of its own)",
    "HebbianFit": "result container of fit_hebbian (a dataclass, no checks of its own)",
    "HopfieldRecall": "result container of hopfield_recall (a dataclass, no checks of its own)",
    "PlasticEpisode": "result container of PlasticRNN.run / NeuromodulatedRNN.run (a dataclass)",
    "TrainCurve": "result container of train_episodes (a dataclass, no checks of its own)",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
