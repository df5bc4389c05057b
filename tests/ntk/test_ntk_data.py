"""load_digits_regression against scikit-learn's digits, recomputed independently."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from nips2019.ntk import DigitsData, load_digits_regression


def _reference():
    images, labels = load_digits(return_X_y=True)
    mu = images.mean(1, keepdims=True)
    sd = np.sqrt(((images - mu) ** 2).mean(1, keepdims=True))
    return (images - mu) / sd, labels


def _indices(x, reference):
    """Row of the standardised sklearn images that each returned image is (exact match, float64)."""
    d = ((x[:, None, :] - reference[None]) ** 2).sum(-1)
    idx = d.argmin(1)
    assert np.allclose(d[np.arange(len(x)), idx], 0, atol=1e-20)
    return idx


def test_images_labels_and_targets_match_sklearn():
    ref_x, ref_labels = _reference()
    data = load_digits_regression(40, 25, generator=3, dtype=torch.float64)
    assert isinstance(data, DigitsData)
    assert data.x_train.shape == (40, 64) and data.x_test.shape == (25, 64)
    assert data.y_train.shape == (40, 10) and data.y_test.shape == (25, 10)
    assert data.labels_train.dtype == torch.int64 and data.labels_test.shape == (25,)
    i_tr = _indices(data.x_train.numpy(), ref_x)
    i_te = _indices(data.x_test.numpy(), ref_x)
    # distinct images, train and test disjoint (the digits data has no duplicated images)
    assert len(set(i_tr.tolist()) | set(i_te.tolist())) == 65
    np.testing.assert_array_equal(data.labels_train.numpy(), ref_labels[i_tr])
    np.testing.assert_array_equal(data.labels_test.numpy(), ref_labels[i_te])
    # centred one-hot targets
    onehot = np.eye(10)[ref_labels[i_tr]] - 0.1
    np.testing.assert_allclose(data.y_train.numpy(), onehot, atol=1e-15)
    np.testing.assert_allclose(data.y_test.sum(1).numpy(), 0, atol=1e-12)


def test_standardised_images_and_value_target():
    data = load_digits_regression(30, 5, target="value", generator=0)
    assert data.x_train.dtype == torch.float32 and data.x_train.device.type == "cpu"
    torch.testing.assert_close(data.x_train.mean(1), torch.zeros(30), atol=1e-6, rtol=0)
    torch.testing.assert_close(data.x_train.pow(2).mean(1), torch.ones(30), atol=1e-5, rtol=0)  # |x|^2 / d = 1
    assert data.y_train.shape == (30, 1) and data.y_test.shape == (5, 1)
    torch.testing.assert_close(data.y_train[:, 0], (data.labels_train.float() - 4.5) / 3)
    assert data.y_train.min() >= -1.5 and data.y_train.max() <= 1.5


def test_randomness_rule():
    a = load_digits_regression(10, 3, generator=7)
    b = load_digits_regression(10, 3, generator=7)
    c = load_digits_regression(10, 3, generator=8)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.labels_test, b.labels_test)
    assert not torch.equal(a.x_train, c.x_train)
    g = torch.Generator().manual_seed(7)
    first, second = load_digits_regression(10, generator=g), load_digits_regression(10, generator=g)
    assert torch.equal(first.x_train, a.x_train)  # an int seed is a fresh generator with that seed
    assert not torch.equal(first.x_train, second.x_train)  # the generator is advanced in place
    torch.manual_seed(1)
    u = load_digits_regression(10)
    torch.manual_seed(1)
    assert torch.equal(u.x_train, load_digits_regression(10).x_train)  # None follows the global seed


def test_sizes():
    whole = load_digits_regression(1797, generator=0)
    assert whole.x_test.shape == (0, 64) and whole.y_test.shape == (0, 10) and whole.labels_test.shape == (0,)
    assert torch.equal(torch.bincount(whole.labels_train), torch.tensor(np.bincount(load_digits().target)))
    with pytest.raises(ValueError, match="n_train \\+ n_test must be at most 1797"):
        load_digits_regression(1000, 900)
    with pytest.raises(ValueError, match="n_train must be an integer"):
        load_digits_regression(0)
    with pytest.raises(ValueError, match="target"):
        load_digits_regression(5, target="classes")


@pytest.mark.gpu
def test_digits_on_cuda():
    cpu = load_digits_regression(12, 4, generator=2)
    gpu = load_digits_regression(12, 4, generator=2, device="cuda")
    assert gpu.x_train.is_cuda and gpu.labels_test.is_cuda
    torch.testing.assert_close(gpu.x_train.cpu(), cpu.x_train)
    assert torch.equal(gpu.labels_test.cpu(), cpu.labels_test)
