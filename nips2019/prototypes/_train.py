r"""ProtoPNet's three training stages: joint SGD, the projection (push), the convex last-layer step."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import Bool, Generator, InstanceOf, Integer, Module, Real, Tensor, as_generator, progress, validate
from ._layer import _distances, _log_similarity
from ._model import ProtoPNet


@dataclasses.dataclass
class TrainResult:
    """Per-epoch history of :func:`train_classifier` and :func:`fit_joint`.

    Attributes
    ----------
    loss : Tensor, shape (n_epochs,)
        Mean training objective of each epoch.
    cross_entropy : Tensor, shape (n_epochs,)
        Mean cross-entropy of each epoch.
    cluster : Tensor, shape (n_epochs,)
        Mean cluster cost of each epoch (zeros for :func:`train_classifier`).
    separation : Tensor, shape (n_epochs,)
        Mean separation distance of each epoch (zeros for :func:`train_classifier`).
    """

    loss: torch.Tensor
    cross_entropy: torch.Tensor
    cluster: torch.Tensor
    separation: torch.Tensor


def _labels_in_range(args):
    return getattr(args["model"], "n_classes", None) or getattr(getattr(args["model"], "head", None),
                                                                "out_features", None)


class _Adam:
    """Adam (Kingma & Ba 2015) with torch.optim.Adam's defaults, betas (0.9, 0.999), eps 1e-8, no decay.

    Written out because the first ``torch.optim`` optimiser of a process imports
    ``torch._dynamo`` (about 2.5 CPU-seconds here, a tenth of a quick notebook's budget).
    tests/prototypes checks that it takes the same steps as ``torch.optim.Adam``.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params if p.requires_grad]
        self.lr, (self.b1, self.b2), self.eps, self.t = lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
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


