"""Randomised smoothing: Monte-Carlo prediction with abstention and certified l2 radii."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy import special

from ..utils import (
    AnyOf,
    Bool,
    Generator,
    Integer,
    Module,
    Options,
    Real,
    Tensor,
    as_generator,
    randn,
    validate,
)
from ..utils import progress as _progress

_X = dict(ndim=(2, 3, 4), dtype="floating")
_Y = dict(shape=("n",), dtype="integer", low=0)


@validate(successes=Tensor(dtype="numeric", low=0), n_trials=AnyOf(Integer(low=1), Tensor(dtype="numeric", low=1)),
          alpha=Real(low=0, high=1, closed="neither"), side=Options("two-sided", "lower", "upper"))
def clopper_pearson(successes: torch.Tensor, n_trials, *, alpha: float = 0.05,
                    side: str = "two-sided") -> torch.Tensor:
    r"""Exact (Clopper-Pearson) confidence bounds for a binomial proportion.

    With :math:`k` successes in :math:`n` trials, the one-sided lower bound at level
    :math:`1 - \alpha` is the :math:`\alpha` quantile of :math:`\mathrm{Beta}(k, n - k + 1)`
    (0 when :math:`k = 0`), the upper bound the :math:`1 - \alpha` quantile of
    :math:`\mathrm{Beta}(k + 1, n - k)` (1 when :math:`k = n`). The two-sided interval uses
    :math:`\alpha / 2` on each side. The lower bound :math:`p` solves
    :math:`P(\mathrm{Bin}(n, p) \ge k) = \alpha`.

    Parameters
    ----------
    successes : Tensor, any shape
        Counts :math:`k` (integer or floating, :math:`0 \le k \le n`).
    n_trials : int or Tensor
        :math:`n`, broadcast against ``successes``.
    alpha : float
        Error level in (0, 1).
    side : {"two-sided", "lower", "upper"}
        Which bound(s).

    Returns
    -------
    Tensor
        The bound, shape of ``successes`` (``side="lower"`` / ``"upper"``), or shape
        ``(*successes.shape, 2)`` with (lower, upper) for ``"two-sided"``. Floating dtype
        of ``successes`` if it has one, else float64; on its device.

    Notes
    -----
    Cohen, Rosenfeld & Kolter (2019) certify with the one-sided lower bound
    (``side="lower"``). The quantiles come from ``scipy.special.betaincinv`` on the CPU.
    See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> round(float(clopper_pearson(torch.tensor(10), 10, alpha=0.05, side="lower")), 4)
    0.7411
    """
    k = successes.detach().cpu().double().numpy()
    n = (n_trials.detach().cpu().double().numpy() if isinstance(n_trials, torch.Tensor)
         else np.float64(n_trials))
    k, n = np.broadcast_arrays(k, n)
    if (k > n).any():
        raise ValueError(f"clopper_pearson: successes must be <= n_trials, got {k.max():g} > {n[k > n].min():g}")
    a = alpha / 2 if side == "two-sided" else alpha
    with np.errstate(all="ignore"):
        low = np.where(k > 0, special.betaincinv(np.maximum(k, 1), n - k + 1, a), 0.0)
        high = np.where(k < n, special.betaincinv(k + 1, np.maximum(n - k, 1), 1 - a), 1.0)
    dtype = successes.dtype if successes.is_floating_point() else torch.float64
    if side == "lower":
        out = low
    elif side == "upper":
        out = high
    else:
        out = np.stack([low, high], axis=-1)
    return torch.as_tensor(out, dtype=dtype, device=successes.device)


def _binom_test_half(k: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Two-sided p-value of ``k`` successes in ``m`` trials against p = 1/2 (k >= m / 2)."""
    with np.errstate(all="ignore"):
        tail = np.where(k > 0, special.betainc(np.maximum(k, 1), m - k + 1, 0.5), 1.0)  # P(Bin >= k)
    p = np.where(2 * k == m, 1.0, 2 * tail)
    return np.minimum(p, 1.0)


