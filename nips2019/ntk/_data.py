"""Scikit-learn's bundled 8x8 digits as a small regression problem (no download)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from nips2019.utils import Device, DType, Generator, Integer, Options, as_generator, validate

#: Number of images in scikit-learn's bundled digits data set.
N_DIGITS = 1797


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@dataclasses.dataclass
class DigitsData:
    """A random train/test split of the 8x8 digits, returned by :func:`load_digits_regression`.

    Attributes
    ----------
    x_train : Tensor, shape (n_train, 64)
        Standardised images: each row has mean 0 and :math:`\\lVert x\\rVert^2 / 64 = 1`.
    y_train : Tensor, shape (n_train, 10) or (n_train, 1)
        Regression targets (centred one-hot vectors, or the scaled digit value).
    labels_train : Tensor, shape (n_train,)
        The digits, ``int64`` in ``[0, 10)``.
    x_test : Tensor, shape (n_test, 64)
    y_test : Tensor, shape (n_test, 10) or (n_test, 1)
    labels_test : Tensor, shape (n_test,)
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    labels_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    labels_test: torch.Tensor


@validate(
    n_train=Integer(low=1, high=N_DIGITS),
    n_test=Integer(low=0, high=N_DIGITS - 1),
    target=Options("onehot", "value"),
    generator=Generator(),
    device=Device(),
    dtype=DType(),
)
def load_digits_regression(
    n_train: int,
    n_test: int = 0,
    *,
    target: str = "onehot",
    generator=None,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> DigitsData:
    """A random subset of scikit-learn's bundled 8x8 digits, as inputs and regression targets.

    See the chapter :doc:`Neural tangent kernel </book/ntk>`.

    ``n_train + n_test`` distinct images are drawn without replacement from the
    1797 of ``sklearn.datasets.load_digits`` (bundled with scikit-learn, nothing
    is downloaded): the first ``n_train`` of a random permutation train, the next
    ``n_test`` test. Each image :math:`x \\in \\mathbb R^{64}` is standardised on
    its own,

    .. math::

        \\tilde x = \\frac{x - \\bar x\\,\\mathbf 1}{s(x)}, \\qquad
        \\bar x = \\tfrac1{64} \\textstyle\\sum_j x_j, \\quad
        s(x)^2 = \\tfrac1{64} \\textstyle\\sum_j (x_j - \\bar x)^2,

    so :math:`\\lVert\\tilde x\\rVert^2 / 64 = 1`: every input has the same input
    kernel :math:`K^0(x, x) = x^\\top x / d = 1`. The targets of digit :math:`c` are

    - ``target="onehot"``: the centred one-hot vector :math:`e_c - 0.1\\,\\mathbf 1`
      (10 columns, each row sums to 0), as in Lee et al. (2019);
    - ``target="value"``: the scaled digit value :math:`(c - 4.5) / 3` (1 column).

    Parameters
    ----------
    n_train : int
        Training images, in ``[1, 1797]``.
    n_test : int
        Test images, ``n_train + n_test <= 1797`` (default 0: an empty test set).
    target : {"onehot", "value"}
        The regression target.
    generator : None, int or torch.Generator
        Randomness of the subset (the package's rule).
    device : torch.device or str, optional
        Where the tensors go (default CPU).
    dtype : torch.dtype
        Floating dtype of images and targets.

    Returns
    -------
    DigitsData
        ``x_*`` of shape ``(n, 64)``, ``y_*`` of shape ``(n, 10)`` or ``(n, 1)``,
        ``labels_*`` of shape ``(n,)``.

    References
    ----------
    lee2019wide.

    Examples
    --------
    >>> data = load_digits_regression(20, 5, generator=0)
    >>> tuple(data.x_train.shape), tuple(data.y_train.shape), tuple(data.x_test.shape)
    ((20, 64), (20, 10), (5, 64))
    >>> bool(torch.allclose(data.x_train.pow(2).mean(1), torch.ones(20)))
    True
    >>> bool((data.y_train.argmax(1) == data.labels_train).all())
    True
    """
    if n_train + n_test > N_DIGITS:
        raise ValueError(f"load_digits_regression: n_train + n_test must be at most {N_DIGITS} (the size of the "
                         f"digits data set), got n_train={n_train} and n_test={n_test}")
    images, labels = _digits()
    idx = torch.randperm(N_DIGITS, generator=as_generator(generator))[: n_train + n_test].numpy()
    x = images[idx]
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    lab = labels[idx].astype(np.int64)
    y = np.eye(10)[lab] - 0.1 if target == "onehot" else ((lab - 4.5) / 3)[:, None]
    as_t = functools.partial(torch.tensor, dtype=dtype, device=device)
    lab_t = torch.tensor(lab, dtype=torch.int64, device=device)
    return DigitsData(
        x_train=as_t(x[:n_train]),
        y_train=as_t(y[:n_train]),
        labels_train=lab_t[:n_train],
        x_test=as_t(x[n_train:]),
        y_test=as_t(y[n_train:]),
        labels_test=lab_t[n_train:],
    )
