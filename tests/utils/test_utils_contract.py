"""Contract cases for nips2019.utils (see tests/contract.py)."""

import torch

from nips2019 import utils
from tests.contract import Bad, Case, check_case, contract_params

def _varargs(fn):
    """Call ``fn(*shape)`` for a tuple and ``fn(shape)`` for anything else (so mutations reach the function)."""
    return lambda shape, **kw: fn(*shape, **kw) if isinstance(shape, tuple) else fn(shape, **kw)


CASES = [
    Case(utils.as_generator, lambda: dict(generator=3)),
    Case(utils.torch_generator, lambda: dict(seed=3)),
    Case(utils.numpy_rng, lambda: dict(generator=3)),
    Case(utils.randn, lambda: (_varargs(utils.randn), dict(shape=(2, 3), generator=0))),
    Case(utils.rand, lambda: (_varargs(utils.rand), dict(shape=(2, 3), generator=0))),
    Case(utils.randint, lambda: dict(low=0, high=4, shape=(3,), generator=0), bad=[Bad(dict(high=0), "high")]),
    Case(utils.randperm, lambda: dict(n=5, generator=0)),
    Case(utils.seed_everything, lambda: dict(seed=1)),
    Case(utils.default_device, lambda: dict(prefer="cpu")),
    Case(utils.setup_notebook, lambda: dict(seed=0, threads=1, style=False)),
    Case(utils.progress, lambda: (lambda **kw: list(utils.progress(range(3), **kw)), dict(desc="x", total=3, disable=True))),
    Case(utils.quick_or_full, lambda: dict(quick=1, full=2), skip={"quick": "any value", "full": "any value"}),
    Case(utils.check_arguments, lambda: dict(func="f", n=(3, utils.Integer(low=0))), skip={"n": "it is the checker"}),
    Case(utils.validate, lambda: dict(x=utils.Tensor())),
    Case(utils.constraints_of, lambda: dict(obj=utils.randperm)),
]

EXEMPT = {
    "is_quick": "takes no arguments (reads the environment)",
    "AnyOf": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Constraint": "abstract base class of the constraint types",
    "Tensor": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Integer": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Real": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Probability": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Bool": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Options": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "InstanceOf": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "IsCallable": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Items": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Generator": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Device": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "DType": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
    "Module": "a constraint type; its checks are tested in tests/utils/test_constraints.py",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
