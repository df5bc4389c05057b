r"""Box embeddings of a transitive closure: the module, the training loop and containment scores."""

from __future__ import annotations

import dataclasses
import math
import time

import torch
from torch import nn

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
    randint,
    validate,
)
from ..utils import progress as _progress
from ._volume import METHODS, _log_conditional, _log_volume

__all__ = ["BoxEmbedding", "BoxTrainResult", "containment_f1", "train_boxes"]

_DTYPES = Options(torch.float32, torch.float64, optional=True)
_TEMP = Real(low=0, closed="neither")


class _Adam:
    """Adam (Kingma & Ba) on a few dense parameters, the update of ``torch.optim.Adam`` with defaults.

    Hand-written because the first ``torch.optim`` optimiser of a process imports
    ``torch._dynamo``, about 3 CPU-seconds: more than a whole quick training run here.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, (self.b1, self.b2), self.eps, self.t = lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
            p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-self.lr / c1)


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate at both ends; ``x = 0`` gives ``log(tiny)``."""
    x = torch.clamp(x, max=-torch.finfo(x.dtype).tiny ** 0.5 if x.dtype == torch.float64 else -1e-7)
    return torch.where(x > -math.log(2), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


class BoxEmbedding(nn.Module):
    r"""One axis-aligned box per node: min corner ``lo`` and positive widths, ``hi = lo + softplus(w)``.

    The box of node ``v`` *contains* that of ``u`` with probability
    :math:`P(v \mid u) = V(B_u \cap B_v) / V(B_u)` (:func:`conditional_probability`), the volume
    and intersection being those of ``method``. Boxes start at random places in the unit cube,
    every side ``init_width`` times a factor in ``[0.5, 1.5)``.

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Parameters
    ----------
    n_boxes, dim : int
    method : {"hard", "softplus", "gumbel", "gumbel-softplus"}
    temperature : float
        Softplus temperature or Gumbel scale ``beta``.
    init_width : float
        Typical initial side length, in ``(0, 1)``.
    generator : None, int or CPU torch.Generator
    dtype, device : optional

    Examples
    --------
    >>> import torch
    >>> emb = BoxEmbedding(3, 2, generator=0)
    >>> emb.log_conditional(torch.tensor([0, 1]), torch.tensor([2, 2])).shape
    torch.Size([2])
    """

    @validate(n_boxes=Integer(low=1), dim=Integer(low=1), method=Options(*METHODS), temperature=_TEMP,
              init_width=Real(low=0, high=1, closed="neither"), generator=Generator(), dtype=_DTYPES,
              device=Device(optional=True))
    def __init__(self, n_boxes: int, dim: int, *, method: str = "gumbel-softplus", temperature: float = 0.05,
                 init_width: float = 0.3, generator=None, dtype=None, device=None):
        super().__init__()
        g = as_generator(generator)
        dtype = dtype or torch.get_default_dtype()
        width = init_width * (0.5 + rand(n_boxes, dim, generator=g, dtype=dtype))
        lo = rand(n_boxes, dim, generator=g, dtype=dtype) * (1 - width)
        self.method, self.temperature = method, float(temperature)
        self.lo = nn.Parameter(lo.to(device))
        self.raw_width = nn.Parameter(torch.log(torch.expm1(width)).to(device))  # softplus^-1

    @property
    def n_boxes(self) -> int:
        """Number of boxes."""
        return self.lo.shape[0]

    @property
    def dim(self) -> int:
        """Dimension of the boxes."""
        return self.lo.shape[1]

    def corners(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lo, hi)``, each of shape ``(n_boxes, dim)`` (with autograd)."""
        return self.lo, self.lo + nn.functional.softplus(self.raw_width)

    def _log_conditional(self, u, v):
        lo, hi = self.corners()
        return _log_conditional(lo[v], hi[v], lo[u], hi[u], self.method, self.temperature)

    @validate(u=Tensor(dtype="integer", low=0, high=lambda a: a["self"].n_boxes),
              v=Tensor(dtype="integer", low=0, high=lambda a: a["self"].n_boxes),
              same=[("self", "u", "v")])
    def log_conditional(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r""":math:`\log P(v \mid u)`, the log probability that box ``v`` contains box ``u`` (broadcasting)."""
        try:
            torch.broadcast_shapes(u.shape, v.shape)
        except RuntimeError:
            raise ValueError(f"BoxEmbedding.log_conditional: u and v must broadcast, got shapes "
                             f"{tuple(u.shape)} and {tuple(v.shape)}") from None
        return self._log_conditional(u, v)

    forward = log_conditional

    @validate(rows=Tensor(ndim=1, dtype="integer", low=0, high=lambda a: a["self"].n_boxes, optional=True),
              same=[("self", "rows")])
    def distance_matrix(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        r""":math:`-\log P(v \mid u)` for ``u`` in ``rows`` (default: all) and every ``v``, shape ``(r, n)``.

        Non-negative and asymmetric; pass it (or this method) to
        :func:`nips2019.hyperbolic.reconstruction` to rank each node's ancestors.
        """
        with torch.no_grad():
            u = torch.arange(self.n_boxes, device=self.lo.device) if rows is None else rows
            out = [-self._log_conditional(u[i:i + 256, None], torch.arange(self.n_boxes, device=u.device)[None])
                   for i in range(0, len(u), 256)]
            return torch.cat(out).clamp(min=0.0)


@dataclasses.dataclass
class BoxTrainResult:
    """Output of :func:`train_boxes`.

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Attributes
    ----------
    embedding : BoxEmbedding
    losses : list of float
        Mean loss per epoch.
    seconds : float
        Wall-clock training time.
    relations_per_second : float
        Closure pairs processed per second.
    """

    embedding: BoxEmbedding
    losses: list
    seconds: float
    relations_per_second: float


def _pair_keys(u: torch.Tensor, v: torch.Tensor, n: int) -> torch.Tensor:
    return u * n + v


def _box_loss(emb: BoxEmbedding, u, v, neg, known_sorted, n):
    """Mean of ``-log P(v|u)`` over the pairs plus mean of ``-log(1 - P(w|u))`` over valid negatives."""
    lo, hi = emb.corners()
    m, t = emb.method, emb.temperature
    lu, hu = lo[u], hi[u]
    vol_u = _log_volume(lu, hu, m, t)
    pos = -_log_conditional(lo[v], hi[v], lu, hu, m, t, vol_u).mean()
    lp = _log_conditional(lo[neg], hi[neg], lu[:, None], hu[:, None], m, t, vol_u[:, None])
    keys = _pair_keys(u[:, None], neg, n)
    idx = torch.searchsorted(known_sorted, keys).clamp(max=len(known_sorted) - 1)
    valid = (known_sorted[idx] != keys) & (neg != u[:, None])
    nl = -(_log1mexp(lp) * valid).sum() / valid.sum().clamp(min=1)
    return pos + nl


@validate(
    n_nodes=Integer(low=1),
    closure=Tensor(shape=(None, 2), dtype="integer", low=0, high=lambda a: a["n_nodes"]),
    dim=Integer(low=1),
    method=Options(*METHODS),
    temperature=_TEMP,
    n_epochs=Integer(low=1),
    batch_size=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    n_negatives=Integer(low=1),
    init_width=Real(low=0, high=1, closed="neither"),
    generator=Generator(),
    dtype=_DTYPES,
    progress=Bool(optional=True),
    init=InstanceOf(BoxEmbedding, optional=True),
)
def train_boxes(closure: torch.Tensor, n_nodes: int, dim: int, *, method: str = "gumbel-softplus",
                temperature: float = 0.05, n_epochs: int = 100, batch_size: int = 1024, lr: float = 0.05,
                n_negatives: int = 10, init_width: float = 0.8, generator=None, dtype=None,
                progress: bool | None = None, init: BoxEmbedding | None = None) -> BoxTrainResult:
    r"""Fit one box per node to a transitive closure with Adam on a conditional-probability loss.

    For each closure pair ``(u, v)`` (``v`` an ancestor of ``u``) the loss asks the box of ``v`` to
    contain that of ``u``, and for ``n_negatives`` uniformly drawn nodes ``w`` that are not
    ancestors of ``u`` (pairs of the closure and ``w = u`` are masked out) it asks the opposite:

    .. math::
        \ell(u, v) = -\log P(v \mid u) - \frac{1}{k}\sum_{j=1}^{k} \log\bigl(1 - P(w_j \mid u)\bigr),
        \qquad P(v \mid u) = \frac{V(B_u \cap B_v)}{V(B_u)},

    the binary cross-entropy of Vilnis et al. (2018) on the conditional probabilities, with the
    volume of ``method`` (Li et al. 2019: softplus; Dasgupta et al. 2020: Gumbel). Each epoch
    shuffles the pairs and takes one Adam step per batch. With ``method="hard"``, a pair whose
    boxes are disjoint contributes nothing to the gradient (see :func:`conditional_probability`).

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Parameters
    ----------
    closure : Tensor, shape (m, 2), integer
        ``(child, ancestor)`` pairs, node indices in ``[0, n_nodes)``.
    n_nodes, dim : int
    method : {"hard", "softplus", "gumbel", "gumbel-softplus"}
    temperature : float
    n_epochs, batch_size, n_negatives : int
    lr : float
        Adam's learning rate.
    init_width : float
        Of a new :class:`BoxEmbedding`.
    generator : None, int or CPU torch.Generator
        Drives the initialisation, the shuffles and the negatives (drawn on the CPU).
    dtype : torch.float32 or torch.float64, optional
    progress : bool, optional
    init : BoxEmbedding, optional
        Continue training this embedding (in place); its size must match and it must live on
        ``closure``'s device.

    Returns
    -------
    BoxTrainResult

    Raises
    ------
    FloatingPointError
        If the loss stops being finite.

    Examples
    --------
    >>> from nips2019.hyperbolic import balanced_tree
    >>> t = balanced_tree(2, 2)
    >>> res = train_boxes(t.closure, t.n_nodes, 2, n_epochs=3, n_negatives=2, generator=0)
    >>> len(res.losses), res.embedding.lo.shape
    (3, torch.Size([7, 2]))
    """
    g = as_generator(generator)
    device = closure.device
    if init is None:
        emb = BoxEmbedding(n_nodes, dim, method=method, temperature=temperature, init_width=init_width,
                           generator=g, dtype=dtype, device=device)
    else:
        if (init.n_boxes, init.dim) != (n_nodes, dim):
            raise ValueError(f"train_boxes: init has {init.n_boxes} boxes of dim {init.dim}; "
                             f"expected {n_nodes} and {dim}")
        if init.lo.device != device:
            raise ValueError(f"train_boxes: init lives on {init.lo.device} but closure is on {device}")
        emb = init
        emb.method, emb.temperature = method, float(temperature)
    opt = _Adam(emb.parameters(), lr=lr)
    known = torch.sort(_pair_keys(closure[:, 0], closure[:, 1], n_nodes)).values
    m = closure.shape[0]
    losses, t0 = [], time.perf_counter()
    for epoch in _progress(range(n_epochs), desc=f"boxes {method} d={dim}",
                           disable=None if progress is None else not progress):
        perm = torch.randperm(m, generator=g).to(device)
        negs = randint(0, n_nodes, (m, n_negatives), generator=g, device=device)
        total = torch.zeros((), dtype=emb.lo.dtype, device=device)
        for start in range(0, m, batch_size):
            idx = perm[start:start + batch_size]
            u, v = closure[idx, 0], closure[idx, 1]
            opt.zero_grad(set_to_none=True)
            loss = _box_loss(emb, u, v, negs[idx], known, n_nodes)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        value = float(total) / m
        if not math.isfinite(value):
            raise FloatingPointError(f"train_boxes: loss became {value} at epoch {epoch}: lower lr (got {lr}) "
                                     f"or raise temperature")
        losses.append(value)
    seconds = time.perf_counter() - t0
    return BoxTrainResult(emb, losses, seconds, n_epochs * m / max(seconds, 1e-9))


@validate(prob=Tensor(shape=("n", "n"), dtype="floating", low=0, high=1),
          closure=Tensor(shape=(None, 2), dtype="integer", low=0, high="n"),
          threshold=Real(low=0, high=1, closed="neither"), same=[("prob", "closure")])
def containment_f1(prob: torch.Tensor, closure: torch.Tensor, *, threshold: float = 0.5) -> float:
    r"""F1 score of the predicted containments :math:`\{(u, v) : P(v \mid u) > \text{threshold},\ u \ne v\}`.

    Positives are the closure pairs; every ordered pair of distinct nodes is classified
    (the diagonal is left out).

    Parameters
    ----------
    prob : Tensor, shape (n, n)
        ``prob[u, v]`` = :math:`P(v \mid u)`, e.g. ``exp(-emb.distance_matrix())``.
    closure : Tensor, shape (m, 2), integer
        ``(child, ancestor)`` pairs.
    threshold : float

    Returns
    -------
    float

    See the chapter :doc:`Box embeddings for DAGs and row/column completion </book/boxes>`.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[1., .9, .1], [.2, 1., .7], [.0, .0, 1.]])
    >>> containment_f1(p, torch.tensor([[0, 1], [1, 2], [0, 2]]))
    0.8
    """
    n = prob.shape[0]
    truth = torch.zeros(n, n, dtype=torch.bool, device=prob.device)
    truth[closure[:, 0], closure[:, 1]] = True
    pred = prob > threshold
    off = ~torch.eye(n, dtype=torch.bool, device=prob.device)
    tp = int((pred & truth & off).sum())
    fp = int((pred & ~truth & off).sum())
    fn = int((~pred & truth & off).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
