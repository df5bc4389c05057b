"""Infinite-width NNGP and NTK of fully connected networks, in closed form."""

from __future__ import annotations

import dataclasses

import torch

from nips2019.utils import Integer, Options, Real, Tensor, validate

from ._activations import Activation, ActivationArg, _lookup

PARAMETERIZATIONS = ("ntk", "standard")


@dataclasses.dataclass
class Kernels:
    """Infinite-width kernels between two sets of inputs.

    Attributes
    ----------
    nngp : Tensor, shape (n1, n2)
        Covariance of the network outputs at initialisation (the NNGP kernel).
    ntk : Tensor, shape (n1, n2)
        The neural tangent kernel. Both act identically on every output
        unit: the full kernel is ``kernel[:, :, None, None] * eye(out)``.
    """

    nngp: torch.Tensor
    ntk: torch.Tensor


#: Declarations shared by :func:`analytic_kernels`, :func:`mlp` and :class:`DenseNTK`.
ARCHITECTURE = dict(
    w_std=Real(low=0, closed="neither"),
    b_std=Real(low=0, optional=True),
    parameterization=Options(*PARAMETERIZATIONS),
)


def check_width(func, depth, parameterization, width):
    """The standard parameterisation's NTK grows with the width, so it must be given (internal helper)."""
    if parameterization == "standard" and depth > 0 and width is None:
        raise ValueError(f"{func}: width is required for parameterization='standard' (the NTK grows with it)")


def _recursion(k11, k22, k12, d, depth, act: Activation, w_std, b_std, parameterization, width):
    """Run the layer recursion on (broadcastable) variances and covariances."""
    w2 = float(w_std) ** 2
    b2 = 0.0 if b_std is None else float(b_std) ** 2
    bias = 1.0 if b_std is not None else 0.0
    nngp, v1, v2 = k12, k11, k22
    ntk = torch.zeros_like(k12)
    for layer in range(depth + 1):
        if parameterization == "ntk":
            nngp = w2 * nngp + b2
            ntk = torch.add(nngp, ntk, alpha=w2)
        else:  # standard: d(out)/dW contributes n_in * kernel, d(out)/db contributes 1
            n_in = d if layer == 0 else width
            ntk = n_in * nngp + bias + w2 * ntk
            nngp = w2 * nngp + b2
        v1, v2 = w2 * v1 + b2, w2 * v2 + b2
        if layer < depth:
            t, tdot = act.kernel(v1, v2, nngp)
            ntk = ntk.mul_(tdot) if parameterization == "ntk" else ntk * tdot  # fresh in "ntk"
            nngp = t
            v1 = act.kernel(v1, v1, v1)[0]
            v2 = act.kernel(v2, v2, v2)[0]
    return nngp, ntk


