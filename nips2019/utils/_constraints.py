r"""Declared input constraints, checked in one place.

Every public function of the package states what it accepts next to its signature::

    @validate(
        x1=Tensor(shape=("n", "d"), dtype="floating"),
        x2=Tensor(shape=("m", "d"), dtype="floating", optional=True),
        depth=Integer(low=1),
        activation=Options("relu", "erf"),
        same=[("x1", "x2")],
    )
    def analytic_kernels(x1, x2=None, *, depth=1, activation="relu"): ...

:func:`validate` binds the call's arguments, checks each declared one and raises a
``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, wrong value) whose
message names the function, the argument and what was expected. Named dimensions
(``"n"``, ``"d"``) must agree across all the arguments that use them. ``same`` lists
groups of arguments that must share a device and a floating dtype: the package
refuses a mismatch and never converts silently.

The declarations are kept on the wrapper as ``__constraints__`` so the contract test
(``tests/contract.py``) can attack every public function. The idea follows
scikit-learn's ``utils/_param_validation.py``; the code is ours.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

__all__ = [
    "AnyOf",
    "Bool",
    "IsCallable",
    "Constraint",
    "Generator",
    "InstanceOf",
    "Integer",
    "Module",
    "Options",
    "Real",
    "Items",
    "Tensor",
    "validate",
]


class _Context:
    """Per-call state: the function name and the sizes bound to named dimensions."""

    __slots__ = ("func", "dims", "arguments")

    def __init__(self, func: str, arguments: dict):
        self.func = func
        self.dims: dict[str, tuple[int, str]] = {}
        self.arguments = arguments

    def fail(self, exc: type[Exception], msg: str):
        raise exc(f"{self.func}: {msg}" if self.func else msg)


class Constraint:
    """Base class: one declared constraint on one argument.

    Subclasses implement ``check_value`` and ``describe``; ``optional=True``
    additionally admits ``None``.
    """

    optional: bool = False

    def check(self, value, name: str, ctx: _Context | None = None):
        ctx = ctx if ctx is not None else _Context("", {})
        if value is None:
            if self.optional:
                return
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got None")
        self.check_value(value, name, ctx)

    def check_value(self, value, name: str, ctx: _Context):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.describe()}{', optional' if self.optional else ''})"


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


def _as_scalar(value):
    """0-d tensors and numpy scalars count as Python numbers."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _interval(low, high, closed: str) -> str:
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


