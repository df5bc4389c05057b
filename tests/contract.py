"""The package contract, as a test harness shared by every subpackage.

Each subpackage's ``tests/<topic>/test_<topic>_contract.py`` lists one small **valid call**
per public name (:class:`Case`) and names the few public names that take no arguments
worth attacking (``EXEMPT``, with a reason). From each valid call the harness derives
bad inputs, one argument at a time (:func:`mutations`): wrong rank, empty, NaN, inf,
an integer or the other floating dtype, a NumPy array, ``None`` for tensors; zero,
negative, NaN, inf, a fraction, a string and ``None`` for numbers; an unknown option
for strings; ``None`` for everything else. Every derived call must either

- raise ``TypeError``/``ValueError`` whose message names the mutated argument, or
- return a result whose tensors and floats are all finite (the input was valid after all).

Anything else fails: another exception type (torch's internals, ``AttributeError``),
an error that does not name the argument, or a NaN/inf in the result. Cases can add
``bad`` calls that must raise (nonsense no generic mutation produces: non-binary
data for Bernoulli leaves, points outside the Poincaré ball).

``tests/test_contract.py`` checks that every name in every subpackage's ``__all__`` is
covered, and that every public callable with parameters declares its constraints with
:func:`nips2019.utils.validate`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections import Counter
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch


@dataclasses.dataclass
class Bad:
    """A call that must raise ``exc`` with a message matching ``match``.

    ``kwargs`` are merged over the case's valid arguments.
    """

    kwargs: dict
    match: str
    exc: type | tuple = (ValueError, TypeError)
    why: str = ""


@dataclasses.dataclass
class Case:
    """One valid call of a public name and what to derive from it.

    Parameters
    ----------
    target : callable
        The public function or class (or a bound method, with ``name`` given).
    make : callable
        Returns the valid keyword arguments, freshly built for each call (so a
        mutated call cannot damage the next one). May return ``(callable, kwargs)``
        for methods of objects built on the fly.
    name : str, optional
        The public name this case covers (default: ``target.__name__``).
    bad : list of Bad
        Extra calls that must raise.
    skip : dict
        Argument name -> reason, for arguments the generic mutations must not touch
        (e.g. a callable whose every input is valid).
    allow_nonfinite : str
        A reason, if the function legitimately returns inf (a log-likelihood of an
        impossible event); empty means results must be finite.
    """

    target: Any
    make: Callable[[], Any]
    name: str | None = None
    bad: list = dataclasses.field(default_factory=list)
    skip: dict = dataclasses.field(default_factory=dict)
    allow_nonfinite: str = ""

    @property
    def key(self) -> str:
        return self.name or getattr(self.target, "__name__", repr(self.target))

    def build(self):
        made = self.make()
        if isinstance(made, tuple) and len(made) == 2 and callable(made[0]) and isinstance(made[1], dict):
            return made
        return self.target, made


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------


def _tensor_mutations(x: torch.Tensor) -> Iterator[tuple[str, Any]]:
    yield "rank+1", x.unsqueeze(0)
    if x.dim() >= 1:
        yield "rank-1", x[0] if x.shape[0] > 0 else x.sum(0)
    if x.dim() >= 1 and x.shape[0] > 0:
        yield "empty", x[:0]
    yield "numpy", x.detach().cpu().numpy()
    yield "None", None
    if x.is_floating_point():
        if x.numel():
            for label, val in (("nan", math.nan), ("inf", math.inf)):
                y = x.detach().clone()
                y.view(-1)[0] = val
                yield label, y
        yield "int dtype", x.detach().round().long()
        other = torch.float32 if x.dtype == torch.float64 else torch.float64
        yield f"{other}".replace("torch.", ""), x.detach().to(other)
    elif x.dtype == torch.bool:
        yield "float dtype", x.float()
    else:
        if x.numel():
            yield "negative", x - x.max() - 1
            yield "too large", x + 10**6
        yield "float dtype", x.double()


def _number_mutations(v) -> Iterator[tuple[str, Any]]:
    yield "zero", type(v)(0)
    yield "negative", -abs(v) - 1 if isinstance(v, int) else -abs(v) - 1.0
    yield "nan", math.nan
    yield "inf", math.inf
    if isinstance(v, int):
        yield "fraction", v + 0.5
    yield "string", "1"
    yield "None", None


def mutations(value) -> Iterator[tuple[str, Any]]:
    """The bad variants derived from one valid argument value."""
    if isinstance(value, torch.Tensor):
        yield from _tensor_mutations(value)
    elif isinstance(value, (bool, np.bool_)):
        yield "None", None
        yield "string", "yes"
    elif isinstance(value, (int, float, np.integer, np.floating)):
        yield from _number_mutations(value.item() if isinstance(value, np.generic) else value)
    elif isinstance(value, str):
        yield "unknown option", value + "-nonsense"
        yield "None", None
        yield "number", 3
    elif isinstance(value, (tuple, list)) and value and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        for i, v in enumerate(value):
            for label, bad in _number_mutations(v):
                if bad is None or isinstance(bad, str):
                    continue
                items = list(value)
                items[i] = bad
                yield f"[{i}] {label}", type(value)(items)
        yield "None", None
    elif isinstance(value, torch.Generator):
        yield "string", "seed"
        yield "negative seed", -1
    elif value is None:
        return
    else:
        yield "None", None


# ---------------------------------------------------------------------------------------------
# Outcomes
# ---------------------------------------------------------------------------------------------


def nonfinite_in(result, _depth=0) -> str | None:
    """A description of the first NaN/inf found in a result (tensors, arrays, floats, containers)."""
    if _depth > 6:
        return None
    if isinstance(result, torch.Tensor):
        if (result.is_floating_point() or result.is_complex()) and result.numel() and not bool(
            torch.isfinite(result).all()
        ):
            return f"tensor of shape {tuple(result.shape)} with non-finite values"
        return None
    if isinstance(result, np.ndarray):
        if result.dtype.kind in "fc" and result.size and not np.isfinite(result).all():
            return f"array of shape {result.shape} with non-finite values"
        return None
    if isinstance(result, (float, np.floating)):
        return None if math.isfinite(result) else f"float {result}"
    if isinstance(result, dict):
        items = result.values()
    elif isinstance(result, (list, tuple)):
        items = result[:64]
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        items = [getattr(result, f.name) for f in dataclasses.fields(result)]
    else:
        return None
    for item in items:
        found = nonfinite_in(item, _depth + 1)
        if found:
            return found
    return None


def _names_argument(message: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) is not None


def attack(case: Case) -> tuple[Counter, list[str]]:
    """Run a case's valid call, every derived bad call and its explicit bad calls.

    Returns the outcome counts (``clear``, ``accepted``, ``obscure``, ``nonfinite``,
    ``wrong``) and the failure messages.
    """
    counts: Counter = Counter()
    failures: list[str] = []
    fn, valid = case.build()
    result = fn(**valid)
    if not case.allow_nonfinite:
        found = nonfinite_in(result)
        assert found is None, f"{case.key}: the valid call returned a {found}"

    for arg in list(valid):
        if arg in case.skip:
            continue
        for label, bad_value in mutations(valid[arg]):
            fn, kwargs = case.build()
            kwargs[arg] = bad_value
            where = f"{case.key}({arg}: {label})"
            try:
                out = fn(**kwargs)
            except (TypeError, ValueError) as exc:
                if _names_argument(str(exc), arg):
                    counts["clear"] += 1
                else:
                    counts["obscure"] += 1
                    failures.append(f"{where}: {type(exc).__name__} does not name {arg!r}: {exc}")
            except Exception as exc:  # noqa: BLE001 - the point is to catch everything else
                counts["obscure"] += 1
                failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:200]}")
            else:
                found = None if case.allow_nonfinite else nonfinite_in(out)
                if found:
                    counts["nonfinite"] += 1
                    failures.append(f"{where}: returned a {found} instead of refusing the input")
                else:
                    counts["accepted"] += 1

    for bad in case.bad:
        fn, kwargs = case.build()
        kwargs.update(bad.kwargs)
        where = f"{case.key}(bad: {bad.why or sorted(bad.kwargs)})"
        try:
            fn(**kwargs)
        except bad.exc as exc:
            if re.search(bad.match, str(exc)):
                counts["clear"] += 1
            else:
                counts["obscure"] += 1
                failures.append(f"{where}: message {str(exc)!r} does not match {bad.match!r}")
        except Exception as exc:  # noqa: BLE001
            counts["wrong"] += 1
            failures.append(f"{where}: expected {bad.exc}, got {type(exc).__name__}: {str(exc)[:200]}")
        else:
            counts["wrong"] += 1
            failures.append(f"{where}: accepted nonsense without an error")
    return counts, failures


def contract_params(cases: list[Case]):
    """``pytest.mark.parametrize`` arguments: one test per case, named by its key."""
    keys = [c.key for c in cases]
    dupes = [k for k, n in Counter(keys).items() if n > 1]
    assert not dupes, f"duplicate case names: {dupes} (give them distinct name=...)"
    return pytest.mark.parametrize("case", cases, ids=keys)


def check_case(case: Case):
    """Body of a subpackage's contract test."""
    counts, failures = attack(case)
    assert not failures, f"{len(failures)} contract failure(s):\n  " + "\n  ".join(failures)
    return counts


def clone_kwargs(kwargs: dict) -> dict:
    """Deep-copy tensors and containers of a kwargs dict (for ``make`` functions that cache inputs)."""
    return {k: (v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)) for k, v in kwargs.items()}
