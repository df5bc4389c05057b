"""A generated credit-scoring data set with group-dependent base rates."""

from __future__ import annotations

import dataclasses
import math

import torch

from ..utils import DType, Generator, Integer, Items, Probability, Real, as_generator, randn, validate


@dataclasses.dataclass
class CreditData:
    """A generated credit-scoring sample (see :func:`make_credit_data`).

    Attributes
    ----------
    x : Tensor, shape (n, n_features + n_proxy)
        Applicant features (standardised financial indicators), ``n_features`` informative
        columns then ``n_proxy`` proxies of the group.
    y : Tensor, shape (n,), int64
        1 if the applicant repays, 0 if not.
    group : Tensor, shape (n,), int64
        Protected attribute, 0 or 1.
    score : Tensor, shape (n,)
        The Bayes posterior ``P(y = 1 | x, group)`` under the generating model: a score
        calibrated within each group by construction.
    base_rates : tuple of float
        The generating repayment probabilities of groups 0 and 1.
    """

    x: torch.Tensor
    y: torch.Tensor
    group: torch.Tensor
    score: torch.Tensor
    base_rates: tuple


@validate(
    n_samples=Integer(low=2),
    base_rates=Items(Probability(), length=2),
    group_share=Real(low=0, high=1, closed="neither"),
    separation=Real(low=0, closed="neither"),
    n_features=Integer(low=1),
    n_proxy=Integer(low=0),
    proxy_shift=Real(),
    generator=Generator(),
    dtype=DType(),
)
def make_credit_data(n_samples: int, *, base_rates=(0.7, 0.5), group_share: float = 0.4,
                     separation: float = 1.5, n_features: int = 3, n_proxy: int = 0,
                     proxy_shift: float = 1.5, generator=None,
                     dtype: torch.dtype = torch.float64) -> CreditData:
    r"""Draw a credit-scoring sample whose repayment base rate depends on the group.

    Group :math:`A \sim \mathrm{Bernoulli}(\text{group_share})`, repayment
    :math:`Y \mid A = a \sim \mathrm{Bernoulli}(p_a)` with ``base_rates`` :math:`p_a`,
    and features :math:`X \mid Y, A \sim \mathcal N(\mu_Y, I)` with
    :math:`\mu_1 = -\mu_0 = \tfrac{s}{2\sqrt{d}}\mathbf 1` (``separation`` :math:`s` is
    the Mahalanobis distance between the classes). The features carry the same
    information in both groups; only the base rates differ. The score is the exact
    posterior

    .. math::

        P(Y = 1 \mid x, a) = \sigma\Bigl(\log\tfrac{p_a}{1 - p_a} + (\mu_1 - \mu_0)^\top x\Bigr),

    calibrated within each group. This is the setting of Chouldechova's impossibility
    result: a calibrated score, different base rates.

    Optionally ``n_proxy`` further columns carry the group and nothing else (a postcode,
    say): :math:`X_{\text{proxy}} \mid A = a \sim \mathcal N\bigl((a - \tfrac12)\,
    \text{proxy_shift}\,\mathbf 1, I\bigr)`, independent of :math:`Y` given :math:`A`, so the
    score above is still the exact posterior given the features and the group.

    Parameters
    ----------
    n_samples : int
        Number of applicants.
    base_rates : pair of float in (0, 1)
        Repayment probabilities of group 0 and group 1.
    group_share : float in (0, 1)
        Probability of belonging to group 1.
    separation : float > 0
        Distance between the two classes' feature means.
    n_features : int
        Number of informative features.
    n_proxy : int
        Number of proxy columns appended to ``x`` (default none).
    proxy_shift : float
        Distance between the groups' proxy means, per proxy column.
    generator : None, int or torch.Generator
        The randomness (see ``CONTRIBUTING.md``).
    dtype : torch.dtype
        Floating dtype of ``x`` and ``score``.

    Returns
    -------
    CreditData

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> data = make_credit_data(1000, base_rates=(0.7, 0.5), generator=0)
    >>> data.x.shape, int(data.group.max())
    (torch.Size([1000, 3]), 1)
    """
    for a, p in enumerate(base_rates):
        if not 0 < p < 1:
            raise ValueError(f"make_credit_data: base_rates[{a}] must be in (0, 1), got {p}")
    g = as_generator(generator)
    group = (torch.rand(n_samples, generator=g) < group_share).long()
    rates = torch.tensor([float(base_rates[0]), float(base_rates[1])], dtype=torch.float64)
    y = (torch.rand(n_samples, generator=g, dtype=torch.float64) < rates[group]).long()
    mu = separation / (2 * math.sqrt(n_features))
    x = randn(n_samples, n_features, generator=g, dtype=dtype) + mu * (2 * y - 1).to(dtype)[:, None]
    logit = torch.log(rates / (1 - rates)).to(dtype)[group] + 2 * mu * x.sum(1)
    if n_proxy:
        proxy = randn(n_samples, n_proxy, generator=g, dtype=dtype) + proxy_shift * (group.to(dtype)[:, None] - 0.5)
        x = torch.cat([x, proxy], dim=1)
    return CreditData(x=x, y=y, group=group, score=torch.sigmoid(logit),
                      base_rates=(float(base_rates[0]), float(base_rates[1])))
