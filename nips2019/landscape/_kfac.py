r"""K-FAC (Martens & Grosse 2015) for ``nn.Linear`` layers, and its Fisher blocks against the exact ones."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..utils import Integer, Module, Real, Tensor, validate


def _linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]


def _with_one(a: torch.Tensor, module: nn.Linear) -> torch.Tensor:
    a = a.reshape(-1, a.shape[-1])
    if module.bias is None:
        return a
    return torch.cat([a, a.new_ones(a.shape[0], 1)], dim=1)


class KFAC(torch.optim.Optimizer):
    r"""Kronecker-factored approximate curvature (K-FAC) for the ``nn.Linear`` layers of a model.

    For a linear layer :math:`s = W\bar a` (:math:`\bar a` the input with a 1 appended for the
    bias), the gradient of a per-example loss is :math:`g\,\bar a^\top` with
    :math:`g = \partial \ell/\partial s`, and the layer's block of the Fisher is
    :math:`\mathbb E[\bar a\bar a^\top \otimes g g^\top]`. K-FAC replaces it by the product of
    expectations :math:`A \otimes G` with :math:`A = \mathbb E[\bar a\bar a^\top]`,
    :math:`G = \mathbb E[g g^\top]` (running averages with decay ``ema_decay``), whose
    inverse is cheap, and steps along the preconditioned gradient

    .. math::

        \Delta W = -\eta\,(G + \pi^{-1}\sqrt{\lambda} I)^{-1}\,\nabla_W \mathcal L\,
        (A + \pi\sqrt{\lambda} I)^{-1},\qquad
        \pi = \sqrt{\frac{\operatorname{tr}(A)/\dim A}{\operatorname{tr}(G)/\dim G}},

    the factored Tikhonov damping of Martens & Grosse (2015, section 6.3) with damping
    :math:`\lambda` = ``damping``. Parameters outside ``nn.Linear`` layers take plain
    gradient steps with ``lr``.

    The factors are measured by hooks during the user's own ``loss.backward()``: :math:`g` is
    the gradient of *that* loss, so :math:`G` is the **empirical** Fisher's factor (labels
    from the data), the variant most implementations use; Martens & Grosse sample the
    labels from the model instead, and :func:`kfac_fisher_blocks` computes that (true
    Fisher) version exactly. The loss must be a mean over the batch (the hooks multiply by
    the batch size to get per-example gradients).

    Parameters
    ----------
    model : nn.Module
        The network; every trainable parameter is optimised.
    lr : float
        Step size :math:`\eta`.
    damping : float
        :math:`\lambda > 0`.
    ema_decay : float
        Weight of the old factor in the running averages, in ``[0, 1)``.
    update_every : int
        Recompute the factor inverses every this many steps (they are the cost).
    momentum : float
        Heavy-ball momentum on the preconditioned step, in ``[0, 1)``.

    References
    ----------
    Martens & Grosse, *Optimizing neural networks with Kronecker-factored approximate
    curvature*, ICML 2015.

    Notes
    -----
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    >>> x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> opt = KFAC(net, lr=0.3, damping=1e-2)
    >>> first = None
    >>> for _ in range(20):
    ...     opt.zero_grad()
    ...     loss = torch.nn.functional.cross_entropy(net(x), y)
    ...     loss.backward()
    ...     opt.step()
    ...     first = first or loss.item()
    >>> loss.item() < 0.5 * first
    True
    """

    @validate(
        model=Module(),
        lr=Real(low=0, closed="neither"),
        damping=Real(low=0, closed="neither"),
        ema_decay=Real(low=0, high=1, closed="left"),
        update_every=Integer(low=1),
        momentum=Real(low=0, high=1, closed="left"),
    )
    def __init__(
        self,
        model: nn.Module,
        lr: float = 0.1,
        damping: float = 1e-2,
        ema_decay: float = 0.95,
        update_every: int = 1,
        momentum: float = 0.0,
    ):
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("KFAC: model has no trainable parameters")
        super().__init__(params, dict(lr=lr, damping=damping, ema_decay=ema_decay, momentum=momentum))
        self.update_every = update_every
        self._layers = [m for _, m in _linears(model) if m.weight.requires_grad]
        self._captured: dict[nn.Linear, list[list]] = {}
        self._factors: dict[nn.Linear, list] = {}
        self._inverses: dict[nn.Linear, tuple] = {}
        self._n_steps = 0
        self._handles = [m.register_forward_hook(self._forward_hook) for m in self._layers]

    def _forward_hook(self, module, inputs, output):
        if not torch.is_grad_enabled() or not output.requires_grad:
            return
        a = _with_one(inputs[0].detach(), module)
        slot = [a, None]
        # forwards whose outputs never get a gradient (evaluation with grad on) are dropped at the next step
        self._captured.setdefault(module, []).append(slot)

        def keep(grad_out):
            slot[1] = grad_out.detach().reshape(-1, grad_out.shape[-1]) * a.shape[0]

        output.register_hook(keep)

    def remove_hooks(self):
        """Detach the optimiser's hooks from the model (it cannot step afterwards)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @torch.no_grad()
    def _update_factors(self, decay):
        for m, slots in list(self._captured.items()):
            used = [(a, g) for a, g in slots if g is not None]
            if not used:
                continue
            a = torch.cat([a for a, _ in used])
            g = torch.cat([g for _, g in used])
            new_a = a.T @ a / a.shape[0]
            new_g = g.T @ g / g.shape[0]
            if m not in self._factors:
                self._factors[m] = [new_a, new_g]
            else:
                fa, fg = self._factors[m]
                fa.mul_(decay).add_(new_a, alpha=1 - decay)
                fg.mul_(decay).add_(new_g, alpha=1 - decay)
        self._captured.clear()

    @torch.no_grad()
    def _invert(self, damping):
        for m, (fa, fg) in self._factors.items():
            pi = torch.sqrt(
                (torch.trace(fa) / fa.shape[0]) / (torch.trace(fg) / fg.shape[0]).clamp_min(1e-30)
            )
            pi = pi.clamp(1e-8, 1e8)
            ra = pi * damping**0.5
            rg = damping**0.5 / pi
            ia = torch.linalg.inv(fa + ra * torch.eye(fa.shape[0], dtype=fa.dtype, device=fa.device))
            ig = torch.linalg.inv(fg + rg * torch.eye(fg.shape[0], dtype=fg.dtype, device=fg.device))
            self._inverses[m] = (ia, ig)

    def step(self, closure=None):
        """One K-FAC step from the gradients and factors of the last ``backward()``.

        ``closure``, if given, re-evaluates the loss and calls ``backward()`` first.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        group = self.param_groups[0]
        self._update_factors(group["ema_decay"])
        if self._n_steps % self.update_every == 0 or len(self._inverses) < len(self._factors):
            self._invert(group["damping"])
        self._n_steps += 1
        with torch.no_grad():
            done = set()
            for m in self._layers:
                if m not in self._inverses or m.weight.grad is None:
                    continue
                ia, ig = self._inverses[m]
                gw = m.weight.grad
                if m.bias is not None:
                    gb = m.bias.grad if m.bias.grad is not None else torch.zeros_like(m.bias)
                    gw = torch.cat([gw, gb[:, None]], dim=1)
                step = ig @ gw @ ia
                if m.bias is not None:
                    self._apply(m.weight, step[:, :-1], group)
                    self._apply(m.bias, step[:, -1], group)
                    done.add(m.bias)
                else:
                    self._apply(m.weight, step, group)
                done.add(m.weight)
            for p in group["params"]:
                if p not in done and p.grad is not None:
                    self._apply(p, p.grad, group)
        return loss

    def _apply(self, p, direction, group):
        if group["momentum"] > 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = direction.clone()
            else:
                buf.mul_(group["momentum"]).add_(direction)
            direction = buf
        p.add_(direction, alpha=-group["lr"])


@dataclasses.dataclass
class FisherBlock:
    r"""One ``nn.Linear`` layer's Fisher block and its Kronecker factors (see :func:`kfac_fisher_blocks`).

    Parameters are ordered as the row-major flattening of :math:`[W\ b]`, shape
    ``(d_out, d_in + 1)`` (no bias column without a bias).

    Attributes
    ----------
    name : str
        The layer's name in ``model.named_modules()``.
    a_factor : Tensor, shape (d_in + 1, d_in + 1)
        :math:`A = \frac1n\sum_i \bar a_i \bar a_i^\top`.
    g_factor : Tensor, shape (d_out, d_out)
        :math:`G = \frac1n\sum_i \mathbb E_{y\sim p(\cdot|x_i)}[g_i g_i^\top]`.
    kfac : Tensor, shape (q, q)
        :math:`G \otimes A`, ``q = d_out (d_in + 1)``.
    exact : Tensor, shape (q, q)
        :math:`\frac1n\sum_i \mathbb E_y[g_i g_i^\top \otimes \bar a_i \bar a_i^\top]`.
    relative_error : float
        :math:`\lVert G\otimes A - F\rVert_F / \lVert F\rVert_F`.
    """

    name: str
    a_factor: torch.Tensor
    g_factor: torch.Tensor
    kfac: torch.Tensor
    exact: torch.Tensor
    relative_error: float


@validate(model=Module(), x=Tensor(dtype="floating", nonempty=True), same=[("model", "x")])
def kfac_fisher_blocks(model: nn.Module, x: torch.Tensor) -> list[FisherBlock]:
    r"""The exact Fisher block of every ``nn.Linear`` layer of a classifier next to its K-FAC approximation.

    For a model with logits :math:`z(x)` and predictive :math:`p(y|x) = \mathrm{softmax}(z)`,
    the Fisher is :math:`F = \frac1n\sum_i \mathbb E_{y\sim p(\cdot|x_i)}
    [\nabla\log p(y|x_i)\nabla\log p(y|x_i)^\top]`. Its block for a linear layer is
    :math:`\frac1n\sum_i\sum_c p_{ic}\,(g_{ic} g_{ic}^\top)\otimes(\bar a_i \bar a_i^\top)`,
    with :math:`g_{ic}` the gradient of :math:`-\log p(c|x_i)` with respect to the layer's
    output. The expectation over :math:`y` is summed exactly over the classes (one backward
    pass per class, no sampling), so the only difference between ``exact`` and ``kfac`` is
    K-FAC's assumption that activations and output gradients are independent. With a single
    example the two coincide.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits of shape ``(n, C)``; its layers must treat examples
        independently (no batch normalisation in training mode).
    x : Tensor, shape (n, ...)

    Returns
    -------
    list of FisherBlock
        One per ``nn.Linear`` layer, in ``named_modules`` order.

    References
    ----------
    Martens & Grosse, *Optimizing neural networks with Kronecker-factored approximate
    curvature*, ICML 2015.

    Notes
    -----
    Memory :math:`O(q^2)` per layer: for small layers.
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
    >>> blocks = kfac_fisher_blocks(net, torch.randn(1, 2, dtype=torch.float64))
    >>> [round(b.relative_error, 12) for b in blocks]  # exact for one example
    [0.0, 0.0]
    """
    layers = _linears(model)
    if not layers:
        raise ValueError("kfac_fisher_blocks: model has no nn.Linear layer")
    sizes = [m.weight.shape[0] * (m.weight.shape[1] + (m.bias is not None)) for _, m in layers]
    if max(sizes) > 4096:
        raise ValueError(
            f"kfac_fisher_blocks: a layer has {max(sizes)} parameters; the dense block would be "
            "too large (at most 4096)"
        )
    acts: dict = {}
    grads: dict = {}

    def fwd(module, inputs, output):
        acts[module] = _with_one(inputs[0].detach(), module)
        output.register_hook(lambda g, m=module: grads.__setitem__(m, g.detach().reshape(-1, g.shape[-1])))

    handles = [m.register_forward_hook(fwd) for _, m in layers]
    try:
        with torch.enable_grad():
            logits = model(x)
            if logits.dim() != 2:
                raise ValueError(
                    f"kfac_fisher_blocks: model(x) must return logits of shape (n, C), got "
                    f"{tuple(logits.shape)}"
                )
            logp = torch.log_softmax(logits, dim=1)
            prob = logp.detach().exp()
            n, n_classes = logp.shape
            per_class = []
            for c in range(n_classes):
                grads.clear()
                params = [m.weight for _, m in layers]
                torch.autograd.grad(
                    -logp[:, c].sum(), params, retain_graph=c < n_classes - 1, allow_unused=True
                )
                per_class.append({m: grads[m] for _, m in layers})
    finally:
        for h in handles:
            h.remove()
    out = []
    for name, m in layers:
        a = acts[m]  # (n, d_in + 1)
        g = torch.stack([pc[m] for pc in per_class], dim=1)  # (n, C, d_out)
        w = prob[:, :, None] * g
        g_factor = torch.einsum("ncd,nce->de", w, g) / n
        a_factor = a.T @ a / n
        # exact: (1/n) sum_i sum_c p_ic kron(g g^T, a a^T), via per-example per-class gradients kron(g, a)
        grad_vec = torch.einsum("ncd,nj->ncdj", g, a).reshape(n * n_classes, -1)
        exact = (grad_vec * prob.reshape(-1, 1)).T @ grad_vec / n
        kfac = torch.kron(g_factor, a_factor)
        err = float((kfac - exact).norm() / exact.norm().clamp_min(1e-300))
        out.append(
            FisherBlock(
                name=name, a_factor=a_factor, g_factor=g_factor, kfac=kfac, exact=exact, relative_error=err
            )
        )
    return out
