"""Contract cases for nips2019.shapes (see tests/contract.py)."""

import torch

from nips2019 import shapes
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _pts():
    return torch.tensor([[0.0, 0.0], [0.5, -0.5], [-0.5, 0.5], [0.9, 0.9]], **F64)


CASES = [
    Case(shapes.ConvexUnion, lambda: dict(n_convexes=2, n_planes=4, smoothness=10.0, sharpness=20.0, generator=0)),
    Case(shapes.fit_convexes, lambda: dict(points=_pts(), occupancy=torch.tensor([1.0, 1.0, 0.0, 0.0], **F64),
                                           n_convexes=1, n_planes=3, smoothness=10.0, sharpness=20.0, n_steps=2,
                                           lr=1e-2, anneal=2.0, n_restarts=1, generator=0, progress=False),
         bad=[Bad(dict(occupancy=torch.zeros(4, **F64)), "at least one point as inside", why="empty shape"),
              Bad(dict(occupancy=torch.tensor([2.0, 1.0, 0.0, 0.0], **F64)), "occupancy", why="above 1")]),
    Case(shapes.iou, lambda: dict(pred=torch.tensor([0.9, 0.1, 0.7], **F64), target=torch.tensor([1.0, 0.0, 0.0], **F64),
                                  threshold=0.5),
         bad=[Bad(dict(target=torch.zeros(2, **F64)), "same shape", why="shape mismatch")]),
    Case(shapes.star_polygon, lambda: dict(n_tips=5, r_outer=0.8, r_inner=0.3),
         bad=[Bad(dict(r_inner=0.9), "r_inner must be < r_outer", why="inverted radii")]),
    Case(shapes.polygon_occupancy, lambda: dict(points=_pts(), vertices=shapes.l_shape(dtype=torch.float64))),
]

EXEMPT = {
    "ConvexFitResult": "result container (dataclass) returned by fit_convexes",
    "l_shape": "takes only the output dtype/device; nothing to attack",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
