"""Quick mode and the notebook preamble."""

from __future__ import annotations

import os
from typing import TypeVar

import torch

from ._constraints import Bool, Integer, validate
from ._device import seed_everything

#: Environment variable that switches notebooks to their small, fast sizes.
QUICK_ENV = "NIPS2019_QUICK"

T = TypeVar("T")


def is_quick() -> bool:
    """Whether quick mode is on (``NIPS2019_QUICK`` set to a true value).

    The test suite sets it; the rendered book runs at full size.

    Examples
    --------
    >>> import os
    >>> os.environ["NIPS2019_QUICK"] = "0"; is_quick()
    False
    >>> os.environ["NIPS2019_QUICK"] = "1"; is_quick()
    True
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


@validate()  # any two values: nothing to check
def quick_or_full(quick: T, full: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise.

    Examples
    --------
    >>> import os
    >>> os.environ["NIPS2019_QUICK"] = "1"
    >>> quick_or_full(10, 1000)
    10
    """
    return quick if is_quick() else full


@validate(seed=Integer(low=0), threads=Integer(low=1, optional=True), style=Bool())
def setup_notebook(seed: int = 0, threads: int | None = None, style: bool = True) -> bool:
    """The first call of every chapter: seeds, threads, plotting style.

    Parameters
    ----------
    seed : int
        Seed for Python, NumPy and PyTorch.
    threads : int, optional
        Number of torch CPU threads. Defaults to ``NIPS2019_THREADS`` or 1:
        small models on shared 2-core machines run faster on one thread, and
        the test suite runs two notebooks side by side.
    style : bool
        Apply the book's matplotlib style.

    Returns
    -------
    bool
        Whether quick mode is on, so notebooks can write
        ``QUICK = setup_notebook()``.

    Examples
    --------
    >>> quick = setup_notebook(seed=1, style=False)
    >>> isinstance(quick, bool)
    True
    """
    seed_everything(seed)
    if threads is None:
        threads = int(os.environ.get("NIPS2019_THREADS", "1"))
    torch.set_num_threads(threads)
    if style:
        import matplotlib as mpl

        mpl.rcParams.update(
            {
                "figure.figsize": (6.4, 4.0),
                "figure.dpi": 100,
                "savefig.dpi": 150,
                "axes.grid": True,
                "grid.alpha": 0.3,
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.titlesize": 11,
                "axes.labelsize": 10,
                "legend.fontsize": 9,
                "legend.frameon": False,
                "image.cmap": "viridis",
            }
        )
    return is_quick()
