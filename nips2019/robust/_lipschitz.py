"""Lipschitz constants of MLPs: the product of spectral norms, LipSDP-neuron, a lower bound; a Jacobian penalty."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from ..utils import Generator, Integer, Module, Options, Real, Tensor, as_generator, randn, validate

# slope bounds [a, b] of the activations LipSDP accepts: (phi(u) - phi(v)) / (u - v) in [a, b]
_SLOPES = {nn.ReLU: lambda m: (0.0, 1.0), nn.Tanh: lambda m: (0.0, 1.0), nn.Sigmoid: lambda m: (0.0, 0.25),
           nn.Softplus: lambda m: (0.0, 1.0), nn.LeakyReLU: lambda m: (min(m.negative_slope, 1.0),
                                                                      max(m.negative_slope, 1.0)),
           nn.ELU: lambda m: (0.0, max(1.0, m.alpha))}
_SKIP = (nn.Identity, nn.Flatten, nn.Dropout)


def _layers(model: nn.Module, func: str):
    """The weights and per-hidden-layer activation slopes of an MLP ``Linear (act Linear)*``."""
    leaves = [m for m in model.modules() if not list(m.children()) and not isinstance(m, _SKIP)]
    weights, slopes = [], []
    expect_linear = True
    for m in leaves:
        if expect_linear:
            if not isinstance(m, nn.Linear):
                raise ValueError(f"{func}: model must be an MLP (Linear, activation, ..., Linear), found "
                                 f"{type(m).__name__} where a Linear layer was expected")
            weights.append(m.weight)
        else:
            kind = next((k for k in _SLOPES if isinstance(m, k)), None)
            if kind is None:
                raise ValueError(f"{func}: model has activation {type(m).__name__}; supported: "
                                 + ", ".join(k.__name__ for k in _SLOPES))
            slopes.append(_SLOPES[kind](m))
        expect_linear = not expect_linear
    if not weights or expect_linear:
        raise ValueError(f"{func}: model must end with a Linear layer (an MLP Linear, activation, ..., Linear)")
    return weights, slopes


@validate(model=Module())
def naive_lipschitz(model: nn.Module) -> float:
    r"""Upper bound on the l2 Lipschitz constant of an MLP: the product of the layers' bounds.

    .. math:: L(f) \le \prod_{k=0}^{l} \|W_k\|_2 \prod_{k=1}^{l} \beta_k,

    with :math:`\beta_k` the largest slope of the activation of hidden layer :math:`k`
    (1 for ReLU and tanh, 1/4 for the logistic sigmoid).

    Parameters
    ----------
    model : nn.Module
        An MLP: ``Linear``, activation, ..., ``Linear`` (``nn.Sequential`` or nested;
        ``Identity``, ``Flatten`` and ``Dropout`` are ignored).

    Returns
    -------
    float

    Notes
    -----
    Tight for one layer; loose as depth grows because the layers' top singular vectors
    need not line up and the activations' slopes are not all 1 at once. See the chapter
    :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0); _ = net[2].weight.fill_(1.0)
    >>> round(naive_lipschitz(net), 6)  # sqrt(6) * sqrt(3)
    4.242641
    """
    weights, slopes = _layers(model, "naive_lipschitz")
    with torch.no_grad():
        value = math.prod(float(torch.linalg.matrix_norm(w.double(), ord=2)) for w in weights)
    return value * math.prod(b for _, b in slopes)


@dataclasses.dataclass
class LipSDPResult:
    r"""The LipSDP-neuron certificate (see :func:`lipsdp_lipschitz`).

    Attributes
    ----------
    lipschitz : float
        The upper bound :math:`\sqrt{\rho^\star}`.
    rho : float
        Optimal value of the SDP.
    multipliers : Tensor, shape (n_neurons,)
        The diagonal multipliers :math:`T` (one per hidden neuron), float64 on the model's device.
    status : str
        The solver's status (``"optimal"`` or ``"optimal_inaccurate"``).
    solver : str
        The cvxpy solver used.
    """

    lipschitz: float
    rho: float
    multipliers: torch.Tensor
    status: str
    solver: str


@validate(model=Module(), solver=Options("CLARABEL", "SCS"))
def lipsdp_lipschitz(model: nn.Module, *, solver: str = "CLARABEL") -> LipSDPResult:
    r"""LipSDP-neuron upper bound on the l2 Lipschitz constant of an MLP (Fazlyab et al. 2019).

    Stack the input and the hidden activations, :math:`z = (x^0, x^1, \dots, x^l)`, with
    :math:`x^{k+1} = \phi(W_k x^k + b_k)` and :math:`f = W_l x^l + b_l`. Let
    :math:`A z = (W_0 x^0, \dots, W_{l-1} x^{l-1})` and :math:`B z = (x^1, \dots, x^l)`.
    Each neuron's activation is slope-restricted in :math:`[a_i, b_i]`, which gives, for every
    diagonal :math:`T \succeq 0`, a quadratic inequality between two inputs' differences.
    Then :math:`\sqrt\rho` bounds the Lipschitz constant whenever

    .. math::

        \begin{pmatrix} A \\ B \end{pmatrix}^{\!\top}
        \begin{pmatrix} -2\,\mathrm{diag}(a b)\,T & \mathrm{diag}(a + b)\,T \\
                        \mathrm{diag}(a + b)\,T & -2T \end{pmatrix}
        \begin{pmatrix} A \\ B \end{pmatrix}
        + E_0^\top(-\rho I)E_0 + E_l^\top W_l^\top W_l E_l \preceq 0,

    with :math:`E_0 z = x^0` and :math:`E_l z = x^l`. The SDP minimises :math:`\rho` over
    :math:`\rho \ge 0` and the diagonal :math:`T`. Without hidden layers it returns
    :math:`\|W_0\|_2`.

    Parameters
    ----------
    model : nn.Module
        An MLP (as in :func:`naive_lipschitz`), activations ReLU, LeakyReLU, tanh, sigmoid,
        softplus or ELU.
    solver : {"CLARABEL", "SCS"}
        The cvxpy conic solver.

    Returns
    -------
    LipSDPResult

    Notes
    -----
    Only the neuron-wise multipliers ("LipSDP-neuron") are used, not the paper's richer
    coupled ("LipSDP-network") family. The SDP has one matrix of side ``n_in + n_neurons``: fine for a few hundred neurons,
    slow beyond. Solver tolerances make the value accurate to about 1e-6 relative. The
    first and last weight matrices are rescaled to unit spectral norm before solving
    (the bound scales exactly with them). See the chapter
    :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> res = lipsdp_lipschitz(net)
    >>> res.status, res.lipschitz <= naive_lipschitz(net) + 1e-6
    ('optimal', True)
    """
    import cvxpy as cp

    weights, slopes = _layers(model, "lipsdp_lipschitz")
    ws = [w.detach().cpu().double().numpy() for w in weights]
    device = weights[0].device
    if len(ws) == 1:
        s = float(np.linalg.norm(ws[0], 2))
        return LipSDPResult(lipschitz=s, rho=s * s, multipliers=torch.zeros(0, dtype=torch.float64, device=device),
                            status="optimal", solver="closed form")
    s_first, s_last = (max(float(np.linalg.norm(w, 2)), 1e-300) for w in (ws[0], ws[-1]))
    ws[0] = ws[0] / s_first
    ws[-1] = ws[-1] / s_last
    n0 = ws[0].shape[1]
    hidden = [w.shape[0] for w in ws[:-1]]
    n_neurons = sum(hidden)
    dim = n0 + n_neurons
    a_mat = np.zeros((n_neurons, dim))
    row, col = 0, 0
    for w in ws[:-1]:
        a_mat[row:row + w.shape[0], col:col + w.shape[1]] = w
        row += w.shape[0]
        col += w.shape[1]
    b_mat = np.hstack([np.zeros((n_neurons, n0)), np.eye(n_neurons)])  # rows: unit vectors of the neurons
    lo = np.concatenate([np.full(h, a) for h, (a, _) in zip(hidden, slopes)])
    hi = np.concatenate([np.full(h, b) for h, (_, b) in zip(hidden, slopes)])
    # M(t, rho) = sum_i t_i M_i - rho F + C, written as one constant map of (t, rho) so cvxpy compiles it fast
    e_rows = b_mat
    coef_aa = -2 * lo * hi
    coef_ab = lo + hi
    cols = np.empty((dim * dim, n_neurons + 1))
    for i in range(n_neurons):
        a, e = a_mat[i], e_rows[i]
        mi = coef_aa[i] * np.outer(a, a) + coef_ab[i] * (np.outer(a, e) + np.outer(e, a)) - 2 * np.outer(e, e)
        cols[:, i] = mi.ravel(order="F")
    first = np.zeros((dim, dim))
    first[:n0, :n0] = np.eye(n0)
    cols[:, n_neurons] = -first.ravel(order="F")
    last = np.zeros((dim, dim))
    nl = hidden[-1]
    last[dim - nl:, dim - nl:] = ws[-1].T @ ws[-1]
    v = cp.Variable(n_neurons + 1, nonneg=True)
    t, rho = v[:n_neurons], v[n_neurons]
    m = cp.reshape(cols @ v, (dim, dim), order="F") + last
    problem = cp.Problem(cp.Minimize(rho), [(m + m.T) / 2 << 0])
    problem.solve(solver=solver)
    if problem.status not in ("optimal", "optimal_inaccurate") or rho.value is None:
        raise RuntimeError(f"lipsdp_lipschitz: the SDP solver {solver} failed with status {problem.status}")
    scale = s_first * s_last
    r = float(rho.value) * scale**2
    return LipSDPResult(lipschitz=math.sqrt(max(r, 0.0)), rho=r,
                        multipliers=torch.as_tensor(np.asarray(t.value) * s_last**2, device=device),
                        status=problem.status, solver=solver)


def _jacobian_norms(model, x):
    jac = torch.func.vmap(torch.func.jacrev(lambda z: model(z[None])[0]))(x)  # (n, k, d)
    return torch.linalg.matrix_norm(jac, ord=2), jac


@dataclasses.dataclass
class LowerBoundResult:
    r"""A lower bound on a Lipschitz constant (see :func:`lipschitz_lower_bound`).

    Attributes
    ----------
    lipschitz : float
        The largest ratio found: :math:`\|J_f(x)\|_2` at a point or
        :math:`\|f(x) - f(y)\| / \|x - y\|` for a pair.
    point : Tensor, shape (d,)
        The input where the largest Jacobian norm was found.
    history : Tensor, shape (n_steps + 1,)
        Best value found after each ascent step (float64, CPU).
    """

    lipschitz: float
    point: torch.Tensor
    history: torch.Tensor


@validate(model=Module(), x=Tensor(shape=("n", "d"), dtype="floating"), n_steps=Integer(low=0),
          lr=Real(low=0, closed="neither"), generator=Generator(), same=[("model", "x")])
def lipschitz_lower_bound(model: nn.Module, x: torch.Tensor, *, n_steps: int = 100, lr: float = 0.01,
                          generator=None) -> LowerBoundResult:
    r"""Lower bound on the l2 Lipschitz constant by maximising local slopes.

    For any inputs, :math:`\|J_f(x)\|_2 \le L(f)` (where :math:`f` is differentiable) and
    :math:`\|f(x) - f(y)\|_2 / \|x - y\|_2 \le L(f)`. Starting from the rows of ``x``, the
    spectral norm of the Jacobian is evaluated at each start; then each start is paired
    with a point a short step along its top right singular vector, and Adam ascends the
    pair's difference quotient for ``n_steps`` (this objective has a gradient even for
    piecewise-linear ReLU networks, whose Jacobian norm is piecewise constant). The
    result is the largest value seen, Jacobian norms at the final points included.

    Parameters
    ----------
    model : nn.Module
        Any differentiable map from ``(batch, d)`` to ``(batch, k)``.
    x : Tensor, shape (n, d)
        Starting points (data, or samples from the region of interest).
    n_steps : int
        Ascent steps (0: Jacobian norms at ``x`` only).
    lr : float
        Adam step size, relative to the spread of ``x`` (its largest coordinate standard deviation, or 1).
    generator : None, int or torch.Generator
        Randomness for the initial pair offsets' signs.

    Returns
    -------
    LowerBoundResult

    Notes
    -----
    A lower bound holds for the whole input space, so the ascent is not constrained to a
    region. It is a local search: its value can be far below the true constant for large
    networks. See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> low = lipschitz_lower_bound(net, torch.randn(4, 3), n_steps=0).lipschitz
    >>> abs(low - float(torch.linalg.matrix_norm(net.weight.detach(), ord=2))) < 1e-5
    True
    """
    params = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        return _lower_bound(model, x.detach(), n_steps, lr, as_generator(generator))
    finally:
        for p, r in zip(model.parameters(), params):
            p.requires_grad_(r)


def _lower_bound(model, x, n_steps, lr, gen):
    scale = float(x.std(0).max()) if x.shape[0] > 1 else 1.0
    scale = scale if scale > 0 else 1.0
    norms, jac = _jacobian_norms(model, x)
    best = float(norms.max())
    point = x[int(norms.argmax())].clone()
    history = [best]
    if n_steps > 0:
        v = torch.linalg.svd(jac, full_matrices=False).Vh[:, 0, :]  # (n, d) top right singular vectors
        sign = torch.where(randn(x.shape[0], generator=gen, device=x.device, dtype=x.dtype) >= 0, 1.0, -1.0)
        xs = x.clone().requires_grad_(True)
        us = (1e-2 * scale * sign[:, None] * v).requires_grad_(True)
        opt = torch.optim.Adam([xs, us], lr=lr * scale)
        for _ in range(n_steps):
            diff = model(xs + us) - model(xs)
            ratio = diff.norm(dim=1) / us.norm(dim=1).clamp(min=1e-12 * scale)
            opt.zero_grad()
            (-ratio.sum()).backward()
            opt.step()
            with torch.no_grad():
                best = max(best, float(ratio.max()))
            history.append(best)
        with torch.no_grad():
            final = xs.detach()
        norms, _ = _jacobian_norms(model, final)
        if float(norms.max()) > best:
            best, point = float(norms.max()), final[int(norms.argmax())].clone()
        history[-1] = best
    return LowerBoundResult(lipschitz=best, point=point, history=torch.tensor(history, dtype=torch.float64))


@validate(model=Module(), x=Tensor(shape=("n", "d"), dtype="floating"),
          n_projections=Integer(low=1, optional=True), generator=Generator(), same=[("model", "x")])
def jacobian_penalty(model: nn.Module, x: torch.Tensor, *, n_projections: int | None = None,
                     generator=None) -> torch.Tensor:
    r"""Mean squared Frobenius norm of the input-output Jacobian, differentiable in the parameters.

    .. math:: \Omega(f) = \frac1n \sum_{i=1}^n \|J_f(x_i)\|_F^2,
              \qquad \|J\|_F^2 = \mathbb E_{v \sim N(0, I_k)} \|J^\top v\|_2^2 .

    With ``n_projections=None`` the sum over the :math:`k` outputs is exact (:math:`k`
    backward passes); otherwise it is the unbiased random-projection estimate of Hoffman,
    Roberts & Yaida (2019) with that many Gaussian vectors :math:`v`.

    Parameters
    ----------
    model : nn.Module
        Maps ``(n, d)`` to ``(n, k)``, each row depending only on its input (no batch norm).
    x : Tensor, shape (n, d)
        Points where the Jacobian is penalised (a training batch).
    n_projections : int, optional
        Number of random projections (None: exact).
    generator : None, int or torch.Generator
        Randomness of the projections.

    Returns
    -------
    Tensor, scalar
        The penalty, with a graph to the model's parameters (add ``lam * penalty`` to the loss).

    Notes
    -----
    The penalty acts where the data are: it is a local (data-dependent) smoothness
    measure, not a bound on the global Lipschitz constant. Wei & Ma (2019) regularise
    the Jacobians of every layer with respect to the previous ones; this is the simpler
    input-output version. See the chapter :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> pen = jacobian_penalty(net, torch.randn(5, 3))
    >>> bool(torch.isclose(pen, (net.weight ** 2).sum()))
    True
    """
    xr = x.detach().requires_grad_(True)
    out = model(xr)
    if out.dim() != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(f"jacobian_penalty: model must map x (n, d) to (n, k), got output shape {tuple(out.shape)}")
    total = out.new_zeros(())
    if n_projections is None:
        for k in range(out.shape[1]):
            (g,) = torch.autograd.grad(out[:, k].sum(), xr, create_graph=True)
            total = total + (g**2).sum()
    else:
        gen = as_generator(generator)
        for _ in range(n_projections):
            v = randn(*out.shape, generator=gen, device=out.device, dtype=out.dtype)
            (g,) = torch.autograd.grad((out * v).sum(), xr, create_graph=True)
            total = total + (g**2).sum() / n_projections
    return total / x.shape[0]


@validate(logits=Tensor(shape=("n", "k"), dtype="floating"), y=Tensor(shape=("n",), dtype="integer", high="k"),
          lipschitz=Real(low=0, closed="neither"))
def lipschitz_margin_radius(logits: torch.Tensor, y: torch.Tensor, *, lipschitz: float) -> torch.Tensor:
    r"""Certified l2 radius from the logit margin and a Lipschitz bound.

    If the logits are :math:`L`-Lipschitz in l2, each difference :math:`f_y - f_j` is
    :math:`\sqrt2 L`-Lipschitz, so the prediction cannot change within

    .. math:: R(x) = \frac{\max(0,\ f_y(x) - \max_{j \ne y} f_j(x))}{\sqrt 2\, L}.

    Parameters
    ----------
    logits : Tensor, shape (n, k)
        Network outputs, :math:`k \ge 2`.
    y : Tensor, shape (n,), integer
        The class to certify (the label, or the prediction).
    lipschitz : float
        An upper bound on the Lipschitz constant of the logits.

    Returns
    -------
    Tensor, shape (n,)
        Radii (0 where ``y`` is not the top class).

    Notes
    -----
    The bound of Tsuzuku, Sato & Sugiyama (2018). See the chapter
    :doc:`Robust and calibrated classifiers </book/robustness>`.

    Examples
    --------
    >>> import torch
    >>> lipschitz_margin_radius(torch.tensor([[3.0, 1.0], [0.0, 2.0]]), torch.tensor([0, 0]),
    ...                         lipschitz=1.0).tolist()
    [1.4142135381698608, 0.0]
    """
    if logits.shape[1] < 2:
        raise ValueError(f"lipschitz_margin_radius: logits must have at least 2 columns, got {logits.shape[1]}")
    own = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], float("-inf")).max(1).values
    return (own - other).clamp(min=0) / (math.sqrt(2) * lipschitz)
