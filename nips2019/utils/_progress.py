"""Progress bars that stay quiet where nobody watches them."""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

from ._constraints import Bool, Integer, InstanceOf, validate

T = TypeVar("T")


def _quiet() -> bool:
    if os.environ.get("NIPS2019_PROGRESS", "").lower() in ("1", "true", "yes", "on"):
        return False
    if os.environ.get("NIPS2019_PROGRESS", "").lower() in ("0", "false", "no", "off"):
        return True
    # Tests, quick runs and book builds should not fill logs with bars.
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("NIPS2019_QUICK") == "1" or "sphinx" in sys.modules


@validate(desc=InstanceOf(str, optional=True), total=Integer(low=0, optional=True), disable=Bool(optional=True))
def progress(iterable: Iterable[T], desc: str | None = None, total: int | None = None, disable: bool | None = None, **kwargs) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm progress bar (notebook-aware).

    The bar is disabled under pytest, in quick mode and during book builds,
    or when ``NIPS2019_PROGRESS=0``; ``NIPS2019_PROGRESS=1`` forces it on.

    Examples
    --------
    >>> sum(progress(range(4), disable=True))
    6
    """
    if disable is None:
        disable = _quiet()
    return tqdm(iterable, desc=desc, total=total, disable=disable, **kwargs)
