"""Gaussian-process factor analysis: smooth low-dimensional trajectories behind many noisy signals.

The GPFA model of Yu et al. (2009), generated trials, an exact EM fit (the E-step is one
Cholesky factorisation shared by all trials), factor analysis as its static baseline, Yu et al.'s
leave-one-signal-out cross-validation, and orthonormalised trajectories. See the chapter
:doc:`Dimension reduction </book/reduction>`.
"""

from ._gpfa import (
    GPFAData,
    GPFAFit,
    GPFAPosterior,
    factor_analysis,
    fit_gpfa,
    gp_covariance,
    gpfa_posterior,
    leave_neuron_out,
    make_gpfa_data,
    orthonormalize,
)

__all__ = [
    "GPFAData",
    "GPFAFit",
    "GPFAPosterior",
    "factor_analysis",
    "fit_gpfa",
    "gp_covariance",
    "gpfa_posterior",
    "leave_neuron_out",
    "make_gpfa_data",
    "orthonormalize",
]
