"""Gradient descent on a deep matrix factorisation W = W_N ... W_1, and its singular values."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Bool, Generator, Integer, Options, Real, Tensor, as_generator, rand, randn, validate
from ..utils import progress as _progress


@dataclasses.dataclass
class DeepFactorizationResult:
    """The outcome of :func:`deep_factorization`.

    Attributes
    ----------
    product : Tensor, shape (..., m, n)
        The end-to-end matrix :math:`W = W_N \\cdots W_1` after the last step.
    factors : list of Tensor
        :math:`W_1, \\dots, W_N`, shapes ``(..., width, n)``, ``(..., width, width)``, ...,
        ``(..., m, width)`` (a single ``(..., m, n)`` factor for depth 1).
    steps : Tensor of int, shape (n_records,)
        The step counts at which the records below were taken (0 is the initialisation).
    singular_values : Tensor, shape (n_records, ..., min(m, n))
        Singular values of the product at each record, descending.
    train_loss : Tensor, shape (n_records, ...)
        :math:`\\|P_\\Omega(W - M)\\|_F / \\|P_\\Omega(M)\\|_F` at each record.
    n_steps : int
        Gradient steps taken (fewer than asked when every fit reached ``tol``).
    """

    product: torch.Tensor
    factors: list
    steps: torch.Tensor
    singular_values: torch.Tensor
    train_loss: torch.Tensor
    n_steps: int


def _product(factors):
    prefixes = [factors[0]]
    for w in factors[1:]:
        prefixes.append(w @ prefixes[-1])
    return prefixes


def _gradients(factors, prefixes, residual):
    """Gradients of 1/2 ||residual||^2 with respect to each factor, residual = dloss/dW."""
    grads = [None] * len(factors)
    back = residual
    for j in range(len(factors) - 1, -1, -1):
        grads[j] = back if j == 0 else back @ prefixes[j - 1].transpose(-1, -2)
        if j:
            back = factors[j].transpose(-1, -2) @ back
    return grads


def _orthonormal(rows, cols, gen, like):
    q, r = torch.linalg.qr(randn(*like.shape[:-2], rows, cols, generator=gen, dtype=like.dtype,
                                 device=like.device))
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)


def _init(depth, m, n, width, init, init_scale, gen, like):
    batch = like.shape[:-2]
    if depth == 1:
        shapes = [(m, n)]
    else:
        shapes = [(width, n)] + [(width, width)] * (depth - 2) + [(m, width)]
    if init == "gaussian":
        return [init_scale / (s[1] if depth == 1 else width) ** 0.5
                * randn(*batch, *s, generator=gen, dtype=like.dtype, device=like.device) for s in shapes]
    # balanced: W_j = U_{j+1} S^{1/N} U_j^T, so W_{j+1}^T W_{j+1} = W_j W_j^T exactly
    k = width if depth > 1 else min(m, n)
    spread = rand(*batch, k, generator=gen, dtype=like.dtype, device=like.device)
    s = init_scale ** depth * torch.sort(0.5 + spread, dim=-1, descending=True).values
    frames = [_orthonormal(n, k, gen, like)] + [_orthonormal(k, k, gen, like) for _ in range(depth - 1)]
    frames.append(_orthonormal(m, k, gen, like))
    root = s ** (1.0 / depth)
    return [(frames[j + 1] * root.unsqueeze(-2)) @ frames[j].transpose(-1, -2) for j in range(depth)]


@validate(
    observed=Tensor(shape=("...", "m", "n"), dtype="floating"),
    mask=Tensor(shape=("...", "m", "n"), dtype="bool"),
    depth=Integer(low=1),
    width=Integer(low=1, optional=True),
    init=Options("gaussian", "balanced"),
    init_scale=Real(low=0, closed="neither"),
    lr=Real(low=0, closed="neither"),
    n_steps=Integer(low=1),
    record_every=Integer(low=1),
    tol=Real(low=0),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("observed", "mask")],
)
def deep_factorization(observed: torch.Tensor, mask: torch.Tensor, *, depth: int = 3, width: int | None = None,
                       init: str = "gaussian", init_scale: float = 1e-2, lr: float = 1e-2, n_steps: int = 5000,
                       record_every: int = 50, tol: float = 0.0, generator=None,
                       progress: bool | None = None) -> DeepFactorizationResult:
    r"""Matrix completion by gradient descent on a product of ``depth`` matrices from a small start.

    The end-to-end matrix is :math:`W = W_N W_{N-1} \cdots W_1` (a linear network of depth
    :math:`N` without activations), fitted to the observed entries of :math:`M` by plain
    gradient descent on

    .. math::

        \phi(W_1, \dots, W_N) = \tfrac12 \sum_{(i, j) \in \Omega} \big( (W_N \cdots W_1)_{ij}
        - M_{ij} \big)^2,
        \qquad
        \frac{\partial \phi}{\partial W_j} = (W_N \cdots W_{j+1})^\top\, G\, (W_{j-1} \cdots W_1)^\top,

    with :math:`G = P_\Omega(W - M)` the residual on the observed entries. The gradients are
    formed by hand from the prefix products :math:`W_j \cdots W_1` (about :math:`3N` matrix
    products a step, no autograd graph; the tests compare them with autograd). Leading batch
    dimensions run independent problems in one pass (several observation sets at once).

    Depth adds no expressive power (any :math:`W` of rank :math:`\le` ``width`` is a product),
    but from a small initialisation it changes which interpolating :math:`W` gradient
    descent reaches: Arora et al. (2019) show that the singular values then move as
    :math:`\dot\sigma_r = -N (\sigma_r^2)^{1 - 1/N} \langle \nabla\ell(W), u_r v_r^\top \rangle`
    (:func:`singular_value_rates`), so large ones grow faster the deeper the product, and
    the solution is closer to low rank.

    Parameters
    ----------
    observed : Tensor, shape (..., m, n)
        :math:`M`; only the entries where ``mask`` is ``True`` are read.
    mask : Tensor of bool, shape (..., m, n)
        The observed set :math:`\Omega`.
    depth : int
        :math:`N`. Depth 1 is gradient descent on :math:`W` itself, which never moves the
        unobserved entries from their initial values.
    width : int, optional
        Hidden dimension of the factors (default ``min(m, n)``, so any matrix is reachable).
    init : {"gaussian", "balanced"}
        ``"gaussian"``: independent entries :math:`\mathcal N(0, \alpha^2 / \text{width})` per
        factor (:math:`\alpha` = ``init_scale``). ``"balanced"``: factors
        :math:`W_j = U_{j+1} S^{1/N} U_j^\top` with random orthonormal frames and a product
        whose singular values are :math:`\alpha^N` times values in :math:`[0.5, 1.5)`, so
        that :math:`W_{j+1}^\top W_{j+1} = W_j W_j^\top` holds exactly (the assumption of the
        singular-value dynamics).
    init_scale : float
        :math:`\alpha`; the product starts at size about :math:`\alpha^N`.
    lr : float
        Step size of plain gradient descent (the loss is a sum, not a mean, over entries).
    n_steps : int
        Maximum number of steps.
    record_every : int
        Record singular values and training loss every this many steps (and at the end).
    tol : float
        Stop early once every relative training loss is below ``tol`` (checked at records);
        0 runs all ``n_steps``.
    generator : None, int or torch.Generator
        Randomness of the initialisation.
    progress : bool, optional
        Progress bar over the records.

    Returns
    -------
    DeepFactorizationResult

    Notes
    -----
    Large ``lr`` with large targets diverges (the curvature grows like
    :math:`N \sigma_{\max}^{2 - 2/N}`); a non-finite loss raises ``FloatingPointError``
    naming the step. See the chapter
    :doc:`Depth as a regulariser, moments as features </book/factorization>`.

    References
    ----------
    Arora, Cohen, Hu & Luo, *Implicit regularization in deep matrix factorization*,
    NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> from nips2019.factorization import make_completion_problem
    >>> p = make_completion_problem(10, 10, 1, 60, generator=0)
    >>> res = deep_factorization(p.target, p.mask, depth=2, lr=0.5, n_steps=1000, generator=0)
    >>> bool(res.train_loss[-1] < 1e-3), res.singular_values.shape[-1]
    (True, 10)
    """
    if mask.shape != observed.shape:
        raise ValueError(f"deep_factorization: mask must have the shape of observed {tuple(observed.shape)}, "
                         f"got {tuple(mask.shape)}")
    m, n = observed.shape[-2:]
    width = min(m, n) if width is None else width
    if init == "balanced" and depth > 1 and width > min(m, n):
        raise ValueError(f"deep_factorization: init='balanced' needs width <= min(m, n) = {min(m, n)}, "
                         f"got {width}")
    gen = as_generator(generator)
    maskf = mask.to(observed.dtype)
    target = observed * maskf
    scale = torch.linalg.matrix_norm(target).clamp_min(torch.finfo(observed.dtype).tiny)
    factors = _init(depth, m, n, width, init, init_scale, gen, observed)
    steps, svals, losses = [], [], []

    def record(step, product):
        res = torch.linalg.matrix_norm(product * maskf - target) / scale
        if not bool(torch.isfinite(res).all()):
            raise FloatingPointError(f"deep_factorization: the loss became non-finite by step {step}; "
                                     f"lower lr (got {lr}) or init_scale")
        steps.append(step)
        svals.append(torch.linalg.svdvals(product))
        losses.append(res)
        return res

    prefixes = _product(factors)
    record(0, prefixes[-1])
    n_records = -(-n_steps // record_every)
    done = 0
    for _ in _progress(range(n_records), desc=f"depth {depth}", disable=None if progress is None else not progress):
        for _ in range(min(record_every, n_steps - done)):
            residual = prefixes[-1] * maskf - target
            grads = _gradients(factors, prefixes, residual)
            factors = [w - lr * g for w, g in zip(factors, grads)]
            prefixes = _product(factors)
            done += 1
        res = record(done, prefixes[-1])
        if tol > 0 and float(res.max()) < tol:
            break
    return DeepFactorizationResult(
        product=prefixes[-1], factors=factors, steps=torch.tensor(steps), singular_values=torch.stack(svals),
        train_loss=torch.stack(losses), n_steps=done)
