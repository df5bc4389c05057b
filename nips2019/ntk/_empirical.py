"""Empirical (finite-width) NTK of any ``torch.nn.Module`` with ``torch.func``."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from nips2019.utils import InstanceOf, Integer, Module, Options, Tensor, validate

from ._structured import structured_ntk

METHODS = ("jacobian", "ntvp", "structured")
TRACES = ("mean", "sum")

#: A batch of inputs for a module: any rank >= 1, floating, finite, non-empty.
BATCH = Tensor(dtype="floating")
BATCH_OPTIONAL = Tensor(dtype="floating", optional=True)


def _params_buffers(func: str, model: nn.Module, params, like: torch.Tensor):
    """The parameters to differentiate (checked against the model's) and the model's buffers."""
    trainable = {k: v for k, v in model.named_parameters() if v.requires_grad}
    if params is None:
        params = {k: v.detach() for k, v in trainable.items()}
    else:
        for k, v in params.items():
            if k not in trainable:
                raise ValueError(f"{func}: params has key {k!r}, which is not a trainable parameter of model "
                                 f"(expected keys among {sorted(trainable)[:5]})")
            if not isinstance(v, torch.Tensor) or not v.is_floating_point():
                raise TypeError(f"{func}: params[{k!r}] must be a floating torch.Tensor, got {type(v).__name__}")
            if v.shape != trainable[k].shape:
                raise ValueError(f"{func}: params[{k!r}] must have shape {tuple(trainable[k].shape)} like the "
                                 f"model's parameter, got {tuple(v.shape)}")
            if v.device != like.device or v.dtype != like.dtype:
                raise TypeError(f"{func}: params[{k!r}] is {v.dtype} on {v.device} but the inputs are {like.dtype} "
                                f"on {like.device}; convert one explicitly (nothing is converted silently)")
    if not params:
        raise ValueError(f"{func}: model has no trainable parameters")
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    return params, buffers


def _check_inputs(func: str, x1, x2, name1="x1", name2="x2"):
    if x1.dim() < 1:
        raise ValueError(f"{func}: {name1} must have a batch dimension (n, ...), got a 0-d tensor")
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(
            f"{func}: {name2} must have the per-example shape of {name1}, {tuple(x1.shape[1:])}, "
            f"got {tuple(x2.shape[1:])} ({name2} has shape {tuple(x2.shape)}, {name1} {tuple(x1.shape)})"
        )


def _probe(func: str, f, params, x, name: str) -> int:
    """Run the model on one example of ``x``: a clear error if it cannot take it; the number of outputs."""
    try:
        with torch.no_grad():
            out = f(params, x[:1])
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"{func}: model cannot be applied to {name} of shape {tuple(x.shape)}: {exc}") from exc
    return out.shape[1]


def _flat_fn(model, buffers):
    """(params, batch) -> (batch, out) with every per-example output flattened."""

    def f(params, x):
        out = functional_call(model, (params, buffers), (x,))
        return out.reshape(x.shape[0], -1)

    return f


def _jacobian(f, params, x):
    """Per-example Jacobians: dict name -> (b, out, P_name)."""
    single = lambda p, xi: f(p, xi.unsqueeze(0))[0]  # noqa: E731
    jac = vmap(jacrev(single), in_dims=(None, 0))(params, x)
    return {k: v.reshape(v.shape[0], v.shape[1], -1) for k, v in jac.items()}


def _contract(j1, j2, trace):
    if trace is None:
        return sum(torch.einsum("aip,bjp->abij", j1[k], j2[k]) for k in j1)
    return sum(torch.einsum("aip,bip->ab", j1[k], j2[k]) for k in j1)


def _ntvp_block(f, params, x1, x2, trace):
    """Theta(x1, x2) as jvp(f(x1), vjp rows of f(x2)): the NTK-vector-product route."""
    rows = _jacobian(f, params, x2)  # vjp of every (example, output) basis vector of x2
    b2, out = next(iter(rows.values())).shape[:2]
    tangents = {k: v.reshape(b2 * out, *params[k].shape) for k, v in rows.items()}

    def push(t):
        return jvp(lambda p: f(p, x1), (params,), (t,))[1]

    res = vmap(push)(tangents)  # (b2*out, b1, out)
    res = res.reshape(b2, out, x1.shape[0], -1).permute(2, 0, 3, 1)  # (b1, b2, out_i, out_j)
    if trace is None:
        return res
    return res.diagonal(dim1=2, dim2=3).sum(-1)


@validate(
    model=Module(),
    x1=BATCH,
    x2=BATCH_OPTIONAL,
    params=InstanceOf(dict, optional=True),
    method=Options(*METHODS),
    trace=Options(*TRACES, optional=True),
    batch_size=Integer(low=1),
    same=[("model", "x1", "x2")],
)
def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    params: dict | None = None,
    method: str = "jacobian",
    trace: str | None = None,
    batch_size: int = 64,
) -> torch.Tensor:
    """Empirical neural tangent kernel of a finite network.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        \\hat\\Theta_{ij}(x, x') = \\sum_p \\frac{\\partial f_i(x)}{\\partial \\theta_p}
        \\frac{\\partial f_j(x')}{\\partial \\theta_p}.

    Two routes give the same numbers (Novak et al. 2022): ``"jacobian"`` forms the
    per-example Jacobians with ``vmap(jacrev)`` and contracts them;
    ``"ntvp"`` pushes the Jacobian rows of ``x2`` through a forward-mode
    ``jvp`` at ``x1`` (never forming ``x1``'s Jacobian). Both run over blocks
    of ``batch_size`` examples, so memory is bounded by two blocks of
    Jacobians and one kernel block; a symmetric kernel (``x2=None``) computes
    only the upper block triangle. For networks built only from dense layers
    (``nn.Linear``/:class:`DenseNTK` plus parameter-free activations),
    ``"structured"`` uses the outer-product structure of dense-layer Jacobians
    and never forms a Jacobian with respect to a weight matrix; it is usually
    the fastest by far (``batch_size`` is ignored).

    Parameters
    ----------
    model : torch.nn.Module
        Any module mapping a batch ``(n, ...)`` to ``(n, out)`` (other output
        shapes are flattened per example). Its parameters and the inputs must
        share a device and a dtype (nothing is converted).
    x1 : Tensor, shape (n1, ...)
    x2 : Tensor, shape (n2, ...), optional
        Defaults to ``x1``.
    params : dict, optional
        Parameters at which to linearise (default: the module's trainable ones):
        a subset of the trainable parameters' names, each with its parameter's shape.
    method : {"jacobian", "ntvp", "structured"}
    trace : {None, "mean", "sum"}
        ``None``: full kernel ``(n1, n2, out, out)``. ``"mean"``: average of the
        diagonal over outputs, shape ``(n1, n2)`` (neural-tangents' ``trace_axes``
        convention, comparable with :func:`analytic_kernels`); ``"sum"``: the plain trace.
    batch_size : int
        Examples per block.

    Returns
    -------
    Tensor, shape (n1, n2, out, out) or (n1, n2)

    References
    ----------
    novak2022fast.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> x = torch.randn(5, 3)
    >>> empirical_ntk(net, x).shape
    torch.Size([5, 5, 2, 2])
    >>> a = empirical_ntk(net, x, trace="mean")
    >>> b = empirical_ntk(net, x, method="ntvp", trace="mean", batch_size=2)
    >>> c = empirical_ntk(net, x, method="structured", trace="mean")
    >>> bool(torch.allclose(a, b, atol=1e-5)) and bool(torch.allclose(a, c, atol=1e-5))
    True
    """
    func = "empirical_ntk"
    _check_inputs(func, x1, x2)
    if method == "structured" and params is not None:
        raise ValueError(f"{func}: method='structured' uses the module's own parameters; params must be None")
    params, buffers = _params_buffers(func, model, params, x1)
    f = _flat_fn(model, buffers)
    n_out = _probe(func, f, params, x1, "x1")
    if method == "structured":
        ntk = structured_ntk(model, x1, x2, trace)
        return ntk / n_out if trace == "mean" else ntk
    symmetric = x2 is None
    x2 = x1 if symmetric else x2
    bs = int(batch_size)
    starts1 = list(range(0, x1.shape[0], bs))
    starts2 = list(range(0, x2.shape[0], bs))
    blocks: dict = {}
    cache2: dict = {}
    for i, s1 in enumerate(starts1):
        xb1 = x1[s1 : s1 + bs]
        j1 = _jacobian(f, params, xb1) if method == "jacobian" else None
        for j, s2 in enumerate(starts2):
            if symmetric and j < i:
                blk = blocks[(j, i)]
                blocks[(i, j)] = blk.T if trace else blk.permute(1, 0, 3, 2)
                continue
            xb2 = x2[s2 : s2 + bs]
            if method == "ntvp":
                blk = _ntvp_block(f, params, xb1, xb2, trace)
            else:
                if symmetric and i == j:
                    j2 = j1
                elif len(starts1) == 1 or len(starts2) == 1:  # cheap to keep: computed once
                    j2 = cache2.get(j) or cache2.setdefault(j, _jacobian(f, params, xb2))
                else:
                    j2 = _jacobian(f, params, xb2)
                blk = _contract(j1, j2, trace)
            blocks[(i, j)] = blk
    rows = [torch.cat([blocks[(i, j)] for j in range(len(starts2))], 1) for i in range(len(starts1))]
    ntk = torch.cat(rows, 0)
    if trace == "mean":
        ntk = ntk / n_out
    return ntk


@validate(
    model=Module(),
    x1=BATCH,
    x2=BATCH,
    v=Tensor(shape=("n2", None), dtype="floating"),
    params=InstanceOf(dict, optional=True),
    same=[("model", "x1", "x2", "v")],
)
def ntk_vector_product(
    model: nn.Module, x1: torch.Tensor, x2: torch.Tensor, v: torch.Tensor, *, params: dict | None = None
) -> torch.Tensor:
    """Apply the empirical NTK to a vector without forming it: :math:`\\hat\\Theta(x_1, x_2)\\, v`.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        \\big(\\hat\\Theta v\\big)(x) = J(x_1)\\,\\big(J(x_2)^\\top v\\big)
        = \\mathrm{jvp}_{x_1}\\big(\\mathrm{vjp}_{x_2}(v)\\big),

    one backward pass at ``x2`` and one forward-mode pass at ``x1``: the
    building block of iterative (conjugate-gradient) kernel solvers.

    Parameters
    ----------
    model : torch.nn.Module
    x1 : Tensor, shape (n1, ...)
    x2 : Tensor, shape (n2, ...)
    v : Tensor, shape (n2, out)
        Same dtype and device as the model and the inputs.
    params : dict, optional

    Returns
    -------
    Tensor, shape (n1, out)

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> x, v = torch.randn(4, 3), torch.randn(4, 2)
    >>> k = empirical_ntk(net, x)
    >>> bool(torch.allclose(ntk_vector_product(net, x, x, v), torch.einsum("abij,bj->ai", k, v), atol=1e-5))
    True
    """
    func = "ntk_vector_product"
    _check_inputs(func, x1, x2)
    if v.shape[0] != x2.shape[0]:
        raise ValueError(f"{func}: v must have one row per example of x2 ({x2.shape[0]}), got shape {tuple(v.shape)}")
    params, buffers = _params_buffers(func, model, params, x1)
    f = _flat_fn(model, buffers)
    _probe(func, f, params, x1, "x1")
    out2, vjp_fn = vjp(lambda p: f(p, x2), params)
    if v.shape != out2.shape:
        raise ValueError(f"{func}: v must have the shape of the model's outputs on x2, {tuple(out2.shape)}, "
                         f"got {tuple(v.shape)}")
    (tangent,) = vjp_fn(v)
    return jvp(lambda p: f(p, x1), (params,), (tangent,))[1]


@validate(model=Module(), x1=BATCH, x2=BATCH_OPTIONAL, same=[("model", "x1", "x2")])
def empirical_ntk_naive(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
    """Reference empirical NTK from a per-example, per-output autograd loop (slow; for tests).

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    Parameters
    ----------
    model : torch.nn.Module
    x1 : Tensor, shape (n1, ...)
    x2 : Tensor, shape (n2, ...), optional

    Returns
    -------
    Tensor, shape (n1, n2, out, out)

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 1, bias=False)
    >>> x = torch.randn(2, 3)
    >>> bool(torch.allclose(empirical_ntk_naive(net, x)[..., 0, 0], x @ x.T))
    True
    """
    func = "empirical_ntk_naive"
    _check_inputs(func, x1, x2)
    params, buffers = _params_buffers(func, model, None, x1)
    _probe(func, _flat_fn(model, buffers), params, x1, "x1")
    ps = [p for p in model.parameters() if p.requires_grad]

    def grads(x):
        rows = []
        for a in range(x.shape[0]):
            out = model(x[a : a + 1]).reshape(-1)
            per_out = []
            for i in range(out.shape[0]):
                g = torch.autograd.grad(out[i], ps, retain_graph=i + 1 < out.shape[0], allow_unused=True)
                per_out.append(torch.cat([(torch.zeros_like(p) if gi is None else gi).reshape(-1)
                                          for gi, p in zip(g, ps)]))
            rows.append(torch.stack(per_out))
        return torch.stack(rows)  # (n, out, P)

    g1 = grads(x1)
    g2 = g1 if x2 is None else grads(x2)
    return torch.einsum("aip,bjp->abij", g1, g2)


@validate(
    model=Module(),
    x=BATCH,
    params=InstanceOf(dict, optional=True),
    batch_size=Integer(low=1),
    same=[("model", "x")],
)
def flat_jacobian(
    model: nn.Module, x: torch.Tensor, *, params: dict | None = None, batch_size: int = 64
) -> torch.Tensor:
    """Per-example Jacobian of the outputs with respect to all trainable parameters, flattened.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        J_{a i p} = \\partial f_i(x_a) / \\partial \\theta_p,

    with the parameters concatenated in ``model.named_parameters()`` order (the
    order of ``torch.nn.utils.parameters_to_vector``), so that
    ``J.reshape(-1, P) @ J.reshape(-1, P).T`` is the flattened empirical NTK.
    Memory is ``n * out * P``: use it for small models or few points.

    Parameters
    ----------
    model : torch.nn.Module
    x : Tensor, shape (n, ...)
    params : dict, optional
    batch_size : int
        Examples per ``vmap`` call.

    Returns
    -------
    Tensor, shape (n, out, P)

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> flat_jacobian(net, torch.randn(4, 3)).shape
    torch.Size([4, 2, 8])
    """
    func = "flat_jacobian"
    _check_inputs(func, x, None, "x")
    params, buffers = _params_buffers(func, model, params, x)
    f = _flat_fn(model, buffers)
    _probe(func, f, params, x, "x")
    bs = int(batch_size)
    blocks = []
    for s in range(0, x.shape[0], bs):
        jac = _jacobian(f, params, x[s : s + bs])
        blocks.append(torch.cat([jac[k] for k in params], -1))
    return torch.cat(blocks, 0)
