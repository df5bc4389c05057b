"""Input checks with messages that name the argument and what was expected."""

from __future__ import annotations

from typing import Sequence

import torch

from ._constraints import Bool, InstanceOf, Tensor, validate


@validate(name=InstanceOf(str), floating=Bool(), dtype=InstanceOf(torch.dtype, optional=True))
def check_tensor(
    x,
    name: str,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    floating: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Check that ``x`` is a tensor of the expected rank/shape/kind and return it.

    Parameters
    ----------
    x : Any
        The value to check.
    name : str
        Argument name used in the error message.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    shape : sequence of int or None, optional
        Expected shape; ``None`` entries match any size.
    floating : bool
        Require a floating-point dtype.
    dtype : torch.dtype, optional
        Require exactly this dtype.

    Raises
    ------
    TypeError
        If ``x`` is not a tensor or has the wrong kind of dtype.
    ValueError
        If the rank or shape is wrong.

    Examples
    --------
    >>> import torch
    >>> check_tensor(torch.zeros(3, 4), "x1", ndim=2).shape
    torch.Size([3, 4])
    >>> check_tensor(torch.zeros(3, 4, 5), "x1", ndim=2)
    Traceback (most recent call last):
    ...
    ValueError: x1 must be 2-D, got shape (3, 4, 5)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got shape {tuple(x.shape)}")
    if shape is not None:
        ok = len(shape) == x.dim() and all(s is None or s == t for s, t in zip(shape, x.shape))
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {x.dtype}")
    return x


@validate(x=Tensor(finite=False, nonempty=False), name=InstanceOf(str))
def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values.

    Examples
    --------
    >>> import torch
    >>> check_finite(torch.tensor([1.0, float("nan")]), "x")
    Traceback (most recent call last):
    ...
    ValueError: x contains 1 non-finite value(s)
    """
    bad = (~torch.isfinite(x)).sum().item()
    if bad:
        raise ValueError(f"{name} contains {bad} non-finite value(s)")
    return x


@validate(name=InstanceOf(str), strict=Bool())
def check_positive(value, name: str, strict: bool = True):
    """Check that a scalar is positive (``strict``) or non-negative.

    Examples
    --------
    >>> check_positive(0.5, "lr")
    0.5
    >>> check_positive(0, "lr")
    Traceback (most recent call last):
    ...
    ValueError: lr must be > 0, got 0
    """
    try:
        ok = value > 0 if strict else value >= 0
    except TypeError:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from None
    if not ok:
        raise ValueError(f"{name} must be {'>' if strict else '>='} 0, got {value}")
    return value


@validate(name=InstanceOf(str))
def check_probability(value, name: str):
    """Check that a scalar lies in [0, 1].

    Examples
    --------
    >>> check_probability(1.5, "p")
    Traceback (most recent call last):
    ...
    ValueError: p must lie in [0, 1], got 1.5
    """
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value
