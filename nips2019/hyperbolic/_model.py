"""Embedding a transitive closure: the Nickel-Kiela ranking loss with negative sampling."""

from __future__ import annotations

import dataclasses
import math
import time

import geoopt
import torch
import torch.nn.functional as F
from torch import nn

from ..utils import progress as _progress
from ..utils import (
    Bool,
    Device,
    Generator,
    InstanceOf,
    Integer,
    Options,
    Real,
    Tensor,
    as_generator,
    rand,
    validate,
)
from ._geometry import (
    FLOAT_DTYPES,
    MODELS,
    _check_points,
    _pairwise_distance,
    _pairwise_keys,
    get_manifold,
    lorentz_to_poincare,
)

__all__ = ["EmbeddingResult", "HierarchyEmbedding", "NegativeSampler", "NegativeSamples", "fit_distances",
           "point_distance",
           "ranking_loss", "train_embedding"]

_DEVICE = Device()


def _check_init_scale(func: str, model: str, init_scale: float, dim: int) -> None:
    if model == "poincare" and not init_scale * math.sqrt(dim) < 1:
        raise ValueError(f"{func}: init_scale must be < 1/sqrt(dim) = {1 / math.sqrt(dim):.3g} so that the initial "
                         f"points lie inside the ball, got {init_scale}")


def _check_broadcast(func: str, x: torch.Tensor, y: torch.Tensor) -> None:
    """Refuse leading (batch) dimensions that do not broadcast (the last one is the declared ``d``)."""
    try:
        torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except RuntimeError:
        raise ValueError(f"{func}: the leading dimensions of x and y must broadcast, got shapes "
                         f"{tuple(x.shape)} and {tuple(y.shape)}") from None


@validate(
    x=Tensor(shape=("...", "d"), dtype="floating"),
    y=Tensor(shape=("...", "d"), dtype="floating"),
    model=Options(*MODELS),
    same=[("x", "y")],
)
def point_distance(x: torch.Tensor, y: torch.Tensor, *, model: str = "poincare") -> torch.Tensor:
    r"""Distances between corresponding (broadcast) points, differentiable and stable.

    .. math::
        d_{\mathbb{B}}(x, y) = 2\operatorname{arsinh}\frac{\|x - y\|}{\sqrt{(1 - \|x\|^2)(1 - \|y\|^2)}},
        \qquad d_{\mathbb{L}}(x, y) = \operatorname{arcosh}(-\langle x, y \rangle_{\mathcal{L}}).

    The :math:`\operatorname{arsinh}` form of the Poincaré distance equals the usual
    :math:`\operatorname{arcosh}(1 + 2\|x-y\|^2 / \dots)` (since :math:`\cosh d = 1 + 2\sinh^2(d/2)`)
    but stays well conditioned for nearby points, and it is ~5x cheaper than geoopt's Möbius-addition
    form on small batches. The Lorentz argument is clamped at 1.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    x, y : Tensor, shape (..., d) (``d + 1`` for Lorentz)
        Points of the model (inside the unit ball; on the hyperboloid), with broadcasting leading
        dimensions, one dtype and device.
    model : {"poincare", "lorentz", "euclidean"}

    Returns
    -------
    Tensor, shape (...)

    Raises
    ------
    ValueError
        If a point lies outside the model's domain (e.g. a Poincaré point of norm >= 1).

    Examples
    --------
    >>> import torch
    >>> x, y = torch.tensor([0.0, 0.0]), torch.tensor([0.5, 0.0])
    >>> round(float(point_distance(x, y)), 6) == round(2 * float(torch.atanh(torch.tensor(0.5))), 6)
    True
    """
    _check_broadcast("point_distance", x, y)
    _check_points("point_distance", model, x=x, y=y)
    return _point_distance(x, y, model)


def _point_distance(x: torch.Tensor, y: torch.Tensor, model: str) -> torch.Tensor:
    """:func:`point_distance` without the input checks (training steps, experiments on rounded points)."""
    diff = x - y
    if model == "euclidean":
        return diff.norm(dim=-1)
    if model == "lorentz":
        inner = (x[..., 1:] * y[..., 1:]).sum(-1) - x[..., 0] * y[..., 0]
        eps = 1e-7 if x.dtype == torch.float32 else 1e-12
        return torch.acosh((-inner).clamp_min(1 + eps))
    nx, ny = x.norm(dim=-1), y.norm(dim=-1)
    denom = ((1 - nx) * (1 + nx) * (1 - ny) * (1 + ny)).clamp_min(torch.finfo(x.dtype).tiny).sqrt()
    return 2 * torch.asinh(diff.norm(dim=-1) / denom)


