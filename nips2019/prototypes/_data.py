"""Scikit-learn's bundled 8x8 digits as images for a CNN (no download)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from ..utils import Device, DType, Generator, Integer, as_generator, validate

#: Number of images in scikit-learn's bundled digits data set.
N_DIGITS = 1797


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    # The file behind sklearn.datasets.load_digits, read without importing scikit-learn
    # (its import costs about 2 CPU-seconds); tests/prototypes checks it against load_digits.
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("load_digit_images needs scikit-learn (it ships the digits data)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8) / 16.0, table[:, -1].astype(np.int64)


@dataclasses.dataclass
class DigitImages:
    """A random train/test split of the 8x8 digits as images, returned by :func:`load_digit_images`.

    Attributes
    ----------
    x_train : Tensor, shape (n_train, 1, 8, 8)
        Grey levels in [0, 1] (the raw 0..16 counts divided by 16).
    y_train : Tensor, shape (n_train,)
        Digits, int64 in [0, 10).
    x_test : Tensor, shape (n_test, 1, 8, 8)
    y_test : Tensor, shape (n_test,)
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@validate(n_train=Integer(low=10, high=N_DIGITS), n_test=Integer(low=0, high=N_DIGITS - 10),
          generator=Generator(), device=Device(), dtype=DType())
def load_digit_images(n_train: int = 1297, n_test: int = 500, *, generator=None, device=None,
                      dtype: torch.dtype = torch.float32) -> DigitImages:
    """A random split of scikit-learn's bundled 8x8 handwritten digits, as (n, 1, 8, 8) images.

    ``n_train + n_test`` distinct images of the 1797 in ``sklearn.datasets.load_digits``
    (shipped with scikit-learn; nothing is downloaded), in a random order set by
    ``generator``; grey levels are scaled to [0, 1].

    Parameters
    ----------
    n_train : int
        Training images, in [10, 1797].
    n_test : int
        Test images; ``n_train + n_test <= 1797``.
    generator : None, int or torch.Generator
        Randomness of the split.
    device : torch.device or str, optional
        Where the tensors go (default CPU).
    dtype : torch.dtype
        Floating dtype of the images.

    Returns
    -------
    DigitImages

    Notes
    -----
    See the chapter :doc:`This looks like that: prototype layers </book/prototypes>`.

    Examples
    --------
    >>> data = load_digit_images(100, 20, generator=0)
    >>> tuple(data.x_train.shape), tuple(data.y_test.shape), float(data.x_train.max()) <= 1.0
    ((100, 1, 8, 8), (20,), True)
    """
    if n_train + n_test > N_DIGITS:
        raise ValueError(f"load_digit_images: n_train + n_test must be at most {N_DIGITS}, got "
                         f"n_train={n_train} and n_test={n_test}")
    images, labels = _digits()
    idx = torch.randperm(N_DIGITS, generator=as_generator(generator))[: n_train + n_test].numpy()
    x = torch.tensor(images[idx][:, None], dtype=dtype, device=device)
    y = torch.tensor(labels[idx], dtype=torch.int64, device=device)
    return DigitImages(x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
