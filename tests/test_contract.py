"""Coverage of the package contract: every public name has a registered valid call or a stated exemption.

The attacks themselves run per subpackage (``tests/<topic>/test_<topic>_contract.py``), so they
spread over the test workers; see ``tests/contract.py`` for what they check.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

import nips2019
from nips2019.utils import constraints_of
from tests.contract import Case

SUBPACKAGES = sorted(nips2019._SUBPACKAGES)


def _contract_module(sub: str):
    return importlib.import_module(f"tests.{sub}.test_{sub}_contract")


def _has_parameters(obj) -> bool:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    return any(p.kind not in (p.VAR_KEYWORD,) for p in sig.parameters.values())


def _is_constant(obj) -> bool:
    return not callable(obj) or inspect.ismodule(obj)


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_every_public_name_is_covered(sub):
    module = importlib.import_module(f"nips2019.{sub}")
    contract = _contract_module(sub)
    cases: list[Case] = contract.CASES
    exempt: dict[str, str] = getattr(contract, "EXEMPT", {})
    # a variant of a name's case is keyed "name.variant" or "name[variant]"
    covered = {c.key for c in cases} | {c.key.split("[")[0].split(".")[0] for c in cases}
    missing = [
        name for name in module.__all__ if not _is_constant(getattr(module, name)) and name not in covered | set(exempt)
    ]
    assert not missing, f"nips2019.{sub}: public names without a contract Case or EXEMPT reason: {missing}"
    for name, reason in exempt.items():
        assert name in module.__all__, f"EXEMPT names {name!r}, which nips2019.{sub} does not export"
        assert isinstance(reason, str) and len(reason) > 10, f"EXEMPT[{name!r}] needs a reason"
    stale = {c.key.split("[")[0].split(".")[0] for c in cases} - set(module.__all__)
    assert not stale, f"cases for names nips2019.{sub} does not export: {sorted(stale)}"


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_public_callables_declare_constraints(sub):
    module = importlib.import_module(f"nips2019.{sub}")
    exempt = getattr(_contract_module(sub), "EXEMPT", {})
    undeclared = []
    for name in module.__all__:
        obj = getattr(module, name)
        if _is_constant(obj) or name in exempt or not _has_parameters(obj):
            continue
        if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
            continue  # validated in __post_init__; attacked through its Case
        if constraints_of(obj) is None:
            undeclared.append(name)
    assert not undeclared, f"nips2019.{sub}: public callables without @validate declarations: {undeclared}"
