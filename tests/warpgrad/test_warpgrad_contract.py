"""Contract cases for nips2019.warpgrad (see tests/contract.py)."""

import torch

from nips2019 import warpgrad as wg
from tests.contract import Bad, Case, check_case, contract_params

D64 = torch.float64


def _tasks():
    return wg.make_linear_tasks(3, 6, 4, 2, condition=4.0, generator=0, dtype=D64)


def _net(**kw):
    return wg.WarpedMLP([2, 1], bias=False, generator=0, **kw).double()


def _arrays(**kw):
    t = _tasks()
    return dict(model=_net(), x_support=t.x_support, y_support=t.y_support, x_query=t.x_query,
                y_query=t.y_query, **kw)


def _forward():
    net = _net()
    return net.forward, dict(x=_tasks().x_support, task=None)


def _precond():
    return _net().preconditioner, dict(layer=0)


def _warp_matrix():
    return _net(warp_depth=2).warp_matrix, dict(layer=0)


def _task_init():
    return _net().task_init, dict(n_tasks=2)


def _effective():
    net = _net()
    return net.effective_weights, dict(task=net.task_init(3))


_WRONG_FEATURES = torch.zeros(3, 6, 3, dtype=D64)

CASES = [
    Case(wg.WarpedMLP, lambda: dict(sizes=[2, 3, 1], warp="diagonal", warp_depth=2, activation="relu", bias=True,
                                    init_scale=0.5, generator=0),
         bad=[Bad(dict(sizes=[2]), "sizes must have at least 2", why="no layer")]),
    Case(wg.WarpedMLP.forward, _forward, name="WarpedMLP.forward",
         bad=[Bad(dict(x=torch.zeros(3, 6, 5, dtype=D64)), "x must have 2 features", why="wrong width")]),
    Case(wg.WarpedMLP.preconditioner, _precond, name="WarpedMLP.preconditioner",
         bad=[Bad(dict(layer=1), "layer must be < n_layers = 1", why="no such layer")]),
    Case(wg.WarpedMLP.warp_matrix, _warp_matrix, name="WarpedMLP.warp_matrix",
         bad=[Bad(dict(layer=3), "layer must be < n_layers", why="no such layer")]),
    Case(wg.WarpedMLP.task_init, _task_init, name="WarpedMLP.task_init"),
    Case(wg.WarpedMLP.effective_weights, _effective, name="WarpedMLP.effective_weights"),
    Case(wg.adapt, lambda: dict(_arrays(n_steps=2, lr=0.1, create_graph=False)),
         bad=[Bad(dict(x_support=_WRONG_FEATURES), "x_support", why="features the model does not take"),
              Bad(dict(model=torch.nn.Linear(2, 1).double()), "model must be a WarpedMLP", why="a plain module")]),
    Case(wg.warpgrad_meta_loss, lambda: _arrays(n_steps=3, lr=0.1, n_points=2, generator=0),
         bad=[Bad(dict(x_support=_WRONG_FEATURES, x_query=torch.zeros(3, 4, 3, dtype=D64)), "features",
                  why="features the model does not take")]),
    Case(wg.maml_meta_loss, lambda: _arrays(n_steps=2, lr=0.1, first_order=False),
         bad=[Bad(dict(x_query=torch.zeros(2, 4, 2, dtype=D64)), "x_query", why="fewer query tasks")]),
    Case(wg.meta_train, lambda: _arrays(method="warpgrad", n_steps=2, lr=0.1, meta_lr=0.01, n_meta_steps=2,
                                        batch_size=2, n_points=1, generator=0, progress=False),
         bad=[Bad(dict(model=wg.WarpedMLP([2, 1], warp="none").double()), "warp='none'",
                  why="nothing to meta-learn")]),
    Case(wg.make_linear_tasks, lambda: dict(n_tasks=2, n_support=3, n_query=2, n_features=2, condition=5.0,
                                            noise=0.1, weight_scale=1.0, weight_cov="inverse", rotate=True,
                                            generator=0, dtype=D64),
         bad=[Bad(dict(condition=0.5), "condition", why="a condition number below 1")]),
    Case(wg.preconditioned_condition_number,
         lambda: dict(p=torch.eye(2, dtype=D64), h=torch.diag(torch.tensor([1.0, 0.1], dtype=D64))),
         bad=[Bad(dict(h=-torch.eye(2, dtype=D64)), "h must be positive definite", why="negative Hessian"),
              Bad(dict(p=torch.eye(3, dtype=D64)), "p|h", why="mismatched sizes")]),
    Case(wg.saved_tensor_bytes, lambda: dict(fn=lambda: torch.ones(2, requires_grad=True).exp().sum())),
]

EXEMPT = {
    "AdaptResult": "result container (dataclass) returned by adapt",
    "GraphMemory": "result container (dataclass) returned by saved_tensor_bytes",
    "LinearTasks": "result container (dataclass) returned by make_linear_tasks",
    "MetaTrainResult": "result container (dataclass) returned by meta_train",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