@torch.no_grad()
def _noise_counts(model, x, sigma, n_samples, batch_size, gen, show, desc):
    """Class counts of ``model`` over ``n_samples`` Gaussian perturbations of each row of ``x``."""
    n = x.shape[0]
    counts = None
    per_point = max(1, batch_size // n_samples)
    chunks = range(0, n, per_point)
    for start in _progress(chunks, desc=desc, disable=None if show is None else not show):
        xs = x[start:start + per_point]
        c = xs.shape[0]
        left = n_samples
        while left > 0:
            m = min(left, max(1, batch_size // c))
            noise = randn(c, m, *x.shape[1:], generator=gen, device=x.device, dtype=x.dtype)
            logits = model((xs[:, None] + sigma * noise).reshape(c * m, *x.shape[1:]))
            if counts is None:
                counts = torch.zeros(n, logits.shape[-1], dtype=torch.long, device=x.device)
            pred = logits.argmax(-1).reshape(c, m)
            counts[start:start + c] += torch.nn.functional.one_hot(pred, logits.shape[-1]).sum(1)
            left -= m
    return counts


def _n_outputs(func, model, x, name="model"):
    """The number of classes of ``model``, found by one forward pass on the first row of ``x``."""
    with torch.no_grad():
        try:
            out = model(x[:1])
        except RuntimeError as exc:
            raise ValueError(f"{func}: {name} cannot be applied to rows of x of shape {tuple(x.shape[1:])}: "
                             f"{str(exc)[:200]}") from None
    if out.dim() != 2 or out.shape[0] != 1:
        raise ValueError(f"{func}: {name} must map x's rows to logits (batch, k), got output shape "
                         f"{tuple(out.shape)} for one row of x")
    return out.shape[1]


def _check_labels(func, model, x, y):
    """Refuse labels outside the model's classes."""
    k = _n_outputs(func, model, x)
    if int(y.max()) >= k:
        raise ValueError(f"{func}: y must have values in [0, {k}) (the model has {k} outputs), got max {int(y.max())}")
    return k


def _mode(model):
    was = model.training
    model.eval()
    return was


@validate(model=Module(), x=Tensor(**_X), sigma=Real(low=0, closed="neither"), n_samples=Integer(low=1),
          alpha=Real(low=0, high=1, closed="neither"), batch_size=Integer(low=1), generator=Generator(),
          progress=Bool(optional=True), same=[("model", "x")])
def smoothed_predict(model: torch.nn.Module, x: torch.Tensor, *, sigma: float, n_samples: int = 1000,
                     alpha: float = 0.001, batch_size: int = 10_000, generator=None,
                     progress: bool | None = None) -> torch.Tensor:
    r"""Prediction of the smoothed classifier, abstaining when the top two classes are not separated.

    The smoothed classifier is :math:`g(x) = \arg\max_c P(f(x + \varepsilon) = c)`,
    :math:`\varepsilon \sim N(0, \sigma^2 I)`. Cohen et al.'s PREDICT draws ``n_samples``
    noisy copies, counts the two most frequent classes :math:`n_A \ge n_B`, and returns
    the top class when the two-sided binomial test of :math:`n_A` out of :math:`n_A + n_B`
    against 1/2 has p-value at most ``alpha``; otherwise it abstains (-1). The answer
    differs from :math:`g(x)` with probability at most ``alpha``.

    Parameters
    ----------
    model : nn.Module
        The base classifier, mapping a batch shaped like ``x`` to logits ``(batch, k)``.
    x : Tensor, shape (n, ...)
        Inputs (one per row).
    sigma : float
        Noise standard deviation.
    n_samples : int
        Noise draws per input.
    alpha : float
        Allowed probability of returning a class other than :math:`g(x)`.
    batch_size : int
        Largest number of noisy inputs per forward pass.
    generator : None, int or torch.Generator
        Randomness (noise is drawn on the CPU and moved to ``x``'s device).
    progress : bool, optional
        Show a progress bar over chunks of inputs.

    Returns
    -------
    Tensor, shape (n,), int64
        Predicted class, or -1 for an abstention.

    Notes
    -----
    The model is put in eval mode for the call and restored afterwards. See the chapter
    :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])); _ = model.bias.zero_()
    >>> smoothed_predict(model, torch.tensor([[2.0, 0.0], [0.0, 1.0]]), sigma=0.5, generator=0).tolist()
    [0, -1]
    """
    _n_outputs("smoothed_predict", model, x)
    was = _mode(model)
    try:
        counts = _noise_counts(model, x, sigma, n_samples, batch_size, as_generator(generator), progress,
                               "smoothed predict")
    finally:
        model.train(was)
    top2 = counts.topk(min(2, counts.shape[1]), dim=1)
    n_a = top2.values[:, 0].cpu().double().numpy()
    n_b = top2.values[:, 1].cpu().double().numpy() if counts.shape[1] > 1 else np.zeros_like(n_a)
    p = _binom_test_half(n_a, n_a + n_b)
    keep = torch.as_tensor(p <= alpha, device=x.device)
    return torch.where(keep, top2.indices[:, 0], torch.full_like(top2.indices[:, 0], -1))


@dataclasses.dataclass
class CertifyResult:
    r"""Certified predictions of a smoothed classifier (see :func:`certify`).

    Attributes
    ----------
    prediction : Tensor, shape (n,), int64
        The certified class, or -1 where the procedure abstains.
    radius : Tensor, shape (n,)
        Certified l2 radius :math:`\sigma \Phi^{-1}(\underline{p_A})` (0 where abstaining).
    p_lower : Tensor, shape (n,)
        One-sided Clopper-Pearson lower bound :math:`\underline{p_A}` on the top class's probability.
    counts : Tensor, shape (n, k), int64
        Class counts of the estimation sample.
    """

    prediction: torch.Tensor
    radius: torch.Tensor
    p_lower: torch.Tensor
    counts: torch.Tensor


@validate(model=Module(), x=Tensor(**_X), sigma=Real(low=0, closed="neither"), n_select=Integer(low=1),
          n_samples=Integer(low=1), alpha=Real(low=0, high=1, closed="neither"), batch_size=Integer(low=1),
          generator=Generator(), progress=Bool(optional=True), same=[("model", "x")])
def certify(model: torch.nn.Module, x: torch.Tensor, *, sigma: float, n_select: int = 100,
            n_samples: int = 1000, alpha: float = 0.001, batch_size: int = 10_000, generator=None,
            progress: bool | None = None) -> CertifyResult:
    r"""Certify the smoothed classifier at each input (Cohen, Rosenfeld & Kolter's CERTIFY).

    If :math:`P(f(x + \varepsilon) = c_A) \ge \underline{p_A} > 1/2` with
    :math:`\varepsilon \sim N(0, \sigma^2 I)`, the smoothed classifier :math:`g` returns
    :math:`c_A` at every :math:`x'` with :math:`\|x' - x\|_2 < R = \sigma\,\Phi^{-1}(\underline{p_A})`
    (their Theorem 1 with :math:`\overline{p_B} = 1 - \underline{p_A}`).

    Two stages: ``n_select`` draws choose the candidate :math:`c_A` (the most frequent
    class); an independent sample of ``n_samples`` draws counts it, and
    :math:`\underline{p_A}` is the one-sided Clopper-Pearson bound at level
    :math:`1 - \alpha` (:func:`clopper_pearson`). If :math:`\underline{p_A} \le 1/2` the
    procedure abstains. With probability at least :math:`1 - \alpha` over the noise, a
    returned class and radius are correct.

    Parameters
    ----------
    model : nn.Module
        Base classifier (logits of shape ``(batch, k)``).
    x : Tensor, shape (n, ...)
        Inputs.
    sigma : float
        Noise standard deviation.
    n_select, n_samples : int
        Draws for selecting and for estimating the top class.
    alpha : float
        Failure probability of each certificate.
    batch_size : int
        Largest number of noisy inputs per forward pass.
    generator : None, int or torch.Generator
        Randomness.
    progress : bool, optional
        Progress bar over chunks of inputs.

    Returns
    -------
    CertifyResult

    Notes
    -----
    Selection and estimation must use independent noise, otherwise the bound is biased
    upward (choosing the class that looked best on the same draws). The radius is capped
    by the sample size: even with every draw in :math:`c_A` it is
    :math:`\sigma \Phi^{-1}(\alpha^{1/n})`. See the chapter
    :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(1, 2)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0], [-1.0]])); _ = model.bias.zero_()
    >>> res = certify(model, torch.tensor([[1.0]]), sigma=0.5, n_samples=2000, generator=0)
    >>> res.prediction.tolist(), 0.8 < float(res.radius) < 1.0
    ([0], True)
    """
    _n_outputs("certify", model, x)
    gen = as_generator(generator)
    was = _mode(model)
    try:
        sel = _noise_counts(model, x, sigma, n_select, batch_size, gen, progress, "certify: select")
        est = _noise_counts(model, x, sigma, n_samples, batch_size, gen, progress, "certify: estimate")
    finally:
        model.train(was)
    c_a = sel.argmax(1)
    n_a = est.gather(1, c_a[:, None])[:, 0]
    dtype = x.dtype
    p_lower = clopper_pearson(n_a, n_samples, alpha=alpha, side="lower").to(dtype)
    ok = p_lower > 0.5
    radius = torch.where(ok, sigma * torch.special.ndtri(p_lower.clamp(min=0.5)), torch.zeros_like(p_lower))
    prediction = torch.where(ok, c_a, torch.full_like(c_a, -1))
    return CertifyResult(prediction=prediction, radius=radius, p_lower=p_lower, counts=est)


@validate(prediction=Tensor(shape=("n",), dtype="integer", low=-1), radius=Tensor(shape=("n",), dtype="floating",
          low=0), y=Tensor(**_Y), radii=Tensor(ndim=1, dtype="floating", low=0), same=[("radius", "radii")])
def certified_accuracy(prediction: torch.Tensor, radius: torch.Tensor, y: torch.Tensor,
                       radii: torch.Tensor) -> torch.Tensor:
    r"""Share of inputs classified correctly with a certified radius of at least :math:`r`.

    .. math:: \mathrm{acc}(r) = \frac1n \#\{i : \hat y_i = y_i,\ R_i \ge r\}.

    Parameters
    ----------
    prediction : Tensor, shape (n,), integer
        Certified classes (-1 = abstain, never correct).
    radius : Tensor, shape (n,)
        Certified radii.
    y : Tensor, shape (n,), integer
        True labels.
    radii : Tensor, shape (r,)
        Radii at which to evaluate.

    Returns
    -------
    Tensor, shape (r,)
        Certified accuracy at each radius (dtype and device of ``radius``).

    Notes
    -----
    At radius 0 this is the clean accuracy of the certified (abstaining) classifier.
    See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> certified_accuracy(torch.tensor([0, 1, -1]), torch.tensor([0.5, 1.0, 0.0]),
    ...                    torch.tensor([0, 0, 1]), torch.tensor([0.0, 0.6])).tolist()
    [0.3333333432674408, 0.0]
    """
    correct = (prediction == y).to(radius.dtype)
    return (correct[:, None] * (radius[:, None] >= radii[None, :]).to(radius.dtype)).mean(0)


def _smooth_soft_loss(model, x_adv, y, noise, sigma):
    """-log of the mean softmax probability of ``y`` over fixed noisy copies (SmoothAdv's objective)."""
    n, m = noise.shape[:2]
    logits = model((x_adv[:, None] + sigma * noise).reshape(n * m, *x_adv.shape[1:]))
    logp = torch.log_softmax(logits, -1).reshape(n, m, -1)
    logp_y = logp.gather(2, y[:, None, None].expand(n, m, 1))[..., 0]
    return -(torch.logsumexp(logp_y, 1) - np.log(m))


def _l2(v):
    return v.flatten(1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))


def _pgd(model, x, y, eps, n_steps, step_size, sigma, noise):
    delta = torch.zeros_like(x, requires_grad=True)
    eps_b = eps.reshape(-1, *([1] * (x.dim() - 1)))
    step_b = step_size.reshape(-1, *([1] * (x.dim() - 1)))
    for _ in range(n_steps):
        xa = x + delta
        if sigma > 0:
            loss = _smooth_soft_loss(model, xa, y, noise, sigma).sum()
        else:
            loss = torch.nn.functional.cross_entropy(model(xa), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta += step_b * g / _l2(g).clamp(min=1e-12)
            delta *= (eps_b / _l2(delta).clamp(min=1e-12)).clamp(max=1.0)
    return (x + delta).detach()


@validate(model=Module(), x=Tensor(**_X), y=Tensor(**_Y),
          eps=AnyOf(Real(low=0), Tensor(shape=("n",), dtype="floating", low=0)), n_steps=Integer(low=1),
          step_size=Real(low=0, closed="neither", optional=True), sigma=Real(low=0), n_noise=Integer(low=1),
          generator=Generator(), same=[("model", "x", "eps")])
def pgd_attack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps, n_steps: int = 20,
               step_size: float | None = None, sigma: float = 0.0, n_noise: int = 1,
               generator=None) -> torch.Tensor:
    r"""l2 projected gradient ascent on the loss, for the base or the smoothed classifier.

    With ``sigma = 0`` it maximises the cross-entropy of ``model`` over
    :math:`\|\delta\|_2 \le \epsilon`. With ``sigma > 0`` it attacks the smoothed soft
    classifier as in Salman et al. (2019, SmoothAdv): it maximises

    .. math:: -\log \frac1m \sum_{j=1}^m \mathrm{softmax}(f(x + \delta + \sigma \varepsilon_j))_y,

    with :math:`m` = ``n_noise`` noise draws fixed for the whole attack. Each step moves
    :math:`\delta` by ``step_size`` along the normalised gradient and projects it back
    onto the ball.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits.
    x : Tensor, shape (n, ...)
        Clean inputs.
    y : Tensor, shape (n,), integer
        Labels whose loss is increased.
    eps : float or Tensor, shape (n,)
        Radius of the l2 ball, one for all or one per input.
    n_steps : int
        Gradient steps.
    step_size : float, optional
        Step length; default :math:`2.5\,\epsilon / \mathrm{n\_steps}` (per input).
    sigma : float
        Smoothing noise (0: attack the base classifier).
    n_noise : int
        Noise draws :math:`m` in the smoothed objective.
    generator : None, int or torch.Generator
        Randomness for the noise draws.

    Returns
    -------
    Tensor, shape of ``x``
        Adversarial inputs with :math:`\|x_{adv} - x\|_2 \le \epsilon` (detached).

    Notes
    -----
    Inputs are not clipped to a data range. Parameters of ``model`` receive no gradient.
    See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> x = torch.randn(4, 2); y = torch.zeros(4, dtype=torch.long)
    >>> xa = pgd_attack(model, x, y, eps=0.3, n_steps=5)
    >>> bool(((xa - x).norm(dim=1) <= 0.3 + 1e-6).all())
    True
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"pgd_attack: y must have one label per row of x ({x.shape[0]}), got {y.shape[0]}")
    _check_labels("pgd_attack", model, x, y)
    eps_t = (eps.to(x.dtype) if isinstance(eps, torch.Tensor)
             else torch.full((x.shape[0],), float(eps), dtype=x.dtype, device=x.device))
    step = eps_t * 2.5 / n_steps if step_size is None else torch.full_like(eps_t, step_size)
    noise = None
    if sigma > 0:
        noise = randn(x.shape[0], n_noise, *x.shape[1:], generator=generator, device=x.device, dtype=x.dtype)
    params = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    was = _mode(model)
    try:
        return _pgd(model, x.detach(), y, eps_t, n_steps, step, sigma, noise)
    finally:
        model.train(was)
        for p, r in zip(model.parameters(), params):
            p.requires_grad_(r)
