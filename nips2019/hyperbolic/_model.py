"""Embedding a transitive closure: the Nickel-Kiela ranking loss with negative sampling."""

from __future__ import annotations

import dataclasses
import math
import time

import geoopt
import torch
import torch.nn.functional as F
from torch import nn

from ..utils import check_finite, check_tensor, progress
from ._geometry import _check_model, get_manifold, lorentz_to_poincare, pairwise_distance

__all__ = ["HierarchyEmbedding", "NegativeSampler", "TrainResult", "fit_distances", "point_distance",
           "ranking_loss", "train_embedding"]


def point_distance(x: torch.Tensor, y: torch.Tensor, model: str = "poincare") -> torch.Tensor:
    r"""Distances between corresponding (broadcast) points, differentiable and stable.

    .. math::
        d_{\mathbb{B}}(x, y) = 2\operatorname{arsinh}\frac{\|x - y\|}{\sqrt{(1 - \|x\|^2)(1 - \|y\|^2)}},
        \qquad d_{\mathbb{L}}(x, y) = \operatorname{arcosh}(-\langle x, y \rangle_{\mathcal{L}}).

    The :math:`\operatorname{arsinh}` form of the Poincaré distance equals the usual
    :math:`\operatorname{arcosh}(1 + 2\|x-y\|^2 / \dots)` (since :math:`\cosh d = 1 + 2\sinh^2(d/2)`)
    but stays well conditioned for nearby points, and it is ~5x cheaper than geoopt's Möbius-addition
    form on small batches. The Lorentz argument is clamped at 1. See the chapter *Hyperbolic
    embeddings of hierarchies*.

    Parameters
    ----------
    x, y : Tensor, shape (..., d) (``d + 1`` for Lorentz)
    model : {"poincare", "lorentz", "euclidean"}

    Returns
    -------
    Tensor, shape (...)

    Examples
    --------
    >>> import torch
    >>> x, y = torch.tensor([0.0, 0.0]), torch.tensor([0.5, 0.0])
    >>> round(float(point_distance(x, y)), 6) == round(2 * float(torch.atanh(torch.tensor(0.5))), 6)
    True
    """
    _check_model(model)
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
    the same code path is plain SGD/Adam. See the chapter *Hyperbolic embeddings of hierarchies*.

    Parameters
    ----------
    n_nodes : int
    dim : int
        Intrinsic dimension ``d`` (the Lorentz model stores ``d + 1`` coordinates).
    model : {"poincare", "lorentz", "euclidean"}
    init_scale : float
        Initial points are drawn uniformly in ``[-init_scale, init_scale]^d`` (mapped by
        ``expmap0`` for the Lorentz model), close to the origin as in Nickel & Kiela.
    generator : torch.Generator, optional
    dtype, device : optional
        Of the parameter (default: torch's default dtype, CPU).

    Examples
    --------
    >>> import torch
    >>> emb = HierarchyEmbedding(4, 2, generator=torch.Generator().manual_seed(0))
    >>> emb.distance(torch.tensor([0]), torch.tensor([1])).shape
    torch.Size([1])
    """

    def __init__(self, n_nodes: int, dim: int, model: str = "poincare", init_scale: float = 1e-3,
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        _check_model(model)
        if n_nodes < 1 or dim < 1:
            raise ValueError(f"n_nodes and dim must be >= 1, got {n_nodes}, {dim}")
        if not init_scale > 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        self.model, self.dim = model, dim
        self.manifold = get_manifold(model)
        dtype = dtype or torch.get_default_dtype()
        u = torch.rand(n_nodes, dim, generator=generator, dtype=dtype) * 2 - 1
        u = (u * init_scale).to(device)
        self.manifold.to(device=u.device, dtype=dtype)
        if model == "lorentz":
            u = self.manifold.expmap0(torch.cat([torch.zeros_like(u[:, :1]), u], 1))
        self.weight = geoopt.ManifoldParameter(u, manifold=self.manifold)

    def distance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Distances between nodes ``u`` and ``v`` (integer tensors that broadcast).

        Closed forms with autograd (:func:`point_distance`); geoopt supplies the Riemannian
        gradient and the retraction in the optimiser step.
        """
        return point_distance(self.weight[u], self.weight[v], self.model)

    forward = distance

    def poincare(self) -> torch.Tensor:
        """Poincaré-ball coordinates (the raw points for the Euclidean model), shape ``(n, d)``."""
        w = self.weight.detach()
        return lorentz_to_poincare(w) if self.model == "lorentz" else w

    def distance_matrix(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """All distances from ``rows`` (default: every node) to every node, shape ``(r, n)``."""
        w = self.weight.detach()
        x = w if rows is None else w[rows]
        return pairwise_distance(x, w, self.model)


class NegativeSampler:
    r"""Draws negatives for ``(u, v)`` pairs and masks the ones that are not negatives.

    See the chapter *Hyperbolic embeddings of hierarchies*.

    Candidates are i.i.d. over nodes (uniform, or :math:`\propto \deg^{0.75}` during burn-in);
    a candidate :math:`w` is invalid when :math:`w = u` or :math:`(u, w)` / :math:`(w, u)` is in the
    closure (a lookup in a dense adjacency for small graphs, ``torch.isin`` on sorted integer keys
    for large ones such as the WordNet nouns; vectorised either way). Invalid candidates are masked
    out of the softmax rather than resampled.

    Parameters
    ----------
    closure : Tensor, shape (m, 2), int64
    n_nodes : int

    Examples
    --------
    >>> import torch
    >>> s = NegativeSampler(torch.tensor([[1, 0]]), 3)
    >>> neg, bad = s.sample(torch.tensor([1]), 8, generator=torch.Generator().manual_seed(0))
    >>> bool(bad[neg != 2].all()), bool((~bad[neg == 2]).all())
    (True, True)
    """

    def __init__(self, closure: torch.Tensor, n_nodes: int):
        closure = check_tensor(closure, "closure", ndim=2, shape=(None, 2))
        self.n = int(n_nodes)
        c = closure.long()
        self.keys = torch.cat([c[:, 0] * self.n + c[:, 1], c[:, 1] * self.n + c[:, 0]]).unique()
        self.dense = None
        if self.n * self.n <= 50_000_000:  # small graphs: a dense adjacency lookup is ~5x faster than isin
            self.dense = torch.zeros(self.n * self.n, dtype=torch.bool)
            self.dense[self.keys] = True
        deg = torch.bincount(c.flatten(), minlength=self.n).to(torch.float64)
        self.burnin_weights = deg.clamp_min(1) ** 0.75

    def sample(self, u: torch.Tensor, k: int, generator: torch.Generator | None = None, burnin: bool = False):
        """Return ``(negatives, invalid)``, both of shape ``(len(u), k)``."""
        if burnin:
            flat = torch.multinomial(self.burnin_weights, u.numel() * k, replacement=True, generator=generator)
            neg = flat.view(-1, k)
        else:
            neg = torch.randint(self.n, (u.numel(), k), generator=generator)
        neg = neg.to(u.device)
        key = u[:, None] * self.n + neg
        if self.dense is not None:
            self.dense = self.dense.to(u.device)
            known = self.dense[key]
        else:
            self.keys = self.keys.to(u.device)
            known = torch.isin(key, self.keys)
        invalid = (neg == u[:, None]) | known
        return neg, invalid


def ranking_loss(emb: HierarchyEmbedding, u: torch.Tensor, v: torch.Tensor, neg: torch.Tensor,
                 invalid: torch.Tensor | None = None) -> torch.Tensor:
    r"""Nickel & Kiela's softmax ranking loss, averaged over the batch.

    See the chapter *Hyperbolic embeddings of hierarchies*.

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{(u, v)} \log
        \frac{e^{-d(u, v)}}{e^{-d(u, v)} + \sum_{w \in \mathcal{N}(u)} e^{-d(u, w)}}

    Parameters
    ----------
    emb : HierarchyEmbedding
    u, v : Tensor, shape (B,), int64
        Closure pairs (child, ancestor).
    neg : Tensor, shape (B, k), int64
        Candidate negatives.
    invalid : Tensor, shape (B, k), bool, optional
        Candidates to leave out (true neighbours).

    Returns
    -------
    Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> emb = HierarchyEmbedding(3, 2, generator=torch.Generator().manual_seed(0))
    >>> loss = ranking_loss(emb, torch.tensor([1]), torch.tensor([0]), torch.tensor([[2, 2]]))
    >>> abs(loss.item() - float(torch.log(torch.tensor(3.0)))) < 1e-2  # all points near 0
    True
    """
    d_pos = emb.distance(u, v)
    d_neg = emb.distance(u[:, None], neg)
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


@dataclasses.dataclass
class TrainResult:
    """Output of :func:`train_embedding` and :func:`fit_distances`.

    See the chapter *Hyperbolic embeddings of hierarchies*.

    Attributes
    ----------
    embedding : HierarchyEmbedding
    losses : list of float
        Mean loss per epoch.
    seconds : float
        Wall-clock training time.
    relations_per_second : float
        Closure pairs processed per second.
    """

    embedding: HierarchyEmbedding
    losses: list
    seconds: float
    relations_per_second: float


def train_embedding(closure: torch.Tensor, n_nodes: int, dim: int, model: str = "poincare", epochs: int = 300,
                    lr: float = 1.0, batch_size: int = 256, negatives: int = 50, burnin: int = 20,
                    burnin_factor: float = 0.1, optimizer: str = "rsgd", init_scale: float = 1e-3,
                    generator: torch.Generator | None = None, dtype=None, device=None,
                    max_radius: float = 12.2, progress_bar: bool | None = None) -> TrainResult:
    r"""Embed a transitive closure by minimising :func:`ranking_loss` with a Riemannian optimiser.

    Each epoch shuffles the closure pairs, cuts them into batches, draws ``negatives``
    candidates per pair (:class:`NegativeSampler`) and takes one ``geoopt`` step per batch.
    The first ``burnin`` epochs use ``lr * burnin_factor`` and degree-weighted negatives
    (Nickel & Kiela's burn-in, which lets the points find a good angular layout before
    they move towards the boundary). See the chapter *Hyperbolic embeddings of hierarchies*.

    Parameters
    ----------
    closure : Tensor, shape (m, 2), int64
        ``(child, ancestor)`` pairs.
    n_nodes, dim : int
    model : {"poincare", "lorentz", "euclidean"}
    epochs, batch_size, negatives, burnin : int
    lr, burnin_factor, init_scale : float
    optimizer : {"rsgd", "radam"}
        ``geoopt.optim.RiemannianSGD`` or ``RiemannianAdam``.
    generator : torch.Generator, optional
        Drives the initialisation, the shuffling and the negatives.
    dtype, device : optional
    max_radius : float
        Lorentz model only: after each step, points farther than this from the origin are pulled back
        along their geodesic to it. The default, :math:`2\operatorname{artanh}(1 - 10^{-5}) \approx 12.2`,
        is the radius at which geoopt's float64 Poincaré projection clips, so both models get the same
        room; without a cap, far points overflow ``cosh`` in the exponential map and the loss turns NaN.
    progress_bar : bool, optional
        Show a bar (default: :func:`nips2019.utils.progress` decides).

    Returns
    -------
    TrainResult

    References
    ----------
    Nickel & Kiela, NeurIPS 2017; Nickel & Kiela, ICML 2018 (Lorentz model).

    Examples
    --------
    >>> import torch
    >>> from nips2019.hyperbolic import balanced_tree
    >>> t = balanced_tree(2, 2)
    >>> res = train_embedding(t.closure, t.n_nodes, 2, epochs=5, burnin=1, negatives=4,
    ...                       generator=torch.Generator().manual_seed(0))
    >>> len(res.losses), res.embedding.weight.shape
    (5, torch.Size([7, 2]))
    """
    _check_model(model)
    closure = check_tensor(closure, "closure", ndim=2, shape=(None, 2))
    if closure.shape[0] == 0:
        raise ValueError("closure must hold at least one pair")
    for name, value in dict(epochs=epochs, batch_size=batch_size, negatives=negatives).items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not max_radius > 0:
        raise ValueError(f"max_radius must be > 0, got {max_radius}")
    if optimizer not in ("rsgd", "radam"):
        raise ValueError(f"optimizer must be 'rsgd' or 'radam', got {optimizer!r}")
    emb = HierarchyEmbedding(n_nodes, dim, model, init_scale, generator, dtype, device)
    pairs = closure.to(emb.weight.device)
    sampler = NegativeSampler(closure, n_nodes)
    opt_cls = geoopt.optim.RiemannianSGD if optimizer == "rsgd" else geoopt.optim.RiemannianAdam
    opt = opt_cls(emb.parameters(), lr=lr, stabilize=None)
    losses, m, t0 = [], pairs.shape[0], time.perf_counter()
    for epoch in progress(range(epochs), desc=f"{model} d={dim}",
                          disable=None if progress_bar is None else not progress_bar):
        in_burnin = epoch < burnin
        for group in opt.param_groups:
            group["lr"] = lr * burnin_factor if in_burnin else lr
        perm = torch.randperm(m, generator=generator).to(pairs.device)
        total = 0.0
        for start in range(0, m, batch_size):
            batch = pairs[perm[start:start + batch_size]]
            u, v = batch[:, 0], batch[:, 1]
            neg, invalid = sampler.sample(u, negatives, generator, burnin=in_burnin)
            opt.zero_grad(set_to_none=True)
            loss = ranking_loss(emb, u, v, neg, invalid)
            loss.backward()
            opt.step()
            if model == "lorentz":
                with torch.no_grad():
                    _cap_lorentz_(emb.weight, max_radius)
                    state = opt.state.get(emb.weight, {})
                    if "exp_avg" in state:  # keep Adam's momentum tangent at the (possibly moved) points
                        state["exp_avg"].copy_(emb.manifold.proju(emb.weight, state["exp_avg"]))
            value = float(loss.detach())
            if value != value or value == float("inf"):
                raise FloatingPointError(
                    f"loss became {value} at epoch {epoch}: lower lr (got {lr}) or use float64")
            total += value * u.shape[0]
        losses.append(total / m)
    seconds = time.perf_counter() - t0
    return TrainResult(emb, losses, seconds, epochs * m / seconds)


def fit_distances(distances: torch.Tensor, dim: int, model: str = "poincare", scale: float = 0.5,
                  epochs: int = 1000, lr: float = 0.05, init_scale: float = 1e-2,
                  generator: torch.Generator | None = None, progress_bar: bool | None = None) -> TrainResult:
    r"""Embed a finite metric (e.g. tree distances) by minimising the mean squared relative distortion.

    .. math::
        \mathcal{L}(x) = \frac{2}{n(n-1)} \sum_{i<j}
        \Big(\frac{d(x_i, x_j)}{s\, D_{ij}} - 1\Big)^2 ,

    full batch, with ``geoopt.optim.RiemannianAdam`` on the chosen model. Unlike the ranking loss of
    :func:`train_embedding`, which only asks ancestors to be nearer than non-ancestors, this objective
    pins down every distance (up to the scale :math:`s`), so two runs from different seeds end up
    nearly isometric to each other. It is the distortion objective of Sala et al. (2018), who also
    optimise it directly with a Riemannian method. See the chapter *Hyperbolic embeddings of hierarchies*.

    Parameters
    ----------
    distances : Tensor, shape (n, n)
        Symmetric (up to rounding; only the upper triangle is used), positive off the diagonal. Its
        dtype and device are those of the embedding (use float64 for hyperbolic models).
    dim : int
    model : {"poincare", "lorentz", "euclidean"}
    scale : float
        Target ratio :math:`s` of embedded to given distances. In the hyperbolic models it sets how
        curved the embedding is: large :math:`s` makes trees nearly isometric in low dimension but
        puts points far from the origin (see the precision section of the chapter).
    epochs : int
        Full-batch steps.
    lr, init_scale : float
    generator : torch.Generator, optional
        Drives the initial points.
    progress_bar : bool, optional

    Returns
    -------
    TrainResult
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
    >>> import torch
    >>> from nips2019.hyperbolic import balanced_tree, graph_distances
    >>> t = balanced_tree(2, 2)
    >>> d = graph_distances(t.parents, t.n_nodes).double()
    >>> res = fit_distances(d, 2, epochs=300, generator=torch.Generator().manual_seed(0))
    >>> res.losses[-1] < 0.01 * res.losses[0]
    True
    """
    _check_model(model)
    distances = check_finite(check_tensor(distances, "distances", ndim=2, floating=True), "distances")
    n = distances.shape[0]
    if distances.shape != (n, n) or n < 2:
        raise ValueError(f"distances must be a square matrix of at least 2 points, got {tuple(distances.shape)}")
    if not torch.allclose(distances, distances.T, rtol=1e-5, atol=1e-8):
        raise ValueError("distances must be symmetric (up to rounding)")
    iu = torch.triu_indices(n, n, 1, device=distances.device)
    target = distances[iu[0], iu[1]]
    if not bool((target > 0).all()):
        raise ValueError("distances must be positive off the diagonal")
    if epochs < 1 or dim < 1:
        raise ValueError(f"epochs and dim must be >= 1, got {epochs}, {dim}")
    for name, value in dict(scale=scale, lr=lr).items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    emb = HierarchyEmbedding(n, dim, model, init_scale, generator, distances.dtype, distances.device)
    opt = geoopt.optim.RiemannianAdam(emb.parameters(), lr=lr)
    target = scale * target
    losses, t0 = [], time.perf_counter()
    for step in progress(range(epochs), desc=f"distortion {model} d={dim}",
                         disable=None if progress_bar is None else not progress_bar):
        opt.zero_grad(set_to_none=True)
        loss = ((emb.distance(iu[0], iu[1]) / target - 1) ** 2).mean()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} at step {step}: lower lr (got {lr}) or scale")
        losses.append(value)
    seconds = time.perf_counter() - t0
    return TrainResult(emb, losses, seconds, epochs * target.numel() / seconds)
