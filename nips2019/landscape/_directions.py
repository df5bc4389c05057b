r"""Filter-normalised random directions and loss slices (Li, Xu, Taylor, Studer & Goldstein 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import vmap

from ..utils import Bool, Generator, IsCallable, Module, Options, Tensor, as_generator, validate
from ..utils import progress as _progress_bar
from ..utils import randn as _randn
from ._params import _check_model, _check_vector, _flat, _functional_loss, _named_params


@validate(
    model=Module(),
    normalization=Options("filter", "layer", "none"),
    ignore_bias=Bool(),
    generator=Generator(),
)
def random_direction(
    model: nn.Module, *, normalization: str = "filter", ignore_bias: bool = True, generator=None
) -> torch.Tensor:
    r"""A Gaussian direction in parameter space, rescaled to the size of the weights it perturbs.

    Draw :math:`d \sim \mathcal N(0, I)` with the shape of the trainable parameters
    :math:`\theta`. With ``normalization="filter"`` (Li et al. 2018) every filter, that is
    every output row :math:`i` of a weight tensor (a row of a ``Linear`` weight, an output
    channel of a convolution), is rescaled to the norm of the corresponding row of
    :math:`\theta`:

    .. math::

        d_{i} \leftarrow \frac{d_{i}}{\lVert d_{i}\rVert}\,\lVert \theta_{i}\rVert .

    ``"layer"`` does the same per parameter tensor, ``"none"`` keeps the raw draw. With
    ``ignore_bias`` (the paper's choice) one-dimensional parameters (biases, norm scales)
    get a zero direction under ``"filter"`` and ``"layer"``. Filter normalisation makes a
    slice :math:`\alpha \mapsto L(\theta + \alpha d)` invariant to the rescalings
    :math:`W_1 \to cW_1,\ W_2 \to W_2/c` that leave a ReLU network's function unchanged, so
    slices of different networks can be compared.

    Parameters
    ----------
    model : nn.Module
        The network at the centre :math:`\theta` (its trainable parameters, in
        ``named_parameters`` order).
    normalization : {"filter", "layer", "none"}
    ignore_bias : bool
    generator : None, int or torch.Generator
        Drawn on the CPU, moved to the parameters' device.

    Returns
    -------
    Tensor, shape (p,)
        Flat direction, ``p`` the number of trainable parameters, on the parameters'
        device and dtype.

    References
    ----------
    Li, Xu, Taylor, Studer & Goldstein, *Visualizing the loss landscape of neural nets*,
    NeurIPS 2018.

    Notes
    -----
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> d = random_direction(net, generator=0)
    >>> d.shape
    torch.Size([26])
    >>> w = net[0].weight.detach()
    >>> torch.allclose(d[:12].view(4, 3).norm(dim=1), w.norm(dim=1))
    True
    """
    named = _named_params(model)
    if not named:
        raise ValueError("random_direction: model has no trainable parameters")
    g = as_generator(generator)
    parts = []
    for _, p in named:
        d = _randn(*p.shape, generator=g, device=p.device, dtype=p.dtype)
        w = p.detach()
        if normalization != "none":
            if p.dim() <= 1:
                d = torch.zeros_like(d) if ignore_bias else d * (w.norm() / d.norm().clamp_min(1e-30))
            elif normalization == "filter":
                dn = d.reshape(d.shape[0], -1).norm(dim=1).clamp_min(1e-30)
                wn = w.reshape(w.shape[0], -1).norm(dim=1)
                d = d * (wn / dn).view(-1, *([1] * (d.dim() - 1)))
            else:
                d = d * (w.norm() / d.norm().clamp_min(1e-30))
        parts.append(d.reshape(-1))
    return torch.cat(parts)


@validate(
    model=Module(),
    x=Tensor(dtype="floating", nonempty=True),
    y=Tensor(dtype="numeric"),
    directions=Tensor(shape=("k", None), dtype="floating"),
    coords=Tensor(shape=("m", "k"), dtype="floating"),
    loss_fn=IsCallable(optional=True),
    center=Tensor(ndim=1, dtype="floating", optional=True),
    progress=Bool(optional=True),
    same=[("model", "x", "directions", "coords", "center")],
)
def loss_landscape(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    directions: torch.Tensor,
    coords: torch.Tensor,
    *,
    loss_fn=None,
    center: torch.Tensor | None = None,
    progress: bool | None = None,
) -> torch.Tensor:
    r"""The loss at the points :math:`\theta + \sum_j c_{ij}\, d_j` of a slice of parameter space.

    .. math::

        L_i = \mathcal L\Big(\theta + \sum_{j=1}^{k} c_{ij}\, d_j;\ x, y\Big),\qquad i = 1..m.

    One direction (:math:`k = 1`) gives a 1-D profile (Li et al.'s line plots, He et al.'s
    directional profiles of asymmetric valleys); two give a 2-D surface (pass a flattened
    grid as ``coords`` and reshape the result). The model is evaluated functionally
    (``torch.func.functional_call``, batched over chunks of points with ``torch.func.vmap``,
    falling back to a loop for layers ``vmap`` cannot batch): its own parameters are not
    touched.

    Parameters
    ----------
    model : nn.Module
        The network; its trainable parameters are the centre unless ``center`` is given.
    x : Tensor, shape (n, ...)
        Inputs, same device and dtype as the model.
    y : Tensor
        Targets for ``loss_fn`` (class indices for the default cross-entropy).
    directions : Tensor, shape (k, p)
        Flat directions, e.g. from :func:`random_direction`.
    coords : Tensor, shape (m, k)
        Coefficients of the directions at each of the ``m`` points.
    loss_fn : callable, optional
        ``loss_fn(output, y) -> scalar``; mean cross-entropy by default.
    center : Tensor, shape (p,), optional
        Flat centre :math:`\theta` (for example a weight average); the model's parameters
        by default.
    progress : bool, optional
        Progress bar over the points.

    Returns
    -------
    Tensor, shape (m,)
        The losses, on the inputs' device and dtype.

    References
    ----------
    Li, Xu, Taylor, Studer & Goldstein, *Visualizing the loss landscape of neural nets*,
    NeurIPS 2018; He, Huang & Yuan, *Asymmetric valleys: beyond sharp and flat local minima*,
    NeurIPS 2019.

    Notes
    -----
    See the chapter :doc:`Loss landscape </book/landscape>`.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(2, 1)
    >>> x, y = torch.randn(8, 2), torch.randn(8, 1)
    >>> d = random_direction(net, normalization="none", generator=0)[None]
    >>> loss = loss_landscape(net, x, y, d, torch.tensor([[0.0], [1.0]]),
    ...                       loss_fn=torch.nn.functional.mse_loss)
    >>> torch.allclose(loss[0], torch.nn.functional.mse_loss(net(x), y))
    True
    """
    n_params = _check_model("loss_landscape", model, x)
    _check_vector("loss_landscape", "directions", directions, n_params, x)
    theta = _flat(model) if center is None else center
    if center is not None:
        _check_vector("loss_landscape", "center", center, n_params, x)
    f = _functional_loss(model, x, y, loss_fn, "loss_landscape")
    out = torch.empty(coords.shape[0], device=x.device, dtype=x.dtype)
    # points in chunks through torch.func.vmap (one batched forward per chunk); memory ~ chunk x activations
    chunk = max(1, min(coords.shape[0], 2**22 // max(1, x.numel())))
    batched = vmap(f)
    starts = range(0, coords.shape[0], chunk)
    with torch.no_grad():
        for s in _progress_bar(starts, desc="loss slice", disable=None if progress is None else not progress):
            c = coords[s : s + chunk]
            try:
                out[s : s + chunk] = batched(theta + c @ directions)
            except (
                RuntimeError,
                NotImplementedError,
                ValueError,
            ):  # vmap cannot batch it: loop (errors re-raise)
                for i in range(c.shape[0]):
                    out[s + i] = f(theta + c[i] @ directions)
    return out
