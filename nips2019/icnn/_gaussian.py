"""The closed-form optimal transport map between two Gaussians (the reference for learned maps)."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import Tensor, validate


def _sqrtm(m: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


@dataclasses.dataclass
class GaussianMap:
    r"""The affine optimal transport map :math:`T(x) = m_t + A (x - m_s)` between two Gaussians.

    Attributes
    ----------
    matrix : Tensor, shape (d, d)
        :math:`A`, symmetric positive semi-definite.
    mean_source, mean_target : Tensor, shape (d,)
    w2 : float
        The squared 2-Wasserstein distance :math:`W_2^2` (Bures-Wasserstein formula).
    """

    matrix: torch.Tensor
    mean_source: torch.Tensor
    mean_target: torch.Tensor
    w2: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the map to points ``x`` of shape ``(n, d)``."""
        return self.mean_target + (x - self.mean_source) @ self.matrix.T


_VEC = Tensor(shape=("d",), dtype="floating")
_COV = Tensor(shape=("d", "d"), dtype="floating")


@validate(mean_source=_VEC, cov_source=_COV, mean_target=_VEC, cov_target=_COV,
          same=[("mean_source", "cov_source", "mean_target", "cov_target")])
def gaussian_map(mean_source: torch.Tensor, cov_source: torch.Tensor, mean_target: torch.Tensor,
                 cov_target: torch.Tensor) -> GaussianMap:
    r"""The optimal transport map (quadratic cost) from :math:`N(m_s, \Sigma_s)` to :math:`N(m_t, \Sigma_t)`.

    .. math::

        A = \Sigma_s^{-1/2}\bigl(\Sigma_s^{1/2}\,\Sigma_t\,\Sigma_s^{1/2}\bigr)^{1/2}\Sigma_s^{-1/2},
        \qquad T(x) = m_t + A(x - m_s),

        W_2^2 = \|m_s - m_t\|^2 + \operatorname{tr}\Sigma_s + \operatorname{tr}\Sigma_t
        - 2\operatorname{tr}\bigl(\Sigma_s^{1/2}\Sigma_t\Sigma_s^{1/2}\bigr)^{1/2}.

    :math:`A` is symmetric positive definite, so :math:`T` is the gradient of the convex
    quadratic :math:`\tfrac12 (x - m_s)^\top A (x - m_s) + m_t^\top x`: Brenier's map, the one a
    trained input convex network should reproduce (Dowson & Landau 1982; Peyré & Cuturi 2019,
    Remark 2.31).

    Parameters
    ----------
    mean_source, mean_target : Tensor, shape (d,)
    cov_source, cov_target : Tensor, shape (d, d)
        Symmetric; ``cov_source`` positive definite, ``cov_target`` positive semi-definite.

    Returns
    -------
    GaussianMap
        On the device and dtype of the inputs.

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    Examples
    --------
    >>> import torch
    >>> t = gaussian_map(torch.zeros(2), torch.eye(2), torch.ones(2), 4 * torch.eye(2))
    >>> t.matrix
    tensor([[2., 0.],
            [0., 2.]])
    >>> t.w2
    4.0
    """
    for name, c in (("cov_source", cov_source), ("cov_target", cov_target)):
        if not torch.allclose(c, c.T, rtol=1e-5, atol=1e-8 * float(c.abs().max().clamp(min=1))):
            raise ValueError(f"gaussian_map: {name} must be symmetric")
    vals = torch.linalg.eigvalsh((cov_source + cov_source.T) / 2)
    if float(vals[0]) <= 1e-12 * max(float(vals[-1]), 1e-300):
        raise ValueError("gaussian_map: cov_source must be positive definite, smallest eigenvalue "
                         f"{float(vals[0]):.3g}")
    low_t = float(torch.linalg.eigvalsh((cov_target + cov_target.T) / 2)[0])
    if low_t < -1e-8 * float(cov_target.abs().max()):
        raise ValueError("gaussian_map: cov_target must be positive semi-definite")
    root = _sqrtm(cov_source)
    inv_root = torch.linalg.inv(root)
    middle = _sqrtm(root @ cov_target @ root)
    matrix = inv_root @ middle @ inv_root
    matrix = (matrix + matrix.T) / 2
    w2 = ((mean_source - mean_target).square().sum() + cov_source.trace() + cov_target.trace()
          - 2 * middle.trace())
    return GaussianMap(matrix=matrix, mean_source=mean_source, mean_target=mean_target,
                       w2=max(float(w2), 0.0))