class HierarchyEmbedding(nn.Module):
    r"""One point per node on the Poincaré ball, the hyperboloid or in Euclidean space.

    The points are a ``geoopt.ManifoldParameter``, so geoopt's Riemannian optimisers
    (``RiemannianSGD``, ``RiemannianAdam``) follow the geometry; with ``model="euclidean"``
    the same code path is plain SGD/Adam.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    n_nodes : int
    dim : int
        Intrinsic dimension ``d`` (the Lorentz model stores ``d + 1`` coordinates).
    model : {"poincare", "lorentz", "euclidean"}
    init_scale : float
        Initial points are drawn uniformly in ``[-init_scale, init_scale]^d`` (mapped by
        ``expmap0`` for the Lorentz model), close to the origin as in Nickel & Kiela.
    generator : None, int or CPU torch.Generator
        The package's randomness rule (drawn on the CPU, then moved to ``device``).
    dtype, device : optional
        Of the parameter (default: torch's default dtype, CPU).

    Examples
    --------
    >>> import torch
    >>> emb = HierarchyEmbedding(4, 2, generator=0)
    >>> emb.distance(torch.tensor([0]), torch.tensor([1])).shape
    torch.Size([1])
    """

    @validate(
        n_nodes=Integer(low=1),
        dim=Integer(low=1),
        model=Options(*MODELS),
        init_scale=Real(low=0, closed="neither"),
        generator=Generator(),
        dtype=FLOAT_DTYPES,
        device=_DEVICE,
    )
    def __init__(self, n_nodes: int, dim: int, *, model: str = "poincare", init_scale: float = 1e-3,
                 generator=None, dtype=None, device=None):
        super().__init__()
        _check_init_scale("HierarchyEmbedding", model, init_scale, dim)
        self.model, self.dim = model, dim
        self.manifold = get_manifold(model)
        dtype = dtype or torch.get_default_dtype()
        u = rand(n_nodes, dim, generator=generator, dtype=dtype) * 2 - 1
        u = (u * init_scale).to(device)
        self.manifold.to(device=u.device, dtype=dtype)
        if model == "lorentz":
            u = self.manifold.expmap0(torch.cat([torch.zeros_like(u[:, :1]), u], 1))
        self.weight = geoopt.ManifoldParameter(u, manifold=self.manifold)

    @property
    def n_nodes(self) -> int:
        """Number of embedded nodes."""
        return self.weight.shape[0]

    @validate(
        u=Tensor(dtype="integer", low=0, high=lambda a: a["self"].n_nodes),
        v=Tensor(dtype="integer", low=0, high=lambda a: a["self"].n_nodes),
        same=[("self", "u", "v")],
    )
    def distance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Distances between nodes ``u`` and ``v`` (integer tensors in ``[0, n_nodes)`` that broadcast).

        Closed forms with autograd (:func:`point_distance`); geoopt supplies the Riemannian
        gradient and the retraction in the optimiser step.
        """
        try:
            torch.broadcast_shapes(u.shape, v.shape)
        except RuntimeError:
            raise ValueError(f"HierarchyEmbedding.distance: u and v must broadcast, got shapes {tuple(u.shape)} "
                             f"and {tuple(v.shape)}") from None
        return self._distance(u, v)

    def _distance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return _point_distance(self.weight[u], self.weight[v], self.model)

    forward = distance

    def poincare(self) -> torch.Tensor:
        """Poincaré-ball coordinates (the raw points for the Euclidean model), shape ``(n, d)``."""
        w = self.weight.detach()
        return lorentz_to_poincare(w) if self.model == "lorentz" else w

    @validate(
        rows=Tensor(ndim=1, dtype="integer", low=0, high=lambda a: a["self"].n_nodes, optional=True),
        same=[("self", "rows")],
    )
    def distance_matrix(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """All distances from ``rows`` (default: every node) to every node, shape ``(r, n)``."""
        w = self.weight.detach()
        x = w if rows is None else w[rows]
        return _pairwise_distance(x, w, self.model)

    @validate(
        rows=Tensor(ndim=1, dtype="integer", low=0, high=lambda a: a["self"].n_nodes, optional=True),
        same=[("self", "rows")],
    )
    def distance_keys(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        r"""Row by row, a strictly increasing function of :meth:`distance_matrix`: ranks for a fraction of the cost.

        :func:`reconstruction` only compares distances within a row, so it gives the same result from these
        keys, several times faster on large graphs (one matrix product and a few passes, no ``arcosh`` or
        square root): the squared distance (Euclidean), :math:`-\langle u, w\rangle_L` (Lorentz),
        :math:`\|u - w\|^2 / (1 - \|w\|^2)` (Poincaré, the distance's argument without the row's constant).
        The keys are rounded differently from the distances, so two distances equal to ~1e-15 relative may
        tie in one and not in the other.

        Parameters
        ----------
        rows : Tensor of int64, shape (r,), optional
            The nodes whose rows to compute (default: every node).

        Returns
        -------
        Tensor, shape (r, n)
            Non-negative keys, ``r`` the number of ``rows`` (default: every node).

        Examples
        --------
        >>> emb = HierarchyEmbedding(5, 2, init_scale=0.3, generator=0)
        >>> keys, dist = emb.distance_keys(torch.tensor([0])), emb.distance_matrix(torch.tensor([0]))
        >>> bool((keys.argsort() == dist.argsort()).all())
        True
        """
        w = self.weight.detach()
        x = w if rows is None else w[rows]
        return _pairwise_keys(x, w, self.model)


@dataclasses.dataclass
class NegativeSamples:
    """Output of :meth:`NegativeSampler.sample`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    negatives : Tensor, shape (B, k), int64
        Candidate nodes.
    invalid : Tensor, shape (B, k), bool
        Candidates that are not negatives (the node itself, or related to it in the closure).
    """

    negatives: torch.Tensor
    invalid: torch.Tensor


class NegativeSampler:
    r"""Draws negatives for ``(u, v)`` pairs and masks the ones that are not negatives.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Candidates are i.i.d. over nodes (uniform, or :math:`\propto \deg^{0.75}` during burn-in);
    a candidate :math:`w` is invalid when :math:`w = u` or :math:`(u, w)` / :math:`(w, u)` is in the
    closure (a lookup in a dense adjacency for small graphs, a binary search, ``torch.searchsorted``,
    in the sorted integer keys ``u * n + w`` for large ones such as the WordNet nouns; vectorised
    either way, on the queries' device). Invalid candidates are masked out of the softmax rather
    than resampled.

    Parameters
    ----------
    closure : Tensor, shape (m, 2), integer
        Node indices in ``[0, n_nodes)``.
    n_nodes : int

    Examples
    --------
    >>> import torch
    >>> s = NegativeSampler(torch.tensor([[1, 0]]), 3)
    >>> out = s.sample(torch.tensor([1]), 8, generator=0)
    >>> neg, bad = out.negatives, out.invalid
    >>> bool(bad[neg != 2].all()), bool((~bad[neg == 2]).all())
    (True, True)
    """

    @validate(
        n_nodes=Integer(low=1),
        closure=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"]),
    )
    def __init__(self, closure: torch.Tensor, n_nodes: int):
        self.n = int(n_nodes)
        c = closure.detach().cpu().long()  # lookup tables live on the CPU and follow the queries' device
        self.keys = torch.cat([c[:, 0] * self.n + c[:, 1], c[:, 1] * self.n + c[:, 0]]).unique()
        self.dense = None
        if self.n * self.n <= 50_000_000:  # small graphs: a dense adjacency lookup is ~5x faster than isin
            self.dense = torch.zeros(self.n * self.n, dtype=torch.bool)
            self.dense[self.keys] = True
        deg = torch.bincount(c.flatten(), minlength=self.n).to(torch.float64)
        self.burnin_weights = deg.clamp_min(1) ** 0.75

    @validate(
        u=Tensor(ndim=1, dtype="integer", low=0, high=lambda a: a["self"].n),
        n_negatives=Integer(low=1),
        generator=Generator(),
        burnin=Bool(),
    )
    def sample(self, u: torch.Tensor, n_negatives: int, *, generator=None, burnin: bool = False):
        """Draw ``n_negatives`` candidates for each node of ``u`` (indices in ``[0, n_nodes)``).

        Returns :class:`NegativeSamples` (``negatives`` and ``invalid``, both of shape ``(len(u), n_negatives)``)
        on ``u``'s device; the draws are made on the CPU with ``generator`` (the package's randomness rule)
        and moved.
        """
        return NegativeSamples(*self._sample(u, n_negatives, as_generator(generator), burnin))

    def _sample(self, u: torch.Tensor, k: int, generator: torch.Generator, burnin: bool):
        neg = self._draw(u.numel() * k, generator, burnin).view(-1, k).to(u.device)
        return neg, self._invalid(u, neg)

    def _draw(self, n_draws: int, generator: torch.Generator, burnin: bool) -> torch.Tensor:
        """``n_draws`` candidates on the CPU (uniform, or degree-weighted during burn-in)."""
        if burnin:
            return torch.multinomial(self.burnin_weights, n_draws, replacement=True, generator=generator)
        return torch.randint(self.n, (n_draws,), generator=generator)

    def _invalid(self, u: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """Mask of the candidates ``neg`` (shape ``(B, k)``) that are ``u`` itself or related to it."""
        key = u[:, None] * self.n + neg
        if self.dense is not None:
            if self.dense.device != u.device:
                self.dense = self.dense.to(u.device)
            known = self.dense.take(key)
        else:
            if self.keys.device != u.device:
                self.keys = self.keys.to(u.device)
            # the keys are sorted and unique: a binary search gives torch.isin's mask, hundreds of
            # times faster on the noun closure (1.5M keys)
            pos = torch.searchsorted(self.keys, key).clamp_max_(self.keys.numel() - 1)
            known = self.keys.take(pos) == key
        return (neg == u[:, None]) | known


_NODE = lambda a: a["emb"].n_nodes  # noqa: E731 - the bound of node indices


@validate(
    emb=InstanceOf(HierarchyEmbedding),
    u=Tensor(shape=("b",), dtype="integer", low=0, high=_NODE),
    v=Tensor(shape=("b",), dtype="integer", low=0, high=_NODE),
    neg=Tensor(shape=("b", "k"), dtype="integer", low=0, high=_NODE),
    invalid=Tensor(shape=("b", "k"), dtype="bool", optional=True),
    same=[("emb", "u", "v", "neg", "invalid")],
)
def ranking_loss(emb: HierarchyEmbedding, u: torch.Tensor, v: torch.Tensor, neg: torch.Tensor,
                 invalid: torch.Tensor | None = None) -> torch.Tensor:
    r"""Nickel & Kiela's softmax ranking loss, averaged over the batch.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{(u, v)} \log
        \frac{e^{-d(u, v)}}{e^{-d(u, v)} + \sum_{w \in \mathcal{N}(u)} e^{-d(u, w)}}

    Parameters
    ----------
    emb : HierarchyEmbedding
    u, v : Tensor, shape (B,), integer
        Closure pairs (child, ancestor): node indices in ``[0, n_nodes)``, of equal length.
    neg : Tensor, shape (B, k), integer
        Candidate negatives.
    invalid : Tensor, shape (B, k), bool, optional
        Candidates to leave out (true neighbours).

    Returns
    -------
    Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> emb = HierarchyEmbedding(3, 2, generator=0)
    >>> loss = ranking_loss(emb, torch.tensor([1]), torch.tensor([0]), torch.tensor([[2, 2]]))
    >>> abs(loss.item() - float(torch.log(torch.tensor(3.0)))) < 1e-2  # all points near 0
    True
    """
    return _ranking_loss(emb, u, v, neg, invalid)


def _ranking_loss(emb, u, v, neg, invalid=None):
    d_pos = emb._distance(u, v)
    d_neg = emb._distance(u[:, None], neg)
    logits = -torch.cat([d_pos[:, None], d_neg], 1)
    if invalid is not None:
        logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(invalid, float("-inf"))], 1)
    target = torch.zeros(u.shape[0], dtype=torch.long, device=u.device)
    return F.cross_entropy(logits, target)


def _cap_lorentz_(w: torch.Tensor, max_radius: float) -> None:
    """In place: pull hyperboloid points farther than ``max_radius`` from the origin back onto that sphere."""
    space = w[:, 1:]
    norm = space.norm(dim=1, keepdim=True)
    limit = math.sinh(max_radius)
    scale = torch.where(norm > limit, limit / norm.clamp_min(1e-300), torch.ones_like(norm))
    space.mul_(scale)
    w[:, :1] = torch.sqrt(1 + (space * space).sum(1, keepdim=True))


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    """Squared norms along the last axis; a matrix-vector product for short vectors (several times faster
    on the CPU than a reduction over an axis of 2-10 entries)."""
    if x.shape[-1] > 16:
        return torch.linalg.vecdot(x, x)
    return x.square() @ torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)


def _fused_rsgd_step(emb: HierarchyEmbedding, u, v, neg, invalid, lr: float, acc: torch.Tensor | None = None,
                     scratch: torch.Tensor | None = None) -> torch.Tensor:
    r"""One sparse Riemannian SGD step of the ranking loss with closed-form gradients (Poincaré, Euclidean).

    The same update as ``geoopt.optim.RiemannianSGD`` (Euclidean gradient, scaled by
    :math:`(1 - \|x\|^2)^2 / 4`, then ``x + step`` projected into the ball of radius
    :math:`1 - \epsilon`) on the rows of the batch, without autograd: about a dozen fused tensor operations per batch instead of
    ~60 autograd and geoopt ones. With :math:`d = 2\operatorname{arsinh} s`,
    :math:`s = \|u - c\| / \sqrt{\alpha\beta}`, :math:`\alpha = 1 - \|u\|^2`, :math:`\beta = 1 - \|c\|^2`,

    .. math::
        \frac{\partial d}{\partial u} = \frac{2}{\sqrt{1 + s^2}} \Big(\frac{s}{\|u - c\|^2}(u - c)
        + \frac{s}{\alpha} u\Big),

    and symmetrically in :math:`c`; the loss gradient with respect to the distances is
    :math:`(e_0 - p) / B` (``p`` the softmax over the positive and the valid negatives). The Euclidean
    model has :math:`d = \|u - c\|` and no scaling or projection. Each occurrence of a row adds its
    scaled gradient (``index_add_``; the scale depends only on the old row, so repeated rows get the
    summed step, as in the dense optimiser), then the touched rows are projected.

    With ``acc`` (shape ``(n,)``, the rows' accumulators) and ``scratch`` (zeros, shape ``(n, d)``) the
    step is row-wise Riemannian Adagrad instead (Bécigneul & Ganea 2019, adaptivity across the
    factors of the product of balls): the batch gradient of each touched row, :math:`g_x` (the
    occurrences summed in ``scratch``, which is reset to zero), adds its squared Riemannian norm
    :math:`\|g_x\|_x^2 = \lambda_x^2 \|g_x\|^2` to the row's accumulator :math:`a_x`, and the row moves by
    :math:`-\mathrm{lr}\, g_x / \sqrt{a_x}`, a Riemannian length of at most ``lr``.
    """
    b, k = neg.shape
    weight = emb.weight.data
    if not weight.is_contiguous():
        emb.weight.data = weight = weight.contiguous()
    n, dim = weight.shape
    # one gather of every row the batch touches (u first, then the positive and the negatives); the
    # updates are scattered into the flat storage (scatter_add_ on the CPU is ~10x faster than
    # index_add_ on rows this short) at the same flat indices
    idx = torch.cat([u, torch.cat([v[:, None], neg], 1).view(-1)])
    flat = (idx[:, None] * dim + torch.arange(dim, device=idx.device)).view(-1)
    rows = torch.nn.functional.embedding(idx, weight)          # (b + b(k + 1), d)
    xu = rows[:b]
    xc = rows[b:].view(b, k + 1, dim)
    diff = xu[:, None, :] - xc                                # (b, k + 1, d)
    sq = _sq_norms(diff)                                      # (b, k + 1)
    mask = torch.cat([torch.zeros_like(invalid[:, :1]), invalid], 1)
    if emb.model == "euclidean":
        dist = sq.sqrt()
    else:
        nu = _sq_norms(xu)                                    # |u|^2, (b,)
        nc = _sq_norms(xc)                                    # |c|^2, (b, k + 1)
        alpha, beta = 1 - nu, 1 - nc
        s = (sq / (alpha[:, None] * beta).clamp_min(torch.finfo(sq.dtype).tiny)).sqrt()
        root = (s * s).add_(1).sqrt_()                        # sqrt(1 + s^2), also in the gradient
        # arsinh s = log1p(s + s^2 / (1 + sqrt(1 + s^2))): to rounding, ~2x cheaper than torch.asinh
        dist = torch.log1p(s * s / (1 + root) + s).mul_(2)
    logits = (-dist).masked_fill_(mask, -math.inf)
    lse = torch.logsumexp(logits, 1)
    loss = (lse - logits[:, 0]).mean()
    coef = (logits - lse[:, None]).exp_().neg_()              # -p (softmax; 0 at the masked entries)
    coef[:, 0] += 1
    coef *= (-lr if acc is None else -1.0) / b                # -lr dL/d(distance), dL/dd = (e_0 - p) / B
    flat_u, flat_c = flat[:b * dim], flat[b * dim:]
    if emb.model == "euclidean":
        a = torch.where(dist > 0, coef / dist, torch.zeros_like(coef))
        if acc is not None:
            g = torch.cat([torch.einsum("bj,bjd->bd", a, diff), (a[:, :, None] * diff).neg_().view(-1, dim)])
            _adagrad_write(weight, acc, scratch, idx, flat, rows, g, None, lr, None)
            return loss
        weight.view(-1).scatter_add_(0, flat_u, torch.einsum("bj,bjd->bd", a, diff).reshape(-1))
        weight.view(-1).scatter_add_(0, flat_c, (a[:, :, None] * diff).neg_().view(-1))
        return loss
    coef = coef * 2 / root                                    # -lr dL/ds
    a = torch.where(sq > 0, coef * s / sq, torch.zeros_like(coef))
    cs = coef * s
    # Riemannian scaling at the old rows, lambda_x^-2 = (1 + k |x|^2)^2 / 4, and the projection, with
    # geoopt's curvature k (a float32 softplus: -1 + 4e-8), so that the step is geoopt's to rounding
    kk = emb.manifold.k
    lam_u = nu.mul(kk).add_(1)
    lam_c = nc.mul_(kk).add_(1)
    sc_u = lam_u * lam_u / 4
    sc_c = lam_c * lam_c / 4
    g_u = torch.einsum("bj,bjd->bd", a, diff).add_(xu * (cs.sum(1) / alpha)[:, None]).mul_(sc_u[:, None])
    g_c = torch.addcmul(xc * (cs / beta * sc_c)[:, :, None], diff, (a * sc_c)[:, :, None], value=-1)
    maxnorm = (1 - (4e-3 if weight.dtype == torch.float32 else 1e-5)) / (-kk).sqrt()  # geoopt's projection
    if acc is not None:
        lam2 = torch.cat([sc_u, sc_c.view(-1)]).reciprocal_()   # lambda_x^2 at the old rows
        _adagrad_write(weight, acc, scratch, idx, flat, rows, torch.cat([g_u, g_c.view(-1, dim)]), lam2, lr,
                       maxnorm)
        return loss
    weight.view(-1).scatter_add_(0, flat_u, g_u.view(-1))
    weight.view(-1).scatter_add_(0, flat_c, g_c.view(-1))
    if n <= 2 * idx.numel():
        # small tables: project every row (untouched rows are inside the ball, factor exactly 1)
        weight *= (maxnorm / torch.linalg.vector_norm(weight, dim=1, keepdim=True).clamp_min(1e-15)).clamp_max_(1)
        return loss
    rows = torch.nn.functional.embedding(idx, weight)
    rows *= (maxnorm / torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_min(1e-15)).clamp_max_(1)
    # repeated rows get identical values, so the order of the writes does not matter
    weight.view(-1).scatter_(0, flat, rows.view(-1))
    return loss


def _adagrad_write(weight, acc, scratch, idx, flat, rows, g, lam2, lr, maxnorm) -> None:
    """The row-wise Riemannian Adagrad update of :func:`_fused_rsgd_step` (``g``: descent direction per occurrence)."""
    dim = weight.shape[1]
    buf = scratch.view(-1)
    buf.scatter_add_(0, flat, g.view(-1))
    gs = buf.index_select(0, flat).view(-1, dim)                # each row's batch gradient, at every occurrence
    buf.index_fill_(0, flat, 0)
    norm2 = _sq_norms(gs)
    if lam2 is not None:
        norm2 = norm2 * lam2
    a_new = acc.index_select(0, idx).add_(norm2)
    acc.index_copy_(0, idx, a_new)                             # repeated rows write identical values
    new = torch.addcmul(rows, gs, (lr / a_new.sqrt().add_(1e-10))[:, None])
    if maxnorm is not None:
        new *= (maxnorm / torch.linalg.vector_norm(new, dim=1, keepdim=True).clamp_min(1e-15)).clamp_max_(1)
    weight.view(-1).scatter_(0, flat, new.view(-1))


def _sparse_rsgd_step(emb: HierarchyEmbedding, u, v, neg, invalid, lr: float, max_radius: float,
                      scratch: torch.Tensor) -> torch.Tensor:
    """One Riemannian SGD step that reads and writes only the rows in the batch.

    The same update as ``geoopt.optim.RiemannianSGD`` without momentum (``egrad2rgrad``, then
    ``retr`` of the manifold), restricted to the rows the batch touches; rows without a gradient do
    not move in the dense step either. A step costs ``O(B k d)`` instead of ``O(n d)``, and it never
    asks the device how many distinct rows there are (``torch.unique`` would sync with the host on
    CUDA). Poincaré and Euclidean: closed-form gradients (:func:`_fused_rsgd_step`, a few times cheaper);
    Lorentz: autograd (:func:`_autograd_rsgd_step`), where the per-occurrence gradients are summed in
    ``scratch`` (zeros, shape ``(n, d)``), read back at the same indices and reset to zero there, and
    repeated rows get identical writes.
    """
    if emb.model != "lorentz":
        return _fused_rsgd_step(emb, u, v, neg, invalid, lr)
    return _lorentz_rsgd_step(emb, u, v, neg, invalid, lr, max_radius, scratch)


def _lorentz_rsgd_step(emb: HierarchyEmbedding, u, v, neg, invalid, lr: float, max_radius: float,
                       scratch: torch.Tensor) -> torch.Tensor:
    r"""The sparse Lorentz step with the closed-form Euclidean gradient, then geoopt's ``egrad2rgrad``/``retr``.

    With :math:`z = -\langle x, y\rangle_L` and :math:`d = \operatorname{arcosh} z` (``z`` clamped at
    :math:`1 + \epsilon` as in :func:`point_distance`, no gradient below), :math:`\partial d/\partial x =
    -J y / \sqrt{z^2 - 1}`, :math:`J = \operatorname{diag}(-1, 1, \dots, 1)`. The per-occurrence gradients
    are summed per row in ``scratch`` (zeros, shape ``(n, d + 1)``; reset afterwards), so that repeated rows
    get the summed step and identical writes, as in :func:`_autograd_rsgd_step` (the same update, tested).
    """
    b, k = neg.shape
    weight = emb.weight.data
    if not weight.is_contiguous():
        emb.weight.data = weight = weight.contiguous()
    dim = weight.shape[1]
    idx = torch.cat([u, torch.cat([v[:, None], neg], 1).view(-1)])
    flat = (idx[:, None] * dim + torch.arange(dim, device=idx.device)).view(-1)
    rows = torch.nn.functional.embedding(idx, weight)
    xu, xc = rows[:b], rows[b:].view(b, k + 1, dim)
    sign = torch.ones(dim, dtype=weight.dtype, device=weight.device)
    sign[0] = -1
    z = -(xc @ (xu * sign)[:, :, None]).squeeze(-1)           # -<u, c>_L, (b, k + 1)
    eps = 1e-7 if weight.dtype == torch.float32 else 1e-12
    zc = z.clamp_min(1 + eps)
    dist = torch.acosh(zc)
    mask = torch.cat([torch.zeros_like(invalid[:, :1]), invalid], 1)
    logits = (-dist).masked_fill_(mask, -math.inf)
    lse = torch.logsumexp(logits, 1)
    loss = (lse - logits[:, 0]).mean()
    coef = (logits - lse[:, None]).exp_().neg_()              # -p (softmax; 0 at the masked entries)
    coef[:, 0] += 1
    coef /= b                                                 # dL/d(distance)
    cz = torch.where(z >= 1 + eps, coef * (zc * zc - 1).rsqrt(), torch.zeros_like(coef))  # dL/dz
    g_u = torch.einsum("bj,bjd->bd", cz, xc).mul_(-sign)      # dL/du = -J sum_j cz_j c_j
    g_c = cz[:, :, None] * (xu * -sign)[:, None, :]           # dL/dc_j = -cz_j J u
    acc = scratch.view(-1)
    acc.scatter_add_(0, flat[:b * dim], g_u.view(-1))
    acc.scatter_add_(0, flat[b * dim:], g_c.view(-1))
    grad = torch.nn.functional.embedding(idx, scratch)
    acc.scatter_(0, flat, 0.0)
    new = emb.manifold.retr(rows, -lr * emb.manifold.egrad2rgrad(rows, grad))
    _cap_lorentz_(new, max_radius)
    weight.view(-1).scatter_(0, flat, new.reshape(-1))
    return loss


def _autograd_rsgd_step(emb: HierarchyEmbedding, u, v, neg, invalid, lr: float, max_radius: float,
                        scratch: torch.Tensor) -> torch.Tensor:
    """The sparse step by autograd and geoopt's ``egrad2rgrad``/``retr`` (the Lorentz model's step).

    Also the reference of the closed-form :func:`_fused_rsgd_step` in the benchmark (the step used for
    every model before it).
    """
    b, k = neg.shape
    idx = torch.cat([u, v, neg.reshape(-1)])
    weight = emb.weight
    rows = weight.detach()[idx].requires_grad_(True)
    ru = rows[:b]
    d_pos = _point_distance(ru, rows[b:2 * b], emb.model)
    d_neg = _point_distance(ru[:, None], rows[2 * b:].view(b, k, -1), emb.model)
    logits = -torch.cat([d_pos[:, None], d_neg.masked_fill(invalid, float("inf"))], 1)
    loss = -torch.log_softmax(logits, 1)[:, 0].mean()
    (grad,) = torch.autograd.grad(loss, rows)
    with torch.no_grad():
        scratch.index_add_(0, idx, grad)
        grad = scratch[idx]
        scratch[idx] = 0
        x = rows.detach()
        new = emb.manifold.retr(x, -lr * emb.manifold.egrad2rgrad(x, grad))
        if emb.model == "lorentz":
            _cap_lorentz_(new, max_radius)
        weight.data[idx] = new
    return loss


@dataclasses.dataclass
class EmbeddingResult:
    """Output of :func:`train_embedding` and :func:`fit_distances`.

    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Attributes
    ----------
    embedding : HierarchyEmbedding
    losses : list of float
        Mean loss per epoch (:func:`train_embedding`) or per step (:func:`fit_distances`).
    seconds : float
        Wall-clock training time.
    relations_per_second : float
        Closure pairs processed per second.
    """

    embedding: HierarchyEmbedding
    losses: list
    seconds: float
    relations_per_second: float


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move CPU draws to ``device``; to CUDA through pinned memory, without blocking the host."""
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def _device_matches(requested, actual: torch.device) -> bool:
    requested = torch.device(requested)
    if requested.type != actual.type:
        return False
    return requested.index is None or actual.index is None or requested.index == actual.index


