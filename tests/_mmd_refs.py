"""Shared helpers of the two-sample tests' tests (tests/kernels, tests/ot): generated samples and
the rejection count of a test over many data sets drawn under the null."""

from __future__ import annotations

import torch


def gaussian_samples(n=12, m=9, d=3, shift=0.0, seed=0, dtype=torch.float64):
    """Two standard normal samples (n, d) and (m, d), the second shifted by ``shift``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=dtype), torch.randn(m, d, generator=g, dtype=dtype) + shift)


def null_rejections(test, runs, n, d=2, seed=0, level=0.05):
    """How often ``test(x, y, r)`` (a TwoSampleTestResult) rejects at ``level`` over ``runs`` pairs of
    standard normal samples of ``n`` points in ``d`` dimensions (the null holds); ``r`` is the run's
    index, to seed the test's own randomness."""
    g = torch.Generator().manual_seed(seed)
    rejections = 0
    for r in range(runs):
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        y = torch.randn(n, d, generator=g, dtype=torch.float64)
        rejections += test(x, y, r).reject(level)
    return rejections
