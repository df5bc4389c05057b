"""nips2019: the package behind the *NeurIPS 2019, reviewed and re-run* book.

Each topic of the book lives in its own subpackage (``nips2019.ntk``,
``nips2019.circuits``, ...). Subpackages are imported lazily, so
``import nips2019`` stays cheap and ``nips2019.ntk`` works without an
explicit ``import nips2019.ntk``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Topic subpackages, in book order. A topic is listed only once it exists.
TOPICS = (
    "fairness", "discrete", "implicit", "wann", "ntk", "circuits", "hebbian", "prototypes",
    "estimators", "optim", "bayes", "setfunctions", "bayesopt", "factorization", "pono",
    "robust", "calibration", "landscape", "warpgrad", "kernels", "info", "lineage", "style",
    "icnn", "alignment", "hyperbolic", "score", "simulate", "shapes", "boxes", "sketch",
    "gpfa", "causal", "pointprocess", "bandits", "rl", "polyproofs", "verification",
    "voting", "tvo",
)

_SUBPACKAGES = frozenset(TOPICS + ("utils", "ot"))

__all__ = ["__version__", "TOPICS", *sorted(_SUBPACKAGES)]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBPACKAGES)
