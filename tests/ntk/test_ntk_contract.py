"""Contract cases for nips2019.ntk (see tests/contract.py)."""

import math

import torch
from torch import nn

from nips2019 import ntk
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _x(n, d=2, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _net(out=2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, out)).double()


def _img(n, c=2, h=4, seed=0):
    return torch.randn(n, c, h, h, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _kernel(n=3, seed=0):
    a = _x(n, n + 1, seed)
    return a @ a.T / (n + 1) + 0.1 * torch.eye(n, dtype=F64)


def _blocks():
    """A PSD kernel on 3 training + 2 test points, split into its blocks."""
    k = _kernel(5, seed=1)
    return k[:3, :3], k[3:, :3], k[3:, 3:]


def _mse_kwargs():
    ktt, kst, _ = _blocks()
    return dict(k_train_train=ktt, y_train=_x(3, 2, seed=2), t=2.0, lr=0.5, f0_train=_x(3, 2, seed=3),
                k_test_train=kst, f0_test=_x(2, 2, seed=4), discrete=False)


def _asymmetric():
    k = _blocks()[0].clone()
    k[0, 2] += 1.0
    return k


def _indefinite():
    return torch.diag(torch.tensor([1.0, 0.5, -0.4], dtype=F64))


def _act_kernel(k11, k22, k12):
    return k12, torch.ones_like(k12)


def _float32_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))


#: Forward passes run inside training steps and under torch.func transforms: they check rank, dtype and
#: device (no host sync) but propagate NaN/inf like any torch module; the entry points refuse them.
_FORWARD = ("a forward pass propagates NaN/inf like any torch module: a finite check would be a host sync per "
            "training step and cannot run under torch.func.vmap; the public entry points refuse non-finite inputs")

_MISMATCH = "has dtype .* but .* has"  # check_same's message names both arguments

