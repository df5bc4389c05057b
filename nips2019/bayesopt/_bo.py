"""Bayesian optimisation with expected improvement: full space, random embedding, learned feature space."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import Bool, Generator, InstanceOf, Integer, IsCallable, Options, Real, Tensor, as_generator, validate
from ..utils import progress as _progress
from ._gp import fit_gp

def _branin(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (v - b * u**2 + c * u - 6) ** 2 + 10 * (1 - t) * torch.cos(u) + 10


BRANIN_MINIMUM = float(_branin(torch.tensor(math.pi, dtype=torch.float64), torch.tensor(2.275, dtype=torch.float64)))


@validate(x=Tensor(shape=("m", "d"), dtype="floating", low=-1, high=1),
          active=Tensor(shape=(2,), dtype="integer", high="d"))
def embedded_branin(x: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    r"""Branin's function of two coordinates of a point of :math:`[-1, 1]^D`; the others are ignored.

    .. math::

        f(x) = (v - b u^2 + c u - 6)^2 + 10 (1 - t) \cos u + 10, \quad
        u = 2.5 + 7.5\, x_{a_1},\ v = 7.5 + 7.5\, x_{a_2},

    with :math:`b = 5.1/(4\pi^2)`, :math:`c = 5/\pi`, :math:`t = 1/(8\pi)`: the usual domain
    :math:`[-5, 10] \times [0, 15]`, three global minima of value
    ``BRANIN_MINIMUM`` :math:`\approx 0.397887`. Effective dimension 2 in any :math:`D`.

    Parameters
    ----------
    x : Tensor, shape (m, D), in [-1, 1]
    active : Tensor, shape (2,), integer in [0, D)
        The two coordinates that matter (distinct).

    Returns
    -------
    Tensor, shape (m,)

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions and high-dimensional BO </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(1, 5, dtype=torch.float64)
    >>> x[0, 3], x[0, 1] = (math.pi - 2.5) / 7.5, (2.275 - 7.5) / 7.5
    >>> round(float(embedded_branin(x, torch.tensor([3, 1]))), 6)
    0.397887
    """
    if int(active[0]) == int(active[1]):
        raise ValueError("embedded_branin: active must hold two distinct coordinates")
    return _branin(2.5 + 7.5 * x[:, active[0]], 7.5 + 7.5 * x[:, active[1]])


@validate(mean=Tensor(shape=("m",), dtype="floating"), std=Tensor(shape=("m",), dtype="floating", low=0),
          best=Real(), same=[("mean", "std")])
def expected_improvement(mean: torch.Tensor, std: torch.Tensor, best: float) -> torch.Tensor:
    r"""Expected improvement below ``best`` of a Gaussian prediction (for minimisation).

    .. math::

        \mathrm{EI}(x) = \mathbb E[\max(0, f^\ast - F)] = (f^\ast - \mu)\,\Phi(z) + \sigma\,\varphi(z),
        \qquad z = (f^\ast - \mu) / \sigma,

    with :math:`F \sim \mathcal N(\mu, \sigma^2)`; :math:`\max(0, f^\ast - \mu)` where
    :math:`\sigma = 0`.

    Parameters
    ----------
    mean, std : Tensor, shape (m,)
        Posterior mean and standard deviation.
    best : float
        The incumbent :math:`f^\ast` (smallest value observed).

    Returns
    -------
    Tensor, shape (m,), non-negative

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions and high-dimensional BO </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> ei = expected_improvement(torch.zeros(1), torch.ones(1), 0.0)
    >>> round(float(ei), 4)  # 1 / sqrt(2 pi)
    0.3989
    """
    gap = best - mean
    safe = std.clamp_min(1e-300 if std.dtype == torch.float64 else 1e-30)
    z = gap / safe
    normal = torch.distributions.Normal(torch.zeros((), dtype=mean.dtype, device=mean.device),
                                        torch.ones((), dtype=mean.dtype, device=mean.device))
    ei = gap * normal.cdf(z) + std * torch.exp(normal.log_prob(z))
    return torch.where(std > 0, ei, gap.clamp_min(0)).clamp_min(0)


@dataclasses.dataclass
class BayesOptResult:
    """The trace of one optimisation run (:func:`bayes_opt`).

    Attributes
    ----------
    x : Tensor, shape (n_init + n_iter, D)
        The points evaluated, in order.
    y : Tensor, shape (n_init + n_iter,)
        Their values.
    best : Tensor, shape (n_init + n_iter,)
        Running minimum of ``y``.
    method : str
    """

    x: torch.Tensor
    y: torch.Tensor
    best: torch.Tensor
    method: str


def _candidates(low_dim: int, bound: float, centres: torch.Tensor, n: int, gen, dtype) -> torch.Tensor:
    """Uniform points of the box [-bound, bound]^p plus Gaussian moves around the best points."""
    uni = (2 * torch.rand(n, low_dim, generator=gen, dtype=dtype) - 1) * bound
    reps = max(1, n // max(1, len(centres)))
    local = centres.repeat(reps, 1)
    scale = torch.tensor([0.02, 0.1, 0.3], dtype=dtype)[torch.randint(0, 3, (len(local), 1), generator=gen)]
    local = local + scale * bound * torch.randn(local.shape, generator=gen, dtype=dtype)
    return torch.cat([uni, local.clamp(-bound, bound)])


@validate(objective=IsCallable(), dim=Integer(low=1), method=Options("learned", "full", "rembo", "random"),
          n_init=Integer(low=2), n_iter=Integer(low=0), embed_dim=Integer(low=1), n_candidates=Integer(low=1),
          n_steps=Integer(low=0), generator=Generator(), dtype=InstanceOf(torch.dtype),
          progress=Bool(optional=True))
def bayes_opt(objective, dim: int, *, method: str = "learned", n_init: int = 10, n_iter: int = 30,
              embed_dim: int = 2, n_candidates: int = 500, n_steps: int = 80, generator=None,
              dtype=torch.float64, progress: bool | None = None) -> BayesOptResult:
    r"""Minimise a black-box function on :math:`[-1, 1]^D` by GP expected improvement.

    All methods start from the same ``n_init`` uniform points, then add one point per
    iteration. They differ in where the GP lives and where EI (:func:`expected_improvement`)
    is maximised (over ``n_candidates`` uniform points of that space plus as many
    local moves around the five best points):

    - ``"full"``: an ARD GP on :math:`x \in [-1, 1]^D` (:func:`fit_gp`);
    - ``"rembo"``: a random embedding :math:`x = \mathrm{clip}(A y)`,
      :math:`A_{ij} \sim \mathcal N(0, 1)`, GP and EI on
      :math:`y \in [-\sqrt p, \sqrt p]^p` (Wang et al. 2016);
    - ``"learned"``: a GP on :math:`z = P x` with :math:`P \in \mathbb R^{p \times D}` learned
      from the data at every iteration: an ARD fit (warm-started) picks the :math:`p` most
      relevant inputs, whose scaled axes start :math:`P`, then the marginal likelihood of the
      projected GP adjusts all of :math:`P` (``fit_gp(projection_dim=p, init=...)``). EI is
      maximised over :math:`z` in the bounding box of the projected data; each candidate is
      mapped back to the cube by the pre-image closest to the incumbent :math:`x^\ast`,
      :math:`\mathrm{clip}(x^\ast + P^+ (z - P x^\ast))`, and scored at that point. A linear,
      simplified version of the jointly learned encoder and decoder of Moriconi et al. (2019);
    - ``"random"``: uniform random search.

    Parameters
    ----------
    objective : callable
        ``objective(x)`` maps a tensor of shape (m, D) in :math:`[-1, 1]^D` to values of
        shape (m,).
    dim : int
        :math:`D`.
    method : {"learned", "full", "rembo", "random"}
    n_init : int >= 2
        Initial uniform points.
    n_iter : int
        Points chosen by the acquisition.
    embed_dim : int
        :math:`p` for ``"rembo"`` and ``"learned"``.
    n_candidates : int
        Uniform candidates per iteration (plus as many local ones).
    n_steps : int
        Adam steps of the first GP fit; later fits start from the previous one and take a
        third as many.
    generator : None, int or torch.Generator
        The initial design, the embedding and the candidates.
    dtype : torch.dtype
        Of the points (default float64).
    progress : bool, optional
        Progress bar over iterations.

    Returns
    -------
    BayesOptResult

    References
    ----------
    R. Moriconi, M. P. Deisenroth, K. S. Sesh Kumar (2019);
    Z. Wang, F. Hutter, M. Zoghi, D. Matheson, N. de Freitas, Bayesian optimization in a
    billion dimensions via random embeddings, JAIR 2016.

    Notes
    -----
    See the chapter :doc:`Fourier-sparse set functions and high-dimensional BO </book/setfunctions>`.

    Examples
    --------
    >>> import torch
    >>> f = lambda x: (x**2).sum(1)
    >>> res = bayes_opt(f, 3, method="full", n_init=4, n_iter=4, n_candidates=64, n_steps=20, generator=0)
    >>> res.y.shape, bool(res.best[-1] <= res.best[0])
    (torch.Size([8]), True)
    """
    gen = as_generator(generator)
    warm_steps = max(1, n_steps // 3)
    x = 2 * torch.rand(n_init, dim, generator=gen, dtype=dtype) - 1
    p = min(embed_dim, dim)
    if method == "rembo":
        a = torch.randn(dim, p, generator=gen, dtype=dtype)
        bound = math.sqrt(p)
        # REMBO starts from points of its own low-dimensional box
        low = (2 * torch.rand(n_init, p, generator=gen, dtype=dtype) - 1) * bound
        x = (low @ a.T).clamp(-1, 1)
    y = _evaluate(objective, x)
    disable = None if progress is None else not progress
    gp = ard = None
    for it in _progress(range(n_iter), desc=f"bayes_opt ({method})", disable=disable):
        if method == "random":
            new = 2 * torch.rand(1, dim, generator=gen, dtype=dtype) - 1
        elif method == "full":
            gp = fit_gp(x, y, n_steps=n_steps if gp is None else warm_steps, init=gp)
            best_idx = torch.argsort(y)[:5]
            cand = _candidates(dim, 1.0, x[best_idx], n_candidates, gen, dtype)
            mean, std = gp.predict(cand)
            new = cand[torch.argmax(expected_improvement(mean, std, float(y.min())))][None]
        elif method == "rembo":
            gp = fit_gp(low, y, n_steps=n_steps if gp is None else warm_steps, init=gp)
            best_idx = torch.argsort(y)[:5]
            cand = _candidates(p, bound, low[best_idx], n_candidates, gen, dtype)
            mean, std = gp.predict(cand)
            pick = cand[torch.argmax(expected_improvement(mean, std, float(y.min())))][None]
            low = torch.cat([low, pick])
            new = (pick @ a.T).clamp(-1, 1)
        else:
            # the p most relevant directions of an ARD fit start the projection, which the
            # marginal likelihood then adjusts (warm-started ARD each iteration)
            ard = fit_gp(x, y, n_steps=n_steps if ard is None else warm_steps, init=ard)
            scales = torch.diagonal(ard.projection)
            top = torch.argsort(scales, descending=True)[:p]
            start = torch.zeros(p, dim, dtype=dtype, device=x.device)
            start[torch.arange(p), top] = scales[top]
            gp = fit_gp(x, y, projection_dim=p, n_steps=warm_steps, generator=gen,
                        init=dataclasses.replace(ard, projection=start))
            z = gp.embed(x)
            lo, hi = z.min(0).values, z.max(0).values
            mid, half = (lo + hi) / 2, (hi - lo) / 2 * 1.1 + 1e-9
            best_idx = torch.argsort(y)[:5]
            cand = _candidates(p, 1.0, (z[best_idx] - mid) / half, n_candidates, gen, dtype) * half + mid
            anchor = x[torch.argmin(y)]
            xc = (anchor + (cand - gp.embed(anchor[None])) @ torch.linalg.pinv(gp.projection).T).clamp(-1, 1)
            mean, std = gp.predict(xc)
            new = xc[torch.argmax(expected_improvement(mean, std, float(y.min())))][None]
        x = torch.cat([x, new])
        y = torch.cat([y, _evaluate(objective, new)])
    return BayesOptResult(x, y, torch.cummin(y, 0).values, method)


def _evaluate(objective, x: torch.Tensor) -> torch.Tensor:
    out = objective(x)
    if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0],):
        raise ValueError(f"bayes_opt: objective must return a tensor of shape ({x.shape[0]},), got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError("bayes_opt: objective returned non-finite values")
    return out.to(x.dtype)
