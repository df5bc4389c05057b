"""Shapes as unions of convexes: a 2-D CvxNet.

A union of smooth convex polygons, each a log-sum-exp intersection of half-planes
(:class:`ConvexUnion`), fitted to occupancy samples (:func:`fit_convexes`) and scored by
intersection over union (:func:`iou`); target shapes (:func:`l_shape`,
:func:`star_polygon`, :func:`polygon_occupancy`). After Deng et al., *CvxNet: learnable
convex decomposition* (CVPR 2020). See the chapter
:doc:`Generative models beyond GANs </book/generative>`.
"""

from ._cvx import ConvexFitResult, ConvexUnion, fit_convexes, iou
from ._data import l_shape, polygon_occupancy, star_polygon

__all__ = [
    "ConvexFitResult",
    "ConvexUnion",
    "fit_convexes",
    "iou",
    "l_shape",
    "polygon_occupancy",
    "star_polygon",
]
