r"""The prototype layer: squared distances between latent patches and prototypes, similarities, costs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..utils import Real, Tensor, validate


def _distances(z: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    # ||z_patch - p||^2 = ||z_patch||^2 - 2 <z_patch, p> + ||p||^2, each term a convolution
    ones = torch.ones((1,) + tuple(prototypes.shape[1:]), device=z.device, dtype=z.dtype)
    z2 = F.conv2d(z * z, ones)  # (n, 1, H', W'): squared norms of all patches
    zp = F.conv2d(z, prototypes)  # (n, m, H', W')
    p2 = prototypes.pow(2).sum((1, 2, 3))  # (m,)
    return (z2 - 2 * zp + p2[None, :, None, None]).clamp_min(0)


@validate(
    z=Tensor(shape=("n", "d", None, None), dtype="floating"),
    prototypes=Tensor(shape=("m", "d", None, None), dtype="floating"),
    same=[("z", "prototypes")],
)
def prototype_distances(z: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    r"""Squared Euclidean distances between every latent patch and every prototype.

    A latent map :math:`z \in \mathbb R^{d \times H \times W}` has a patch
    :math:`z_{[r, c]} = z_{:, r:r+h, c:c+w}` at each of the :math:`(H - h + 1)(W - w + 1)`
    positions. For prototypes :math:`p_j \in \mathbb R^{d \times h \times w}`,

    .. math::

        D_{j r c} = \lVert z_{[r, c]} - p_j \rVert_2^2
                  = \lVert z_{[r, c]} \rVert^2 - 2\,\langle z_{[r, c]}, p_j \rangle
                    + \lVert p_j \rVert^2,

    and each of the three terms is a convolution (with a box of ones, with the prototypes
    as filters, and a constant), as in Chen et al. (2019). The expansion can round to a tiny
    negative number when a patch equals a prototype; the result is clamped at 0.

    Parameters
    ----------
    z : Tensor, shape (n, d, H, W)
        Latent maps (the output of the network before the prototype layer).
    prototypes : Tensor, shape (m, d, h, w)
        Prototypes, ``h <= H`` and ``w <= W``; same device and dtype as ``z``.

    Returns
    -------
    Tensor, shape (n, m, H - h + 1, W - w + 1)
        Non-negative squared distances.

    References
    ----------
    chen2019looks.

    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> z = torch.zeros(1, 2, 3, 3); z[0, :, 1, 2] = torch.tensor([1.0, 2.0])
    >>> p = torch.tensor([1.0, 2.0]).reshape(1, 2, 1, 1)
    >>> prototype_distances(z, p)[0, 0]
    tensor([[5., 5., 5.],
            [5., 5., 0.],
            [5., 5., 5.]])
    """
    h, w = prototypes.shape[2:]
    if h > z.shape[2] or w > z.shape[3]:
        raise ValueError(f"prototype_distances: prototypes have patches of {h} x {w}, larger than the "
                         f"latent maps z of {z.shape[2]} x {z.shape[3]}")
    return _distances(z, prototypes)


def _log_similarity(distances: torch.Tensor, eps: float) -> torch.Tensor:
    # log((D + 1) / (D + eps)) = log1p((1 - eps) / (D + eps)): no cancellation at large D
    return torch.log1p((1 - eps) / (distances + eps))


@validate(distances=Tensor(dtype="floating", low=0), eps=Real(low=0, high=1, closed="neither"))
def log_similarity(distances: torch.Tensor, *, eps: float = 1e-4) -> torch.Tensor:
    r"""ProtoPNet's similarity score: a decreasing function of the squared distance.

    .. math::

        g(D) = \log \frac{D + 1}{D + \varepsilon},

    which is :math:`\log(1/\varepsilon)` (9.21 for the default) at :math:`D = 0`, about
    :math:`1/D` for large :math:`D`, and positive everywhere (for :math:`\varepsilon < 1`).
    It is evaluated as :math:`\operatorname{log1p}((1 - \varepsilon)/(D + \varepsilon))`,
    which keeps full relative precision for large :math:`D`.

    Parameters
    ----------
    distances : Tensor, any shape
        Squared distances, >= 0.
    eps : float
        :math:`\varepsilon \in (0, 1)`: an exact match scores :math:`\log(1/\varepsilon)`.

    Returns
    -------
    Tensor, same shape as ``distances``

    References
    ----------
    chen2019looks.

    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> log_similarity(torch.tensor([0.0, 1.0, 1e4]))
    tensor([9.2103e+00, 6.9305e-01, 9.9985e-05])
    """
    return _log_similarity(distances, eps)


def _class_mask(min_distances, y, prototype_class, func):
    n_classes = int(max(int(prototype_class.max()), int(y.max()))) + 1
    counts = torch.bincount(prototype_class, minlength=n_classes)
    missing = sorted(set(y.unique().tolist()) - set(torch.nonzero(counts).flatten().tolist()))
    if missing:
        raise ValueError(f"{func}: labels {missing} in y have no prototype in prototype_class")
    if int((counts > 0).sum()) < 2:
        raise ValueError(f"{func}: prototype_class must name at least two classes, so that every "
                         f"sample has prototypes of another class")
    return prototype_class[None, :] == y[:, None]


_COST_ARGS = dict(
    min_distances=Tensor(shape=("n", "m"), dtype="floating", low=0),
    y=Tensor(shape=("n",), dtype="integer", low=0),
    prototype_class=Tensor(shape=("m",), dtype="integer", low=0),
)


@validate(**_COST_ARGS)
def cluster_cost(min_distances: torch.Tensor, y: torch.Tensor, prototype_class: torch.Tensor) -> torch.Tensor:
    r"""The cluster cost: mean distance of each sample to its nearest prototype of its own class.

    With :math:`D_{ij} = \min_{r, c} \lVert z_{[r, c]}(x_i) - p_j \rVert^2` (the smallest
    distance of prototype :math:`j` to a patch of sample :math:`i`) and :math:`P_k` the
    prototypes of class :math:`k`,

    .. math::

        \mathrm{Clst} = \frac1n \sum_{i=1}^n \min_{j \in P_{y_i}} D_{ij}.

    Minimising it pulls some patch of every training image close to one prototype of its
    class (Chen et al. 2019, eq. for Clst).

    Parameters
    ----------
    min_distances : Tensor, shape (n, m)
        :math:`D_{ij}`, >= 0.
    y : Tensor, shape (n,)
        Labels (integers).
    prototype_class : Tensor, shape (m,)
        The class of each prototype; every label in ``y`` needs at least one.

    Returns
    -------
    Tensor, shape ()

    References
    ----------
    chen2019looks.

    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> d = torch.tensor([[1.0, 4.0, 0.5], [2.0, 3.0, 9.0]])
    >>> cluster_cost(d, torch.tensor([0, 1]), torch.tensor([0, 0, 1]))
    tensor(5.)
    """
    mask = _class_mask(min_distances, y, prototype_class, "cluster_cost")
    return min_distances.masked_fill(~mask, float("inf")).min(1).values.mean()


@validate(**_COST_ARGS)
def separation_cost(min_distances: torch.Tensor, y: torch.Tensor, prototype_class: torch.Tensor) -> torch.Tensor:
    r"""The separation distance: mean distance of each sample to its nearest wrong-class prototype.

    .. math::

        \mathrm{Sep} = \frac1n \sum_{i=1}^n \min_{j \notin P_{y_i}} D_{ij}.

    The paper writes the separation cost with a minus sign in front of this sum; here it
    is returned as a positive distance and the training objective *subtracts* it,
    :math:`\mathrm{CE} + \lambda_1 \mathrm{Clst} - \lambda_2 \mathrm{Sep}`, which pushes
    every patch of a training image away from the prototypes of the other classes.

    Parameters
    ----------
    min_distances : Tensor, shape (n, m)
        :math:`D_{ij}`, >= 0.
    y : Tensor, shape (n,)
        Labels (integers).
    prototype_class : Tensor, shape (m,)
        The class of each prototype; at least two classes.

    Returns
    -------
    Tensor, shape ()

    References
    ----------
    chen2019looks.

    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> d = torch.tensor([[1.0, 4.0, 0.5], [2.0, 3.0, 9.0]])
    >>> separation_cost(d, torch.tensor([0, 1]), torch.tensor([0, 0, 1]))
    tensor(1.2500)
    """
    mask = _class_mask(min_distances, y, prototype_class, "separation_cost")
    return min_distances.masked_fill(mask, float("inf")).min(1).values.mean()
