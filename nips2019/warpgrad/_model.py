"""A task learner whose layers are interleaved with meta-learned warp layers."""

from __future__ import annotations

import torch
from torch import nn

from ..utils import Bool, Generator, Integer, Items, Options, Real, Tensor, as_generator, rand, validate

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda h: h}


class WarpedMLP(nn.Module):
    r"""A multilayer perceptron whose task layers alternate with shared warp layers.

    Layer :math:`i` maps its input :math:`h_i \in \mathbb R^{d_i}` to

    .. math::

        h_{i+1} = \sigma\bigl(W_i\, A_i\, h_i + b_i\bigr), \qquad
        A_i = \Omega_{i, m} \cdots \Omega_{i, 2}\, \Omega_{i, 1},

    where :math:`(W_i, b_i)` are **task parameters** (adapted by gradient descent on each task,
    starting from the initialisation stored in this module) and the :math:`m` = ``warp_depth``
    matrices :math:`\Omega_{i, j}` are **warp parameters** (shared by all tasks, held fixed while
    a task adapts, meta-learned across tasks); :math:`\sigma` is applied between layers, not
    after the last. This is WarpGrad's layout with linear warp layers placed in front of each
    task layer (Flennerhag et al. 2020).

    Because the warps are fixed during adaptation, a gradient step on :math:`W_i` is a
    preconditioned step on the effective weights :math:`M_i = W_i A_i`:

    .. math::

        W_i' = W_i - \alpha\, \nabla_{W_i} L = W_i - \alpha\, \nabla_{M_i} L\, A_i^\top
        \;\Longrightarrow\;
        M_i' = M_i - \alpha\, \nabla_{M_i} L\; P_i, \qquad P_i = A_i^\top A_i,

    every row of :math:`M_i` moves along :math:`-P_i` times its gradient (see
    :meth:`preconditioner`). Biases are not warped.

    Parameters
    ----------
    sizes : list of int
        Layer widths ``[d_0, d_1, ..., d_L]`` (input, hidden..., output), at least two.
    warp : {"full", "diagonal", "none"}
        Each :math:`\Omega_{i, j}` is a full ``(d_i, d_i)`` matrix, a diagonal one (a per-feature
        step size, the family of Meta-SGD), or absent (a plain MLP).
    warp_depth : int
        Number :math:`m` of warp matrices in front of each task layer. All start at the identity.
    activation : {"tanh", "relu", "identity"}
        :math:`\sigma`.
    bias : bool
        Whether task layers have biases.
    init_scale : float >= 0
        Initial task weights and biases are uniform in
        :math:`\pm\,\mathrm{init\_scale}/\sqrt{d_i}`; 0 starts every task at zero.
    generator : None, int or torch.Generator
        Initialisation (drawn on the CPU in float32; move the module with ``.to``).

    Notes
    -----
    Task parameters are handled as a list ``[W_0, b_0, W_1, b_1, ...]`` (without the ``b`` when
    ``bias=False``) with a leading task dimension: ``W_i`` of shape ``(n_tasks, d_{i+1}, d_i)``.
    :meth:`task_init` gives the stored initialisation in that form. See the chapter
    :doc:`Meta-learned preconditioning </book/metalearning>`.

    References
    ----------
    S. Flennerhag, A. A. Rusu, R. Pascanu, F. Visin, H. Yin, R. Hadsell, "Meta-learning with warped
    gradient descent", ICLR 2020.

    Examples
    --------
    >>> import torch
    >>> net = WarpedMLP([3, 8, 1], generator=0)
    >>> x = torch.randn(5, 10, 3)           # 5 tasks, 10 samples each
    >>> net(x, net.task_init(5)).shape
    torch.Size([5, 10, 1])
    >>> net.preconditioner(0).shape         # identity warps: plain gradient descent
    torch.Size([3, 3])
    """

    @validate(
        sizes=Items(Integer(low=1), min_length=2),
        warp=Options("full", "diagonal", "none"),
        warp_depth=Integer(low=1),
        activation=Options(*_ACTIVATIONS),
        bias=Bool(),
        init_scale=Real(low=0),
        generator=Generator(),
    )
    def __init__(self, sizes, *, warp: str = "full", warp_depth: int = 1, activation: str = "tanh",
                 bias: bool = True, init_scale: float = 1.0, generator=None):
        super().__init__()
        g = as_generator(generator)
        self.sizes = [int(s) for s in sizes]
        self.warp, self.warp_depth, self.activation, self.bias = warp, int(warp_depth), activation, bool(bias)
        self.n_layers = len(self.sizes) - 1
        self.init = nn.ParameterList()
        self.warps = nn.ParameterList()
        for d_in, d_out in zip(self.sizes[:-1], self.sizes[1:]):
            bound = float(init_scale) / d_in ** 0.5
            self.init.append(nn.Parameter(bound * (2 * rand(d_out, d_in, generator=g) - 1)))
            if self.bias:
                self.init.append(nn.Parameter(bound * (2 * rand(d_out, generator=g) - 1)))
            for _ in range(self.warp_depth if warp != "none" else 0):
                eye = torch.eye(d_in) if warp == "full" else torch.ones(d_in)
                self.warps.append(nn.Parameter(eye))

    # ------------------------------------------------------------------ parameters
    def task_parameters(self) -> list[nn.Parameter]:
        """The initialisation of the task parameters, ``[W_0, b_0, ...]`` (no task dimension)."""
        return list(self.init)

    def warp_parameters(self) -> list[nn.Parameter]:
        """The warp matrices (or diagonals), layer by layer, ``warp_depth`` per layer."""
        return list(self.warps)

    @validate(n_tasks=Integer(low=1))
    def task_init(self, n_tasks: int) -> list[torch.Tensor]:
        """The initialisation repeated for ``n_tasks`` tasks (differentiable w.r.t. the stored one)."""
        return [p.unsqueeze(0).expand(int(n_tasks), *p.shape) for p in self.init]

    @validate(layer=Integer(low=0))
    def warp_matrix(self, layer: int) -> torch.Tensor:
        r"""The product :math:`A_i = \Omega_{i,m} \cdots \Omega_{i,1}` in front of task layer ``layer``.

        Returns
        -------
        Tensor, shape (d_i, d_i)
            The identity when ``warp="none"``.
        """
        self._check_layer("warp_matrix", layer)
        d = self.sizes[layer]
        ref = self.init[0]
        a = torch.eye(d, device=ref.device, dtype=ref.dtype)
        for om in self._layer_warps(layer):
            a = (om @ a) if om.ndim == 2 else om[:, None] * a
        return a

    @validate(layer=Integer(low=0))
    def preconditioner(self, layer: int) -> torch.Tensor:
        r"""The preconditioner :math:`P_i = A_i^\top A_i` that the warps apply to layer ``layer``.

        A gradient step of size :math:`\alpha` on the task weights :math:`W_i` moves the effective
        weights :math:`M_i = W_i A_i` by :math:`-\alpha\, \nabla_{M_i} L\, P_i` (derivation in the
        class docstring). Symmetric positive semi-definite, shape ``(d_i, d_i)``.
        """
        self._check_layer("preconditioner", layer)
        a = self.warp_matrix(layer)
        return a.T @ a

    @validate(task=Items(Tensor(dtype="floating")))
    def effective_weights(self, task: list[torch.Tensor]) -> list[torch.Tensor]:
        """The effective weights :math:`M_i = W_i A_i` of each layer, shapes ``(n_tasks, d_{i+1}, d_i)``."""
        step = 2 if self.bias else 1
        return [task[step * i] @ self.warp_matrix(i) for i in range(self.n_layers)]

    def _check_layer(self, func, layer):
        if layer >= self.n_layers:
            raise ValueError(f"WarpedMLP.{func}: layer must be < n_layers = {self.n_layers}, got {layer}")

    def _layer_warps(self, layer: int) -> list[torch.Tensor]:
        if self.warp == "none":
            return []
        return list(self.warps)[layer * self.warp_depth:(layer + 1) * self.warp_depth]

    # ------------------------------------------------------------------ forward
    @validate(x=Tensor(shape=("t", "n", None), dtype="floating"), task=Items(Tensor(dtype="floating"),
                                                                              optional=True))
    def forward(self, x: torch.Tensor, task: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Predictions for a batch of tasks.

        Parameters
        ----------
        x : Tensor, shape (n_tasks, n, d_0)
            Inputs, task by task.
        task : list of Tensor, optional
            Task parameters with a leading task dimension (see :meth:`task_init`, the default).

        Returns
        -------
        Tensor, shape (n_tasks, n, d_L)
        """
        ref = self.init[0]
        if x.dtype != ref.dtype or x.device != ref.device:
            raise TypeError(f"WarpedMLP.forward: x has {x.dtype} on {x.device} but the model has {ref.dtype} on "
                            f"{ref.device}; convert one explicitly (nothing is converted silently)")
        if x.shape[-1] != self.sizes[0]:
            raise ValueError(f"WarpedMLP.forward: x must have {self.sizes[0]} features, got {x.shape[-1]}")
        task = self.task_init(x.shape[0]) if task is None else list(task)
        want = len(self.init)
        if len(task) != want or any(t.shape != (x.shape[0], *p.shape) for t, p in zip(task, self.init)):
            raise ValueError(f"WarpedMLP.forward: task must be {want} tensors shaped like task_init("
                             f"{x.shape[0]}), got shapes {[tuple(t.shape) for t in task]}")
        return self._forward(x, task)

    def _forward(self, x: torch.Tensor, task: list[torch.Tensor]) -> torch.Tensor:
        act = _ACTIVATIONS[self.activation]
        step = 2 if self.bias else 1
        h = x
        for i in range(self.n_layers):
            for om in self._layer_warps(i):
                h = h @ om.T if om.ndim == 2 else h * om
            h = h @ task[step * i].transpose(-1, -2)
            if self.bias:
                h = h + task[step * i + 1].unsqueeze(-2)
            if i < self.n_layers - 1:
                h = act(h)
        return h
