"""Infinitely wide networks: the NNGP and neural tangent kernels, and wide-network training dynamics.

See the chapter :doc:`Neural tangent kernel </book/ntk>`. Conventions follow neural-tangents
(NTK parameterisation, input kernel :math:`x^\\top x'/d`, ReLU arc-cosine
kernel without the factor 2, traced empirical NTK = mean over outputs), so
numbers can be cross-checked against it.

- Analytic kernels: :func:`analytic_kernels`, activations registry
  (:func:`get_activation`, :func:`register_activation`, :func:`quadrature_activation`).
- Finite networks with the same limit: :func:`mlp`, :class:`DenseNTK`.
- One description, both worlds: :func:`serial` compositions of :func:`dense`, :func:`conv`,
  :func:`avg_pool`, :func:`global_avg_pool`, :func:`flatten`, :func:`nonlinearity`,
  :func:`parallel` and :func:`residual` blocks (a :class:`Layer`) give the finite network
  (:meth:`Layer.network`) and its analytic NNGP/NTK (:meth:`Layer.kernels`).
- Convolutional networks: :func:`cnn_kernels` (closed-form CNN-GP and CNTK, with flatten or
  global-average-pooling readout), :func:`cnn` and :class:`ConvNTK` (the finite networks),
  :func:`monte_carlo_kernels` (averages over random finite networks).
- Empirical NTK of any module: :func:`empirical_ntk`, :func:`ntk_vector_product`,
  :func:`empirical_ntk_naive` (reference loop), :func:`flat_jacobian`.
- Dynamics: :class:`LinearizedModel`, :func:`train_mse`, :func:`train_ensemble_mse`,
  :func:`train_natural_gradient_mse`, :func:`gradient_descent_mse`,
  :func:`natural_gradient_mse`, :func:`kernel_regression`, :func:`nngp_posterior`,
  :func:`ntk_ensemble`, :func:`critical_learning_rate`.
- Data: :func:`load_digits_regression` (scikit-learn's bundled digits, no download).
"""

from ._activations import (
    Activation,
    get_activation,
    list_activations,
    quadrature_activation,
    register_activation,
)
from ._analytic import Kernels, analytic_kernels
from ._dynamics import (
    GaussianPrediction,
    MSEPrediction,
    critical_learning_rate,
    gradient_descent_mse,
    kernel_regression,
    natural_gradient_mse,
    ntk_ensemble,
    nngp_posterior,
)
from ._architecture import (
    Layer,
    avg_pool,
    conv,
    dense,
    flatten,
    global_avg_pool,
    nonlinearity,
    parallel,
    residual,
    serial,
)
from ._conv import ConvNTK, cnn, cnn_kernels, monte_carlo_kernels
from ._data import DigitsData, load_digits_regression
from ._empirical import empirical_ntk, empirical_ntk_naive, flat_jacobian, ntk_vector_product
from ._linearize import (
    LinearizedModel,
    MSETrainResult,
    train_ensemble_mse,
    train_mse,
    train_natural_gradient_mse,
)
from ._mlp import DenseNTK, Elementwise, mlp

__all__ = [
    "Activation",
    "ConvNTK",
    "DenseNTK",
    "DigitsData",
    "Elementwise",
    "GaussianPrediction",
    "Kernels",
    "Layer",
    "LinearizedModel",
    "MSEPrediction",
    "MSETrainResult",
    "analytic_kernels",
    "avg_pool",
    "cnn",
    "cnn_kernels",
    "conv",
    "critical_learning_rate",
    "dense",
    "empirical_ntk",
    "empirical_ntk_naive",
    "flat_jacobian",
    "flatten",
    "get_activation",
    "global_avg_pool",
    "gradient_descent_mse",
    "kernel_regression",
    "list_activations",
    "load_digits_regression",
    "mlp",
    "monte_carlo_kernels",
    "natural_gradient_mse",
    "nngp_posterior",
    "ntk_ensemble",
    "nonlinearity",
    "ntk_vector_product",
    "parallel",
    "quadrature_activation",
    "register_activation",
    "residual",
    "serial",
    "train_ensemble_mse",
    "train_mse",
    "train_natural_gradient_mse",
]
