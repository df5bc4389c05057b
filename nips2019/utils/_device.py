"""Device choice and reproducible seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def default_device(prefer: str | None = None) -> torch.device:
    """Return the device a notebook should compute on.

    The package itself never picks a device: every function follows its
    inputs. Only notebooks call this, once, at the top.

    Parameters
    ----------
    prefer : str, optional
        Force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``). Defaults to the
        environment variable ``NIPS2019_DEVICE`` if set, else CUDA when
        available, else CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If a CUDA device is requested but CUDA is not available.

    Examples
    --------
    >>> default_device("cpu")
    device(type='cpu')
    """
    choice = prefer if prefer is not None else os.environ.get("NIPS2019_DEVICE")
    if choice is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} requested but CUDA is not available")
    return device


def seed_everything(seed: int = 0) -> int:
    """Seed Python's, NumPy's and PyTorch's global generators.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Returns
    -------
    int
        The seed, for logging.

    Examples
    --------
    >>> import torch
    >>> _ = seed_everything(3); a = torch.rand(2)
    >>> _ = seed_everything(3); b = torch.rand(2)
    >>> bool(torch.equal(a, b))
    True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def torch_generator(seed: int | None = None, device: torch.device | str = "cpu") -> torch.Generator:
    """Make a ``torch.Generator`` on ``device``, seeded if ``seed`` is given.

    Package functions that draw random numbers accept ``generator=``; this is
    the convenient way to make one.

    Examples
    --------
    >>> g = torch_generator(0)
    >>> torch.rand(1, generator=g).shape
    torch.Size([1])
    """
    gen = torch.Generator(device=device)
    if seed is not None:
        gen.manual_seed(int(seed))
    else:
        gen.seed()
    return gen
