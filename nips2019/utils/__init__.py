"""Shared helpers: devices, the randomness rule, quick mode, notebook setup, progress bars, input checks.

Input checks are declared with :func:`validate` and the constraint types next to it
(:class:`Tensor`, :class:`Integer`, :class:`Real`, :class:`Options`, ...); see
``CONTRIBUTING.md`` for the policy. See the page *Running the notebooks* of the book.
"""

from ._constraints import (
    AnyOf,
    Bool,
    Constraint,
    Device,
    DType,
    Generator,
    InstanceOf,
    Integer,
    IsCallable,
    Items,
    Module,
    Options,
    Probability,
    Real,
    Tensor,
    check_arguments,
    constraints_of,
    validate,
)
from ._device import (
    as_generator,
    default_device,
    numpy_rng,
    rand,
    randint,
    randn,
    randperm,
    seed_everything,
    torch_generator,
)
from ._notebook import QUICK_ENV, is_quick, quick_or_full, setup_notebook
from ._progress import progress

__all__ = [
    "AnyOf",
    "Bool",
    "Constraint",
    "DType",
    "Device",
    "Generator",
    "InstanceOf",
    "Integer",
    "IsCallable",
    "Items",
    "Module",
    "Options",
    "Probability",
    "QUICK_ENV",
    "Real",
    "Tensor",
    "as_generator",
    "check_arguments",
    "constraints_of",
    "default_device",
    "is_quick",
    "numpy_rng",
    "progress",
    "quick_or_full",
    "rand",
    "randint",
    "randn",
    "randperm",
    "seed_everything",
    "setup_notebook",
    "torch_generator",
    "validate",
]