@validate(
    x1=Tensor(shape=("n1", "d"), dtype="floating"),
    x2=Tensor(shape=("n2", "d"), dtype="floating", optional=True),
    depth=Integer(low=0),
    activation=ActivationArg(),
    width=Integer(low=1, optional=True),
    batch_size=Integer(low=1, optional=True),
    same=[("x1", "x2")],
    **ARCHITECTURE,
)
def analytic_kernels(
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    depth: int = 1,
    activation: "str | Activation" = "relu",
    w_std: float = 1.0,
    b_std: float | None = None,
    parameterization: str = "ntk",
    width: int | None = None,
    batch_size: int | None = None,
) -> Kernels:
    """NNGP and NTK of an infinitely wide fully connected network.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    The network is ``depth`` hidden blocks ``Dense -> activation`` followed by
    a ``Dense`` readout. With neural-tangents' conventions (NTK
    parameterisation :math:`z = \\frac{\\sigma_w}{\\sqrt{n_{in}}} W x + \\sigma_b b`,
    :math:`W, b \\sim \\mathcal N(0, 1)`), starting from
    :math:`K^0(x, x') = x^\\top x' / d` and :math:`\\Theta^0 = 0`, each dense
    layer maps

    .. math::

        K \\leftarrow \\sigma_w^2 K + \\sigma_b^2, \\qquad
        \\Theta \\leftarrow K + \\sigma_w^2 \\Theta,

    and each activation maps :math:`K \\leftarrow \\mathbb E[\\phi(u)\\phi(v)]`,
    :math:`\\Theta \\leftarrow \\Theta\\, \\mathbb E[\\phi'(u)\\phi'(v)]` with
    :math:`(u, v) \\sim \\mathcal N(0, K)`. For ReLU this is the arc-cosine
    kernel *without* the factor 2 (use ``w_std=sqrt(2)`` for He scaling). In the
    standard parameterisation (:math:`W_{ij} \\sim \\mathcal N(0, \\sigma_w^2/n_{in})`)
    the dense step for the NTK is :math:`\\Theta \\leftarrow n_{in} K + [\\text{bias}] +
    \\sigma_w^2 \\Theta`: it grows with the width. The cost is
    :math:`O(n_1 n_2\\, \\text{depth})`, independent of the width.

    Parameters
    ----------
    x1 : Tensor, shape (n1, d)
        First inputs (floating point).
    x2 : Tensor, shape (n2, d), optional
        Second inputs; ``None`` means ``x1`` (the diagonal is then computed
        exactly, avoiding the ``arccos`` round-off near :math:`k_{12} = k_{11}`).
    depth : int
        Number of hidden layers (``depth=1`` is a two-layer network).
    activation : str or Activation
        ``"relu"``, ``"erf"``, ``"identity"`` or any registered activation.
    w_std, b_std : float
        Weight and bias standard deviations; ``b_std=None`` means no bias.
    parameterization : {"ntk", "standard"}
        As in neural-tangents.
    width : int, optional
        Hidden width; needed only for the standard parameterisation.
    batch_size : int, optional
        Compute the rows of the kernel in blocks of this many ``x1`` points. The default
        chooses it from the problem size (blocks of about ``2**17`` entries, so that the
        recursion's temporaries stay in cache and memory stays bounded); every choice gives
        bit-identical numbers.

    Returns
    -------
    Kernels
        ``nngp`` and ``ntk``, each of shape ``(n1, n2)``, on ``x1``'s device and dtype.

    Raises
    ------
    ValueError
        If the kernels overflow the dtype (very deep networks with ``w_std`` well above
        the critical value): use float64 inputs, a smaller ``w_std`` or a smaller ``depth``.

    References
    ----------
    jacot2018ntk, lee2018dnngp, novak2020neural.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    >>> k = analytic_kernels(x, depth=1, activation="relu", w_std=2 ** 0.5)
    >>> k.nngp.shape, k.ntk.shape
    (torch.Size([2, 2]), torch.Size([2, 2]))
    >>> # |x|^2/d = 1/2 -> dense: K = Theta = 1 -> relu: K = Theta = 1/2
    >>> # -> readout: K = 1, Theta = 1 + 2 * 1/2
    >>> k.nngp[0, 0].item(), k.ntk[0, 0].item()
    (1.0, 2.0)
    """
    check_width("analytic_kernels", depth, parameterization, width)
    symmetric = x2 is None
    if symmetric:
        x2 = x1
    act = _lookup(activation)
    n1, n2, d = x1.shape[0], x2.shape[0], x1.shape[1]
    step = default_block_rows(n1, n2) if batch_size is None else int(batch_size)
    args = (d, depth, act, w_std, b_std, parameterization, width)

    sq1 = (x1 * x1).sum(1) / d
    sq2 = (x2 * x2).sum(1) / d
    # The Gram matrix in one product (its bits must not depend on the blocking), stored where
    # the NNGP goes; the elementwise recursion then runs over cache-sized blocks of rows.
    nngp = x1 @ x2.T / d
    ntk = torch.empty_like(nngp)
    # A symmetric kernel needs only the blocks on and above the diagonal when every step
    # is symmetric in its two inputs: an exactly symmetric Gram matrix and a closed-form
    # activation (the quadrature ones treat u and v differently in floating point).
    triangle = symmetric and act.name in _SYMMETRIC_CLOSED_FORMS and _is_symmetric(nngp, act)
    lo = hi = None  # running min / max over every block: NaN and inf propagate into them
    for start in range(0, n1, step):
        stop = min(start + step, n1)
        first = start if triangle else 0
        nn_, nt_ = _recursion(sq1[start:stop, None], sq2[None, first:], nngp[start:stop, first:], *args)
        nngp[start:stop, first:] = nn_
        ntk[start:stop, first:] = nt_
        lo, hi = _extremes(lo, hi, nn_, nt_)
    if symmetric and n1 > 0:
        dn, dt = _recursion(sq1, sq1, sq1, *args)
        nngp.diagonal().copy_(dn)
        ntk.diagonal().copy_(dt)
        lo, hi = _extremes(lo, hi, dn, dt)
        # Exact symmetry: (K + K^T) / 2, which is the mirror of the upper triangle when
        # only that was computed (there K^T = K bit for bit, and (a + a) / 2 = a).
        fix = _mirror_upper_ if triangle else _symmetrize_
        fix(nngp)
        fix(ntk)
    if lo is not None and not bool(torch.isfinite(lo) & torch.isfinite(hi)):
        raise ValueError(
            f"analytic_kernels: the kernels overflow {x1.dtype} (depth={depth}, w_std={w_std}); use float64 "
            "inputs, a smaller w_std or a smaller depth"
        )
    return Kernels(nngp=nngp, ntk=ntk)


