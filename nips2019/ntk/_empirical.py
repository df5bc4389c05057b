"""Empirical (finite-width) NTK of any ``torch.nn.Module`` with ``torch.func``."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap
from torch.utils._pytree import tree_flatten

from nips2019.utils import InstanceOf, Integer, Module, Options, Tensor, validate

from ._structured import structured_dense_ntk, structured_layers

METHODS = ("auto", "jacobian", "ntvp", "structured")
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


def _check_modes(func: str, model: nn.Module) -> None:
    """Refuse layers whose train-mode forward pass has no per-example Jacobian, saying why."""
    for name, m in model.named_modules():
        if not m.training:
            continue
        where = f" ({name})" if name else ""
        if isinstance(m, (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)):
            raise ValueError(
                f"{func}: model contains {type(m).__name__}{where} in training mode: it draws a new random mask "
                "at every call, so the network is not a fixed function of its parameters and its NTK is "
                "undefined (torch.func also refuses the randomness under vmap); call model.eval() first"
            )
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            raise ValueError(
                f"{func}: model contains {type(m).__name__}{where} in training mode: it normalises with "
                "statistics of the whole batch, so an example's output depends on the other examples (there "
                "is no per-example Jacobian) and it updates its running statistics in place; call model.eval() "
                "first (it then uses the running statistics)"
            )


def _flatten_out(out, n: int) -> torch.Tensor:
    """A model output (a tensor, or a tuple/list/dict of tensors) as one ``(n, out)`` tensor."""
    if isinstance(out, torch.Tensor):
        return out.reshape(n, -1)
    leaves = tree_flatten(out)[0]
    if not leaves or not all(isinstance(t, torch.Tensor) for t in leaves):
        raise TypeError(f"the model must return a tensor or a tuple/list/dict of tensors, got {type(out).__name__}")
    return torch.cat([t.reshape(n, -1) for t in leaves], 1)


def _probe(func: str, f, params, x, name: str) -> int:
    """Run the model on one example of ``x``: a clear error if it cannot take it; the number of outputs."""
    try:
        with torch.no_grad():
            out = f(params, x[:1])
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"{func}: model cannot be applied to {name} of shape {tuple(x.shape)}: {exc}") from exc
    return out.shape[1]


def _aliases(model: nn.Module) -> dict:
    """One name per (module, attribute) slot holding a parameter or buffer -> the tensor's first
    name: a tensor shared by two modules gets both slots, a module registered twice one."""
    first: dict = {}
    for named in (model.named_parameters(), model.named_buffers()):
        for name, t in named:
            first.setdefault(id(t), name)
    names: dict = {}
    slots: set = set()
    for prefix, m in model.named_modules(remove_duplicate=False):
        for store in (m._parameters, m._buffers):
            for attr, t in store.items():
                if t is None or (id(m), attr) in slots or id(t) not in first:
                    continue
                slots.add((id(m), attr))
                names[f"{prefix}.{attr}" if prefix else attr] = first[id(t)]
    return names


def call(model: nn.Module, params: dict, buffers: dict, x):
    """``model(x)`` with ``params``/``buffers`` swapped in, every alias of a tied tensor included.

    ``functional_call``'s own ``tie_weights=True`` leaves a module registered twice with plain
    tensors in place of its parameters (torch 2.13), so the aliases are spelled out here and
    ``tie_weights=False`` is used."""
    values = {**buffers, **params}
    full = {name: values[src] for name, src in _aliases(model).items() if src in values}
    return functional_call(model, full, (x,), tie_weights=False)


def _flat_fn(model, buffers):
    """(params, batch) -> (batch, out) with every per-example output (pytree leaves) flattened."""

    def f(params, x):
        out = call(model, params, buffers, x)
        return _flatten_out(out, x.shape[0])

    return f


def _jacobian(f, params, x):
    """Per-example Jacobians: dict name -> (b, out, P_name)."""
    single = lambda p, xi: f(p, xi.unsqueeze(0))[0]  # noqa: E731
    jac = vmap(jacrev(single), in_dims=(None, 0))(params, x)
    return {k: v.reshape(v.shape[0], v.shape[1], -1) for k, v in jac.items()}


def _contract(j1, j2, trace):
    """Theta block from two Jacobian blocks, one matrix product per parameter tensor."""
    total = None
    for k in j1:
        a, b = j1[k], j2[k]
        if trace is None:  # (a*out, P) @ (P, b*out) -> (a, b, out, out)
            blk = (a.reshape(-1, a.shape[-1]) @ b.reshape(-1, b.shape[-1]).T)
            blk = blk.reshape(a.shape[0], a.shape[1], b.shape[0], b.shape[1])
        else:  # the trace over outputs is a sum over (out, P) jointly: (a, out*P) @ (out*P, b)
            blk = a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T
        total = blk if total is None else total.add_(blk)
    return total if trace is not None else total.permute(0, 2, 1, 3)


#: Bytes of per-example Jacobians held at once by the generic empirical NTK when ``batch_size``
#: is not given (the block size follows from it and from the number of parameters and outputs).
JACOBIAN_BUDGET = 2**30


def _block_size(batch_size, n_out: int, params: dict, like: torch.Tensor, n_blocks: int = 2) -> int:
    """Examples per block: ``batch_size``, or what fits ``n_blocks`` Jacobian blocks in the budget."""
    if batch_size is not None:
        return int(batch_size)
    per_example = n_out * sum(p.numel() for p in params.values()) * like.element_size()
    return max(1, JACOBIAN_BUDGET // (n_blocks * max(per_example, 1)))


def _push(f, params, x1, tangents):
    """jvp of f at x1 along every tangent (a dict of stacked parameter tangents): (T, n1, out)."""

    def push(t):
        return jvp(lambda p: f(p, x1), (params,), (t,))[1]

    return vmap(push)(tangents)


def _ntvp(f, params, x1, x2, trace, bs, symmetric):
    """Theta(x1, x2) column block by column block: the Jacobian rows of an x2 block (computed once)
    are pushed forward through a jvp at x1 (never forming x1's Jacobian); for a symmetric kernel
    only the rows of x1 up to the block's end are pushed, and the rest is mirrored."""
    n1, n2 = x1.shape[0], x2.shape[0]
    out = None
    for s2 in range(0, n2, bs):
        xb2 = x2[s2 : s2 + bs]
        rows = _jacobian(f, params, xb2)  # vjp of every (example, output) basis vector of the block
        b2, n_out = next(iter(rows.values())).shape[:2]
        tangents = {k: v.reshape(b2 * n_out, *params[k].shape) for k, v in rows.items()}
        del rows
        stop1 = s2 + b2 if symmetric else n1
        for s1 in range(0, stop1, bs):
            e1 = min(s1 + bs, stop1)
            res = _push(f, params, x1[s1:e1], tangents)  # (b2*out, e1-s1, out)
            res = res.reshape(b2, n_out, e1 - s1, n_out).permute(2, 0, 3, 1)  # (b1, b2, out_i, out_j)
            if trace is not None:
                res = res.diagonal(dim1=2, dim2=3).sum(-1)
            if out is None:
                shape = (n1, n2) if trace is not None else (n1, n2, n_out, n_out)
                out = torch.empty(shape, dtype=res.dtype, device=res.device)
            out[s1:e1, s2 : s2 + b2] = res
            if symmetric and e1 <= s2:
                out[s2 : s2 + b2, s1:e1] = res.transpose(0, 1) if trace is not None else res.permute(1, 0, 3, 2)
    return out


def _jacobian_route(f, params, x1, x2, trace, bs, symmetric, keep):
    """Theta(x1, x2) by contracting per-example Jacobian blocks; each x1 block's Jacobian is
    computed once, x2's are computed once when all of them fit in the budget (cached) and
    recomputed per x1 block otherwise; a symmetric kernel computes the upper block triangle."""
    n1, n2 = x1.shape[0], x2.shape[0]
    starts2 = list(range(0, n2, bs))
    cache: dict = {}
    out = None
    for s1 in range(0, n1, bs):
        xb1 = x1[s1 : s1 + bs]
        j1 = cache.pop(s1) if symmetric and s1 in cache else _jacobian(f, params, xb1)
        if symmetric:
            cache[s1] = j1
        for s2 in starts2:
            if symmetric and s2 < s1:
                continue
            if s2 in cache:
                j2 = cache[s2]
            else:
                j2 = _jacobian(f, params, x2[s2 : s2 + bs])
                if keep:
                    cache[s2] = j2
            blk = _contract(j1, j2, trace)
            if out is None:
                n_out = next(iter(j1.values())).shape[1]
                shape = (n1, n2) if trace is not None else (n1, n2, n_out, n_out)
                out = torch.empty(shape, dtype=blk.dtype, device=blk.device)
            e1, e2 = s1 + blk.shape[0], s2 + blk.shape[1]
            out[s1:e1, s2:e2] = blk
            if symmetric and s2 > s1:
                out[s2:e2, s1:e1] = blk.transpose(0, 1) if trace is not None else blk.permute(1, 0, 3, 2)
            del j2
        if symmetric:
            cache.pop(s1)  # earlier blocks are not needed again
    return out


@validate(
    model=Module(),
    x1=BATCH,
    x2=BATCH_OPTIONAL,
    params=InstanceOf(dict, optional=True),
    method=Options(*METHODS),
    trace=Options(*TRACES, optional=True),
    batch_size=Integer(low=1, optional=True),
    same=[("model", "x1", "x2")],
)
def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    params: dict | None = None,
    method: str = "auto",
    trace: str | None = None,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Empirical neural tangent kernel of a finite network.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    .. math::

        \\hat\\Theta_{ij}(x, x') = \\sum_p \\frac{\\partial f_i(x)}{\\partial \\theta_p}
        \\frac{\\partial f_j(x')}{\\partial \\theta_p}.

    Three routes give the same numbers for any module (Novak et al. 2022).
    ``"jacobian"`` forms the per-example Jacobians with ``vmap(jacrev)`` and
    contracts them (one matrix product per parameter tensor; for ``trace`` the
    sum over outputs is part of the product, so the ``out x out`` blocks are
    never formed); ``"ntvp"`` computes the Jacobian rows of each ``x2`` block
    once and pushes them through a forward-mode ``jvp`` at ``x1`` (never forming
    ``x1``'s Jacobian). The full kernel costs about :math:`n_1 n_2\\, \\text{out}^2 P`
    by contraction and :math:`2 n_1 n_2\\, \\text{out}\\, P` by ``ntvp``; the trace
    :math:`n_1 n_2\\, \\text{out}\\, P` by contraction. ``"structured"`` ("structured
    derivatives") recognises the dense layers of the module (exactly ``nn.Linear``
    or :class:`DenseNTK`, called once per forward pass, parameters not shared and
    reaching the output only through that call, checked by autograd on one
    example) and uses the outer-product structure of their Jacobians,
    :math:`\\partial f_k/\\partial W = s\\, \\delta_k h^\\top`, so that their part of
    the kernel is :math:`s^2 (h^\\top h')(\\delta_k^\\top \\delta'_l)` and no Jacobian
    with respect to a weight matrix is ever formed; every other parameter
    (convolutions, custom parameters, tied weights, a layer called twice) goes
    through ``"jacobian"`` (trace or at most two outputs) or ``"ntvp"`` with the
    recognised ones held fixed, and the parts are added. ``"auto"`` (the default)
    is ``"structured"``, which equals the generic choice when nothing is
    recognised. All routes run over blocks of examples, so memory is bounded (by
    default the blocks are sized so that the Jacobians held at once take about
    :data:`JACOBIAN_BUDGET` bytes); a symmetric kernel (``x2=None``) computes only
    the upper block triangle. Layers whose training-mode forward pass has no
    per-example Jacobian (Dropout, BatchNorm) are refused with a message saying
    so: call ``model.eval()``.

    Parameters
    ----------
    model : torch.nn.Module
        Any module mapping a batch ``(n, ...)`` to ``(n, out)``: other output
        shapes are flattened per example, and a tuple, list or dict of such
        tensors (a pytree) is flattened leaf by leaf and concatenated, in
        ``torch.utils._pytree`` order. Buffers are used as they are; tied
        (shared) parameters count once. Its parameters and the inputs must
        share a device and a dtype (nothing is converted).
    x1 : Tensor, shape (n1, ...)
    x2 : Tensor, shape (n2, ...), optional
        Defaults to ``x1``.
    params : dict, optional
        Parameters at which to linearise (default: the module's trainable ones):
        a subset of the trainable parameters' names, each with its parameter's shape.
    method : {"auto", "jacobian", "ntvp", "structured"}
    trace : {None, "mean", "sum"}
        ``None``: full kernel ``(n1, n2, out, out)``. ``"mean"``: average of the
        diagonal over outputs, shape ``(n1, n2)`` (neural-tangents' ``trace_axes``
        convention, comparable with :func:`analytic_kernels`); ``"sum"``: the plain trace.
    batch_size : int, optional
        Examples per block; the default follows from :data:`JACOBIAN_BUDGET`.

    Returns
    -------
    Tensor, shape (n1, n2, out, out) or (n1, n2)
        Detached (no autograd history), on the inputs' device and dtype.

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
    _check_modes(func, model)
    params, buffers = _params_buffers(func, model, params, x1)
    f = _flat_fn(model, buffers)
    n_out = _probe(func, f, params, x1, "x1")
    if x2 is not None:
        _probe(func, f, params, x2, "x2")
    layers = []
    if method in ("auto", "structured"):
        layers = structured_layers(model, params, buffers, x1, x2)
    generic = method if method in ("jacobian", "ntvp") else ("jacobian" if trace is not None or n_out <= 2
                                                             else "ntvp")
    symmetric = x2 is None
    with torch.no_grad():
        ntk = None
        rest = params
        if layers:
            per_example = n_out * sum(math.prod(layer.out_shape) for layer in layers) * x1.element_size()
            bs = int(batch_size) if batch_size is not None else max(1, JACOBIAN_BUDGET // max(per_example, 1))
            ntk = structured_dense_ntk(model, params, buffers, layers, x1, x2, trace, bs)
            done = {k for layer in layers for k in (layer.weight_key, layer.bias_key) if k}
            rest = {k: v for k, v in params.items() if k not in done}
            if rest:
                fixed = {k: v for k, v in params.items() if k in done}
                f_all = f
                f = lambda p, x: f_all({**fixed, **p}, x)  # noqa: E731
        if rest:
            part = _generic(f, rest, x1, x1 if symmetric else x2, trace, generic, batch_size, symmetric, n_out)
            ntk = part if ntk is None else ntk.add_(part)
    if trace == "mean":
        ntk = ntk / n_out
    return ntk.detach()


def _generic(f, params, x1, x2, trace, method, batch_size, symmetric, n_out):
    """The generic routes (any parameters): ntvp or blocked Jacobian contraction."""
    if method == "ntvp":
        bs = _block_size(batch_size, n_out, params, x1, n_blocks=1)
        return _ntvp(f, params, x1, x2, trace, bs, symmetric)
    per_example = n_out * sum(p.numel() for p in params.values()) * x1.element_size()
    keep = batch_size is None and x2.shape[0] * per_example <= JACOBIAN_BUDGET
    bs = _block_size(batch_size, n_out, params, x1)
    return _jacobian_route(f, params, x1, x2, trace, bs, symmetric, keep)


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
    _check_modes(func, model)
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
    _check_modes(func, model)
    params, buffers = _params_buffers(func, model, None, x1)
    _probe(func, _flat_fn(model, buffers), params, x1, "x1")
    ps = [p for p in model.parameters() if p.requires_grad]

    def grads(x):
        rows = []
        for a in range(x.shape[0]):
            out = _flatten_out(model(x[a : a + 1]), 1).reshape(-1)
            per_out = []
            for i in range(out.shape[0]):
                g = torch.autograd.grad(out[i], ps, retain_graph=i + 1 < out.shape[0], allow_unused=True)
                per_out.append(torch.cat([(torch.zeros_like(p) if gi is None else gi).reshape(-1)
                                          for gi, p in zip(g, ps)]))
            rows.append(torch.stack(per_out))
        return torch.stack(rows)  # (n, out, P)

    g1 = grads(x1)
    g2 = g1 if x2 is None else grads(x2)
    return torch.einsum("aip,bjp->abij", g1, g2).detach()


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
    _check_modes(func, model)
    params, buffers = _params_buffers(func, model, params, x)
    f = _flat_fn(model, buffers)
    _probe(func, f, params, x, "x")
    bs = int(batch_size)
    blocks = []
    for s in range(0, x.shape[0], bs):
        jac = _jacobian(f, params, x[s : s + bs])
        blocks.append(torch.cat([jac[k] for k in params], -1))
    return torch.cat(blocks, 0)
