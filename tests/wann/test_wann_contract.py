"""Contract cases for nips2019.wann (see tests/contract.py)."""

import torch

from nips2019 import wann
from tests.contract import Bad, Case, check_case, contract_params


def _genome():
    return wann.Genome.dense(2, 2, n_hidden=(3,), activation="tanh")


def _x():
    return torch.randn(4, 2, generator=torch.Generator().manual_seed(0))


def _net_forward():
    return wann.WANNNetwork(_genome(), weight=0.5), dict(x=_x())


CASES = [
    Case(wann.Genome, lambda: dict(n_inputs=2, n_outputs=1, connections=[(0, 3), (1, 4), (4, 3)], enabled=None,
                                   activations=["linear"] * 4 + ["gaussian"]),
         bad=[Bad(dict(connections=[(0, 3), (3, 4), (4, 3)]), "may not start at an output", why="from an output"),
              Bad(dict(connections=[(0, 4), (4, 4)]), "self-loop", why="a self-loop"),
              Bad(dict(enabled=[True]), "one flag per connection", why="flags vs connections")]),
    Case(wann.Genome.dense, lambda: dict(n_inputs=2, n_outputs=2, n_hidden=(3, 2), activation="relu"),
         name="Genome.dense"),
    Case(wann.Genome.initial, lambda: dict(n_inputs=3, n_outputs=2, p_connect=0.5, generator=0),
         name="Genome.initial"),
    Case(wann.mutate, lambda: dict(genome=_genome(), probs=(0.2, 0.25, 0.5, 0.05), activations=("tanh", "abs"),
                                   generator=0),
         bad=[Bad(dict(probs=(0, 0, 0, 0)), "probs must not all be zero", why="no operator")]),
    Case(wann.shared_weight_forward, lambda: dict(genome=_genome(), x=_x(), weights=torch.tensor([-1.0, 0.5])),
         bad=[Bad(dict(x=torch.ones(4, 3)), "x must have shape \\(B, 2\\)", why="wrong input width")]),
    Case(wann.WANNNetwork, lambda: dict(genome=_genome(), weight=0.5)),
    Case(wann.WANNNetwork.forward, _net_forward, name="WANNNetwork.forward",
         bad=[Bad(dict(x=torch.ones(4, 3)), "x must have shape \\(B, 2\\)", why="wrong input width"),
              Bad(dict(x=torch.ones(4, 2, dtype=torch.float64)), "x has torch.float64", why="dtype mismatch")]),
    Case(wann.weight_accuracies, lambda: dict(genome=[_genome()], x=_x(), y=torch.tensor([0, 1, 1, 0]),
                                              weights=torch.tensor([-1.0, 0.5])),
         bad=[Bad(dict(y=torch.tensor([0, 1, 2, 0])), "y has label 2", why="more classes than outputs"),
              Bad(dict(genome=["nonsense"]), "genome\\[0\\] must be a Genome", why="not a genome")]),
    Case(wann.wann_search, lambda: dict(x=_x(), y=torch.tensor([0, 1, 1, 0]), weights=torch.tensor([-1.0, 1.0]),
                                        n_outputs=2, pop_size=4, n_generations=2, p_connections=0.8,
                                        tournament_size=2, elite_ratio=0.25, cull_ratio=0.25, p_connect=0.5,
                                        probs=(0.2, 0.25, 0.5, 0.05), activations=("tanh", "abs"), generator=0,
                                        progress=False),
         bad=[Bad(dict(n_outputs=1), "y has label 1 but n_outputs = 1", why="too few outputs")]),
]

EXEMPT = {
    "WANNSearchResult": "result container (dataclass) returned by wann_search",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
