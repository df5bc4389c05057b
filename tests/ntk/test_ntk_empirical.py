"""Empirical NTK: Jacobian contraction, NTK-vector products and a naive autograd loop agree."""

import pytest
import torch
from torch import nn

from nips2019.ntk import empirical_ntk, empirical_ntk_naive, mlp, ntk_vector_product


def _net(dtype=torch.float64, device="cpu", out=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, out)).to(device, dtype)


class _Conv(nn.Module):
    """A module with a buffer and a non-dense structure (not an MLP)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.head = nn.Linear(4 * 6, 2)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x[:, None, :])))
        return self.head(h.flatten(1))


def _x(n, d=4, seed=1, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64).to(device, dtype)


@pytest.mark.parametrize("method", ["jacobian", "ntvp"])
def test_methods_agree_with_naive_loop(method, dtype, tol, device):
    net = _net(dtype, device)
    x1, x2 = _x(7, dtype=dtype, device=device), _x(5, seed=2, dtype=dtype, device=device)
    ref = empirical_ntk_naive(net, x1, x2)
    ref_sym = empirical_ntk_naive(net, x1)
    for bs in (3, 64):
        k = empirical_ntk(net, x1, x2, method=method, batch_size=bs)
        assert k.shape == (7, 5, 3, 3) and k.dtype == dtype and k.device.type == device.type
        torch.testing.assert_close(k, ref, **tol)
        torch.testing.assert_close(empirical_ntk(net, x1, method=method, batch_size=bs), ref_sym, **tol)
        tr = empirical_ntk(net, x1, x2, method=method, trace="sum", batch_size=bs)
        torch.testing.assert_close(tr, ref.diagonal(dim1=2, dim2=3).sum(-1), **tol)
        mean = empirical_ntk(net, x1, x2, method=method, trace="mean", batch_size=bs)
        torch.testing.assert_close(mean, tr / 3, **tol)


def test_any_module_with_buffers():
    net = _Conv().double().eval()
    x = _x(5, d=6)
    ref = empirical_ntk_naive(net, x)
    for method in ("jacobian", "ntvp"):
        torch.testing.assert_close(empirical_ntk(net, x, method=method, batch_size=2), ref)


def test_linear_model_closed_form():
    net = nn.Linear(4, 3, bias=True).double()
    x1, x2 = _x(5), _x(6, seed=3)
    k = empirical_ntk(net, x1, x2)
    expected = (x1 @ x2.T + 1)[:, :, None, None] * torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(k, expected)


def test_ntk_is_psd_and_symmetric():
    net = _net()
    x = _x(9)
    k = empirical_ntk(net, x, batch_size=4)
    flat = k.permute(0, 2, 1, 3).reshape(27, 27)
    torch.testing.assert_close(flat, flat.T)
    assert torch.linalg.eigvalsh(flat).min() > -1e-10


def test_ntk_vector_product(dtype, tol):
    net = _net(dtype)
    x1, x2 = _x(6, dtype=dtype), _x(4, seed=5, dtype=dtype)
    v = _x(4, d=3, seed=7, dtype=dtype)
    k = empirical_ntk_naive(net, x1, x2)
    torch.testing.assert_close(ntk_vector_product(net, x1, x2, v), torch.einsum("abij,bj->ai", k, v), **tol)


def test_explicit_params_and_scalar_outputs():
    net = mlp(3, 32, depth=1, out_features=1, activation="erf", b_std=0.1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = _x(4, d=3)
    params = {k: 2 * v.detach() for k, v in net.named_parameters()}
    k_default = empirical_ntk(net, x, trace="mean")
    k_other = empirical_ntk(net, x, trace="mean", params=params)
    assert not torch.allclose(k_default, k_other)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2)
    torch.testing.assert_close(empirical_ntk_naive(net, x)[..., 0, 0], k_other)


def test_bad_inputs():
    net = _net()
    x = _x(3)
    with pytest.raises(ValueError, match="method must be one of"):
        empirical_ntk(net, x, method="magic")
    with pytest.raises(ValueError, match="trace must be one of"):
        empirical_ntk(net, x, trace="max")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        empirical_ntk(lambda z: z, x)
    with pytest.raises(ValueError, match="x2 must have the per-example shape of x1"):
        empirical_ntk(net, x, _x(3, d=5))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        empirical_ntk(net, x, batch_size=0)
    with pytest.raises(ValueError, match="x1 must not be empty"):
        empirical_ntk(net, x[:0])
    with pytest.raises(ValueError, match="v must have the shape of the model's outputs on x2"):
        ntk_vector_product(net, x, x, torch.ones(3, 2, dtype=torch.float64))
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        empirical_ntk(frozen, torch.ones(2, 2))


@pytest.mark.gpu
def test_empirical_on_cuda():
    net = _net(torch.float32, "cuda")
    x = _x(6, dtype=torch.float32, device="cuda")
    k = empirical_ntk(net, x, batch_size=4)
    assert k.is_cuda
    torch.testing.assert_close(k, empirical_ntk(net, x, method="ntvp", batch_size=4), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(k, empirical_ntk(net, x, method="structured"), rtol=1e-4, atol=1e-4)


def test_flat_jacobian_matches_kernel_and_parameter_order():
    from nips2019.ntk import flat_jacobian

    net = _net()
    x = _x(5)
    j = flat_jacobian(net, x, batch_size=2)
    n_params = sum(p.numel() for p in net.parameters())
    assert j.shape == (5, 3, n_params)
    flat = j.reshape(15, -1)
    k = empirical_ntk_naive(net, x).permute(0, 2, 1, 3).reshape(15, 15)
    torch.testing.assert_close(flat @ flat.T, k)
    # order = parameters_to_vector order: a directional derivative check
    v = torch.randn(n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    theta = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    eps = 1e-6
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(theta + eps * v, net.parameters())
        fp = net(x)
        torch.nn.utils.vector_to_parameters(theta - eps * v, net.parameters())
        fm = net(x)
        torch.nn.utils.vector_to_parameters(theta, net.parameters())
    torch.testing.assert_close((fp - fm) / (2 * eps), j @ v, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("parameterization,b_std", [("ntk", 0.3), ("standard", 0.3), ("ntk", None)])
def test_structured_matches_naive(parameterization, b_std, dtype, tol):
    kw = dict(activation="erf", w_std=1.3, b_std=b_std, parameterization=parameterization, dtype=dtype,
              generator=torch.Generator().manual_seed(0))
    net = mlp(4, 12, depth=2, out_features=3, **kw)
    x1, x2 = _x(5, dtype=dtype), _x(4, seed=2, dtype=dtype)
    ref = empirical_ntk_naive(net, x1, x2)
    torch.testing.assert_close(empirical_ntk(net, x1, x2, method="structured"), ref, **tol)
    torch.testing.assert_close(empirical_ntk(net, x1, method="structured"), empirical_ntk_naive(net, x1), **tol)
    torch.testing.assert_close(empirical_ntk(net, x1, x2, method="structured", trace="mean"),
                               ref.diagonal(dim1=2, dim2=3).mean(-1), **tol)


def test_structured_plain_linear_and_frozen_layers():
    net = _net()
    net[2].weight.requires_grad_(False)      # a frozen weight contributes nothing
    x = _x(6)
    torch.testing.assert_close(empirical_ntk(net, x, method="structured"), empirical_ntk_naive(net, x))


class _Odd(nn.Module):
    """Everything the recognition of dense layers must not get wrong: a layer called twice, a
    weight shared by two layers, a weight also used outside its layer, a custom parameter, a
    buffer, a layer applied at several positions, a conv layer, and pytree outputs."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 6)
        self.tied = nn.Linear(6, 6)  # called twice
        self.b = nn.Linear(6, 4)
        self.c = nn.Linear(6, 2, bias=False)
        self.c2 = nn.Linear(6, 2)
        self.c2.weight = self.c.weight  # one parameter in two layers
        self.scale = nn.Parameter(torch.randn(4))  # not a layer's parameter
        self.register_buffer("shift", torch.randn(4))
        self.seq = nn.Linear(2, 3)  # applied at three positions per example
        self.leak = nn.Linear(4, 4)  # its weight also enters the output directly
        self.conv = nn.Conv1d(1, 2, 3, padding=1)

    def forward(self, x):
        h = torch.tanh(self.a(x))
        h = torch.tanh(self.tied(torch.tanh(self.tied(h))))
        y = self.b(h) * self.scale + self.shift
        y = self.leak(y) + 0.1 * self.leak.weight.sum()
        z = self.c(h) + self.c2(h) + self.conv(h[:, None, :2]).flatten(1)[:, :2]
        return y, {"z": z, "s": self.seq(h.reshape(-1, 3, 2)).sum(1)}


