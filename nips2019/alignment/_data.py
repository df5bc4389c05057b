"""Generated "embeddings": one latent point cloud seen by two vocabularies, rotated and noised."""

from __future__ import annotations

import dataclasses

import torch

from ..utils import DType, Generator, Integer, Probability, Real, as_generator, randn, randperm, validate


@dataclasses.dataclass
class EmbeddingPair:
    """Two embedding matrices of partially shared vocabularies and the ground truth between them.

    Attributes
    ----------
    source : Tensor, shape (n_source, n_features)
        Embeddings of the source vocabulary (rows in a random order).
    target : Tensor, shape (n_target, n_features)
        Embeddings of the target vocabulary (rows in another random order).
    pairs : Tensor, shape (n_shared, 2), int64
        ``(i, j)``: source word ``i`` and target word ``j`` are the same latent word.
    rotation : Tensor, shape (n_features, n_features)
        The orthogonal :math:`Q` with ``target[j] ~ source[i] @ Q`` for every pair.
    """

    source: torch.Tensor
    target: torch.Tensor
    pairs: torch.Tensor
    rotation: torch.Tensor


def _haar_orthogonal(d: int, g: torch.Generator, dtype) -> torch.Tensor:
    q, r = torch.linalg.qr(randn(d, d, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).to(dtype)  # Haar-distributed (Mezzadri 2007)


@validate(
    n_words=Integer(low=2),
    n_features=Integer(low=1),
    noise=Real(low=0),
    shared=Probability(),
    n_clusters=Integer(low=1),
    decay=Real(low=0, high=1, closed="right"),
    generator=Generator(),
    dtype=DType(),
)
def make_embedding_pair(n_words: int = 500, n_features: int = 10, *, noise: float = 0.1, shared: float = 0.8,
                        n_clusters: int = 8, decay: float = 0.8, generator=None,
                        dtype=torch.float64) -> EmbeddingPair:
    r"""Two noisy, rotated views of one latent cloud, with vocabularies that only partly overlap.

    A latent cloud :math:`z_1, \dots, z_N \in \mathbb R^d` (``N = n_words``) is drawn from a
    mixture of ``n_clusters`` Gaussians of unequal sizes whose coordinates are scaled by
    :math:`\mathrm{decay}^k` (an anisotropic spectrum, as real embedding matrices have; with
    an isotropic Gaussian the point cloud has near-symmetries that no unsupervised method can
    resolve). Each vocabulary keeps a subset of the words: a fraction ``shared`` of them is in
    both, the rest is split between the two. Then

    .. math::

        x_i = z_{s(i)} + \sigma\,\varepsilon_i, \qquad y_j = z_{t(j)}\,Q + \sigma\,\varepsilon'_j,

    with :math:`Q` a Haar-random orthogonal matrix, the latent cloud centred with unit
    root-mean-square norm, :math:`\varepsilon` standard normal and :math:`\sigma = \mathrm{noise}/\sqrt d`
    (so the noise vectors have RMS norm ``noise``), and both row orders shuffled. This is an
    idealisation of the
    "isomorphism" assumption of unsupervised word translation: real embeddings of two
    languages are not a rotation of each other plus white noise.

    Parameters
    ----------
    n_words : int
        Latent words :math:`N`.
    n_features : int
        :math:`d`.
    noise : float >= 0
        RMS norm of the noise vectors, relative to the cloud's (which is 1).
    shared : float in [0, 1]
        Fraction of latent words present in both vocabularies.
    n_clusters : int
        Mixture components ("topics").
    decay : float in (0, 1]
        Spectrum decay of the coordinates.
    generator : None, int or torch.Generator
    dtype : torch.dtype

    Returns
    -------
    EmbeddingPair

    Notes
    -----
    See the chapter :doc:`Transport maps and embedding alignment </book/transport>`.

    Examples
    --------
    >>> pair = make_embedding_pair(100, 5, shared=0.5, generator=0)
    >>> pair.source.shape, pair.target.shape, pair.pairs.shape
    (torch.Size([75, 5]), torch.Size([75, 5]), torch.Size([50, 2]))
    """
    g = as_generator(generator)
    d = n_features
    weights = torch.rand(n_clusters, generator=g, dtype=torch.float64) + 0.5
    labels = torch.multinomial(weights / weights.sum(), n_words, replacement=True, generator=g)
    centers = randn(n_clusters, d, generator=g, dtype=torch.float64) * 1.5
    z = centers[labels] + randn(n_words, d, generator=g, dtype=torch.float64) * 0.6
    z = z * decay ** torch.arange(d, dtype=torch.float64)
    z = z - z.mean(0)
    rms = z.square().sum(1).mean().sqrt()
    z = z / rms
    n_shared = int(round(shared * n_words))
    order = randperm(n_words, generator=g)
    common, rest = order[:n_shared], order[n_shared:]
    half = (len(rest) + 1) // 2
    src_words = torch.cat([common, rest[:half]])
    tgt_words = torch.cat([common, rest[half:]])
    src_words = src_words[randperm(len(src_words), generator=g)]
    tgt_words = tgt_words[randperm(len(tgt_words), generator=g)]
    q = _haar_orthogonal(d, g, torch.float64)
    sigma = noise / d ** 0.5  # noise per coordinate, relative to the unit RMS norm
    x = z[src_words] + sigma * randn(len(src_words), d, generator=g, dtype=torch.float64)
    y = z[tgt_words] @ q + sigma * randn(len(tgt_words), d, generator=g, dtype=torch.float64)
    pos_t = torch.full((n_words,), -1, dtype=torch.long)
    pos_t[tgt_words] = torch.arange(len(tgt_words))
    j = pos_t[src_words]
    i = torch.nonzero(j >= 0).squeeze(1)
    pairs = torch.stack([i, j[i]], dim=1)
    return EmbeddingPair(source=x.to(dtype), target=y.to(dtype), pairs=pairs, rotation=q.to(dtype))