CASES = [
    Case(ntk.Activation, lambda: dict(name="contract_identity", fn=torch.tanh, kernel=_act_kernel)),
    Case(ntk.register_activation,
         lambda: dict(activation=ntk.Activation("contract_act", torch.tanh, _act_kernel), overwrite=True),
         bad=[Bad(dict(activation=ntk.get_activation("relu"), overwrite=False), "already registered",
                  why="re-registering a name without overwrite")]),
    Case(ntk.get_activation, lambda: dict(activation="relu")),
    Case(ntk.list_activations, lambda: dict()),
    Case(ntk.quadrature_activation, lambda: dict(name="contract_q", fn=torch.tanh, degree=4),
         bad=[Bad(dict(degree=10**6), "degree", why="a quadrature that cannot fit in memory")]),
    Case(ntk.analytic_kernels,
         lambda: dict(x1=_x(3), x2=_x(2, seed=1), depth=2, activation="relu", w_std=1.4, b_std=0.1,
                      parameterization="standard", width=8, batch_size=2),
         bad=[Bad(dict(x2=_x(2, 3)), "x2", why="x2 with other features than x1"),
              Bad(dict(x1=_x(3).float()), _MISMATCH, TypeError, why="float32 x1 with float64 x2"),
              Bad(dict(parameterization="standard", width=None), "width", why="standard needs the width"),
              Bad(dict(x1=_x(3).float(), x2=None, depth=200, w_std=3.0, parameterization="ntk"), "overflow",
                  why="kernels that overflow float32")]),
    Case(ntk.DenseNTK,
         lambda: dict(in_features=3, out_features=2, w_std=1.5, b_std=0.1, parameterization="ntk", generator=0,
                      device="cpu", dtype=F64),
         bad=[Bad(dict(dtype=torch.long), "dtype", why="an integer dtype for parameters"),
              Bad(dict(device="gpu0"), "device", why="a string that names no device")]),
    Case(ntk.DenseNTK.forward,
         lambda: (ntk.DenseNTK(3, 2, b_std=0.1, generator=0, dtype=F64), dict(x=_x(4, 3))),
         name="DenseNTK.forward", allow_nonfinite=_FORWARD,
         bad=[Bad(dict(x=_x(4, 3).float()), _MISMATCH, TypeError, why="float32 input to a float64 layer"),
              Bad(dict(x=_x(4, 5)), "x", why="wrong number of features")]),
    Case(ntk.Elementwise, lambda: dict(activation="erf")),
    Case(ntk.ConvNTK,
         lambda: dict(in_channels=2, out_channels=3, kernel_size=3, stride=1, padding="SAME", w_std=1.5, b_std=0.1,
                      generator=0, device="cpu", dtype=F64),
         bad=[Bad(dict(dtype=torch.long), "dtype", why="an integer dtype for parameters")]),
    Case(ntk.ConvNTK.forward,
         lambda: (ntk.ConvNTK(2, 3, 3, b_std=0.1, generator=0, dtype=F64), dict(x=_img(2))),
         name="ConvNTK.forward", allow_nonfinite=_FORWARD,
         bad=[Bad(dict(x=_img(2).float()), _MISMATCH, TypeError, why="float32 input to a float64 layer"),
              Bad(dict(x=_img(2, c=3)), "x", why="wrong number of channels")]),
    Case(ntk.cnn,
         lambda: dict(in_channels=2, image_size=4, channels=3, depth=1, kernel_size=3, stride=1, padding="SAME",
                      readout="gap", out_features=2, activation="relu", w_std=1.5, b_std=0.1, generator=0,
                      dtype=F64),
         bad=[Bad(dict(padding="VALID", kernel_size=5), "VALID", why="a filter larger than the image")]),
    Case(ntk.cnn_kernels,
         lambda: dict(x1=_img(3), x2=_img(2, seed=1), depth=1, kernel_size=3, stride=1, padding="SAME",
                      readout="gap", activation="relu", w_std=1.4, b_std=0.1, batch_size=2),
         bad=[Bad(dict(x2=_img(2, c=1)), "x2", why="x2 with other channels than x1"),
              Bad(dict(x1=_img(3).float()), _MISMATCH, TypeError, why="float32 x1 with float64 x2"),
              Bad(dict(padding="VALID", kernel_size=5), "VALID", why="a filter larger than the image")]),
    Case(ntk.monte_carlo_kernels,
         lambda: dict(build=lambda g: _net(), x1=_x(3), x2=_x(2, seed=1), n_samples=2, generator=0,
                      method="jacobian"),
         bad=[Bad(dict(method="magic"), "method", why="an unknown method"),
              Bad(dict(build=lambda g: 3), "build", TypeError, why="build returns no module")]),
    Case(ntk.mlp,
         lambda: dict(in_features=3, width=4, depth=1, out_features=2, activation="erf", w_std=1.5, b_std=0.1,
                      parameterization="ntk", generator=0, dtype=F64)),
    Case(ntk.empirical_ntk,
         lambda: dict(model=_net(), x1=_x(3), x2=_x(2, seed=1), method="jacobian", trace="mean", batch_size=2),
         bad=[Bad(dict(model=_float32_net()), _MISMATCH, TypeError, why="float32 model, float64 inputs"),
              Bad(dict(x1=_x(3, 4), x2=None), "x1", why="inputs the model cannot take"),
              Bad(dict(params={"nonsense": torch.zeros(2)}), "params", why="params naming no parameter"),
              Bad(dict(params={"0.weight": torch.zeros(2, 2, dtype=F64)}), "params", why="params of a wrong shape"),
              Bad(dict(method="structured", x1=_x(3, 5), x2=None), "x1", why="structured: inputs it cannot take")]),
    Case(ntk.ntk_vector_product,
         lambda: dict(model=_net(), x1=_x(3), x2=_x(2, seed=1), v=_x(2, 2, seed=5)),
         bad=[Bad(dict(v=_x(2, 2, seed=5).float()), _MISMATCH, TypeError, why="float32 v (no silent conversion)"),
              Bad(dict(v=_x(2, 3, seed=5)), "v", why="v with the wrong number of outputs")]),
    Case(ntk.empirical_ntk_naive, lambda: dict(model=_net(), x1=_x(3), x2=_x(2, seed=1)),
         bad=[Bad(dict(model=_float32_net()), _MISMATCH, TypeError, why="float32 model, float64 inputs")]),
    Case(ntk.flat_jacobian, lambda: dict(model=_net(), x=_x(3), batch_size=2),
         bad=[Bad(dict(model=_float32_net()), _MISMATCH, TypeError, why="float32 model, float64 inputs"),
              Bad(dict(model=nn.Linear(2, 2).requires_grad_(False).double()), "no trainable parameters",
                  why="nothing to differentiate")]),
    Case(ntk.gradient_descent_mse, _mse_kwargs,
         bad=[Bad(dict(k_train_train=_asymmetric()), "symmetric", why="an asymmetric kernel"),
              Bad(dict(k_train_train=_indefinite()), "positive semi-definite", why="an indefinite kernel"),
              Bad(dict(discrete=True, t=1.5), "integer step counts", why="fractional steps"),
              Bad(dict(discrete=True, lr=100.0, t=10**6), "overflow", why="divergence that overflows"),
              Bad(dict(discrete=True, lr=100.0, t=math.inf), "diverges", why="divergence at t = inf"),
              Bad(dict(f0_test=_x(2, 1)), "f0_test", why="f0_test with other columns than y_train"),
              Bad(dict(k_test_train=None), "f0_test", why="f0_test without k_test_train"),
              Bad(dict(t=torch.tensor([[1.0]])), "t must be a scalar", why="a 2-D tensor of times")]),
    Case(ntk.natural_gradient_mse, lambda: dict(_mse_kwargs(), damping=0.1),
         bad=[Bad(dict(k_train_train=_indefinite()), "positive semi-definite", why="an indefinite kernel")]),
    Case(ntk.critical_learning_rate, lambda: dict(k_train_train=_kernel()),
         bad=[Bad(dict(k_train_train=torch.zeros(3, 3, dtype=F64)), "no positive eigenvalue",
                  why="a zero kernel (the answer would be inf)")]),
    Case(ntk.kernel_regression,
         lambda: dict(k_train_train=_blocks()[0], y_train=_x(3, 1, seed=2)[:, 0], k_test_train=_blocks()[1],
                      diag_reg=0.1),
         bad=[Bad(dict(k_test_train=_x(2, 4)), "k_test_train", why="k_test_train with the wrong columns"),
              Bad(dict(y_train=_x(3, 2).float()), _MISMATCH, TypeError, why="float32 targets")]),
    Case(ntk.nngp_posterior,
         lambda: dict(k_train_train=_blocks()[0], y_train=_x(3, 2, seed=2), k_test_train=_blocks()[1],
                      k_test_test=_blocks()[2], noise_var=0.1),
         bad=[Bad(dict(k_test_test=torch.eye(3, dtype=F64)), "k_test_test", why="k_test_test of the wrong size")]),
    Case(ntk.ntk_ensemble,
         lambda: dict(nngp_train_train=_blocks()[0], ntk_train_train=2 * _blocks()[0], y_train=_x(3, 1)[:, 0],
                      nngp_test_train=_blocks()[1], ntk_test_train=2 * _blocks()[1],
                      nngp_test_test=_blocks()[2], t=5.0, lr=0.5, discrete=False),
         bad=[Bad(dict(ntk_train_train=torch.eye(4, dtype=F64)), "ntk_train_train", why="kernels of two sizes"),
              Bad(dict(nngp_train_train=_indefinite()), "positive semi-definite", why="an indefinite NNGP")]),
    Case(ntk.LinearizedModel, lambda: dict(model=_net()),
         bad=[Bad(dict(model=nn.Linear(2, 2).requires_grad_(False)), "no trainable parameters",
                  why="nothing to linearise")]),
    Case(ntk.LinearizedModel.forward, lambda: (ntk.LinearizedModel(_net()), dict(x=_x(4))),
         name="LinearizedModel.forward", allow_nonfinite=_FORWARD,
         bad=[Bad(dict(x=_x(4).float()), _MISMATCH, TypeError, why="float32 input to a float64 model")]),
    Case(ntk.train_mse,
         lambda: dict(model=_net(1), x=_x(3), y=_x(3, 1, seed=1), lr=0.1, n_steps=3, x_test=_x(2, seed=2),
                      max_loss=1e6, record_outputs=True, progress=False),
         bad=[Bad(dict(model=_float32_net()), _MISMATCH, TypeError, why="float32 model, float64 data"),
              Bad(dict(y=_x(3, 2)), "y", why="targets of another shape than the outputs"),
              Bad(dict(x_test=_x(2, 5)), "x_test", why="x_test with other features")]),
    Case(ntk.train_natural_gradient_mse,
         lambda: dict(model=_net(1), x=_x(3), y=_x(3, 1, seed=1), lr=0.5, n_steps=2, damping=0.1,
                      x_test=_x(2, seed=2), max_loss=1e6, batch_size=2, progress=False),
         bad=[Bad(dict(model=_float32_net()), _MISMATCH, TypeError, why="float32 model, float64 data"),
              Bad(dict(y=_x(3, 2)), "y", why="targets of another shape than the outputs"),
              Bad(dict(x_test=_x(2, 5)), "x_test", why="x_test with other features"),
              Bad(dict(model=nn.Linear(2, 1).double().requires_grad_(False)), "no trainable parameters",
                  why="nothing to train")]),
    Case(ntk.load_digits_regression,
         lambda: dict(n_train=5, n_test=3, target="value", generator=0, device="cpu", dtype=F64),
         bad=[Bad(dict(n_train=1000, n_test=900), "at most 1797", why="more images than the data set has"),
              Bad(dict(dtype=torch.long), "dtype", TypeError, why="an integer dtype for images and targets")]),
    Case(ntk.train_ensemble_mse,
         lambda: dict(models=[_net(1), _net(1)], x=_x(3), y=_x(3, 1, seed=1), lr=0.1, n_steps=3,
                      x_test=_x(2, seed=2), max_loss=1e6, progress=False),
         bad=[Bad(dict(models=[_float32_net()]), "models\\[0\\]", TypeError, why="a float32 member"),
              Bad(dict(models=[_net(1), nn.Linear(2, 1).double()]), "models", why="members of different structure"),
              Bad(dict(y=_x(3, 2)), "y", why="targets of another shape than the outputs")]),
    Case(ntk.dense, lambda: dict(out_features=3, w_std=1.5, b_std=0.1)),
    Case(ntk.conv, lambda: dict(out_channels=3, kernel_size=3, stride=1, padding="VALID", w_std=1.5, b_std=0.1)),
    Case(ntk.avg_pool, lambda: dict(window=2, stride=1)),
    Case(ntk.global_avg_pool, lambda: dict()),
    Case(ntk.flatten, lambda: dict()),
    Case(ntk.nonlinearity, lambda: dict(activation="erf")),
    Case(ntk.serial, lambda: (lambda: ntk.serial(ntk.dense(2), ntk.nonlinearity("relu")), {})),
    Case(ntk.parallel, lambda: (lambda: ntk.parallel(ntk.dense(2), ntk.dense(2)), {})),
    Case(ntk.residual, lambda: (lambda: ntk.residual(ntk.nonlinearity("relu"), ntk.dense(2)), {})),
    Case(ntk.Layer.network, lambda: (ntk.serial(ntk.dense(3), ntk.nonlinearity("relu"), ntk.dense(1)).network,
                                     dict(input_shape=(2,), parameterization="standard", generator=0, dtype=F64)),
         name="Layer.network",
         bad=[Bad(dict(input_shape=(2, 3)), "input_shape", why="a 2-d example shape"),
              Bad(dict(input_shape=(1, 4, 4)), "dense needs flat features", why="images into a dense layer")]),
    Case(ntk.Layer.kernels, lambda: (ntk.serial(ntk.conv(3), ntk.nonlinearity("relu"), ntk.flatten(),
                                                ntk.dense(1)).kernels,
                                     dict(x1=_img(3), x2=_img(2, seed=1), parameterization="ntk")),
         name="Layer.kernels",
         bad=[Bad(dict(x1=_x(3), x2=None), "conv needs images", why="flat inputs into a conv layer"),
              Bad(dict(x2=_img(2, c=3)), "x2", why="x2 with other channels")]),
]

EXEMPT = {
    "Kernels": "result container (dataclass of two tensors) returned by analytic_kernels",
    "MSEPrediction": "result container (dataclass) returned by gradient_descent_mse / natural_gradient_mse",
    "GaussianPrediction": "result container (dataclass) returned by nngp_posterior / ntk_ensemble",
    "MSETrainResult": "result container (dataclass) returned by train_mse / train_ensemble_mse / "
                      "train_natural_gradient_mse",
    "DigitsData": "result container (dataclass of six tensors) returned by load_digits_regression",
    "Layer": "base class of the architecture objects (built by dense/conv/...; its methods network and "
             "kernels have their own cases)",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
