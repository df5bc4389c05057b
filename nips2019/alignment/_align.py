"""Orthogonal Procrustes, Wasserstein-Procrustes and Gromov-Wasserstein alignment of two point clouds."""

from __future__ import annotations

import dataclasses

import numpy as np
import ot
import torch

from ..utils import Integer, Options, Real, Tensor, validate
from ..utils import progress as _progress_bar
from ..utils import Bool

_X = Tensor(shape=("n", "d"), dtype="floating")
_Y = Tensor(shape=("m", "d"), dtype="floating")


@dataclasses.dataclass
class AlignmentResult:
    r"""An alignment of two embedding matrices.

    Attributes
    ----------
    rotation : Tensor, shape (d, d)
        Orthogonal :math:`W`; ``source @ rotation`` lives in the target's space.
    plan : Tensor, shape (n, m)
        The coupling between source and target rows (mass 1 in total).
    objective : Tensor, shape (n_steps,)
        Per alternation, the transport cost :math:`\sum_{ij} P_{ij}\|x_i W - y_j\|^2`
        (Wasserstein-Procrustes) or the Gromov-Wasserstein loss (a single entry).
    """

    rotation: torch.Tensor
    plan: torch.Tensor
    objective: torch.Tensor


def _procrustes(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    u, _, vh = torch.linalg.svd(x.T @ y)
    return u @ vh


@validate(source=_X, target=Tensor(shape=("n", "d"), dtype="floating"), same=[("source", "target")])
def procrustes(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""The orthogonal matrix that best maps paired rows of ``source`` onto ``target``.

    .. math::

        W^\star = \arg\min_{W^\top W = I} \|X W - Y\|_F^2 = U V^\top,
        \qquad U \Sigma V^\top = X^\top Y \ \text{(SVD)}

    (Schönemann 1966): expanding the square leaves :math:`\max_W \operatorname{tr}(W^\top X^\top Y)`,
    maximised by aligning :math:`W` with the singular vectors. Row :math:`i` of ``source`` is
    paired with row :math:`i` of ``target`` (a "seed dictionary").

    Parameters
    ----------
    source : Tensor, shape (n, d)
    target : Tensor, shape (n, d)
        Same device and dtype.

    Returns
    -------
    Tensor, shape (d, d)
        :math:`W^\star`, orthogonal.

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(50, 3, dtype=torch.float64)
    >>> q = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))[0]
    >>> torch.allclose(procrustes(x, x @ q), q)
    True
    """
    return _procrustes(source, target)


def _emd(cost: torch.Tensor) -> torch.Tensor:
    n, m = cost.shape
    c = cost.detach().cpu().double().numpy()
    plan = ot.emd(np.full(n, 1.0 / n), np.full(m, 1.0 / m), c / max(c.max(), 1e-300), numItermax=1_000_000)
    return torch.as_tensor(plan, dtype=cost.dtype, device=cost.device)


@validate(
    source=_X,
    target=_Y,
    init=Tensor(shape=("d", "d"), dtype="floating", optional=True),
    n_steps=Integer(low=1),
    progress=Bool(optional=True),
    same=[("source", "target", "init")],
)
def wasserstein_procrustes(source: torch.Tensor, target: torch.Tensor, *, init: torch.Tensor | None = None,
                           n_steps: int = 20, progress: bool | None = None) -> AlignmentResult:
    r"""Unsupervised alignment by alternating an optimal transport plan and a Procrustes rotation.

    Grave, Joulin & Berthet (2019) minimise over orthogonal :math:`W` and couplings :math:`P`
    with uniform marginals

    .. math:: \min_{W \in O(d)}\ \min_{P \in \Pi(\frac1n\mathbf 1, \frac1m\mathbf 1)}
              \ \sum_{ij} P_{ij}\,\|x_i W - y_j\|^2 ,

    alternating an exact transport plan for fixed :math:`W` (POT's network simplex) and the
    closed-form :math:`W = UV^\top` from the SVD of :math:`X^\top P Y` for fixed :math:`P`. Both
    steps decrease the objective, so it is monotone; but it is not convex (the set of
    rotations is not), and the result depends on ``init``: Grave et al. start from a convex
    relaxation, the chapter starts from :func:`gromov_wasserstein_align`. The paper's
    stochastic mini-batch version (for 200k-word vocabularies) is replaced by full-batch steps.

    Parameters
    ----------
    source : Tensor, shape (n, d)
    target : Tensor, shape (m, d)
        Same device and dtype; vocabularies may differ in size and content (the plan then
        splits mass).
    init : Tensor, shape (d, d), optional
        Initial rotation (default: the identity).
    n_steps : int
        Alternations.
    progress : bool, optional
        Progress bar; ``None``: only in interactive sessions.

    Returns
    -------
    AlignmentResult
        ``objective`` has one entry per alternation, computed before the Procrustes update.

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    References
    ----------
    Grave, Joulin & Berthet, *Unsupervised alignment of embeddings with Wasserstein
    Procrustes*, AISTATS 2019.

    Examples
    --------
    >>> from nips2019.alignment import make_embedding_pair
    >>> pair = make_embedding_pair(60, 4, noise=0.01, shared=1.0, generator=0)
    >>> res = wasserstein_procrustes(pair.source, pair.target, init=pair.rotation, n_steps=3)
    >>> bool((res.rotation - pair.rotation).abs().max() < 0.05)
    True
    """
    d = source.shape[1]
    w = torch.eye(d, dtype=source.dtype, device=source.device) if init is None else init
    history = torch.empty(n_steps, dtype=source.dtype)
    for step in _progress_bar(range(n_steps), desc="Wasserstein-Procrustes",
                              disable=None if progress is None else not progress):
        cost = torch.cdist(source @ w, target).square()
        plan = _emd(cost)
        history[step] = (plan * cost).sum().cpu()
        w = _procrustes(source, plan @ target * source.shape[0])
    plan = _emd(torch.cdist(source @ w, target).square())
    return AlignmentResult(rotation=w, plan=plan, objective=history)


@validate(
    source=_X,
    target=Tensor(shape=("m", None), dtype="floating"),
    metric=Options("sqeuclidean", "cosine"),
    reg=Real(low=0),
    max_iter=Integer(low=1),
    tol=Real(low=0),
    same=[("source", "target")],
)
def gromov_wasserstein_align(source: torch.Tensor, target: torch.Tensor, *, metric: str = "cosine",
                             reg: float = 0.0, max_iter: int = 1000, tol: float = 1e-9) -> AlignmentResult:
    r"""Align two clouds through their internal distances only (Gromov-Wasserstein, POT).

    With intra-cloud dissimilarities :math:`C^x_{ik}` and :math:`C^y_{jl}` (normalised by their
    maximum),

    .. math:: \min_{P \in \Pi(\frac1n\mathbf 1, \frac1m\mathbf 1)}
              \ \sum_{ijkl} \bigl(C^x_{ik} - C^y_{jl}\bigr)^2 P_{ij} P_{kl}
              \;\bigl[-\ \varepsilon H(P)\bigr] ,

    which is invariant to any isometry of either cloud, so no initial rotation is needed:
    the word-translation approach of Alvarez-Melis & Jaakkola (2018). ``reg = 0`` calls POT's
    conditional-gradient solver (``ot.gromov.gromov_wasserstein``), ``reg > 0`` its entropic
    solver (``ot.gromov.entropic_gromov_wasserstein``, the paper's choice). The problem is a
    non-convex quadratic programme: both solvers return a local optimum. The rotation of the
    result is :func:`procrustes` fitted to the plan (:math:`W = UV^\top` from
    :math:`X^\top P Y`), ready for :func:`wasserstein_procrustes` refinement when the clouds
    have the same dimension (otherwise it is the zero matrix).

    Parameters
    ----------
    source : Tensor, shape (n, d)
    target : Tensor, shape (m, d')
        The dimensions may differ.
    metric : {"cosine", "sqeuclidean"}
        :math:`C`: cosine distance :math:`1 - \cos` or squared Euclidean distance.
    reg : float >= 0
        :math:`\varepsilon` (relative to the normalised costs).
    max_iter, tol
        Passed to POT.

    Returns
    -------
    AlignmentResult
        ``objective`` holds POT's final Gromov-Wasserstein loss.

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    References
    ----------
    Alvarez-Melis & Jaakkola, *Gromov-Wasserstein alignment of word embedding spaces*,
    EMNLP 2018; Mémoli, *Gromov-Wasserstein distances and the metric approach to object
    matching*, 2011; Peyré, Cuturi & Solomon, ICML 2016.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(30, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> res = gromov_wasserstein_align(x, x.flip(0), metric="sqeuclidean")
    >>> res.plan.argmax(1)[:5].tolist()
    [29, 28, 27, 26, 25]
    """
    def dissimilarity(z):
        if metric == "cosine":
            zn = z / z.norm(dim=1, keepdim=True).clamp(min=1e-12)
            c = (1 - zn @ zn.T).clamp(min=0)
        else:
            c = torch.cdist(z, z).square()
        c = c.detach().cpu().double().numpy()
        return c / max(c.max(), 1e-300)

    cx, cy = dissimilarity(source), dissimilarity(target)
    n, m = cx.shape[0], cy.shape[0]
    p, q = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    if reg == 0:
        plan, log = ot.gromov.gromov_wasserstein(cx, cy, p, q, "square_loss", log=True, max_iter=max_iter,
                                                 tol_rel=tol, tol_abs=tol)
    else:
        plan, log = ot.gromov.entropic_gromov_wasserstein(cx, cy, p, q, "square_loss", epsilon=reg, log=True,
                                                          max_iter=max_iter, tol=tol)
    if not np.isfinite(plan).all() or plan.sum() <= 0:
        raise FloatingPointError("gromov_wasserstein_align: the plan is not finite; raise reg")
    plan_t = torch.as_tensor(plan, dtype=source.dtype, device=source.device)
    if source.shape[1] == target.shape[1]:
        rotation = _procrustes(source, plan_t @ target * n)
    else:
        rotation = torch.zeros(source.shape[1], target.shape[1], dtype=source.dtype, device=source.device)
    objective = torch.tensor([float(log["gw_dist"])], dtype=source.dtype)
    return AlignmentResult(rotation=rotation, plan=plan_t, objective=objective)


@validate(source=_X, target=_Y, same=[("source", "target")])
def cosine_scores(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Cosine similarities :math:`\cos(x_i, y_j)`, the nearest-neighbour retrieval scores.

    Parameters
    ----------
    source : Tensor, shape (n, d)
        Typically ``source @ rotation``.
    target : Tensor, shape (m, d)

    Returns
    -------
    Tensor, shape (n, m)

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    Examples
    --------
    >>> import torch
    >>> cosine_scores(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    tensor([[1., 0.]])
    """
    xn = source / source.norm(dim=1, keepdim=True).clamp(min=1e-12)
    yn = target / target.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return xn @ yn.T


@validate(
    scores=Tensor(shape=("n", "m"), dtype="floating"),
    pairs=Tensor(shape=(None, 2), dtype="integer", low=0),
    k=Integer(low=1),
)
def precision_at_k(scores: torch.Tensor, pairs: torch.Tensor, *, k: int = 1) -> float:
    r"""Share of ground-truth pairs whose target is among the ``k`` best-scored for their source.

    .. math:: \mathrm{P@}k = \frac{1}{|D|}\sum_{(i, j) \in D}
              \mathbf 1\bigl[\,j \in \operatorname{top}_k\, s_{i\cdot}\bigr]

    over the dictionary :math:`D` = ``pairs`` (a source word with several translations
    counts once per pair). ``scores`` may be similarities (:func:`cosine_scores`) or a
    transport plan. Ties are broken by ``torch.topk``; a constant row therefore scores by
    chance.

    Parameters
    ----------
    scores : Tensor, shape (n, m)
    pairs : Tensor, shape (p, 2), integer
        Rows ``(i, j)`` with ``0 <= i < n`` and ``0 <= j < m``.
    k : int

    Returns
    -------
    float

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    Examples
    --------
    >>> import torch
    >>> precision_at_k(torch.eye(3), torch.tensor([[0, 0], [1, 1], [2, 0]]))
    0.6666666666666666
    """
    n, m = scores.shape
    if k > m:
        raise ValueError(f"precision_at_k: k must be <= m = {m}, got {k}")
    if int(pairs[:, 0].max()) >= n or int(pairs[:, 1].max()) >= m:
        raise ValueError(f"precision_at_k: pairs must index rows < n = {n} and columns < m = {m}")
    top = scores[pairs[:, 0]].topk(k, dim=1).indices
    hit = (top == pairs[:, 1:2].to(top.device)).any(dim=1)
    return float(hit.double().mean())