@validate(
    n_nodes=Integer(low=1),
    closure=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"]),
    dim=Integer(low=1),
    model=Options(*MODELS),
    n_epochs=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    batch_size=Integer(low=1),
    n_negatives=Integer(low=1),
    n_burnin_epochs=Integer(low=0),
    burnin_factor=Real(low=0, closed="neither"),
    optimizer=Options("rsgd", "radagrad", "radam"),
    init_scale=Real(low=0, closed="neither"),
    generator=Generator(),
    dtype=FLOAT_DTYPES,
    device=_DEVICE,
    max_radius=Real(low=0, closed="neither"),
    progress=Bool(optional=True),
    init=InstanceOf(HierarchyEmbedding, optional=True),
)
def train_embedding(closure: torch.Tensor, n_nodes: int, dim: int, *, model: str = "poincare",
                    n_epochs: int = 300, lr: float = 1.0, batch_size: int = 256, n_negatives: int = 50,
                    n_burnin_epochs: int = 20, burnin_factor: float = 0.1, optimizer: str = "rsgd",
                    init_scale: float = 1e-3, generator=None, dtype=None, device=None,
                    max_radius: float = 12.2, progress: bool | None = None,
                    init: HierarchyEmbedding | None = None) -> EmbeddingResult:
    r"""Embed a transitive closure by minimising :func:`ranking_loss` with a Riemannian optimiser.

    Each epoch shuffles the closure pairs, cuts them into batches, draws ``n_negatives``
    candidates per pair (:class:`NegativeSampler`) and takes one Riemannian step per batch.
    Negatives for many batches are drawn at once on the CPU (the package's randomness rule) and
    moved in one transfer; the loss is summed on the device and read once per epoch, so on CUDA the
    loop does not wait for the device after every batch.
    The first ``n_burnin_epochs`` epochs use ``lr * burnin_factor`` and degree-weighted negatives
    (Nickel & Kiela's burn-in, which lets the points find a good angular layout before
    they move towards the boundary).
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    closure : Tensor, shape (m, 2), integer
        ``(child, ancestor)`` pairs, node indices in ``[0, n_nodes)``.
    n_nodes, dim : int
    model : {"poincare", "lorentz", "euclidean"}
    n_epochs, batch_size, n_negatives, n_burnin_epochs : int
    lr, burnin_factor, init_scale : float
    optimizer : {"rsgd", "radagrad", "radam"}
        Riemannian SGD (the update of ``geoopt.optim.RiemannianSGD``, applied only to the rows in the
        batch, so a step costs ``O(batch_size * n_negatives * dim)`` whatever ``n_nodes``); row-wise
        Riemannian Adagrad (Bécigneul & Ganea, ICLR 2019; sparse like ``"rsgd"``; each row's step is
        divided by the root of its accumulated squared Riemannian gradient norms, so ``lr`` is the
        largest Riemannian length of a step, and rows that many pairs touch, the top of a hierarchy,
        slow down while rarely touched leaves keep moving; Poincaré and Euclidean models; in our runs
        it learns fast at first and then stalls as the accumulators grow: on the WordNet nouns from a
        random start, MAP 0.28 from epoch 20 to 35, where Riemannian SGD with a decaying rate from
        :func:`tree_init` passes 0.8, ``scripts/hyperbolic_nouns.py``); or geoopt's
        ``RiemannianAdam`` (dense: every row's moments are updated at every step).
    generator : None, int or CPU torch.Generator
        Drives the initialisation, the shuffling and the negatives (drawn on the CPU, then moved).
    dtype : torch.float32 or torch.float64, optional
        Of the embedding (default: torch's default dtype).
    device : optional
        Of the embedding; defaults to ``closure``'s device, and must agree with it when given.
    max_radius : float
        Lorentz model only: after each step, points farther than this from the origin are pulled back
        along their geodesic to it. The default, :math:`2\operatorname{artanh}(1 - 10^{-5}) \approx 12.2`,
        is the radius at which geoopt's float64 Poincaré projection clips, so both models get the same
        room; without a cap, far points overflow ``cosh`` in the exponential map and the loss turns NaN.
    progress : bool, optional
        Show a bar (default: :func:`nips2019.utils.progress` decides).
    init : HierarchyEmbedding, optional
        Continue training this embedding (in place; it is also the returned ``embedding``) instead of
        drawing a new one: train in stages and evaluate in between. Its ``n_nodes``, ``dim`` and
        ``model`` must match, and it must live on the training device; ``init_scale`` and ``dtype`` are
        then unused. Pass a ``torch.Generator`` (not an int) as ``generator`` so that the stages draw
        fresh shuffles and negatives. With ``optimizer="radagrad"`` the accumulators are kept on the
        embedding, so that stages continue them.

    Returns
    -------
    EmbeddingResult

    Raises
    ------
    FloatingPointError
        If the loss stops being finite (lower ``lr`` or use float64).
    ValueError
        If ``init`` does not match ``n_nodes``, ``dim``, ``model`` or the device.

    References
    ----------
    Nickel & Kiela, NeurIPS 2017; Nickel & Kiela, ICML 2018 (Lorentz model).

    Examples
    --------
    >>> from nips2019.hyperbolic import balanced_tree
    >>> t = balanced_tree(2, 2)
    >>> res = train_embedding(t.closure, t.n_nodes, 2, n_epochs=5, n_burnin_epochs=1, n_negatives=4, generator=0)
    >>> len(res.losses), res.embedding.weight.shape
    (5, torch.Size([7, 2]))
    """
    if device is None:
        device = closure.device
    elif not _device_matches(device, closure.device):
        raise ValueError(f"train_embedding: closure is on {closure.device} but device is {device}; "
                         f"move closure to the training device (nothing is moved silently)")
    _check_init_scale("train_embedding", model, init_scale, dim)
    generator = as_generator(generator)
    if init is None:
        emb = HierarchyEmbedding(n_nodes, dim, model=model, init_scale=init_scale, generator=generator,
                                 dtype=dtype, device=device)
    else:
        if (init.n_nodes, init.dim, init.model) != (n_nodes, dim, model):
            raise ValueError(f"train_embedding: init has n_nodes={init.n_nodes}, dim={init.dim}, "
                             f"model={init.model!r}; expected {n_nodes}, {dim}, {model!r}")
        if not _device_matches(device, init.weight.device):
            raise ValueError(f"train_embedding: init lives on {init.weight.device} but training is on {device}")
        emb = init
    pairs = closure
    sampler = NegativeSampler(closure, n_nodes)
    if optimizer == "radagrad" and model == "lorentz":
        raise ValueError("train_embedding: optimizer='radagrad' is implemented for the Poincaré and Euclidean "
                         "models; use 'rsgd' or 'radam' with model='lorentz'")
    sparse = optimizer in ("rsgd", "radagrad")
    opt, scratch, acc = None, None, None
    if sparse:
        scratch = torch.zeros_like(emb.weight.detach())
    else:
        opt = geoopt.optim.RiemannianAdam(emb.parameters(), lr=lr, stabilize=None)
    if optimizer == "radagrad":  # the accumulators travel with the embedding: training in stages = one run
        acc = getattr(emb, "_radagrad_acc", None)
        if acc is None or acc.shape != (n_nodes,) or acc.dtype != emb.weight.dtype:
            acc = emb._radagrad_acc = torch.zeros(n_nodes, dtype=emb.weight.dtype, device=emb.weight.device)
    losses, m, t0 = [], pairs.shape[0], time.perf_counter()
    # negatives are drawn on the CPU (the randomness rule) for a block of batches at a time and
    # moved in one transfer; the loss is summed on the device and read once per epoch
    block = max(1, (1 << 22) // (batch_size * n_negatives)) * batch_size
    for epoch in _progress(range(n_epochs), desc=f"{model} d={dim}",
                           disable=None if progress is None else not progress):
        in_burnin = epoch < n_burnin_epochs
        step_lr = lr * burnin_factor if in_burnin else lr
        perm = _to_device(torch.randperm(m, generator=generator), pairs.device)
        total = torch.zeros((), dtype=emb.weight.dtype, device=emb.weight.device)
        for block_start in range(0, m, block):
            n_block = min(block, m - block_start)
            negs = sampler._draw(n_block * n_negatives, generator, in_burnin).view(n_block, n_negatives)
            negs = _to_device(negs, pairs.device)
            for start in range(0, n_block, batch_size):
                batch = pairs.index_select(0, perm[block_start + start:block_start + start + batch_size])
                u, v = batch[:, 0], batch[:, 1]
                neg = negs[start:start + batch_size]
                invalid = sampler._invalid(u, neg)
                if acc is not None:
                    loss = _fused_rsgd_step(emb, u, v, neg, invalid, step_lr, acc, scratch)
                elif sparse:
                    loss = _sparse_rsgd_step(emb, u, v, neg, invalid, step_lr, max_radius, scratch)
                else:
                    for group in opt.param_groups:
                        group["lr"] = step_lr
                    opt.zero_grad(set_to_none=True)
                    loss = _ranking_loss(emb, u, v, neg, invalid)
                    loss.backward()
                    opt.step()
                    if model == "lorentz":
                        with torch.no_grad():
                            _cap_lorentz_(emb.weight, max_radius)
                            state = opt.state.get(emb.weight, {})
                            if "exp_avg" in state:  # keep Adam's momentum tangent at the moved points
                                state["exp_avg"].copy_(emb.manifold.proju(emb.weight, state["exp_avg"]))
                total += loss.detach() * u.shape[0]
        value = float(total) / m  # one host sync per epoch
        if not math.isfinite(value):
            raise FloatingPointError(
                f"train_embedding: loss became {value} at epoch {epoch}: lower lr (got {lr}) or use float64")
        losses.append(value)
    seconds = time.perf_counter() - t0
    return EmbeddingResult(emb, losses, seconds, n_epochs * m / seconds)


@validate(
    distances=Tensor(shape=("n", "n"), dtype="floating"),
    dim=Integer(low=1),
    model=Options(*MODELS),
    scale=Real(low=0, closed="neither"),
    n_steps=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    init_scale=Real(low=0, closed="neither"),
    generator=Generator(),
    progress=Bool(optional=True),
)
def fit_distances(distances: torch.Tensor, dim: int, *, model: str = "poincare", scale: float = 0.5,
                  n_steps: int = 1000, lr: float = 0.05, init_scale: float = 1e-2, generator=None,
                  progress: bool | None = None) -> EmbeddingResult:
    r"""Embed a finite metric (e.g. tree distances) by minimising the mean squared relative distortion.

    .. math::
        \mathcal{L}(x) = \frac{2}{n(n-1)} \sum_{i<j}
        \Big(\frac{d(x_i, x_j)}{s\, D_{ij}} - 1\Big)^2 ,

    full batch, with ``geoopt.optim.RiemannianAdam`` on the chosen model. Unlike the ranking loss of
    :func:`train_embedding`, which only asks ancestors to be nearer than non-ancestors, this objective
    pins down every distance (up to the scale :math:`s`), so two runs from different seeds end up
    nearly isometric to each other. It is the distortion objective of Sala et al. (2018), who also
    optimise it directly with a Riemannian method.
    See the chapter :doc:`Hyperbolic embeddings of hierarchies </book/hyperbolic>`.

    Parameters
    ----------
    distances : Tensor, shape (n, n)
        Symmetric (up to rounding; only the upper triangle is used), positive off the diagonal, finite,
        ``n >= 2``. Its dtype and device are those of the embedding (use float64 for hyperbolic models).
    dim : int
    model : {"poincare", "lorentz", "euclidean"}
    scale : float
        Target ratio :math:`s` of embedded to given distances. In the hyperbolic models it sets how
        curved the embedding is: large :math:`s` makes trees nearly isometric in low dimension but
        puts points far from the origin (see the precision section of the chapter).
    n_steps : int
        Full-batch optimiser steps.
    lr, init_scale : float
    generator : None, int or CPU torch.Generator
        Drives the initial points.
    progress : bool, optional

    Returns
    -------
    EmbeddingResult
        ``losses`` holds the loss per step; ``relations_per_second`` counts pairs.

    Raises
    ------
    ValueError
        On a non-square, asymmetric or non-positive distance matrix, or bad hyper-parameters.
    FloatingPointError
        If the loss stops being finite.

    References
    ----------
    Sala, De Sa, Gu & Ré, "Representation tradeoffs for hyperbolic embeddings", ICML 2018.

    Examples
    --------
    >>> from nips2019.hyperbolic import balanced_tree, graph_distances
    >>> t = balanced_tree(2, 2)
    >>> d = graph_distances(t.parents, t.n_nodes).double()
    >>> res = fit_distances(d, 2, n_steps=300, generator=0)
    >>> res.losses[-1] < 0.01 * res.losses[0]
    True
    """
    n = distances.shape[0]
    if n < 2:
        raise ValueError(f"fit_distances: distances must hold at least 2 points, got shape {tuple(distances.shape)}")
    if not torch.allclose(distances, distances.T, rtol=1e-5, atol=1e-8):
        raise ValueError("fit_distances: distances must be symmetric (up to rounding)")
    iu = torch.triu_indices(n, n, 1, device=distances.device)
    target = distances[iu[0], iu[1]]
    if not bool((target > 0).all()):
        raise ValueError("fit_distances: distances must be positive off the diagonal")
    _check_init_scale("fit_distances", model, init_scale, dim)
    emb = HierarchyEmbedding(n, dim, model=model, init_scale=init_scale, generator=generator, dtype=distances.dtype,
                             device=distances.device)
    opt = geoopt.optim.RiemannianAdam(emb.parameters(), lr=lr)
    target = scale * target
    losses, t0 = [], time.perf_counter()
    for step in _progress(range(n_steps), desc=f"distortion {model} d={dim}",
                          disable=None if progress is None else not progress):
        opt.zero_grad(set_to_none=True)
        loss = ((emb._distance(iu[0], iu[1]) / target - 1) ** 2).mean()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"fit_distances: loss became {value} at step {step}: lower lr (got {lr}) "
                                     f"or scale")
        losses.append(value)
    seconds = time.perf_counter() - t0
    return EmbeddingResult(emb, losses, seconds, n_steps * target.numel() / seconds)
