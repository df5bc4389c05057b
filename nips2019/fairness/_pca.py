"""Fair PCA (Tantipongpipat et al. 2019): the SDP that maximises the worst group's marginal loss."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..utils import Bool, Integer, Items, Tensor, validate


@dataclasses.dataclass
class FairPCAResult:
    """Fair and ordinary PCA of grouped data (see :func:`fair_pca`).

    Attributes
    ----------
    projection : Tensor, shape (d, d)
        The SDP solution :math:`P` (a projection when its rank is ``n_components``).
    components : Tensor, shape (d, n_components)
        Top eigenvectors of ``projection``.
    eigenvalues : Tensor, shape (d,)
        Eigenvalues of ``projection``, descending.
    rank : int
        Number of eigenvalues above 1e-4 (numerical rank).
    marginal_loss, pca_marginal_loss : Tensor, shape (k,)
        Each group's marginal loss under the fair solution and under ordinary PCA of the
        pooled data (a loss is <= 0; 0 means the group's best rank-``n_components`` fit).
    pca_components : Tensor, shape (d, n_components)
    """

    projection: torch.Tensor
    components: torch.Tensor
    eigenvalues: torch.Tensor
    rank: int
    marginal_loss: torch.Tensor
    pca_marginal_loss: torch.Tensor
    pca_components: torch.Tensor


@validate(xs=Items(Tensor(shape=(None, "d"), dtype="floating"), min_length=2), n_components=Integer(low=1),
          center=Bool())
def fair_pca(xs, n_components: int, *, center: bool = True) -> FairPCAResult:
    r"""Multi-criteria (fair) PCA: the projection that is best for the worst-off group.

    Group :math:`i` has data :math:`A_i \in \mathbb R^{m_i \times d}` with
    :math:`B_i = A_i^\top A_i / m_i`; the variance a rank-:math:`r` projection :math:`P`
    keeps is :math:`\langle B_i, P\rangle`, at most :math:`\beta_i`, the sum of the top
    :math:`r` eigenvalues of :math:`B_i`. The marginal loss
    :math:`\langle B_i, P \rangle - \beta_i \le 0` is how much worse the shared
    projection is for group :math:`i` than the group's own PCA. Fair PCA solves

    .. math::

        \max_{P,\,z}\ z \quad\text{s.t.}\quad z \le \langle B_i, P\rangle - \beta_i,\
        \operatorname{tr} P = r,\ 0 \preceq P \preceq I,

    the SDP relaxation of "maximise the worst marginal loss over rank-:math:`r`
    projections" (cvxpy with the Clarabel solver). Tantipongpipat et al. show an
    extreme optimum has rank at most :math:`r + \lfloor\sqrt{2k + 1/4} - 3/2\rfloor`:
    exactly :math:`r` for :math:`k = 2` groups, so the relaxation is then tight.

    Parameters
    ----------
    xs : list of Tensor, each shape (m_i, d)
        The groups' data, same number of columns.
    n_components : int
        :math:`r`, less than ``d``.
    center : bool
        Subtract the pooled mean first.

    Returns
    -------
    FairPCAResult

    Notes
    -----
    See the chapter :doc:`Fairness </book/fairness>`.

    References
    ----------
    Tantipongpipat, Samadi, Singh, Morgenstern & Vempala, *Multi-criteria dimensionality
    reduction with applications to fairness*, NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.randn(30, 3, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1.0, 0.5])
    >>> b = torch.randn(30, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 3.0, 0.5])
    >>> res = fair_pca([a, b], 1)
    >>> res.rank
    1
    """
    import cvxpy as cp

    d = xs[0].shape[1]
    if n_components >= d:
        raise ValueError(f"fair_pca: n_components must be < d = {d}, got {n_components}")
    ref = xs[0]
    for i, x in enumerate(xs):
        if x.shape[0] < 2:
            raise ValueError(f"fair_pca: xs[{i}] needs at least 2 rows, got {x.shape[0]}")
        if x.dtype != ref.dtype or x.device != ref.device:
            raise TypeError(f"fair_pca: xs[{i}] has {x.dtype} on {x.device} but xs[0] has {ref.dtype} on "
                            f"{ref.device}")
    arrays = [x.detach().cpu().double().numpy() for x in xs]
    if center:
        mean = np.concatenate(arrays).mean(0)
        arrays = [a - mean for a in arrays]
    bs = [a.T @ a / len(a) for a in arrays]
    scale = max(np.trace(b) for b in bs)
    if scale <= 0:
        raise ValueError("fair_pca: xs have no variance")
    bs = [b / scale for b in bs]  # well-scaled for the solver; losses are rescaled back
    betas = [np.linalg.eigvalsh(b)[::-1][:n_components].sum() for b in bs]
    p = cp.Variable((d, d), symmetric=True)
    z = cp.Variable()
    cons = [p >> 0, np.eye(d) - p >> 0, cp.trace(p) == n_components]
    cons += [z <= cp.trace(b @ p) - beta for b, beta in zip(bs, betas)]
    cp.Problem(cp.Maximize(z), cons).solve(solver=cp.CLARABEL)
    pm = (p.value + p.value.T) / 2
    evals, evecs = np.linalg.eigh(pm)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    pooled = sum(b * len(a) for b, a in zip(bs, arrays)) / sum(len(a) for a in arrays)
    u_pca = np.linalg.eigh(pooled)[1][:, ::-1][:, :n_components]
    p_pca = u_pca @ u_pca.T
    kw = dict(dtype=ref.dtype, device=ref.device)
    loss = [scale * (np.trace(b @ pm) - beta) for b, beta in zip(bs, betas)]
    loss_pca = [scale * (np.trace(b @ p_pca) - beta) for b, beta in zip(bs, betas)]
    return FairPCAResult(
        projection=torch.as_tensor(pm.copy(), **kw),
        components=torch.as_tensor(evecs[:, :n_components].copy(), **kw),
        eigenvalues=torch.as_tensor(evals.copy(), **kw), rank=int((evals > 1e-4).sum()),
        marginal_loss=torch.as_tensor(loss, **kw), pca_marginal_loss=torch.as_tensor(loss_pca, **kw),
        pca_components=torch.as_tensor(u_pca.copy(), **kw),
    )
