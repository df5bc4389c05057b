"""Loss landscape: slices along filter-normalised directions, Hessian spectra, K-FAC.

Filter-normalised random directions and 1-D/2-D loss slices around a trained network
(Li et al. 2018), the same slices through a weight average for asymmetric valleys (He,
Huang & Yuan 2019); Hessian-vector products with ``torch.func``, Lanczos with full
reorthogonalisation and stochastic Lanczos quadrature of the Hessian spectrum on a batch
(Ghorbani et al. 2019; Granziol et al. 2020 for the effect of the batch size); and the
Kronecker-factored curvature optimiser K-FAC for ``nn.Linear`` layers (Martens & Grosse
2015) with the exact Fisher blocks it approximates. See the chapter
:doc:`Loss landscape </book/landscape>`.
"""

from ._directions import loss_landscape, random_direction
from ._hessian import (
    LanczosResult,
    SpectrumResult,
    dense_hessian,
    hessian_spectrum,
    hessian_vector_product,
    lanczos,
)
from ._kfac import KFAC, FisherBlock, kfac_fisher_blocks

__all__ = [
    "KFAC",
    "FisherBlock",
    "LanczosResult",
    "SpectrumResult",
    "dense_hessian",
    "hessian_spectrum",
    "hessian_vector_product",
    "kfac_fisher_blocks",
    "lanczos",
    "loss_landscape",
    "random_direction",
]
