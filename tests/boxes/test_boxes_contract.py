"""Contract cases for nips2019.boxes (see tests/contract.py)."""

import torch

from nips2019 import boxes
from nips2019.hyperbolic import balanced_tree
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _lo():
    return torch.tensor([[0.0, 0.1], [0.2, 0.3]], dtype=F64)


def _hi():
    return torch.tensor([[0.5, 0.6], [0.9, 0.7]], dtype=F64)


def _emb():
    return boxes.BoxEmbedding(4, 2, generator=0, dtype=F64)


def _tree():
    return balanced_tree(2, 1)


def _matrix():
    return boxes.make_box_matrix(8, 4, generator=0, dtype=F64)


CASES = [
    Case(boxes.log_volume, lambda: dict(lo=_lo(), hi=_hi(), method="gumbel", temperature=0.1)),
    Case(boxes.box_intersection, lambda: dict(lo1=_lo(), hi1=_hi(), lo2=_lo()[[1, 0]], hi2=_hi()[[1, 0]],
                                              method="gumbel", temperature=0.1),
         bad=[Bad(dict(lo2=torch.zeros(3, 2, dtype=F64)), "broadcast", why="shapes that do not broadcast")]),
    Case(boxes.conditional_probability, lambda: dict(lo_a=_lo(), hi_a=_hi(), lo_b=_lo()[[1, 0]],
                                                     hi_b=_hi()[[1, 0]], method="softplus", temperature=0.1,
                                                     log=False),
         bad=[Bad(dict(lo_b=torch.zeros(3, 2, dtype=F64)), "broadcast", why="shapes that do not broadcast")]),
    Case(boxes.gumbel_side_length, lambda: dict(delta=torch.tensor([-1.0, 0.5, 40.0], dtype=F64), beta=0.5,
                                                approx="bessel")),
    Case(boxes.sample_gumbel_boxes, lambda: dict(lo=_lo(), hi=_hi(), beta=0.1, n_samples=3, generator=0),
         bad=[Bad(dict(hi=_hi()[:1]), "one shape", why="corners of different shapes")]),
    Case(boxes.BoxEmbedding, lambda: dict(n_boxes=3, dim=2, method="hard", temperature=1.0, init_width=0.3,
                                          generator=0, dtype=F64)),
    Case(boxes.BoxEmbedding.log_conditional,
         lambda: (_emb().log_conditional, dict(u=torch.tensor([0, 1]), v=torch.tensor([2, 3]))),
         name="BoxEmbedding.log_conditional",
         bad=[Bad(dict(u=torch.tensor([0, 1, 2])), "broadcast", why="shapes that do not broadcast")]),
    Case(boxes.BoxEmbedding.distance_matrix, lambda: (_emb().distance_matrix, dict(rows=torch.tensor([0, 3]))),
         name="BoxEmbedding.distance_matrix"),
    Case(boxes.train_boxes, lambda: dict(closure=_tree().closure, n_nodes=3, dim=2, method="gumbel-softplus",
                                         temperature=0.1, n_epochs=2, batch_size=2, lr=0.01, n_negatives=2,
                                         init_width=0.3, generator=0, dtype=F64, progress=False),
         bad=[Bad(dict(init=boxes.BoxEmbedding(5, 2, generator=0)), "init has 5 boxes",
                  why="an embedding of the wrong size")]),
    Case(boxes.containment_f1, lambda: dict(prob=torch.tensor([[1.0, 0.9], [0.2, 1.0]], dtype=F64),
                                            closure=torch.tensor([[0, 1]]), threshold=0.5),
         bad=[Bad(dict(prob=torch.tensor([[1.0, 1.5], [0.2, 1.0]], dtype=F64)), "prob",
                  why="probabilities above 1")]),
    Case(boxes.random_dag, lambda: dict(n_nodes=5, n_roots=1, n_parents=2, generator=0),
         bad=[Bad(dict(n_nodes=2, n_roots=2), "n_nodes must be > n_roots", why="roots only")]),
    Case(boxes.make_box_matrix, lambda: dict(n_rows=6, n_cols=3, dim=2, row_width=0.05, noise=0.1,
                                             observed=0.5, generator=0, dtype=F64),
         bad=[Bad(dict(noise=0.5), "noise", why="pure noise labels")]),
    Case(boxes.fit_box_completion, lambda: dict(y=_matrix().y, mask=_matrix().observed, dim=2,
                                                method="gumbel-softplus", temperature=0.05, n_steps=2, lr=0.01,
                                                init_width=0.5, generator=0, progress=False),
         bad=[Bad(dict(mask=torch.zeros(8, 4, dtype=torch.bool)), "no observed", why="nothing observed"),
              Bad(dict(y=_matrix().y * 2), "y", why="labels 0/2")]),
    Case(boxes.fit_logistic_mf, lambda: dict(y=_matrix().y, mask=_matrix().observed, rank=2, reg=1e-3,
                                             n_steps=2, lr=0.05, generator=0, progress=False),
         bad=[Bad(dict(mask=torch.ones(8, 3, dtype=torch.bool)), "mask must have the shape",
                  why="mask of another shape")]),
]

EXEMPT = {
    "METHODS": "constant: the tuple of volume methods",
    "BoxCompletionResult": "result container (dataclass) returned by fit_box_completion",
    "BoxMatrix": "result container (dataclass) returned by make_box_matrix",
    "BoxTrainResult": "result container (dataclass) returned by train_boxes",
    "LogisticMFResult": "result container (dataclass) returned by fit_logistic_mf",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
