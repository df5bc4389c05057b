"""Input convex neural networks and the optimal transport maps they learn.

The input convex network of Amos, Xu & Kolter (2017) (non-negative hidden-to-hidden weights,
convex non-decreasing activations), a Hessian check of convexity by ``torch.func``, the
minimax dual of Makkuva, Taghvaei, Oh & Lee (2020) that trains two such networks so that the
gradient of one is the quadratic-cost transport map, and the closed-form Gaussian-to-Gaussian
map that the learned maps are checked against. See the chapter
:doc:`Transport maps and embedding alignment </book/transport>`.
"""

from ._gaussian import GaussianMap, gaussian_map
from ._icnn import ICNN, hessian_min_eigenvalue
from ._transport import ICNNTransportResult, fit_icnn_transport

__all__ = [
    "GaussianMap",
    "ICNN",
    "ICNNTransportResult",
    "fit_icnn_transport",
    "gaussian_map",
    "hessian_min_eigenvalue",
]