def _loop(model, params, x, y, objective, *, n_epochs, lr, batch_size, generator, progress_bar, desc):
    gen = as_generator(generator)
    opt = _Adam(params, lr=lr)
    n = x.shape[0]
    hist = torch.zeros(4, n_epochs, dtype=torch.float64)
    model.train()
    for epoch in progress(range(n_epochs), desc=desc, disable=None if progress_bar is None else not progress_bar):
        order = torch.randperm(n, generator=gen).to(x.device)
        sums = torch.zeros(4, dtype=x.dtype, device=x.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss, parts = objective(x[idx], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sums += torch.stack([loss.detach(), *[p.detach() for p in parts]]) * idx.numel()
        hist[:, epoch] = (sums / n).double().cpu()
    model.eval()
    return TrainResult(loss=hist[0], cross_entropy=hist[1], cluster=hist[2], separation=hist[3])


_TRAIN_ARGS = dict(
    x=Tensor(shape=("n", None, None, None), dtype="floating"),
    y=Tensor(shape=("n",), dtype="integer", low=0, high=_labels_in_range, closed="left"),
    n_epochs=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    batch_size=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
)


@validate(model=Module(), same=[("model", "x")], **_TRAIN_ARGS)
def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_epochs: int = 10, lr: float = 3e-3,
                     batch_size: int = 64, generator=None, progress: bool | None = None) -> TrainResult:
    r"""Train any classifier by minibatch Adam on the mean cross-entropy (the baseline's training).

    .. math::

        \min_\theta \frac1n \sum_i -\log \operatorname{softmax}(\ell_\theta(x_i))_{y_i}.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (n, C, H, W) images to (n, K) logits; it needs an ``n_classes`` attribute or a
        linear ``head`` (as :class:`LinearHeadNet`) so the labels can be checked.
    x : Tensor, shape (n, C, H, W)
        Training images.
    y : Tensor, shape (n,)
        Labels in ``[0, K)``.
    n_epochs, lr, batch_size : int, float, int
        Passes over the data, Adam's learning rate, minibatch size.
    generator : None, int or torch.Generator
        Randomness of the minibatch order.
    progress : bool, optional
        Progress bar over the epochs (default: the package's rule).

    Returns
    -------
    TrainResult

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> from nips2019.prototypes import ConvBackbone, LinearHeadNet
    >>> net = LinearHeadNet(ConvBackbone(1, (4,), generator=0), 4, 2, generator=0)
    >>> x, y = torch.rand(8, 1, 4, 4), torch.tensor([0, 1] * 4)
    >>> train_classifier(net, x, y, n_epochs=2, generator=0).loss.shape
    torch.Size([2])
    """
    def objective(xb, yb):
        ce = F.cross_entropy(model(xb), yb)
        zero = torch.zeros((), dtype=ce.dtype, device=ce.device)
        return ce, (ce, zero, zero)

    return _loop(model, list(model.parameters()), x, y, objective, n_epochs=n_epochs, lr=lr,
                 batch_size=batch_size, generator=generator, progress_bar=progress, desc="train")


@validate(model=InstanceOf(ProtoPNet), clst_weight=Real(low=0), sep_weight=Real(low=0),
          train_last_layer=Bool(), same=[("model", "x")], **_TRAIN_ARGS)
def fit_joint(model: ProtoPNet, x: torch.Tensor, y: torch.Tensor, *, n_epochs: int = 10, lr: float = 3e-3,
              batch_size: int = 64, clst_weight: float = 0.8, sep_weight: float = 0.08,
              train_last_layer: bool = False, generator=None, progress: bool | None = None) -> TrainResult:
    r"""Stage 1 of ProtoPNet: train the backbone, add-on layers and prototypes with the last layer fixed.

    Minibatch Adam on

    .. math::

        \frac1n \sum_i \mathrm{CE}(\ell(x_i), y_i) + \lambda_1\,\mathrm{Clst} - \lambda_2\,\mathrm{Sep},

    with the cluster cost and separation distance of :func:`cluster_cost` and
    :func:`separation_cost` computed on each minibatch. The paper's weights are
    :math:`\lambda_1 = 0.8`, :math:`\lambda_2 = 0.08`; its last layer stays at the
    1 / -0.5 class connections during this stage (``train_last_layer=False``).

    Parameters
    ----------
    model : ProtoPNet
        Trained in place.
    x : Tensor, shape (n, C, H, W)
        Training images (same device and dtype as the model).
    y : Tensor, shape (n,)
        Labels in ``[0, K)``.
    n_epochs, lr, batch_size : int, float, int
        Passes over the data, Adam's learning rate, minibatch size.
    clst_weight, sep_weight : float
        :math:`\lambda_1, \lambda_2 \ge 0`.
    train_last_layer : bool
        Also train the last layer (not in the paper's stage 1).
    generator : None, int or torch.Generator
        Randomness of the minibatch order.
    progress : bool, optional
        Progress bar over the epochs.

    Returns
    -------
    TrainResult

    References
    ----------
    chen2019looks.

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> from nips2019.prototypes import ConvBackbone, ProtoPNet
    >>> net = ProtoPNet(ConvBackbone(1, (4,), generator=0), 4, 2, n_features=3, generator=0)
    >>> x, y = torch.rand(8, 1, 4, 4), torch.tensor([0, 1] * 4)
    >>> fit_joint(net, x, y, n_epochs=2, generator=0).cluster.shape
    torch.Size([2])
    """
    cls = model.prototype_class
    missing = sorted(set(y.unique().tolist()) - set(cls.tolist()))
    if missing:  # cannot happen for labels in [0, K), kept for subclasses with fewer prototypes
        raise ValueError(f"fit_joint: labels {missing} in y have no prototype")

    def objective(xb, yb):
        out = model.details(xb)
        ce = F.cross_entropy(out.logits, yb)
        own = cls[None, :] == yb[:, None]  # checked once above: the unchecked costs per batch
        clst = out.min_distances.masked_fill(~own, float("inf")).min(1).values.mean()
        sep = out.min_distances.masked_fill(own, float("inf")).min(1).values.mean()
        return ce + clst_weight * clst - sep_weight * sep, (ce, clst, sep)

    params = [p for name, p in model.named_parameters() if train_last_layer or not name.startswith("last_layer")]
    return _loop(model, params, x, y, objective, n_epochs=n_epochs, lr=lr, batch_size=batch_size,
                 generator=generator, progress_bar=progress, desc="joint")


@dataclasses.dataclass
class PushResult:
    """Where each prototype was projected, returned by :func:`push_prototypes`.

    Attributes
    ----------
    image_index : Tensor, shape (m,)
        Index (into ``x``) of the training image whose latent patch became prototype j.
    location : Tensor, shape (m, 2)
        (row, column) of that patch's top-left cell in the latent map.
    distance : Tensor, shape (m,)
        Squared distance the prototype moved (its distance to the nearest patch of its class).
    """

    image_index: torch.Tensor
    location: torch.Tensor
    distance: torch.Tensor


@validate(model=InstanceOf(ProtoPNet), x=Tensor(shape=("n", None, None, None), dtype="floating"),
          y=Tensor(shape=("n",), dtype="integer", low=0, high=_labels_in_range, closed="left"),
          batch_size=Integer(low=1), same=[("model", "x")])
@torch.no_grad()
def push_prototypes(model: ProtoPNet, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512) -> PushResult:
    r"""Stage 2 of ProtoPNet: replace each prototype by its nearest latent training patch of its own class.

    .. math::

        p_j \leftarrow \operatorname*{arg\,min}_{\tilde z \in Z_j} \lVert \tilde z - p_j \rVert^2,
        \qquad Z_j = \{ z_{[r, c]}(x_i) : y_i = c_j, \text{ all } r, c \},

    after which every prototype *is* a patch of a training image of its class and can be
    shown as that image region. Ties go to the first image and position.

    Parameters
    ----------
    model : ProtoPNet
        Its prototypes are overwritten in place (in eval mode).
    x : Tensor, shape (n, C, H, W)
        The training images to project onto.
    y : Tensor, shape (n,)
        Their labels; every class needs at least one image.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    PushResult

    References
    ----------
    chen2019looks.

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> from nips2019.prototypes import ConvBackbone, ProtoPNet
    >>> net = ProtoPNet(ConvBackbone(1, (4,), generator=0), 4, 2, n_features=3, generator=0)
    >>> x, y = torch.rand(6, 1, 4, 4), torch.tensor([0, 1] * 3)
    >>> res = push_prototypes(net, x, y)
    >>> bool((y[res.image_index] == net.prototype_class).all())
    True
    """
    missing = sorted(set(range(model.n_classes)) - set(y.unique().tolist()))
    if missing:
        raise ValueError(f"push_prototypes: y has no image of class(es) {missing}, so their prototypes "
                         f"have nothing to be projected onto")
    model.eval()
    m, (h, w) = model.n_prototypes, model.prototypes.shape[2:]
    best = torch.full((m,), float("inf"), dtype=x.dtype, device=x.device)
    index = torch.zeros(m, dtype=torch.int64, device=x.device)
    loc = torch.zeros(m, 2, dtype=torch.int64, device=x.device)
    patches = model.prototypes.detach().clone()
    cls = model.prototype_class
    for start in range(0, x.shape[0], batch_size):
        z = model.features(x[start:start + batch_size])
        maps = _distances(z, model.prototypes)  # (b, m, H', W')
        wrong = y[start:start + batch_size, None] != cls[None, :]
        maps = maps.masked_fill(wrong[:, :, None, None], float("inf"))
        width = maps.shape[3]
        flat = maps.permute(1, 0, 2, 3).reshape(m, -1)  # per prototype: (image, row, col) flattened
        val, arg = flat.min(1)
        better = val < best
        if bool(better.any()):
            j = torch.nonzero(better).flatten()
            per_image = maps.shape[2] * width
            i_loc, rc = arg[j] // per_image, arg[j] % per_image
            r, c = rc // width, rc % width
            for jj, ii, rr, cc in zip(j.tolist(), i_loc.tolist(), r.tolist(), c.tolist()):
                patches[jj] = z[ii, :, rr:rr + h, cc:cc + w]
            best[j], index[j] = val[j], i_loc + start
            loc[j, 0], loc[j, 1] = r, c
    model.prototypes.data.copy_(patches)
    return PushResult(image_index=index, location=loc, distance=best)


@dataclasses.dataclass
class LastLayerResult:
    """The convex last-layer problem and its solution, returned by :func:`fit_last_layer`.

    Attributes
    ----------
    weight : Tensor, shape (K, m)
        The fitted last layer (also written into the model).
    objective : float
        Final value of the objective.
    n_iter : int
        Proximal-gradient iterations used.
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    sparsity : float
        Fraction of wrong-class connections that are exactly 0.
    """

    weight: torch.Tensor
    objective: float
    n_iter: int
    converged: bool
    sparsity: float


def _last_layer_objective(s, y, weight, wrong, l1, l2):
    ce = F.cross_entropy(s @ weight.T, y)
    return ce + l1 * (weight * wrong).abs().sum() + 0.5 * l2 * weight.pow(2).sum()


@validate(model=InstanceOf(ProtoPNet), x=Tensor(shape=("n", None, None, None), dtype="floating"),
          y=Tensor(shape=("n",), dtype="integer", low=0, high=_labels_in_range, closed="left"),
          l1=Real(low=0), l2=Real(low=0), max_iter=Integer(low=1), tol=Real(low=0, closed="neither"),
          batch_size=Integer(low=1), same=[("model", "x")])
def fit_last_layer(model: ProtoPNet, x: torch.Tensor, y: torch.Tensor, *, l1: float = 1e-4, l2: float = 0.0,
                   max_iter: int = 5000, tol: float = 1e-7, batch_size: int = 512) -> LastLayerResult:
    r"""Stage 3 of ProtoPNet: fit the last layer alone, a convex problem, by accelerated proximal gradient.

    With everything before the last layer fixed, the similarity scores :math:`s_i \in
    \mathbb R^m` of the training images are constants and

    .. math::

        \min_{W \in \mathbb R^{K \times m}} \frac1n \sum_i \mathrm{CE}(W s_i, y_i)
          + \lambda_1 \sum_{k, j:\, c_j \ne k} |w_{kj}| + \frac{\lambda_2}{2} \lVert W \rVert_F^2

    is convex (the paper's objective is :math:`\lambda_2 = 0`, :math:`\lambda_1 = 10^{-4}`).
    The L1 term on the wrong-class connections drives them to exactly 0, so each class
    is explained by its own prototypes. Solved by FISTA (Beck & Teboulle 2009) with
    gradient-based adaptive restart: step
    :math:`1/L` with :math:`L = \sigma_{\max}(S)^2 / (2n) + \lambda_2` (the softmax
    cross-entropy's Hessian is at most :math:`1/2` in operator norm), soft-thresholding
    of the wrong-class entries only; it stops when no weight moves by more than
    ``tol`` times the largest weight.

    Parameters
    ----------
    model : ProtoPNet
        Its last layer is overwritten; it starts from the current weights.
    x : Tensor, shape (n, C, H, W)
        Training images.
    y : Tensor, shape (n,)
        Labels in ``[0, K)``.
    l1 : float
        :math:`\lambda_1 \ge 0`.
    l2 : float
        :math:`\lambda_2 \ge 0`. When a last layer with only own-class connections
        classifies every training image correctly and :math:`\lambda_2 = 0`, the
        objective has no minimiser (scaling that layer up drives the cross-entropy to 0
        at no L1 cost): the weights keep growing, ever more slowly, and where the
        iterations stop depends on ``tol`` and ``max_iter``. Any :math:`\lambda_2 > 0`
        makes the problem strongly convex, with one minimiser.
    max_iter : int
        Iteration cap.
    tol : float
        Stopping threshold (relative to the largest weight).
    batch_size : int
        Images per forward pass when computing the scores.

    Returns
    -------
    LastLayerResult

    References
    ----------
    chen2019looks; beck2009fast; odonoghue2015adaptive.

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> from nips2019.prototypes import ConvBackbone, ProtoPNet
    >>> net = ProtoPNet(ConvBackbone(1, (4,), generator=0), 4, 2, n_features=3, generator=0)
    >>> x, y = torch.rand(8, 1, 4, 4), torch.tensor([0, 1] * 4)
    >>> res = fit_last_layer(net, x, y, l1=0.1, l2=0.1)
    >>> res.converged, tuple(res.weight.shape)
    (True, (2, 4))
    """
    model.eval()
    with torch.no_grad():
        s = torch.cat([model.details(x[i:i + batch_size]).similarities for i in range(0, x.shape[0], batch_size)])
        wrong = 1 - model.class_connection()
        n = s.shape[0]
        lip = float(torch.linalg.matrix_norm(s, ord=2)) ** 2 / (2 * n) + l2
        step = 1.0 / lip
        w = model.last_layer.weight.detach().clone()
        v, w_prev, t = w.clone(), w.clone(), 1.0
        converged, it = False, 0
        onehot = F.one_hot(y, model.n_classes).to(s.dtype)
        thr = step * l1 * wrong
        keep = wrong == 0
        for it in range(1, max_iter + 1):
            p = torch.softmax(s @ v.T, dim=1)
            u = v - step * ((p - onehot).T @ s / n + l2 * v)
            w = torch.where(keep, u, torch.sign(u) * (u.abs() - thr).clamp_min(0))
            delta = w - w_prev
            # gradient-based adaptive restart (O'Donoghue & Candes 2015): drop the momentum
            # when the step points uphill, which keeps FISTA fast without objective evaluations
            if float(((v - w) * delta).sum()) > 0:
                t_next, v = 1.0, w.clone()
            else:
                t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
                v = w + ((t - 1) / t_next) * delta
            t, w_prev = t_next, w
            if it % 10 == 0 and float(delta.abs().max()) <= tol * max(1.0, float(w.abs().max())):
                converged = True
                break
        obj_prev = float(_last_layer_objective(s, y, w, wrong, l1, l2))
        model.last_layer.weight.copy_(w)
        sparsity = float(((w == 0) & (wrong > 0)).sum() / wrong.sum().clamp_min(1))
    return LastLayerResult(weight=w.clone(), objective=obj_prev, n_iter=it, converged=converged, sparsity=sparsity)
