"""Score-based generative models: denoising score matching and annealed Langevin dynamics.

Exact scores of (noised) isotropic Gaussian mixtures as references
(:func:`mixture_score`, :func:`mixture_log_prob`, :func:`sample_mixture`); a geometric
ladder of noise levels (:func:`geometric_sigmas`); noise-conditional score networks for
vectors and small images (:class:`NoiseConditionalMLP`, :class:`NoiseConditionalCNN`)
fitted by denoising score matching (:func:`dsm_loss`, :func:`train_score`); plain and
annealed Langevin dynamics (:func:`langevin`, :func:`annealed_langevin`) after Song &
Ermon (NeurIPS 2019). See the chapter :doc:`Generative models beyond GANs </book/generative>`.
"""

from ._dsm import NoiseConditionalCNN, NoiseConditionalMLP, ScoreTrainResult, dsm_loss, geometric_sigmas, train_score
from ._langevin import annealed_langevin, langevin
from ._mixture import mixture_log_prob, mixture_score, sample_mixture

__all__ = [
    "NoiseConditionalCNN",
    "NoiseConditionalMLP",
    "ScoreTrainResult",
    "annealed_langevin",
    "dsm_loss",
    "geometric_sigmas",
    "langevin",
    "mixture_log_prob",
    "mixture_score",
    "sample_mixture",
    "train_score",
]
