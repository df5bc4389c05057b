"""Device choice and reproducible seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._constraints import Generator, InstanceOf, Integer, Items, validate


@validate(prefer=InstanceOf(str, torch.device, optional=True))
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
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise ValueError(f"prefer must name a device such as 'cpu', 'cuda' or 'cuda:1', got {choice!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} requested but CUDA is not available")
    return device


@validate(seed=Integer(low=0))
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


@validate(seed=Integer(low=0, optional=True))
def torch_generator(seed: int | None = None) -> torch.Generator:
    """Make a CPU ``torch.Generator``, seeded if ``seed`` is given.

    Equivalent to :func:`as_generator` for an int or None; kept as the readable
    spelling in notebooks.

    Examples
    --------
    >>> g = torch_generator(0)
    >>> torch.rand(1, generator=g).shape
    torch.Size([1])
    """
    return as_generator(seed)


@validate(generator=Generator())
def as_generator(generator: int | torch.Generator | None = None) -> torch.Generator:
    """The package's one rule for randomness: turn a ``generator`` argument into a CPU generator.

    Every random function of the package takes ``generator=`` and accepts

    - ``None``: a fresh generator seeded from PyTorch's global generator, so
      :func:`seed_everything` makes whole notebooks reproducible;
    - an ``int`` seed;
    - a CPU ``torch.Generator``, used (and advanced) in place.

    Random numbers are always drawn on the CPU and then moved to the inputs'
    device (:func:`randn`, :func:`rand`, ...), so the same seed gives the same
    numbers on CPU and CUDA. CUDA generators are refused.

    Examples
    --------
    >>> a = torch.rand(2, generator=as_generator(5))
    >>> b = torch.rand(2, generator=as_generator(5))
    >>> bool(torch.equal(a, b))
    True
    """
    if isinstance(generator, torch.Generator):
        if generator.device.type != "cpu":
            raise ValueError(
                f"generator must be a CPU torch.Generator (draws happen on the CPU and are moved), got one on "
                f"{generator.device}"
            )
        return generator
    gen = torch.Generator()
    if generator is None:
        gen.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        return gen
    if isinstance(generator, (bool, np.bool_)) or not isinstance(generator, (int, np.integer)):
        raise TypeError(f"generator must be None, an int seed or a CPU torch.Generator, got {type(generator).__name__}")
    if generator < 0:
        raise ValueError(f"generator must be a non-negative seed, got {generator}")
    gen.manual_seed(int(generator))
    return gen


@validate(shape=Items(Integer(low=0)), generator=Generator())
def randn(*shape: int, generator=None, device=None, dtype=None) -> torch.Tensor:
    """Standard normal draws made on the CPU with ``generator`` and moved to ``device``.

    Examples
    --------
    >>> randn(2, 3, generator=0).shape
    torch.Size([2, 3])
    """
    return torch.randn(*shape, generator=as_generator(generator), dtype=dtype).to(device or "cpu")


@validate(shape=Items(Integer(low=0)), generator=Generator())
def rand(*shape: int, generator=None, device=None, dtype=None) -> torch.Tensor:
    """Uniform [0, 1) draws made on the CPU with ``generator`` and moved to ``device``.

    Examples
    --------
    >>> bool((rand(4, generator=1) < 1).all())
    True
    """
    return torch.rand(*shape, generator=as_generator(generator), dtype=dtype).to(device or "cpu")


@validate(low=Integer(), high=Integer(), shape=Items(Integer(low=0)), generator=Generator())
def randint(low: int, high: int, shape: tuple, generator=None, device=None) -> torch.Tensor:
    """Integers in ``[low, high)`` drawn on the CPU with ``generator`` and moved to ``device``.

    Examples
    --------
    >>> randint(0, 3, (5,), generator=0).max() < 3
    tensor(True)
    """
    if high <= low:
        raise ValueError(f"randint: high must be > low, got low={low}, high={high}")
    return torch.randint(low, high, tuple(shape), generator=as_generator(generator)).to(device or "cpu")


@validate(n=Integer(low=0), generator=Generator())
def randperm(n: int, generator=None, device=None) -> torch.Tensor:
    """A random permutation of ``range(n)`` drawn on the CPU and moved to ``device``.

    Examples
    --------
    >>> sorted(randperm(4, generator=0).tolist())
    [0, 1, 2, 3]
    """
    return torch.randperm(n, generator=as_generator(generator)).to(device or "cpu")


@validate(generator=Generator())
def numpy_rng(generator=None) -> np.random.Generator:
    """A NumPy generator seeded by one draw from ``generator`` (for code that samples with NumPy/SciPy).

    Examples
    --------
    >>> a = numpy_rng(3).random(2); b = numpy_rng(3).random(2)
    >>> bool((a == b).all())
    True
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=as_generator(generator)).item())
    return np.random.default_rng(seed)
