"""Optimal transport maps learned by the minimax dual over two input convex networks (Makkuva et al.)."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Bool, Generator, Integer, Items, Options, Real, Tensor, as_generator, randint, validate
from ..utils import progress as _progress_bar
from ._icnn import ICNN


@dataclasses.dataclass
class ICNNTransportResult:
    r"""Two trained input convex potentials and the transport map :math:`\nabla g`.

    Attributes
    ----------
    f : ICNN
        The potential evaluated on the target; :math:`\nabla f` maps target to source.
    g : ICNN
        The potential evaluated on the source; :math:`\nabla g` maps source to target.
    loss_history : Tensor, shape (n_steps, 2)
        Per outer step, the mini-batch dual value :math:`J(f, g)` and the squared-W2
        estimate :math:`\mathbb E\|X\|^2 + \mathbb E\|Y\|^2 - 2J` on that batch.
    """

    f: ICNN
    g: ICNN
    loss_history: torch.Tensor

    def transport(self, x: torch.Tensor) -> torch.Tensor:
        r"""The learned map :math:`\nabla g(x)` from source to target, shape ``(n, d)``."""
        return self.g.gradient(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        r"""The learned inverse map :math:`\nabla f(y)` from target to source, shape ``(m, d)``."""
        return self.f.gradient(y)

    def wasserstein2(self, source: torch.Tensor, target: torch.Tensor) -> float:
        r"""The dual estimate of :math:`W_2^2` on the given samples.

        :math:`\overline{\|x\|^2} + \overline{\|y\|^2} - 2\bigl(\overline{f(y)}
        + \overline{\langle\nabla g(x), x\rangle - f(\nabla g(x))}\bigr)`, means over the rows.
        """
        with torch.no_grad():
            tx = self.g._grad(source)
            dual = self.f._forward(target).mean() + ((tx * source).sum(-1) - self.f._forward(tx)).mean()
            return float(source.square().sum(-1).mean() + target.square().sum(-1).mean() - 2 * dual)


@validate(
    source=Tensor(shape=("n", "d"), dtype="floating"),
    target=Tensor(shape=("m", "d"), dtype="floating"),
    hidden=Items(Integer(low=1), min_length=1),
    activation=Options("softplus", "celu", "leaky_relu"),
    n_steps=Integer(low=1),
    inner_steps=Integer(low=1),
    batch_size=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    generator=Generator(),
    progress=Bool(optional=True),
    same=[("source", "target")],
)
def fit_icnn_transport(source: torch.Tensor, target: torch.Tensor, *, hidden=(64, 64),
                       activation: str = "softplus", n_steps: int = 1000, inner_steps: int = 10,
                       batch_size: int = 256, lr: float = 1e-3, generator=None,
                       progress: bool | None = None) -> ICNNTransportResult:
    r"""Learn the quadratic-cost optimal transport map from ``source`` to ``target`` with two ICNNs.

    Brenier: the optimal map is :math:`\nabla\varphi` for a convex :math:`\varphi`, and
    :math:`\tfrac12 W_2^2(\mu, \nu) = \tfrac12\mathbb E\|X\|^2 + \tfrac12\mathbb E\|Y\|^2
    - \min_{f\ \mathrm{convex}} \bigl(\mathbb E_\nu f(Y) + \mathbb E_\mu f^*(X)\bigr)`.
    Makkuva et al. replace the conjugate by a maximisation over a second convex potential
    :math:`g`, :math:`f^*(x) = \max_g \langle\nabla g(x), x\rangle - f(\nabla g(x))`, and solve

    .. math::

        \min_{f} \max_{g}\ J(f, g) = \mathbb E_{Y\sim\nu} f(Y)
        + \mathbb E_{X\sim\mu}\bigl[\langle \nabla g(X), X\rangle - f(\nabla g(X))\bigr]

    over two :class:`ICNN` networks; at the saddle point :math:`g = f^*` and :math:`\nabla g`
    pushes :math:`\mu` onto :math:`\nu` (the optimal map), :math:`\nabla f` is its inverse, and
    :math:`W_2^2 = \mathbb E\|X\|^2 + \mathbb E\|Y\|^2 - 2J`. Each outer step draws fresh
    mini-batches (with replacement), takes ``inner_steps`` Adam steps on :math:`g` (ascent;
    the loss differentiates through :math:`\nabla g`) and one on :math:`f` (descent), projecting
    both networks back to input convexity after each step, as Amos et al. do (Makkuva et al.
    relax :math:`g`'s constraint with a penalty instead).

    Parameters
    ----------
    source : Tensor, shape (n, d)
        Samples of :math:`\mu`.
    target : Tensor, shape (m, d)
        Samples of :math:`\nu`; same device and dtype.
    hidden, activation
        Architecture of both networks (see :class:`ICNN`).
    n_steps : int
        Outer iterations (updates of :math:`f`).
    inner_steps : int
        Updates of :math:`g` per update of :math:`f`.
    batch_size : int
        Samples drawn from each cloud per step.
    lr : float
        Adam learning rate (betas 0.5, 0.9 as in the paper).
    generator : None, int or torch.Generator
        Initialisation and mini-batches.
    progress : bool, optional
        Progress bar; ``None``: only in interactive sessions.

    Returns
    -------
    ICNNTransportResult
        Networks on the device and dtype of ``source``.

    Raises
    ------
    FloatingPointError
        When the dual value becomes non-finite (lower ``lr``).

    Notes
    -----
    The minimax problem has no convergence guarantee; the chapter checks the learned map
    against the Gaussian closed form (:func:`gaussian_map`) and against POT's discrete plan.
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    References
    ----------
    Makkuva, Taghvaei, Oh & Lee, *Optimal transport mapping via input convex neural networks*,
    ICML 2020; Amos, Xu & Kolter, *Input convex neural networks*, ICML 2017.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    >>> res = fit_icnn_transport(x, 2 * x + 1, hidden=(16,), n_steps=20, inner_steps=2, generator=0)
    >>> res.transport(x).shape
    torch.Size([200, 2])
    """
    g_rng = as_generator(generator)
    d = source.shape[1]
    kw = dict(activation=activation, generator=g_rng, device=source.device, dtype=source.dtype)
    f, g = ICNN(d, hidden, **kw), ICNN(d, hidden, **kw)
    opt_f = torch.optim.Adam(f.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.9))
    n, m = source.shape[0], target.shape[0]
    history = torch.empty(n_steps, 2, dtype=source.dtype, device=source.device)
    for step in _progress_bar(range(n_steps), desc="ICNN transport",
                              disable=None if progress is None else not progress):
        x = source[randint(0, n, (batch_size,), generator=g_rng, device=source.device)]
        y = target[randint(0, m, (batch_size,), generator=g_rng, device=source.device)]
        for _ in range(inner_steps):
            tx = g._grad(x, create_graph=True)
            loss_g = -((tx * x).sum(-1) - f._forward(tx)).mean()
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            g.project_()
        tx = g._grad(x).detach()
        fy, ftx = f._forward(y), f._forward(tx)
        loss_f = fy.mean() - ftx.mean()
        opt_f.zero_grad()
        loss_f.backward()
        opt_f.step()
        f.project_()
        with torch.no_grad():
            dual = fy.mean() + ((tx * x).sum(-1) - ftx).mean()
            history[step, 0] = dual
            history[step, 1] = x.square().sum(-1).mean() + y.square().sum(-1).mean() - 2 * dual
    history = history.cpu()
    if not bool(torch.isfinite(history).all()):
        raise FloatingPointError("fit_icnn_transport: the dual value became non-finite; lower lr")
    return ICNNTransportResult(f=f, g=g, loss_history=history)