def test_structured_is_exact_for_any_module():
    from nips2019.ntk._empirical import _params_buffers
    from nips2019.ntk._structured import structured_layers

    torch.manual_seed(0)
    net = _Odd().double()
    x1, x2 = _x(5, d=3), _x(4, d=3, seed=2)
    params, buffers = _params_buffers("t", net, None, x1)
    recognised = [layer.weight_key for layer in structured_layers(net, params, buffers, x1, x2)]
    assert recognised == ["a.weight", "b.weight", "seq.weight"]  # tied, shared, leaking: generic
    ref = empirical_ntk_naive(net, x1, x2)
    assert ref.shape == (5, 4, 9, 9)
    for method in ("auto", "structured"):
        torch.testing.assert_close(empirical_ntk(net, x1, x2, method=method), ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(empirical_ntk(net, x1, x2, method=method, trace="sum", batch_size=2),
                                   ref.diagonal(dim1=2, dim2=3).sum(-1), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(empirical_ntk(net, x1), empirical_ntk_naive(net, x1), rtol=1e-10, atol=1e-12)
    # explicit params: a subset, at other values (the factorisation needs no weight values)
    sub = {k: v.detach() + 0.1 for k, v in net.named_parameters() if k in ("b.weight", "scale", "a.bias")}
    torch.testing.assert_close(empirical_ntk(net, x1, x2, params=sub, method="structured"),
                               empirical_ntk(net, x1, x2, params=sub, method="jacobian"), rtol=1e-10, atol=1e-12)


def test_structured_recognises_only_plain_dense_layers():
    class Hooked(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)
            self.lin.register_forward_hook(lambda m, a, out: 2 * out)  # changes what the layer computes

        def forward(self, z):
            return self.lin(z)

    net = Hooked().double()
    x = _x(4)
    torch.testing.assert_close(empirical_ntk(net, x, method="structured"), empirical_ntk_naive(net, x))
    # a layer called twice is not factorised, and the result is still exact
    lin = nn.Linear(4, 4).double()
    twice = nn.Sequential(lin, nn.Tanh(), lin)
    torch.testing.assert_close(empirical_ntk(twice, x, method="structured"), empirical_ntk_naive(twice, x))


@pytest.mark.parametrize("fn", ["empirical_ntk", "flat_jacobian", "empirical_ntk_naive", "ntk_vector_product"])
def test_dtype_mismatch_is_refused_naming_both(fn):
    # Issue 12: a float32 model with float64 inputs gave torch's bare "mat1 and mat2" RuntimeError.
    import nips2019.ntk as ntk

    net = _net(torch.float32)
    x = _x(3)  # float64
    kwargs = dict(v=_x(3, d=3, dtype=torch.float32)) if fn == "ntk_vector_product" else {}
    args = (net, x, x) if fn == "ntk_vector_product" else (net, x)
    with pytest.raises(TypeError, match=r"(x1|x) has dtype torch.float64 but model has torch.float32"):
        getattr(ntk, fn)(*args, **kwargs)


def test_no_silent_conversion_of_v():
    net = _net()
    x = _x(3)
    with pytest.raises(TypeError, match="v has dtype torch.float32 but model has torch.float64"):
        ntk_vector_product(net, x, x, _x(3, d=3, dtype=torch.float32))


def test_inputs_the_model_cannot_take_are_named():
    net = _net()
    with pytest.raises(ValueError, match="model cannot be applied to x1 of shape \\(3, 5\\)"):
        empirical_ntk(net, _x(3, d=5))
    with pytest.raises(ValueError, match="params has key 'nope'"):
        empirical_ntk(net, _x(3), params={"nope": torch.zeros(1, dtype=torch.float64)})
    with pytest.raises(ValueError, match="params\\['0.weight'\\] must have shape \\(16, 4\\)"):
        empirical_ntk(net, _x(3), params={"0.weight": torch.zeros(2, 2, dtype=torch.float64)})
    with pytest.raises(TypeError, match="params\\['0.weight'\\] is torch.float32"):
        empirical_ntk(net, _x(3), params={"0.weight": torch.zeros(16, 4)})


# ----------------------------------------------------------------------------- issue 14


class _TupleNet(nn.Module):
    """Two heads returned as a tuple, a dict or a nested pytree; a tied (shared) layer."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.body = nn.Linear(4, 8)
        self.a = nn.Linear(8, 2)
        self.b = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.tanh(self.body(x))
        h = torch.tanh(self.body(h[:, :4] + x))  # the same layer twice: tied weights
        a, b = self.a(h), self.b(h)
        if self.kind == "tuple":
            return a, b
        if self.kind == "dict":
            return {"a": a, "b": b}
        return [a, {"b": b}]


class _Concat(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        a, b = self.net(x) if self.net.kind == "tuple" else (self.net(x)["a"], self.net(x)["b"])
        return torch.cat([a, b], 1)


@pytest.mark.parametrize("kind", ["tuple", "dict", "nested"])
@pytest.mark.parametrize("method", ["auto", "jacobian", "ntvp", "naive"])
def test_pytree_outputs(kind, method):
    torch.manual_seed(0)
    net = _TupleNet(kind).double()
    x1, x2 = _x(5), _x(3, seed=2)
    ref_net = _TupleNet("tuple").double()
    ref_net.load_state_dict(net.state_dict())
    ref = empirical_ntk_naive(_Concat(ref_net), x1, x2)
    assert ref.shape == (5, 3, 5, 5)
    if method == "naive":
        k = empirical_ntk_naive(net, x1, x2)
    else:
        k = empirical_ntk(net, x1, x2, method=method, batch_size=2)
    torch.testing.assert_close(k, ref)
    # tied weights count once: the NTK of the tied net is not the sum over two copies
    assert ref.abs().max() > 0


def test_results_are_detached():
    net = mlp(3, 8, depth=1, out_features=2, generator=0)
    x = torch.randn(4, 3)
    for method in ("auto", "jacobian", "ntvp", "structured"):
        k = empirical_ntk(net, x, method=method)
        assert not k.requires_grad, method
        k.numpy()  # no "Can't call numpy() on Tensor that requires grad"
    assert not empirical_ntk_naive(net, x).requires_grad


def test_auto_matches_every_method():
    net = _net(out=4)
    x1, x2 = _x(6), _x(5, seed=2)
    ref = empirical_ntk_naive(net, x1, x2)
    torch.testing.assert_close(empirical_ntk(net, x1, x2), ref)  # auto -> structured (Sequential)
    conv = _Conv().double().eval()
    xc = _x(5, d=6)
    ref_c = empirical_ntk_naive(conv, xc)
    torch.testing.assert_close(empirical_ntk(conv, xc), ref_c)  # auto -> ntvp or jacobian
    torch.testing.assert_close(empirical_ntk(conv, xc, trace="mean"), ref_c.diagonal(dim1=2, dim2=3).mean(-1))


@pytest.mark.parametrize("layer", [nn.Dropout(0.2), nn.BatchNorm1d(16), nn.AlphaDropout(0.1)])
def test_train_mode_layers_refused_with_reason(layer):
    net = nn.Sequential(nn.Linear(4, 16), layer, nn.Tanh(), nn.Linear(16, 2)).double()
    x = _x(4)
    why = "batch" if isinstance(layer, nn.BatchNorm1d) else "random mask"
    for call in (lambda: empirical_ntk(net, x, method="jacobian"), lambda: empirical_ntk(net, x),
                 lambda: empirical_ntk_naive(net, x)):
        with pytest.raises(ValueError, match=f"training mode.*{why}.*model.eval"):
            call()
    net.eval()  # then it is a fixed function and every route agrees
    torch.testing.assert_close(empirical_ntk(net, x, method="jacobian"), empirical_ntk_naive(net, x))


def test_default_blocks_follow_the_budget(monkeypatch):
    from nips2019.ntk import _empirical

    net = _net(out=3)
    x = _x(9)
    ref = empirical_ntk_naive(net, x)
    # A budget of about one example per block: many blocks, still the same numbers.
    per_example = 3 * sum(p.numel() for p in net.parameters()) * 8
    monkeypatch.setattr(_empirical, "JACOBIAN_BUDGET", 2 * per_example)
    assert _empirical._block_size(None, 3, dict(net.named_parameters()), x) == 1
    for method in ("jacobian", "ntvp"):
        torch.testing.assert_close(empirical_ntk(net, x, method=method), ref)
        torch.testing.assert_close(empirical_ntk(net, x, _x(4, seed=3), method=method),
                                   empirical_ntk_naive(net, x, _x(4, seed=3)))


def test_a_module_registered_twice_keeps_its_parameters():
    # torch.func.functional_call(tie_weights=True) leaves such a module with plain tensors
    # in place of its parameters; every route must leave the model as it was.
    lin = nn.Linear(4, 4).double()
    twice = nn.Sequential(lin, nn.Tanh(), lin)
    x = _x(3)
    for method in ("jacobian", "ntvp", "structured"):
        empirical_ntk(twice, x, method=method)
        assert isinstance(lin.weight, nn.Parameter) and len(list(twice.parameters())) == 2, method
    torch.testing.assert_close(empirical_ntk(twice, x), empirical_ntk_naive(twice, x))
