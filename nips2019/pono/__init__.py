"""Positional normalisation: moments across channels at every position, kept as features.

PONO (Li, Wu, Weinberger & Belongie 2019) normalises a feature map over its channels
separately at each position and returns the first two moments
(:func:`positional_normalize`, :class:`PositionalNorm`); the moment shortcut re-injects them
into a later layer (:func:`moment_shortcut`, :class:`MomentShortcut`). A small image-to-image
autoencoder with either, both or none (:class:`PonoAutoencoder`) and its training loop
(:func:`train_autoencoder`) run the chapter's experiment.
See the chapter :doc:`Depth as a regulariser, moments as features </book/factorization>`.
"""

from ._models import AutoencoderFit, PonoAutoencoder, train_autoencoder
from ._pono import MomentShortcut, PositionalMoments, PositionalNorm, moment_shortcut, positional_normalize

__all__ = [
    "AutoencoderFit",
    "MomentShortcut",
    "PonoAutoencoder",
    "PositionalMoments",
    "PositionalNorm",
    "moment_shortcut",
    "positional_normalize",
    "train_autoencoder",
]
