r"""Generated shortest-path instances whose costs depend non-linearly on vertex features."""

from __future__ import annotations

import dataclasses

import torch

from nips2019.utils import DType, Generator, Integer, Options, Real, as_generator, rand, randn, validate

from ._solvers import _argmin_shortest_path


@dataclasses.dataclass
class ShortestPathData:
    """Grid shortest-path instances (:func:`make_shortest_path_data`). See the chapter :doc:`/book/discrete`.

    Attributes
    ----------
    features : Tensor, shape (n_samples, grid, grid, n_features)
        One feature vector per vertex.
    costs : Tensor, shape (n_samples, grid, grid)
        True vertex costs (positive).
    paths : Tensor, shape (n_samples, grid, grid)
        The optimal path of each instance under ``costs`` (0/1 map of its vertices).
    direction : Tensor, shape (n_features,)
        The 0/1 feature combination the costs depend on.
    degree : int
        The degree of the polynomial link (1: linear costs).
    neighbours : int
        4 or 8, the grid moves the paths use.
    """

    features: torch.Tensor
    costs: torch.Tensor
    paths: torch.Tensor
    direction: torch.Tensor
    degree: int
    neighbours: int


@validate(
    n_samples=Integer(low=1),
    grid=Integer(low=2),
    n_features=Integer(low=1),
    degree=Integer(low=1),
    noise=Real(low=0, high=1, closed="left"),
    neighbours=Options(4, 8),
    generator=Generator(),
    dtype=DType(),
)
def make_shortest_path_data(n_samples: int, *, grid: int = 12, n_features: int = 5, degree: int = 4,
                            noise: float = 0.5, neighbours: int = 8, generator=None,
                            dtype: torch.dtype = torch.float64) -> ShortestPathData:
    r"""Draw grid shortest-path instances with a polynomial link from features to costs.

    Every vertex :math:`v` of a ``grid`` x ``grid`` map has features :math:`z_v \sim \mathcal N(0, I_p)`
    and cost

    .. math::

        c_v = \Big[1 + \Big(\frac{(\beta^\top z_v / \sqrt{p} + 3)_+}{3.5}\Big)^{\text{degree}}\Big]
        \,\varepsilon_v,
        \qquad \varepsilon_v \sim U[1 - \text{noise}, 1 + \text{noise}],

    with :math:`\beta \in \{0,1\}^p` drawn once (at least one 1): the shortest-path benchmark of
    Elmachtoub & Grigas ("Smart predict, then optimize", 2022) on vertex costs. ``degree=1`` makes
    the costs affine in the features (a linear model is well specified); higher degrees make a
    linear cost model misspecified, which is where learning through the solver can beat fitting
    the costs. The target path of each instance is the optimum under the true costs
    (:func:`argmin_shortest_path`). See the chapter :doc:`/book/discrete`.

    Parameters
    ----------
    n_samples : int
    grid : int
        Side of the square map (>= 2).
    n_features : int
    degree : int
    noise : float
        Half-width of the multiplicative noise, in [0, 1).
    neighbours : {4, 8}
    generator : None, int or torch.Generator
    dtype : torch.dtype

    Returns
    -------
    ShortestPathData

    Examples
    --------
    >>> data = make_shortest_path_data(3, grid=5, generator=0)
    >>> data.features.shape, data.paths.shape
    (torch.Size([3, 5, 5, 5]), torch.Size([3, 5, 5]))
    >>> bool(data.paths[:, 0, 0].all() and data.paths[:, -1, -1].all())
    True
    """
    g = as_generator(generator)
    direction = (rand(n_features, generator=g, dtype=dtype) < 0.5).to(dtype)
    if not bool(direction.any()):
        direction[0] = 1.0
    z = randn(n_samples, grid, grid, n_features, generator=g, dtype=dtype)
    s = (z @ direction / n_features ** 0.5 + 3.0).clamp_min(0.0) / 3.5
    eps = 1.0 + noise * (2.0 * rand(n_samples, grid, grid, generator=g, dtype=dtype) - 1.0)
    costs = (1.0 + s ** degree) * eps
    paths = _argmin_shortest_path(costs, neighbours)
    return ShortestPathData(features=z, costs=costs, paths=paths, direction=direction, degree=degree,
                            neighbours=neighbours)
