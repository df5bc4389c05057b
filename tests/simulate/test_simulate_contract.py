"""Contract cases for nips2019.simulate (see tests/contract.py)."""

import torch

from nips2019 import simulate
from tests.contract import Bad, Case, check_case, contract_params

F64 = dict(dtype=torch.float64)


def _square():
    return torch.tensor([[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]], **F64)


CASES = [
    Case(simulate.projectile_step, lambda: dict(state=torch.tensor([[0.0, 1.0, 2.0, 3.0]], **F64),
                                                drag=torch.tensor([0.1], **F64), g=9.81, dt=0.01,
                                                drag_model="quadratic", restitution=0.5),
         bad=[Bad(dict(restitution=1.5), "restitution", why="restitution above 1"),
              Bad(dict(drag=torch.tensor([-0.1], **F64)), "drag", why="negative drag")]),
    Case(simulate.simulate_projectile, lambda: dict(position=torch.zeros(2, 2, **F64),
                                                    velocity=torch.ones(2, 2, **F64),
                                                    drag=torch.tensor([0.0, 0.2], **F64), g=9.81, dt=0.01,
                                                    n_steps=3, drag_model="linear", restitution=0.9),
         bad=[Bad(dict(velocity=torch.ones(3, 2, **F64)), "velocity", why="batch sizes differ")]),
    Case(simulate.pixel_grid, lambda: dict(size=3)),
    Case(simulate.polygon_sdf, lambda: dict(points=torch.rand(4, 2, **F64), vertices=_square()),
         bad=[Bad(dict(vertices=_square()[:2]), "at least 3 points", why="a segment")]),
    Case(simulate.render_disks, lambda: dict(centers=torch.tensor([[0.5, 0.5]], **F64),
                                             radii=torch.tensor([0.2], **F64), colors=torch.ones(1, 3, **F64),
                                             size=4, softness=0.1, background=torch.zeros(3, **F64)),
         bad=[Bad(dict(background=torch.zeros(2, **F64)), "background", why="channel mismatch")]),
    Case(simulate.render_polygon, lambda: dict(vertices=_square(), size=4, softness=0.1)),
    Case(simulate.CoordinateNetwork, lambda: dict(n_outputs=3, n_hidden=4, n_frequencies=2, scale=2.0,
                                                  generator=0)),
    Case(simulate.fit_coordinate_network, lambda: dict(model=simulate.CoordinateNetwork(1, n_hidden=4,
                                                                                        generator=0).double(),
                                                       image=torch.rand(1, 4, 4, **F64), n_steps=2, lr=1e-3,
                                                       progress=False),
         bad=[Bad(dict(image=torch.rand(1, 4, 3, **F64)), "square", why="non-square image")]),
]

EXEMPT = {
    "FieldFitResult": "result container (dataclass) returned by fit_coordinate_network",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
