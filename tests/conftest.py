"""Shared fixtures: devices, dtypes and their tolerances; the gpu marker."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)

_DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

#: Tolerances per dtype for torch.testing.assert_close.
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}


@pytest.fixture(params=_DEVICES)
def device(request):
    """Every available device: cpu, plus cuda when present."""
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request):
    """Both floating dtypes."""
    return request.param


@pytest.fixture
def tol(dtype):
    """assert_close tolerances matching the ``dtype`` fixture."""
    return TOL[dtype]


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
