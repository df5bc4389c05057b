"""Low-rank ground truths and random observation masks for matrix completion."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import AnyOf, Bool, DType, Device, Generator, Integer, Items, as_generator, randn, randperm, validate


@dataclasses.dataclass
class CompletionProblem:
    """A low-rank matrix and which of its entries are observed (see :func:`make_completion_problem`).

    Attributes
    ----------
    target : Tensor, shape (n_rows, n_cols)
        The ground truth :math:`M^\\star`, of rank ``rank`` and unit Frobenius norm.
    mask : Tensor of bool, shape (n_observed_sets, n_rows, n_cols) or (n_rows, n_cols)
        ``True`` where an entry is observed; one mask per entry of ``n_observed``.
    n_observed : list of int
        The number of observed entries of each mask.
    rank : int
    """

    target: torch.Tensor
    mask: torch.Tensor
    n_observed: list
    rank: int


@validate(
    n_rows=Integer(low=1),
    n_cols=Integer(low=1),
    rank=Integer(low=1),
    n_observed=AnyOf(Integer(low=1), Items(Integer(low=1), min_length=1)),
    nested=Bool(),
    generator=Generator(),
    dtype=DType(),
    device=Device(),
)
def make_completion_problem(n_rows: int, n_cols: int, rank: int, n_observed, *, nested: bool = True,
                            generator=None, dtype: torch.dtype = torch.float64,
                            device=None) -> CompletionProblem:
    r"""A random rank-``rank`` matrix and uniformly random sets of observed entries.

    The target is :math:`M^\star = c\,UV^\top` with :math:`U \in \mathbb R^{m\times r}`,
    :math:`V \in \mathbb R^{n\times r}` standard Gaussian and :math:`c` chosen so that
    :math:`\|M^\star\|_F = 1` (so one step size suits every depth). Each observation set
    :math:`\Omega` is a uniformly random subset of the :math:`mn` entries of the given size.

    Parameters
    ----------
    n_rows, n_cols, rank : int
        :math:`m`, :math:`n`, :math:`r`, with ``rank <= min(n_rows, n_cols)``.
    n_observed : int or list of int
        Sizes :math:`|\Omega|`, each in ``[1, n_rows * n_cols]``. A list gives a stack of masks.
    nested : bool
        With a list, each set contains the smaller ones (one random order of the entries,
        cut at each size), so that curves over ``n_observed`` vary only in the count.
    generator : None, int or torch.Generator
    dtype, device
        Of ``target``.

    Returns
    -------
    CompletionProblem
        ``mask`` has shape ``(len(n_observed), n_rows, n_cols)`` for a list, else
        ``(n_rows, n_cols)``.

    Notes
    -----
    See the chapter :doc:`Depth as a regulariser, moments as features </book/factorization>`.

    Examples
    --------
    >>> p = make_completion_problem(6, 5, 2, [10, 20], generator=0)
    >>> p.mask.shape, p.mask.sum((1, 2)).tolist(), torch.linalg.matrix_rank(p.target).item()
    (torch.Size([2, 6, 5]), [10, 20], 2)
    """
    single = not isinstance(n_observed, (list, tuple))
    sizes = [n_observed] if single else list(n_observed)
    if rank > min(n_rows, n_cols):
        raise ValueError(f"make_completion_problem: rank must be <= min(n_rows, n_cols) = "
                         f"{min(n_rows, n_cols)}, got {rank}")
    total = n_rows * n_cols
    for i, s in enumerate(sizes):
        if not 1 <= s <= total:
            raise ValueError(f"make_completion_problem: n_observed must be in [1, n_rows * n_cols = {total}], "
                             f"got {s}")
    gen = as_generator(generator)
    u = randn(n_rows, rank, generator=gen, dtype=dtype, device=device)
    v = randn(n_cols, rank, generator=gen, dtype=dtype, device=device)
    target = u @ v.T
    target = target / torch.linalg.matrix_norm(target)
    masks = []
    order = randperm(total, generator=gen, device=device)
    for s in sizes:
        if not nested:
            order = randperm(total, generator=gen, device=device)
        m = torch.zeros(total, dtype=torch.bool, device=target.device)
        m[order[:s]] = True
        masks.append(m.view(n_rows, n_cols))
    mask = masks[0] if single else torch.stack(masks)
    return CompletionProblem(target=target, mask=mask, n_observed=sizes, rank=rank)
