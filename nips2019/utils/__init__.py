"""Shared helpers: devices, seeds, quick mode, notebook setup, progress bars, input checks.

See the page *Running the notebooks* of the book.
"""

from ._device import default_device, seed_everything, torch_generator
from ._notebook import QUICK_ENV, is_quick, quick_or_full, setup_notebook
from ._progress import progress
from ._validation import check_finite, check_positive, check_probability, check_tensor

__all__ = [
    "QUICK_ENV",
    "check_finite",
    "check_positive",
    "check_probability",
    "check_tensor",
    "default_device",
    "is_quick",
    "progress",
    "quick_or_full",
    "seed_everything",
    "setup_notebook",
    "torch_generator",
]
