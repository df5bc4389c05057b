"""A fair representation learned against an adversary through a gradient-reversal layer."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..utils import Bool, Generator, Integer, Real, Tensor, as_generator, validate
from ..utils import progress as _progress_bar
from ._metrics import _GROUP, _LABELS


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


@validate(x=Tensor(dtype="floating", nonempty=False), scale=Real(low=0))
def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    r"""Identity on the forward pass, gradient multiplied by :math:`-\lambda` on the backward pass.

    Ganin & Lempitsky's gradient-reversal layer: placed between an encoder and an
    adversary, one optimiser step then *decreases* the adversary's loss in the adversary's
    parameters and *increases* it (with weight :math:`\lambda` = ``scale``) in the
    encoder's, the saddle-point problem

    .. math::

        \min_{\text{enc},\,\text{clf}} \max_{\text{adv}}\ \
        \mathcal L_{\text{clf}} - \lambda\, \mathcal L_{\text{adv}}.

    Its backward pass deliberately disagrees with finite differences of its forward pass
    (by the factor :math:`-\lambda`); the tests check exactly that relation.

    Parameters
    ----------
    x : Tensor, any shape, floating
    scale : float >= 0
        :math:`\lambda`.

    Returns
    -------
    Tensor
        A view of ``x``.

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(3, requires_grad=True)
    >>> grad_reverse(x, 2.0).sum().backward()
    >>> x.grad
    tensor([-2., -2., -2.])
    """
    return _GradientReversal.apply(x, float(scale))


@dataclasses.dataclass
class FairRepresentationResult:
    """A trained encoder with its label head and its adversary (see :func:`fit_fair_representation`).

    Attributes
    ----------
    encoder : nn.Module
        Maps inputs ``(n, d)`` to representations ``(n, n_components)``.
    classifier : nn.Module
        Maps representations to the logit of ``y = 1``, shape ``(n,)``.
    adversary : nn.Module
        Maps representations to group logits ``(n, n_groups)`` (trained jointly; to
        measure leakage, fit a fresh probe on :meth:`transform`'s output).
    adversary_weight : float
        The :math:`\\lambda` of the gradient reversal.
    loss_history : Tensor, shape (n_epochs, 2)
        Per epoch, the label loss and the adversary's loss (cross-entropies in nats).
    """

    encoder: nn.Module
    classifier: nn.Module
    adversary: nn.Module
    adversary_weight: float
    loss_history: torch.Tensor

    @torch.no_grad()
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The representation of ``x``, shape ``(n, n_components)``."""
        return self.encoder(x)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's probability of ``y = 1``, shape ``(n,)``."""
        return torch.sigmoid(self.classifier(self.encoder(x)).squeeze(-1))


def _mlp(d_in: int, hidden: int, d_out: int, like: torch.Tensor, g: torch.Generator) -> nn.Module:
    layers = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    with torch.no_grad():  # PyTorch's default uniform(+-1/sqrt(fan_in)), drawn from the package generator
        for lin in (layers[0], layers[2]):
            bound = lin.in_features ** -0.5
            for p in (lin.weight, lin.bias):
                p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)
    return layers.to(device=like.device, dtype=like.dtype)


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y_true=Tensor(**_LABELS),
    group=Tensor(**_GROUP),
    adversary_weight=Real(low=0),
    n_components=Integer(low=1),
    hidden=Integer(low=1),
    n_epochs=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    adversary_steps=Integer(low=1),
    generator=Generator(),
    progress=Bool(optional=True),
)
def fit_fair_representation(x: torch.Tensor, y_true: torch.Tensor, group: torch.Tensor, *,
                            adversary_weight: float = 1.0, n_components: int = 4, hidden: int = 32,
                            n_epochs: int = 300, lr: float = 1e-2, adversary_steps: int = 5,
                            generator=None, progress: bool | None = None) -> FairRepresentationResult:
    r"""Learn a representation that predicts ``y`` while an adversary fails to recover the group.

    An encoder :math:`z = E(x)`, a label head :math:`C(z)` and an adversary :math:`D(z)`
    (one-hidden-layer MLPs) are trained together by full-batch Adam; each epoch the adversary
    first takes ``adversary_steps - 1`` steps of its own on the current (detached)
    representation, then one joint step on

    .. math::

        \mathcal L = \mathrm{CE}\bigl(C(z), y\bigr)
        + \mathrm{CE}\bigl(D(\mathrm{GR}_\lambda(z)), a\bigr),

    where :math:`\mathrm{GR}_\lambda` is :func:`grad_reverse`: the adversary descends its
    cross-entropy, the encoder ascends it with weight :math:`\lambda` (Ganin et al. 2016;
    Edwards & Storkey 2016; Madras et al. 2018 for fairness). :math:`\lambda = 0` is a
    plain classifier with a bottleneck; growing :math:`\lambda` trades accuracy for less
    group information in :math:`z`.

    Parameters
    ----------
    x : Tensor, shape (n, d)
        Features (they may include proxies of the group; the group itself is not an input).
    y_true : Tensor, shape (n,)
        Labels in {0, 1}.
    group : Tensor, shape (n,), integer
        Protected attribute, labels ``0 .. n_groups - 1``.
    adversary_weight : float >= 0
        :math:`\lambda`.
    n_components : int
        Dimension of the representation.
    hidden : int
        Width of the three MLPs.
    n_epochs : int
        Full-batch Adam steps.
    lr : float
        Adam learning rate.
    adversary_steps : int
        Adversary updates per encoder update. With 1 (the plain gradient-reversal layer) the
        game often fails to remove the group here: the adversary lags behind the encoder.
    generator : None, int or torch.Generator
        Initialisation.
    progress : bool, optional
        Progress bar; ``None``: only in interactive sessions.

    Returns
    -------
    FairRepresentationResult
        Modules on the device and dtype of ``x``; ``loss_history`` records the joint steps.

    Notes
    -----
    The adversary trained inside the game is no measure of leakage (it can be fooled by a
    representation that a fresh probe still reads); measure it with a new classifier
    fitted on ``result.transform(x)``, as the chapter does. See the chapter
    :doc:`Fairness </book/fairness>`.

    References
    ----------
    Ganin et al., *Domain-adversarial training of neural networks*, JMLR 2016;
    Madras, Creager, Pitassi & Zemel, *Learning adversarially fair and transferable
    representations*, ICML 2018.

    Examples
    --------
    >>> from nips2019.fairness import make_credit_data
    >>> data = make_credit_data(200, n_proxy=1, generator=0)
    >>> res = fit_fair_representation(data.x, data.y, data.group, n_epochs=5, generator=0)
    >>> res.transform(data.x).shape
    torch.Size([200, 4])
    """
    g = as_generator(generator)
    n_groups = int(group.max()) + 1
    encoder = _mlp(x.shape[1], hidden, n_components, x, g)
    classifier = _mlp(n_components, hidden, 1, x, g)
    adversary = _mlp(n_components, hidden, n_groups, x, g)
    params = [*encoder.parameters(), *classifier.parameters(), *adversary.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    yf = y_true.to(x.dtype)
    history = torch.empty(n_epochs, 2, dtype=x.dtype)
    adv_opt = torch.optim.Adam(adversary.parameters(), lr=lr)
    for epoch in _progress_bar(range(n_epochs), desc="fair representation", disable=None if progress is None
                               else not progress):
        z = encoder(x)
        for _ in range(adversary_steps - 1):  # let the adversary catch up on the current representation
            adv_opt.zero_grad()
            nn.functional.cross_entropy(adversary(z.detach()), group).backward()
            adv_opt.step()
        loss_y = nn.functional.binary_cross_entropy_with_logits(classifier(z).squeeze(-1), yf)
        loss_a = nn.functional.cross_entropy(adversary(grad_reverse(z, adversary_weight)), group)
        opt.zero_grad()
        (loss_y + loss_a).backward()
        opt.step()
        history[epoch, 0], history[epoch, 1] = loss_y.detach().cpu(), loss_a.detach().cpu()
    if not bool(torch.isfinite(history).all()):
        raise FloatingPointError("fit_fair_representation: the losses became non-finite; lower lr")
    for m in (encoder, classifier, adversary):
        m.eval()
    return FairRepresentationResult(encoder=encoder, classifier=classifier, adversary=adversary,
                                    adversary_weight=float(adversary_weight), loss_history=history)
