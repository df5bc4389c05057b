"""Contract cases for nips2019.prototypes (see tests/contract.py)."""

import torch

from nips2019 import prototypes
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _net(n_classes=2):
    torch.manual_seed(0)
    return prototypes.ProtoPNet(prototypes.ConvBackbone(1, (2,), generator=0), 2, n_classes, n_features=2,
                                generator=0).double()


def _x(n=4):
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(1), **F64)


def _y(n=4):
    return torch.arange(n) % 2


def _baseline():
    return prototypes.LinearHeadNet(prototypes.ConvBackbone(1, (2,), generator=0), 2, 2, generator=0).double()


CASES = [
    Case(prototypes.prototype_distances,
         lambda: dict(z=torch.rand(2, 3, 4, 4, **F64), prototypes=torch.rand(5, 3, 2, 2, **F64)),
         bad=[Bad(dict(prototypes=torch.rand(5, 3, 5, 1, **F64)), "larger than the latent maps",
                  why="patch larger than the map"),
              Bad(dict(prototypes=torch.rand(5, 2, 1, 1, **F64)), "prototypes", why="channel mismatch")]),
    Case(prototypes.log_similarity, lambda: dict(distances=torch.rand(3, 4, **F64), eps=1e-4),
         bad=[Bad(dict(distances=-torch.rand(3, **F64)), "distances", why="negative distances"),
              Bad(dict(eps=2.0), "eps", why="eps >= 1 makes the similarity negative")]),
    Case(prototypes.cluster_cost,
         lambda: dict(min_distances=torch.rand(4, 4, **F64), y=_y(), prototype_class=torch.tensor([0, 0, 1, 1])),
         bad=[Bad(dict(y=torch.tensor([0, 1, 2, 0])), "have no prototype", why="a label without prototypes")]),
    Case(prototypes.separation_cost,
         lambda: dict(min_distances=torch.rand(4, 4, **F64), y=_y(), prototype_class=torch.tensor([0, 0, 1, 1])),
         bad=[Bad(dict(prototype_class=torch.zeros(4, dtype=torch.int64), y=torch.zeros(4, dtype=torch.int64)),
                  "at least two classes", why="no other class to be separated from")]),
    Case(prototypes.ConvBackbone, lambda: dict(in_channels=1, channels=(2, 3), pool=(True, False), generator=0),
         bad=[Bad(dict(pool=(True,)), "one entry per convolution", why="pool list of the wrong length")]),
    Case(prototypes.ProtoPNet,
         lambda: dict(backbone=prototypes.ConvBackbone(1, (2,), generator=0), backbone_channels=2, n_classes=2,
                      n_prototypes_per_class=1, n_features=2, patch_size=1, incorrect_strength=-0.5, eps=1e-4,
                      generator=0),
         bad=[Bad(dict(incorrect_strength=0.5), "incorrect_strength", why="positive wrong-class connections")]),
    Case(prototypes.LinearHeadNet,
         lambda: dict(backbone=prototypes.ConvBackbone(1, (2,), generator=0), backbone_channels=2, n_classes=3,
                      generator=0),
         bad=[Bad(dict(n_classes=1), "n_classes", why="one class")]),
    Case(prototypes.train_classifier,
         lambda: dict(model=_baseline(), x=_x(), y=_y(), n_epochs=1, lr=1e-2, batch_size=2, generator=0,
                      progress=False),
         bad=[Bad(dict(y=torch.tensor([0, 1, 2, 0])), "y", why="label beyond the model's classes"),
              Bad(dict(x=_x().float()), "x has dtype torch.float32", why="model and data dtypes differ")]),
    Case(prototypes.fit_joint,
         lambda: dict(model=_net(), x=_x(), y=_y(), n_epochs=1, lr=1e-2, batch_size=2, clst_weight=0.8,
                      sep_weight=0.08, train_last_layer=False, generator=0, progress=False),
         bad=[Bad(dict(model=_baseline()), "model", why="not a ProtoPNet"),
              Bad(dict(y=torch.tensor([0, 1, 2, 0])), "y", why="label beyond the model's classes")]),
    Case(prototypes.push_prototypes, lambda: dict(model=_net(), x=_x(), y=_y(), batch_size=2),
         bad=[Bad(dict(y=torch.zeros(4, dtype=torch.int64)), r"no image of class\(es\) \[1\]",
                  why="a class with no training image")]),
    Case(prototypes.fit_last_layer,
         lambda: dict(model=_net(), x=_x(), y=_y(), l1=1e-3, l2=1e-2, max_iter=50, tol=1e-6, batch_size=2),
         bad=[Bad(dict(l1=-1.0), "l1", why="negative penalty")]),
    Case(prototypes.explain, lambda: dict(model=_net(), x=_x()),
         bad=[Bad(dict(x=_x().float()), "x has dtype", why="dtype mismatch")]),
    Case(prototypes.activation_map, lambda: dict(model=_net(), x=_x(), size=(8, 8)),
         bad=[Bad(dict(size=(8,)), "size", why="one number for two sides")]),
    Case(prototypes.load_digit_images, lambda: dict(n_train=20, n_test=5, generator=0, dtype=torch.float64),
         bad=[Bad(dict(n_train=1500, n_test=500), "at most 1797", why="more images than the data set has")]),
]

EXEMPT = {
    "DigitImages": "result container (dataclass) returned by load_digit_images",
    "Explanation": "result container (dataclass) returned by explain",
    "LastLayerResult": "result container (dataclass) returned by fit_last_layer",
    "ProtoPNetOutput": "result container (dataclass) returned by ProtoPNet.details",
    "PushResult": "result container (dataclass) returned by push_prototypes",
    "TrainResult": "result container (dataclass) returned by train_classifier and fit_joint",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
