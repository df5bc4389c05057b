"""Contract cases for nips2019.icnn (see tests/contract.py)."""

import torch

from nips2019 import icnn
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _x(n=6, d=2, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _net():
    return icnn.ICNN(2, hidden=(4, 4), generator=0, dtype=F64)


CASES = [
    Case(icnn.ICNN, lambda: dict(in_features=2, hidden=(4, 3), activation="celu", generator=0, device="cpu",
                                 dtype=F64),
         bad=[Bad(dict(hidden=()), "hidden", why="no hidden layer"),
              Bad(dict(dtype=torch.long), "dtype", why="integer parameters")]),
    Case(icnn.ICNN.forward, lambda: (_net(), dict(x=_x())), name="ICNN.forward",
         bad=[Bad(dict(x=_x().float()), "x", why="float32 input to a float64 network"),
              Bad(dict(x=_x(6, 3)), "in_features = 2", why="wrong number of features")]),
    Case(icnn.ICNN.gradient, lambda: (_net(), dict(x=_x())), name="ICNN.gradient",
         bad=[Bad(dict(x=_x(6, 3)), "in_features = 2", why="wrong number of features")]),
    Case(icnn.hessian_min_eigenvalue, lambda: dict(potential=_net(), x=_x()),
         bad=[Bad(dict(potential=3.0), "potential", why="not callable")]),
    Case(icnn.gaussian_map,
         lambda: dict(mean_source=torch.zeros(2, dtype=F64), cov_source=torch.eye(2, dtype=F64),
                      mean_target=torch.ones(2, dtype=F64),
                      cov_target=torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64)),
         bad=[Bad(dict(cov_source=torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=F64)), "positive definite",
                  why="an indefinite covariance"),
              Bad(dict(cov_target=torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64)), "symmetric",
                  why="a non-symmetric covariance"),
              Bad(dict(mean_target=torch.ones(3, dtype=F64)), "mean_target", why="dimension mismatch")]),
    Case(icnn.fit_icnn_transport,
         lambda: dict(source=_x(8), target=_x(7, seed=1) + 1, hidden=(4,), activation="softplus", n_steps=2,
                      inner_steps=1, batch_size=4, lr=1e-3, generator=0, progress=False),
         bad=[Bad(dict(target=_x(7, 3)), "target", why="different dimensions"),
              Bad(dict(lr=0.0), "lr", why="no step")]),
]

EXEMPT = {
    "GaussianMap": "result container (dataclass) returned by gaussian_map",
    "ICNNTransportResult": "result container (dataclass) returned by fit_icnn_transport",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