class _Bounded(Constraint):
    def __init__(self, low=None, high=None, closed: str = "both", optional: bool = False):
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither', got {closed!r}")
        self.low, self.high, self.closed, self.optional = low, high, closed, optional

    def _in_range(self, v) -> bool:
        if self.low is not None:
            if v < self.low or (v == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if v > self.high or (v == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def _range_text(self) -> str:
        if self.low is None and self.high is None:
            return ""
        if self.high is None:
            return f" {'>=' if self.closed in ('both', 'left') else '>'} {self.low:g}"
        if self.low is None:
            return f" {'<=' if self.closed in ('both', 'right') else '<'} {self.high:g}"
        return f" in {_interval(self.low, self.high, self.closed)}"


class Integer(_Bounded):
    """An integer (Python or NumPy, not bool), optionally in ``[low, high]``.

    Examples
    --------
    >>> Integer(low=1).check(0, "depth")
    Traceback (most recent call last):
    ...
    ValueError: depth must be an integer >= 1, got 0
    """

    def check_value(self, value, name, ctx):
        value = _as_scalar(value)
        if not _is_int(value):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")
        if not self._in_range(value):
            ctx.fail(ValueError, f"{name} must be {self.describe()}, got {value}")

    def describe(self):
        return "an integer" + self._range_text()


class Real(_Bounded):
    """A finite real number (int or float, not bool), optionally in an interval.

    ``closed`` says which ends belong to the interval (``"both"``, ``"left"``,
    ``"right"``, ``"neither"``); ``finite=False`` admits ``inf`` (never NaN).

    Examples
    --------
    >>> Real(low=0, closed="neither").check(0.0, "lr")
    Traceback (most recent call last):
    ...
    ValueError: lr must be a real number > 0, got 0.0
    >>> Real(0, 1).check(float("nan"), "p")
    Traceback (most recent call last):
    ...
    ValueError: p must be a real number in [0, 1], got nan
    """

    def __init__(self, low=None, high=None, closed: str = "both", optional: bool = False, finite: bool = True):
        super().__init__(low, high, closed, optional)
        self.finite = finite

    def check_value(self, value, name, ctx):
        value = _as_scalar(value)
        if not _is_real(value):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")
        v = float(value)
        if math.isnan(v) or (self.finite and math.isinf(v)) or not self._in_range(v):
            ctx.fail(ValueError, f"{name} must be {self.describe()}, got {value}")

    def describe(self):
        return ("a real number" if self.finite else "a real number or inf") + self._range_text()


def Probability(optional: bool = False) -> Real:  # noqa: N802 - reads like a type
    """A real number in [0, 1]."""
    return Real(0.0, 1.0, optional=optional)


class AnyOf(Constraint):
    """A value that satisfies at least one of several constraints (``reg_m``: a number or a pair).

    When every alternative refuses the value, the first ``ValueError`` (right kind,
    wrong value) is raised; if every alternative refused its kind, a ``TypeError``
    lists them all.

    Examples
    --------
    >>> AnyOf(Integer(low=1), Items(Integer(low=1))).check(0, "n_cells")
    Traceback (most recent call last):
    ...
    ValueError: n_cells must be an integer >= 1, got 0
    >>> AnyOf(Integer(), Items(Integer())).check("3", "n_cells")
    Traceback (most recent call last):
    ...
    TypeError: n_cells must be an integer or a list or tuple of an integer, got str '3'
    """

    def __init__(self, *constraints: Constraint, optional: bool = False):
        if not constraints or not all(isinstance(c, Constraint) for c in constraints):
            raise TypeError("AnyOf needs one or more Constraint instances")
        self.constraints, self.optional = constraints, optional

    def check_value(self, value, name, ctx):
        errors = []
        for constraint in self.constraints:
            try:
                constraint.check(value, name, ctx)
                return
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        for exc in errors:
            if isinstance(exc, ValueError):
                raise exc
        ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")

    def describe(self):
        return " or ".join(c.describe() for c in self.constraints)


class Bool(Constraint):
    """``True`` or ``False`` (NumPy bools too)."""

    def __init__(self, optional: bool = False):
        self.optional = optional

    def check_value(self, value, name, ctx):
        if not isinstance(value, (bool, np.bool_)):
            ctx.fail(TypeError, f"{name} must be True or False, got {_show(value)}")

    def describe(self):
        return "True or False"


class Options(Constraint):
    """One of a fixed set of values (usually strings).

    Examples
    --------
    >>> Options("relu", "erf").check("tanh", "activation")
    Traceback (most recent call last):
    ...
    ValueError: activation must be one of 'relu', 'erf', got 'tanh'
    """

    def __init__(self, *choices, optional: bool = False):
        if len(choices) == 1 and isinstance(choices[0], (list, tuple, set, frozenset)):
            choices = tuple(choices[0])
        self.choices = tuple(choices)
        self.optional = optional

    def check_value(self, value, name, ctx):
        if isinstance(value, (torch.Tensor, np.ndarray)):
            ok = False  # elementwise ``==`` would make ``in`` ambiguous
        else:
            try:
                ok = bool(value in self.choices)
            except (TypeError, ValueError):  # unhashable / incomparable
                ok = False
        if ok and all(type(value) is not bool or type(c) is bool for c in self.choices):
            return
        exc = TypeError if not any(isinstance(value, type(c)) for c in self.choices) else ValueError
        shown = _show(value) if isinstance(value, (torch.Tensor, np.ndarray)) else repr(value)
        ctx.fail(exc, f"{name} must be {self.describe()}, got {shown}")

    def describe(self):
        return "one of " + ", ".join(repr(c) for c in self.choices)


class InstanceOf(Constraint):
    """An instance of one of the given types."""

    def __init__(self, *types: type, optional: bool = False):
        self.types = types
        self.optional = optional

    def check_value(self, value, name, ctx):
        if not isinstance(value, self.types):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")

    def describe(self):
        return "a " + " or ".join(t.__name__ for t in self.types)


class IsCallable(Constraint):
    """Anything callable."""

    def __init__(self, optional: bool = False):
        self.optional = optional

    def check_value(self, value, name, ctx):
        if not callable(value):
            ctx.fail(TypeError, f"{name} must be callable, got {_show(value)}")

    def describe(self):
        return "callable"


class Generator(Constraint):
    """The package's randomness argument: ``None``, a non-negative int seed, or a CPU ``torch.Generator``.

    See :func:`nips2019.utils.as_generator` for what each means.
    """

    def __init__(self):
        self.optional = True

    def check_value(self, value, name, ctx):
        if isinstance(value, torch.Generator):
            if value.device.type != "cpu":
                ctx.fail(
                    ValueError,
                    f"{name} must be a CPU torch.Generator (random numbers are drawn on the CPU and moved, so CPU "
                    f"and CUDA runs agree), got one on {value.device}",
                )
            return
        if not _is_int(value):
            ctx.fail(TypeError, f"{name} must be None, an int seed or a CPU torch.Generator, got {_show(value)}")
        if value < 0:
            ctx.fail(ValueError, f"{name} must be a non-negative seed, got {value}")

    def describe(self):
        return "None, an int seed or a CPU torch.Generator"


class Device(Constraint):
    """A device for functions that create tensors: a ``torch.device`` or a string naming one."""

    def __init__(self, optional: bool = True):
        self.optional = optional

    def check_value(self, value, name, ctx):
        if not isinstance(value, (str, torch.device)):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")
        try:
            device = torch.device(value)
        except (RuntimeError, ValueError):
            ctx.fail(ValueError, f"{name} must name a device such as 'cpu' or 'cuda:0', got {value!r}")
        if device.type == "cuda" and not torch.cuda.is_available():
            ctx.fail(ValueError, f"{name} is {value!r} but CUDA is not available on this machine")

    def describe(self):
        return "a torch.device or a device string"


class DType(Constraint):
    """A ``torch.dtype`` of a given kind (``"floating"`` by default; ``None`` for any)."""

    def __init__(self, kind: str | None = "floating", optional: bool = False):
        if kind is not None and kind not in _DTYPE_KINDS:
            raise ValueError(f"kind must be one of {sorted(_DTYPE_KINDS)} or None, got {kind!r}")
        self.kind, self.optional = kind, optional

    def check_value(self, value, name, ctx):
        if not isinstance(value, torch.dtype):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")
        if self.kind is not None and not _DTYPE_KINDS[self.kind][0](value):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {value}")

    def describe(self):
        return "a torch.dtype" if self.kind is None else f"a torch.dtype with {_DTYPE_KINDS[self.kind][1]}"


class Module(Constraint):
    """A ``torch.nn.Module``; its first floating parameter gives its device and dtype for ``same`` groups."""

    def __init__(self, optional: bool = False):
        self.optional = optional

    def check_value(self, value, name, ctx):
        if not isinstance(value, torch.nn.Module):
            ctx.fail(TypeError, f"{name} must be a torch.nn.Module, got {_show(value)}")

    def describe(self):
        return "a torch.nn.Module"


class Items(Constraint):
    """A list or tuple whose items each satisfy ``item``; ``length`` fixes its size, ``min_length`` bounds it."""

    def __init__(self, item: Constraint | None = None, length: int | None = None, min_length: int = 0,
                 optional: bool = False):
        self.item, self.length, self.min_length, self.optional = item, length, min_length, optional

    def check_value(self, value, name, ctx):
        if isinstance(value, (torch.Tensor, np.ndarray)):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            ctx.fail(TypeError, f"{name} must be {self.describe()}, got {_show(value)}")
        if self.length is not None and len(value) != self.length:
            ctx.fail(ValueError, f"{name} must have {self.length} items, got {len(value)}")
        if len(value) < self.min_length:
            ctx.fail(ValueError, f"{name} must have at least {self.min_length} item(s), got {len(value)}")
        if self.item is not None:
            for i, v in enumerate(value):
                self.item.check(v, f"{name}[{i}]", ctx)

    def describe(self):
        what = "a list or tuple"
        if self.length is not None:
            what += f" of {self.length}"
        if self.item is not None:
            what += f" of {self.item.describe()}"
        return what


_DTYPE_KINDS = {
    "floating": (lambda d: d.is_floating_point, "a floating-point dtype"),
    "integer": (lambda d: not d.is_floating_point and not d.is_complex and d != torch.bool, "an integer dtype"),
    "bool": (lambda d: d == torch.bool, "dtype torch.bool"),
    "numeric": (lambda d: not d.is_complex and d != torch.bool, "a real (integer or floating) dtype"),
}


class Tensor(Constraint):
    """A ``torch.Tensor`` of a given rank, shape, dtype kind and value range.

    Parameters
    ----------
    ndim : int or sequence of int, optional
        Allowed ranks (ignored when ``shape`` is given).
    shape : sequence of (int, str or None), optional
        Expected shape. An int fixes a size, ``None`` admits any size, and a string
        names a dimension: every argument of one call that uses the same name must
        have the same size there (and callables in ``high`` may read it). A leading
        ``"..."`` admits any number of batch dimensions in front: ``("...", "n", "d")``.
    dtype : {"floating", "integer", "bool", "numeric"} or torch.dtype, optional
        Required kind of dtype.
    finite : bool
        Refuse NaN and infinite entries (default True).
    nonempty : bool
        Refuse tensors with no elements (default True).
    low, high : float, str or callable, optional
        Bounds on the values (``closed`` as in :class:`Real`; by default ``[low, high)``
        for integer tensors and string bounds, ``[low, high]`` otherwise; an integer tensor with
        a ``high`` and no ``low`` is an index, bounded below by 0). A string names a
        dimension (``high="n"`` for an index into ``n`` items); a callable receives
        the call's bound arguments.
    values : sequence, optional
        The only values allowed (``values=(0, 1)`` for binary data).
    max_norm : float, optional
        Every row (last dimension) must have Euclidean norm strictly below this,
        e.g. 1 for points of the Poincaré ball.
    optional : bool
        Admit ``None``.

    Examples
    --------
    >>> import torch
    >>> Tensor(shape=("n", 2)).check(torch.zeros(3, 4), "x")
    Traceback (most recent call last):
    ...
    ValueError: x must have shape (n, 2), got (3, 4)
    >>> Tensor(dtype="integer", low=0, high=5).check(torch.tensor([0, 7]), "index")
    Traceback (most recent call last):
    ...
    ValueError: index must have values in [0, 5), got max 7
    """

    def __init__(
        self,
        ndim: int | Sequence[int] | None = None,
        shape: Sequence[int | str | None] | None = None,
        dtype: str | torch.dtype | None = None,
        finite: bool = True,
        nonempty: bool = True,
        low=None,
        high=None,
        closed: str | None = None,
        values: Sequence | None = None,
        max_norm: float | None = None,
        optional: bool = False,
    ):
        if isinstance(dtype, str) and dtype not in _DTYPE_KINDS:
            raise ValueError(f"dtype must be one of {sorted(_DTYPE_KINDS)} or a torch.dtype, got {dtype!r}")
        self.ndim = (ndim,) if isinstance(ndim, int) else (tuple(ndim) if ndim is not None else None)
        self.shape = tuple(shape) if shape is not None else None
        self.dtype, self.finite, self.nonempty = dtype, finite, nonempty
        self.low, self.high, self.values, self.max_norm, self.optional = low, high, values, max_norm, optional
        # Indices: [low, high) by default; other bounds are closed unless told.
        index_like = isinstance(high, str) or (dtype == "integer" and high is not None)
        self.closed = closed if closed is not None else ("left" if index_like else "both")
        if index_like and low is None:
            self.low = 0  # an index: negative values must not wrap around

    def _resolve(self, bound, ctx):
        if bound is None or isinstance(bound, numbers.Real):
            return bound
        if isinstance(bound, str):
            if bound not in ctx.dims:
                raise RuntimeError(f"bound {bound!r} names no dimension seen before it")  # a declaration bug
            return ctx.dims[bound][0]
        return bound(ctx.arguments)

    def check_value(self, x, name, ctx):
        if not isinstance(x, torch.Tensor):
            ctx.fail(TypeError, f"{name} must be a torch.Tensor, got {_show(x)}")
        if self.dtype is not None:
            if isinstance(self.dtype, torch.dtype):
                if x.dtype != self.dtype:
                    ctx.fail(TypeError, f"{name} must have dtype {self.dtype}, got {x.dtype}")
            else:
                test, text = _DTYPE_KINDS[self.dtype]
                if not test(x.dtype):
                    ctx.fail(TypeError, f"{name} must have {text}, got {x.dtype}")
        if self.shape is not None:
            batched = self.shape[0] == "..."
            tail = self.shape[1:] if batched else self.shape
            if (x.dim() < len(tail)) if batched else (x.dim() != len(tail)):
                rank = f"at least {len(tail)}-D" if batched else f"{len(tail)}-D"
                ctx.fail(ValueError, f"{name} must be {rank} {self._shape_text()}, got shape {tuple(x.shape)}")
            offset = x.dim() - len(tail)
            for axis, want in enumerate(tail, start=offset):
                got = x.shape[axis]
                if isinstance(want, int) and want != got:
                    ctx.fail(ValueError, f"{name} must have shape {self._shape_text()}, got {tuple(x.shape)}")
                if isinstance(want, str):
                    if want in ctx.dims and ctx.dims[want][0] != got:
                        size, other = ctx.dims[want]
                        ctx.fail(
                            ValueError,
                            f"{name} has size {got} along axis {axis} ({want}) but {other} has {want} = {size}",
                        )
                    ctx.dims.setdefault(want, (got, name))
        elif self.ndim is not None and x.dim() not in self.ndim:
            want = " or ".join(f"{d}-D" for d in self.ndim)
            ctx.fail(ValueError, f"{name} must be {want}, got shape {tuple(x.shape)}")
        if x.numel() == 0:
            if self.nonempty:
                ctx.fail(ValueError, f"{name} must not be empty, got shape {tuple(x.shape)}")
            return
        if self.finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            ctx.fail(ValueError, f"{name} contains {bad} non-finite value(s) (NaN or inf)")
        if x.is_floating_point() and (self.low is not None or self.high is not None or self.values is not None):
            if bool(torch.isnan(x).any()):  # NaN compares false with every bound
                ctx.fail(ValueError, f"{name} contains {int(torch.isnan(x).sum())} NaN value(s)")
        if self.values is not None:
            allowed = torch.as_tensor(list(self.values), dtype=x.dtype, device=x.device)
            if not bool(torch.isin(x, allowed).all()):
                ctx.fail(ValueError, f"{name} may only contain the values {tuple(self.values)}")
        low, high = self._resolve(self.low, ctx), self._resolve(self.high, ctx)
        if low is not None or high is not None:
            lo, hi = x.min().item(), x.max().item()
            closed_lo = self.closed in ("both", "left")
            closed_hi = self.closed in ("both", "right")
            if low is not None and (lo < low or (lo == low and not closed_lo)):
                ctx.fail(ValueError, f"{name} must have values in {_interval(low, high, self.closed)}, got min {lo:g}")
            if high is not None and (hi > high or (hi == high and not closed_hi)):
                ctx.fail(ValueError, f"{name} must have values in {_interval(low, high, self.closed)}, got max {hi:g}")
        if self.max_norm is not None:
            norm = x.norm(dim=-1).max().item() if x.dim() else abs(x.item())
            if not norm < self.max_norm:
                ctx.fail(ValueError, f"{name} must have row norms < {self.max_norm:g}, got {norm:.6g}")

    def _shape_text(self):
        return "(" + ", ".join("*" if s is None else str(s) for s in self.shape) + ")"

    def describe(self):
        parts = ["a torch.Tensor"]
        if self.shape is not None:
            parts.append(f"of shape {self._shape_text()}")
        elif self.ndim is not None:
            parts.append("of rank " + " or ".join(map(str, self.ndim)))
        if self.dtype is not None:
            parts.append(f"with {self.dtype if isinstance(self.dtype, torch.dtype) else _DTYPE_KINDS[self.dtype][1]}")
        return " ".join(parts)


def _show(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} (convert with torch.as_tensor)"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def _device_dtype(value):
    """The (device, dtype) a value computes in, or None for values without one."""
    if isinstance(value, torch.Tensor):
        return value.device, value.dtype
    if isinstance(value, torch.nn.Module):
        for p in value.parameters():
            if p.is_floating_point():
                return p.device, p.dtype
        for b in value.buffers():
            if b.is_floating_point():
                return b.device, b.dtype
        return None
    for attr in ("device_dtype",):  # package objects may expose their own
        if hasattr(value, attr):
            return getattr(value, attr)
    return None


def check_same(arguments: dict, names: Iterable[str], ctx: _Context, floating_only: bool = True):
    """Refuse arguments of one group that live on different devices or have different floating dtypes."""
    seen = None
    for name in names:
        value = arguments.get(name)
        dd = _device_dtype(value)
        if name == "self" and value is not None:
            name = f"the {type(value).__name__}"
        if dd is None:
            continue
        device, dtype = dd
        if seen is None:
            seen = (name, device, dtype)
            continue
        first, d0, t0 = seen
        if device != d0:
            ctx.fail(ValueError, f"{name} is on {device} but {first} is on {d0}; move them to one device")
        if (dtype.is_floating_point or not floating_only) and t0.is_floating_point and dtype != t0:
            ctx.fail(
                TypeError,
                f"{name} has dtype {dtype} but {first} has {t0}; convert one explicitly (nothing is converted silently)",
            )


def validate(*, same: Sequence[Sequence[str]] = (), **constraints: Constraint) -> Callable:
    """Declare the constraints of a function's arguments; check them on every call.

    Parameters
    ----------
    same : sequence of sequences of str
        Groups of argument names that must share device and floating dtype
        (tensors, modules, or package objects exposing ``device_dtype``).
    **constraints : Constraint
        One constraint per checked argument, by name. A name the function does not
        have is a declaration error raised at import time.

    Examples
    --------
    >>> import torch
    >>> @validate(x=Tensor(shape=("n", "d"), dtype="floating"), k=Integer(low=1))
    ... def top(x, *, k=1):
    ...     return x.topk(k, dim=1).values
    >>> top(torch.zeros(2, 3), k=0)
    Traceback (most recent call last):
    ...
    ValueError: top: k must be an integer >= 1, got 0
    >>> top.__constraints__["k"]
    Integer(an integer >= 1)
    """
    for name, c in constraints.items():
        if not isinstance(c, Constraint):
            raise TypeError(f"validate: the constraint for {name} must be a Constraint, got {type(c).__name__}")
    Items(Items(InstanceOf(str))).check(same, "same", _Context("validate", {}))
    groups = [tuple(g) for g in same]

    def decorate(fn):
        sig = inspect.signature(fn)
        unknown = (set(constraints) | {n for g in groups for n in g}) - set(sig.parameters)
        if unknown:
            raise TypeError(f"validate({fn.__qualname__}): no parameter(s) named {sorted(unknown)}")
        label = fn.__qualname__.replace(".__init__", "")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{label}: {exc}") from None
            bound.apply_defaults()
            arguments = bound.arguments
            ctx = _Context(label, arguments)
            for name, constraint in constraints.items():
                constraint.check(arguments[name], name, ctx)
            for group in groups:
                check_same(arguments, group, ctx)
            return fn(*bound.args, **bound.kwargs)

        wrapper.__constraints__ = dict(constraints)
        wrapper.__same__ = groups
        return wrapper

    return decorate


def constraints_of(obj) -> dict[str, Constraint] | None:
    """The declared constraints of a function or of a class's ``__init__`` (None if undeclared)."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    return getattr(target, "__constraints__", None)


def check_arguments(func: str, **pairs: tuple[Any, Constraint]):
    """Check values against constraints inside a function body (for values computed there).

    Examples
    --------
    >>> check_arguments("f", n=(3, Integer(low=5)))
    Traceback (most recent call last):
    ...
    ValueError: f: n must be an integer >= 5, got 3
    """
    arguments = {k: v for k, (v, _) in pairs.items()}
    ctx = _Context(func, arguments)
    for name, (value, constraint) in pairs.items():
        constraint.check(value, name, ctx)


# The decorator and the helpers declare their own arguments too (the contract covers every public name).
# validate's own ``same`` keyword cannot be declared through itself: it is checked in its body.
validate.__constraints__ = {"same": Items(Items(InstanceOf(str)))}
check_arguments = validate(func=InstanceOf(str))(check_arguments)
constraints_of = validate(obj=IsCallable())(constraints_of)