#: Kernel entries per block of rows in :func:`analytic_kernels` (default ``batch_size``): every
#: temporary of the recursion is then ``4 * 2**17`` bytes (float32), small enough to stay in cache.
BLOCK_ELEMENTS = 2**17


def default_block_rows(n1: int, n2: int) -> int:
    """Rows of ``x1`` per block so that a block holds about :data:`BLOCK_ELEMENTS` entries (internal)."""
    return max(1, min(max(n1, 1), BLOCK_ELEMENTS // max(n2, 1)))


def _extremes(lo, hi, *blocks):
    """Fold the min and max of ``blocks`` into ``lo``/``hi`` (device tensors, no host sync)."""
    for b in blocks:
        if b.numel() == 0:
            continue
        b_lo, b_hi = torch.aminmax(b)
        lo = b_lo if lo is None else torch.minimum(lo, b_lo)
        hi = b_hi if hi is None else torch.maximum(hi, b_hi)
    return lo, hi


#: Activations whose closed-form kernel map is symmetric in (k11, k22) bit for bit.
_SYMMETRIC_CLOSED_FORMS = ("relu", "erf", "identity")


def _is_symmetric(gram: torch.Tensor, act: Activation) -> bool:
    """Whether ``gram`` equals its transpose exactly and ``act`` is the registered closed form."""
    from ._activations import _REGISTRY

    if _REGISTRY.get(act.name) is not act:  # a user Activation that reuses a built-in name
        return False
    return bool(torch.equal(gram, gram.T))


def _symmetrize_(a: torch.Tensor, tile: int = 256) -> None:
    """``a <- (a + a.T) / 2`` in place, tile by tile (same numbers as ``0.5 * (a + a.T)``)."""
    n = a.shape[0]
    for i in range(0, n, tile):
        for j in range(i, n, tile):
            s = 0.5 * (a[i : i + tile, j : j + tile] + a[j : j + tile, i : i + tile].T)
            a[i : i + tile, j : j + tile] = s
            if j != i:
                a[j : j + tile, i : i + tile] = s.T


def _mirror_upper_(a: torch.Tensor, tile: int = 512) -> None:
    """Copy the strict upper triangle of the square ``a`` onto the lower one, in place, tile by tile."""
    n = a.shape[0]
    for i in range(0, n, tile):
        t = a[i : i + tile, i : i + tile]
        t.copy_(torch.triu(t) + torch.triu(t, 1).T)
        for j in range(i + tile, n, tile):
            a[j : j + tile, i : i + tile] = a[i : i + tile, j : j + tile].T
