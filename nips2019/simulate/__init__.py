"""Differentiable simulators and renderers: inverse graphics by gradient descent.

A batched projectile with linear or quadratic drag and bounces, integrated by explicit
RK4 (:func:`projectile_step`, :func:`simulate_projectile`); a soft 2-D rasteriser of disks
and polygons whose images are differentiable in the shape parameters
(:func:`pixel_grid`, :func:`polygon_sdf`, :func:`render_disks`, :func:`render_polygon`);
and a tiny coordinate network fitted to a rendered scene (:class:`CoordinateNetwork`,
:func:`fit_coordinate_network`). See the chapter
:doc:`Generative models beyond GANs </book/generative>`.
"""

from ._field import CoordinateNetwork, FieldFitResult, fit_coordinate_network
from ._physics import projectile_step, simulate_projectile
from ._raster import pixel_grid, polygon_sdf, render_disks, render_polygon

__all__ = [
    "CoordinateNetwork",
    "FieldFitResult",
    "fit_coordinate_network",
    "pixel_grid",
    "polygon_sdf",
    "projectile_step",
    "render_disks",
    "render_polygon",
    "simulate_projectile",
]
