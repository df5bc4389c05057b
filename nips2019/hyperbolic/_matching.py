"""Hierarchy matching: optimal transport over hyperbolic space plus a fitted isometry."""

from __future__ import annotations

import dataclasses

import geoopt
import numpy as np
import ot
import torch

from ..utils import Generator, Integer, Options, Real, Tensor, as_generator, rand, randn, validate
from ._geometry import MODELS, _check_ball, _check_points, _pairwise_distance
from ._model import _point_distance

_FLOATS = Options(torch.float32, torch.float64)

__all__ = ["Isometry", "MatchingResult", "apply_isometry", "euclidean_procrustes_matching",
           "gromov_wasserstein_matching",
           "hyperbolic_ot_matching", "mobius_add", "random_isometry"]


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    rotation=Tensor(shape=("d", "d"), dtype="floating"),
    translation=Tensor(shape=("d",), dtype="floating"),
    same=[("x", "rotation", "translation")],
)
def apply_isometry(x: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    r"""Apply the Poincaré-ball isometry :math:`x \mapsto b \oplus (R x)` (Möbius addition).

    Every orientation-preserving or -reversing isometry of the ball fixing no special structure has
    this form with :math:`R \in O(d)` and :math:`b` in the ball.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Points of the ball.
    rotation : Tensor, shape (d, d)
        Orthogonal matrix (checked to ``sqrt(eps)``).
    translation : Tensor, shape (d,)
        Point of the ball (the image of the origin). All three share dtype and device.

    Returns
    -------
    Tensor, shape (n, d)

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[0.1, 0.2], [-0.3, 0.4]], dtype=torch.float64)
    >>> R = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> b = torch.tensor([0.5, 0.1], dtype=torch.float64)
    >>> from nips2019.hyperbolic import pairwise_distance
    >>> y = apply_isometry(x, R, b)
    >>> torch.allclose(pairwise_distance(x), pairwise_distance(y))
    True
    """
    _check_ball("apply_isometry", "x", x)
    _check_ball("apply_isometry", "translation", translation)
    eye = torch.eye(rotation.shape[0], dtype=rotation.dtype, device=rotation.device)
    err = float((rotation @ rotation.T - eye).abs().max())
    if not err <= torch.finfo(rotation.dtype).eps ** 0.5:
        raise ValueError(f"apply_isometry: rotation must be orthogonal (R R^T = I), got max |R R^T - I| = {err:.3g}")
    return _mobius_add(translation.expand_as(x), x @ rotation.T)


@validate(
    x=Tensor(shape=("...", "d"), dtype="floating"),
    y=Tensor(shape=("...", "d"), dtype="floating"),
    same=[("x", "y")],
)
def mobius_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Möbius addition on the unit ball (curvature -1), broadcasting over leading dimensions.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    .. math::

        x \oplus y = \frac{(1 + 2\langle x, y\rangle + \|y\|^2)\, x + (1 - \|x\|^2)\, y}
                           {1 + 2\langle x, y\rangle + \|x\|^2 \|y\|^2}

    The formula is geoopt's ``PoincareBall.mobius_add``; spelled out here because geoopt's version
    (which projects and clamps) moved float64 distances by ~1e-7 in our tests.

    Parameters
    ----------
    x, y : Tensor, shape (..., d)
        Points of the ball (norm < 1) whose leading dimensions broadcast; one dtype and device.

    Returns
    -------
    Tensor, shape (broadcast ..., d)

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([0.3, 0.1], dtype=torch.float64)
    >>> mobius_add(-x, x).abs().max().item()
    0.0
    """
    from ._model import _check_broadcast

    _check_broadcast("mobius_add", x, y)
    _check_ball("mobius_add", "x", x)
    _check_ball("mobius_add", "y", y)
    return _mobius_add(x, y)


def _mobius_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xy = (x * y).sum(-1, keepdim=True)
    x2, y2 = (x * x).sum(-1, keepdim=True), (y * y).sum(-1, keepdim=True)
    return ((1 + 2 * xy + y2) * x + (1 - x2) * y) / (1 + 2 * xy + x2 * y2)


@dataclasses.dataclass
class Isometry:
    r"""An isometry :math:`x \mapsto b \oplus (R x)` of the Poincaré ball (output of :func:`random_isometry`).

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    rotation : Tensor, shape (d, d)
        The orthogonal part :math:`R`.
    translation : Tensor, shape (d,)
        The image :math:`b` of the origin.
    """

    rotation: torch.Tensor
    translation: torch.Tensor


@validate(dim=Integer(low=1), max_shift=Real(low=0), generator=Generator(), dtype=_FLOATS)
def random_isometry(dim: int, *, max_shift: float = 2.0, generator=None, dtype=torch.float64):
    """A random ``(rotation, translation)``: Haar-orthogonal ``R`` and ``b`` at hyperbolic distance
    ``max_shift`` from the origin in a uniform direction.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    dim : int
    max_shift : float
        Hyperbolic distance of ``b`` from the origin; ``b`` must stay inside the ball in ``dtype``
        (up to about 36 in float64, 15 in float32).
    generator : None, int or CPU torch.Generator
        The package's randomness rule.
    dtype : torch.float32 or torch.float64

    Returns
    -------
    Isometry
        ``rotation`` and ``translation``, the two arguments of :func:`apply_isometry`.

    Examples
    --------
    >>> iso = random_isometry(3, generator=0)
    >>> R, b = iso.rotation, iso.translation
    >>> torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64)), round(2 * float(torch.atanh(b.norm())), 6)
    (True, 2.0)
    """
    return _random_isometry(dim, max_shift, as_generator(generator), dtype)


def _random_isometry(dim, max_shift, generator, dtype):
    q, r = torch.linalg.qr(randn(dim, dim, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    direction = randn(dim, generator=generator, dtype=torch.float64)
    b = torch.tanh(torch.tensor(max_shift / 2, dtype=torch.float64)) * direction / direction.norm()
    b = b.to(dtype)
    if not float(b.norm()) < 1:
        raise ValueError(f"random_isometry: max_shift = {max_shift} puts the translation on the boundary of the "
                         f"ball in {dtype}; use a smaller max_shift")
    return Isometry(q.to(dtype), b)


@dataclasses.dataclass
class MatchingResult:
    """Output of the matching functions.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    plan : Tensor, shape (n, m)
        Optimal transport plan between the points of ``x`` and ``y``.
    assignment : Tensor, shape (n,), int64
        ``plan.argmax(1)``: the match of each point of ``x``.
    aligned : Tensor, shape (n, d)
        ``x`` mapped by the fitted isometry into ``y``'s frame (for
        :func:`gromov_wasserstein_matching`, which fits no map: the matched points ``y[assignment]``).
    objective : float
        Transport cost of the final plan under the final isometry (for
        :func:`gromov_wasserstein_matching`: the Gromov-Wasserstein objective).
    """

    plan: torch.Tensor
    assignment: torch.Tensor
    aligned: torch.Tensor
    objective: float


_PAIR = dict(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y=Tensor(shape=("m", "d"), dtype="floating"),
    same=[("x", "y")],
)


def _emd(cost: torch.Tensor) -> torch.Tensor:
    c = cost.detach().cpu().double().numpy()
    n, m = c.shape
    plan = ot.emd(np.full(n, 1 / n), np.full(m, 1 / m), c / max(c.max(), 1e-300))
    return torch.as_tensor(plan, dtype=cost.dtype, device=cost.device)


def _rotations(dim: int, restarts: int, generator, dtype):
    if dim == 2:  # evenly spaced rotations and reflections
        out = []
        for k in range(restarts):
            t = 2 * np.pi * (k // 2) / max(1, restarts // 2)
            c, s = np.cos(t), np.sin(t)
            m = torch.tensor([[c, -s], [s, c]], dtype=dtype)
            out.append(m if k % 2 == 0 else m @ torch.diag(torch.tensor([1.0, -1.0], dtype=dtype)))
        return out
    extra = [_random_isometry(dim, 1.0, generator, dtype).rotation for _ in range(restarts - 1)]
    return [torch.eye(dim, dtype=dtype)] + extra


def _procrustes(u: torch.Tensor, v: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
    """Orthogonal R minimising sum_ij P_ij |R u_i - v_j|^2."""
    a, _, bh = torch.linalg.svd(v.T @ plan.T @ u)
    return a @ bh


def _logmap0(x: torch.Tensor) -> torch.Tensor:
    n = x.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return torch.atanh(n) * x / n


@validate(
    **_PAIR,
    n_steps=Integer(low=1),
    n_inner_steps=Integer(low=0),
    lr=Real(low=0, closed="neither"),
    n_restarts=Integer(low=1),
    generator=Generator(),
)
def hyperbolic_ot_matching(x: torch.Tensor, y: torch.Tensor, *, n_steps: int = 10, n_inner_steps: int = 30,
                           lr: float = 0.02, n_restarts: int = 8, generator=None) -> MatchingResult:
    r"""Match two point sets of the Poincaré ball: OT alternated with fitting an isometry.

    1. Both sets are centred: their gyro-midpoints (``geoopt``'s ``weighted_midpoint``, which commutes
       with isometries) are moved to the origin. What is left between them is a rotation/reflection.
    2. From each of ``n_restarts`` initial rotations (in 2-D the best ``n_restarts`` of a grid of 32
       rotations and reflections, scored by their OT cost), alternate an exact OT plan (POT) for the
       cost :math:`d(Rx_i, y_j)^2` with the orthogonal Procrustes update of :math:`R` on the
       tangent vectors :math:`\log_0`, for ``n_steps`` rounds; keep the lowest cost.
    3. Refine the full isometry :math:`\phi(x) = t \oplus Rx` by minimising
       :math:`\sum_{ij} P_{ij}\, d(\phi(x_i), y_j)^2` with ``geoopt.optim.RiemannianAdam`` on the
       Stiefel manifold and the Poincaré ball (``n_inner_steps`` steps, then a final plan).

    This follows the alternating scheme of Alvarez-Melis, Mroueh & Jaakkola (2020), without their
    deep-isometry variant. See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Points of the ball.
    y : Tensor, shape (m, d)
        Points of the ball, same dtype and device as ``x``.
    n_steps : int
        Alternations of OT and Procrustes per start.
    n_inner_steps : int
        Refinement steps of the full isometry (0: no refinement).
    n_restarts : int
        Initial rotations.
    lr : float
        Step size of the refinement.
    generator : None, int or CPU torch.Generator
        For the random initial rotations when ``d > 2``.

    Returns
    -------
    MatchingResult

    Examples
    --------
    >>> import torch
    >>> x = 0.5 * torch.rand(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> iso = random_isometry(2, max_shift=1.0, generator=1)
    >>> perm = torch.randperm(6, generator=torch.Generator().manual_seed(2))
    >>> y = apply_isometry(x, iso.rotation, iso.translation)[perm]
    >>> res = hyperbolic_ot_matching(x, y, n_steps=3, n_inner_steps=5, n_restarts=2)
    >>> bool((perm[res.assignment] == torch.arange(6)).all())
    True
    """
    _check_points("hyperbolic_ot_matching", "poincare", x=x, y=y)
    generator = as_generator(generator)
    restarts = n_restarts
    ball = geoopt.PoincareBall().to(dtype=x.dtype, device=x.device)
    cx, cy = ball.weighted_midpoint(x), ball.weighted_midpoint(y)
    x0, y0 = _mobius_add(-cx.expand_as(x), x), _mobius_add(-cy.expand_as(y), y)
    u, v = _logmap0(x0), _logmap0(y0)

    def cost_of(rot):
        cost = _pairwise_distance(x0 @ rot.T, y0, "poincare") ** 2
        plan = _emd(cost)
        return float((plan * cost).sum()), plan

    starts = _rotations(x.shape[1], 32 if x.shape[1] == 2 else restarts, generator, x.dtype)
    starts = [r.to(x.device) for r in starts]
    if x.shape[1] == 2:
        starts = sorted(starts, key=lambda r: cost_of(r)[0])[:restarts]
    best = None
    for rot in starts:
        for _ in range(n_steps):
            _, plan = cost_of(rot)
            rot = _procrustes(u, v, plan)
        obj, plan = cost_of(rot)
        if best is None or obj < best[0]:
            best = (obj, rot)
    rot = geoopt.ManifoldParameter(best[1].clone(), manifold=geoopt.Stiefel())
    shift = geoopt.ManifoldParameter(torch.zeros_like(cx), manifold=ball)
    opt = geoopt.optim.RiemannianAdam([rot, shift], lr=lr)
    with torch.no_grad():
        plan = _emd(_pairwise_distance(x0 @ rot.T, y0, "poincare") ** 2)
    for _ in range(n_inner_steps):
        opt.zero_grad()
        z = _mobius_add(shift.expand_as(x0), x0 @ rot.T)
        loss = (plan * _point_distance(z[:, None, :], y0[None, :, :], "poincare") ** 2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        z = _mobius_add(shift.expand_as(x0), x0 @ rot.T)
        cost = _pairwise_distance(z, y0, "poincare") ** 2
        plan = _emd(cost)
        obj = float((plan * cost).sum())
        if obj > best[0]:  # keep the refinement only if it helped (Adam's first steps are lr-sized)
            z = x0 @ best[1].T
            obj, plan = cost_of(best[1])
    return MatchingResult(plan, plan.argmax(1), _mobius_add(cy.expand_as(z), z), obj)


@validate(**_PAIR, n_steps=Integer(low=1), n_restarts=Integer(low=1), generator=Generator())
def euclidean_procrustes_matching(x: torch.Tensor, y: torch.Tensor, *, n_steps: int = 10, n_restarts: int = 8,
                                  generator=None) -> MatchingResult:
    r"""Euclidean baseline: OT with squared Euclidean cost alternated with orthogonal Procrustes.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    .. math:: P \leftarrow \arg\min_P \sum_{ij} P_{ij} \|R\bar x_i - \bar y_j\|^2, \qquad
              R \leftarrow \arg\min_{R \in O(d)} \sum_{ij} P_{ij} \|R\bar x_i - \bar y_j\|^2 = UV^\top,

    on mean-centred sets (:math:`U\Sigma V^\top` the SVD of :math:`\bar Y^\top P^\top \bar X`): Euclidean
    isometries only, so a hyperbolic translation between the sets is not undone.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    y : Tensor, shape (m, d)
        Same dtype and device as ``x``.
    n_steps : int
        Alternations of OT and Procrustes per start.
    n_restarts : int
        Initial rotations (in 2-D evenly spaced rotations and reflections, else the identity and random ones).
    generator : None, int or CPU torch.Generator
        For the random initial rotations when ``d > 2``.

    Returns
    -------
    MatchingResult

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> res = euclidean_procrustes_matching(x, x.flip(0))
    >>> res.assignment.tolist()
    [5, 4, 3, 2, 1, 0]
    """
    x0, y0 = x - x.mean(0), y - y.mean(0)
    best = None
    for rot in _rotations(x.shape[1], n_restarts, as_generator(generator), x.dtype):
        rot = rot.to(x.device)
        for _ in range(n_steps):
            plan = _emd(torch.cdist(x0 @ rot.T, y0) ** 2)
            u, _, vh = torch.linalg.svd(y0.T @ plan.T @ x0)
            rot = u @ vh
        cost = torch.cdist(x0 @ rot.T, y0) ** 2
        plan = _emd(cost)
        obj = float((plan * cost).sum())
        if best is None or obj < best[0]:
            best = (obj, plan, x0 @ rot.T + y.mean(0))
    obj, plan, aligned = best
    return MatchingResult(plan, plan.argmax(1), aligned, obj)


def _distance_profile_plan(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """OT plan between the nodes' sorted distance profiles (Mémoli's first lower bound)."""
    n, m = len(cx), len(cy)
    qs = np.linspace(0, 1, max(n, m))
    px = np.quantile(cx, qs, axis=1).T  # (n, k): quantile functions of each node's distances
    py = np.quantile(cy, qs, axis=1).T
    cost = np.abs(px[:, None, :] - py[None, :, :]).mean(-1)
    return ot.emd(np.full(n, 1 / n), np.full(m, 1 / m), cost)


@validate(**_PAIR, model=Options(*MODELS), n_restarts=Integer(low=1), generator=Generator())
def gromov_wasserstein_matching(x: torch.Tensor, y: torch.Tensor, *, model: str = "poincare", n_restarts: int = 4,
                                generator=None) -> MatchingResult:
    r"""Match two point sets by comparing their internal distances (Gromov-Wasserstein).

    With :math:`C^x_{ik} = d(x_i, x_k)` and :math:`C^y_{jl} = d(y_j, y_l)` in the chosen geometry,
    POT's ``ot.gromov.gromov_wasserstein`` (square loss, uniform weights) finds a local minimum of

    .. math:: \min_{P \in \Pi(\frac1n, \frac1m)} \sum_{ijkl} (C^x_{ik} - C^y_{jl})^2 P_{ij} P_{kl} .

    Only distances *within* each set enter, so the result is invariant to any isometry applied to
    either set: no map has to be fitted, and two embeddings that are only approximately isometric
    (e.g. trained from different seeds with :func:`fit_distances`) can still be matched. The problem
    is non-convex; the first start is the OT plan between the nodes' distance profiles (Mémoli's
    first lower bound, itself isometry-invariant), the others random vertices of the transport polytope (permutations when
    :math:`n = m`), and the start with
    the lowest objective wins. See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        At least 2 points of the model (inside the ball, on the hyperboloid).
    y : Tensor, shape (m, d)
        At least 2 points, same dtype and device as ``x``.
    model : {"poincare", "lorentz", "euclidean"}
        Geometry of the distances; ``"euclidean"`` on Poincaré coordinates is the Euclidean-cost baseline.
    n_restarts : int
        Number of starts (the distance-profile start plus ``n_restarts - 1`` random ones).
    generator : None, int or CPU torch.Generator
        For the random starts.

    Returns
    -------
    MatchingResult

    References
    ----------
    Mémoli, "Gromov-Wasserstein distances and the metric approach to object matching", 2011;
    Peyré, Cuturi & Solomon, "Gromov-Wasserstein averaging of kernel and distance matrices", ICML 2016.

    Examples
    --------
    >>> import torch
    >>> x = 0.6 * torch.rand(7, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> iso = random_isometry(2, max_shift=1.5, generator=1)
    >>> perm = torch.randperm(7, generator=torch.Generator().manual_seed(2))
    >>> res = gromov_wasserstein_matching(x, apply_isometry(x, iso.rotation, iso.translation)[perm])
    >>> bool((perm[res.assignment] == torch.arange(7)).all())
    True
    """
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"gromov_wasserstein_matching: x and y must hold at least 2 points each, got {x.shape[0]} "
                         f"and {y.shape[0]}")
    _check_points("gromov_wasserstein_matching", model, x=x, y=y)
    generator = as_generator(generator)
    cx = _pairwise_distance(x, x, model).detach().cpu().double().numpy()
    cy = _pairwise_distance(y, y, model).detach().cpu().double().numpy()
    n, m = len(cx), len(cy)
    p, q = np.full(n, 1 / n), np.full(m, 1 / m)
    best = None
    for k in range(n_restarts):
        if k == 0:
            g0 = _distance_profile_plan(cx, cy)
        else:
            # a random vertex of the transport polytope (a permutation when n == m)
            g0 = _emd(rand(n, m, generator=generator, dtype=torch.float64)).numpy()
        plan, log = ot.gromov.gromov_wasserstein(cx, cy, p, q, loss_fun="square_loss", G0=g0, log=True)
        obj = float(log["gw_dist"])
        if best is None or obj < best[0]:
            best = (obj, plan)
    obj, plan = best
    plan = torch.as_tensor(plan, dtype=x.dtype, device=x.device)
    assignment = plan.argmax(1)
    return MatchingResult(plan, assignment, y[assignment], obj)


@validate(
    n_nodes=Integer(low=1),
    parents=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"], nonempty=False),
)
def automorphism_orbits(parents: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """Label each node of a rooted tree by its orbit under the tree's automorphisms.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Two nodes are interchangeable when some automorphism of the rooted tree (a relabelling that
    preserves every parent-child edge) maps one onto the other; sibling leaves are the typical case.
    No matching method can tell such nodes apart from the structure alone, so matching accuracy
    between two embeddings of a tree is best measured *up to automorphism*: a node matched to any
    member of its own orbit counts as correct.

    Nodes ``u`` and ``v`` share an orbit exactly when the isomorphism classes of the subtrees rooted
    along the root-to-``u`` path equal, level by level, those along the root-to-``v`` path. Subtree
    classes are computed bottom-up with canonical labels (Aho, Hopcroft & Ullman), in
    :math:`O(n \\log n)`.

    Parameters
    ----------
    parents : Tensor, shape (n_nodes - 1, 2), integer
        Edges ``(child, parent)`` of a rooted tree (as in ``Hierarchy.parents``), indices in ``[0, n_nodes)``.
    n_nodes : int
        Number of nodes.

    Returns
    -------
    Tensor, shape (n_nodes,), int64
        Orbit labels ``0, 1, ...``, equal for interchangeable nodes; on ``parents.device``.

    Raises
    ------
    ValueError
        If the edges do not form one rooted tree on ``n_nodes`` nodes.

    Examples
    --------
    >>> import torch
    >>> # root 0 with two leaf children 1, 2 and a third child 3 that has one child 4
    >>> automorphism_orbits(torch.tensor([[1, 0], [2, 0], [3, 0], [4, 3]]), 5).tolist()
    [0, 1, 1, 2, 3]
    """
    if parents.shape[0] != n_nodes - 1:
        raise ValueError(f"automorphism_orbits: a tree on n_nodes = {n_nodes} nodes has {n_nodes - 1} edges, parents "
                         f"has {parents.shape[0]}")
    children = [[] for _ in range(n_nodes)]
    parent = [-1] * n_nodes
    for c, p in parents.tolist():
        if parent[c] != -1:
            raise ValueError(f"automorphism_orbits: parents edge ({c}, {p}) gives node {c} a second parent")
        parent[c] = p
        children[p].append(c)
    roots = [v for v in range(n_nodes) if parent[v] == -1]
    if len(roots) != 1:
        raise ValueError(f"automorphism_orbits: parents must describe one rooted tree, found {len(roots)} roots")
    order, stack = [], [roots[0]]
    while stack:
        v = stack.pop()
        order.append(v)
        stack.extend(children[v])
    if len(order) != n_nodes:
        raise ValueError("automorphism_orbits: parents contains a cycle: not every node is reachable from the root")
    canon: dict = {}
    subtree_class = [0] * n_nodes
    for v in reversed(order):
        key = tuple(sorted(subtree_class[c] for c in children[v]))
        subtree_class[v] = canon.setdefault(key, len(canon))
    path_key: list = [None] * n_nodes
    for v in order:
        path_key[v] = (path_key[parent[v]] if parent[v] >= 0 else ()) + (subtree_class[v],)
    labels: dict = {}
    out = [labels.setdefault(path_key[v], len(labels)) for v in range(n_nodes)]
    return torch.tensor(out, dtype=torch.int64, device=parents.device)
