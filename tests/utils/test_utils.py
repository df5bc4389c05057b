import os

import numpy as np
import pytest
import torch

import nips2019
from nips2019 import utils


def test_version_and_lazy_subpackages():
    assert nips2019.__version__.count(".") == 2
    assert nips2019.utils is utils
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nips2019.nope


def test_default_device(monkeypatch):
    monkeypatch.delenv("NIPS2019_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert utils.default_device().type == expected
    assert utils.default_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("NIPS2019_DEVICE", "cpu")
    assert utils.default_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_default_device_rejects_missing_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        utils.default_device("cuda")


def test_seed_everything_reproducible():
    utils.seed_everything(7)
    a = (torch.rand(3), np.random.rand(3))
    utils.seed_everything(7)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    utils.seed_everything(8)
    assert not torch.equal(a[0], torch.rand(3))


def test_seed_everything_rejects_bad_seeds():
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        utils.seed_everything(-1)
    for bad in (1.5, "3", True):
        with pytest.raises(TypeError, match="seed must be an integer"):
            utils.seed_everything(bad)


def test_torch_generator_seeded():
    a = torch.rand(4, generator=utils.torch_generator(3))
    b = torch.rand(4, generator=utils.torch_generator(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("true", True), ("yes", True), ("0", False), ("", False), ("off", False)]
)
def test_is_quick(monkeypatch, value, expected):
    monkeypatch.setenv(utils.QUICK_ENV, value)
    assert utils.is_quick() is expected
    assert utils.quick_or_full("q", "f") == ("q" if expected else "f")


def test_quick_is_set_under_pytest():
    # The root conftest.py turns quick mode on for the whole test session (and nbval's kernels).
    assert os.environ.get("NIPS2019_QUICK") == "1"


def test_setup_notebook(monkeypatch):
    import matplotlib as mpl

    monkeypatch.setenv(utils.QUICK_ENV, "1")
    old_threads = torch.get_num_threads()
    try:
        assert utils.setup_notebook(seed=5, threads=1) is True
        assert torch.get_num_threads() == 1
        assert mpl.rcParams["axes.grid"] is True
        first = torch.rand(2)
        utils.setup_notebook(seed=5, threads=1)
        assert torch.equal(first, torch.rand(2))
        with pytest.raises(ValueError, match="threads must be an integer >= 1"):
            utils.setup_notebook(threads=0)
    finally:
        torch.set_num_threads(old_threads)


def test_progress_is_quiet_under_pytest(capsys):
    assert list(utils.progress(range(3), desc="x")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert "x:" not in captured.err


def test_progress_can_be_forced(monkeypatch, capsys):
    monkeypatch.setenv("NIPS2019_PROGRESS", "1")
    assert sum(utils.progress(range(3), desc="forced")) == 3
    assert "forced" in capsys.readouterr().err
