"""Update rules beyond SGD: extragradient, entropic mirror-prox, UniXGrad and aProx.

``torch.optim`` optimizers with the interface of :class:`torch.optim.SGD` (parameter
groups, ``lr``, ``maximize``, ``step(closure)``): Korpelevich's extragradient and
Nemirovski's entropic mirror-prox for saddle-point problems on simplices (the two-step
update the review calls "mirror descent"), UniXGrad (Kavis, Levy, Bach & Cevher 2019), and
aProx with truncated and full proximal models (Asi & Duchi 2019); Euclidean projections onto
the simplex and the l1 ball and the duality gap of a matrix game. See the chapter
:doc:`Gradients and update rules </book/gradients>`.
"""

from ._aprox import AProx
from ._extragradient import ExtraGradient, MirrorProx
from ._projections import duality_gap, project_l1_ball, project_simplex
from ._unixgrad import UniXGrad

__all__ = [
    "AProx",
    "ExtraGradient",
    "MirrorProx",
    "UniXGrad",
    "duality_gap",
    "project_l1_ball",
    "project_simplex",
]
