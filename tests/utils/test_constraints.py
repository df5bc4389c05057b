"""The constraint types and the validate decorator: each accepts what it should and refuses the rest clearly."""

import math

import numpy as np
import pytest
import torch

from nips2019.utils import (
    AnyOf,
    Bool,
    Device,
    DType,
    Generator,
    InstanceOf,
    Integer,
    IsCallable,
    Items,
    Module,
    Options,
    Probability,
    Real,
    Tensor,
    as_generator,
    check_arguments,
    constraints_of,
    randn,
    validate,
)


@validate(
    x=Tensor(shape=("n", "d"), dtype="floating"),
    y=Tensor(shape=("m", "d"), dtype="floating", optional=True),
    index=Tensor(shape=("k",), dtype="integer", high="n", optional=True),
    k=Integer(low=1),
    lr=Real(low=0, closed="neither"),
    mode=Options("a", "b"),
    same=[("x", "y")],
)
def _f(x, y=None, index=None, *, k=1, lr=0.1, mode="a"):
    return x.sum()


def test_valid_call_passes_through():
    x = torch.zeros(3, 2)
    assert _f(x, torch.ones(4, 2), torch.tensor([0, 2]), k=2, lr=1.0, mode="b") == 0


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(x=torch.zeros(3)), ValueError, r"_f: x must be 2-D \(n, d\), got shape \(3,\)"),
        (dict(x=torch.zeros(3, 2, dtype=torch.long)), TypeError, "x must have a floating-point dtype"),
        (dict(x=np.zeros((3, 2))), TypeError, "x must be a torch.Tensor, got a numpy array .*torch.as_tensor"),
        (dict(x=None), TypeError, "x must be a torch.Tensor.*got None"),
        (dict(x=torch.zeros(0, 2)), ValueError, "x must not be empty"),
        (dict(x=torch.tensor([[math.nan, 0.0]])), ValueError, r"x contains 1 non-finite value\(s\)"),
        (dict(x=torch.zeros(3, 2), y=torch.zeros(4, 3)), ValueError, "y has size 3 along axis 1 .d. but x has d = 2"),
        (dict(x=torch.zeros(3, 2), y=torch.zeros(4, 2, dtype=torch.float64)), TypeError, "y has dtype torch.float64 but x"),
        (dict(x=torch.zeros(3, 2), index=torch.tensor([0, 3])), ValueError, r"index must have values in \[0, 3\), got max 3"),
        (dict(x=torch.zeros(3, 2), index=torch.tensor([-1])), ValueError, "index must have values in .*got min -1"),
        (dict(x=torch.zeros(3, 2), k=0), ValueError, "k must be an integer >= 1, got 0"),
        (dict(x=torch.zeros(3, 2), k=1.5), TypeError, "k must be an integer"),
        (dict(x=torch.zeros(3, 2), k=True), TypeError, "k must be an integer"),
        (dict(x=torch.zeros(3, 2), lr=0.0), ValueError, "lr must be a real number > 0"),
        (dict(x=torch.zeros(3, 2), lr=math.inf), ValueError, "lr must be a real number > 0, got inf"),
        (dict(x=torch.zeros(3, 2), lr="0.1"), TypeError, "lr must be a real number"),
        (dict(x=torch.zeros(3, 2), mode="c"), ValueError, "mode must be one of 'a', 'b', got 'c'"),
        (dict(x=torch.zeros(3, 2), mode=3), TypeError, "mode must be one of"),
    ],
)
def test_refusals_name_function_and_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _f(**kwargs)


def test_unknown_and_missing_arguments():
    with pytest.raises(TypeError, match="_f: missing a required argument: 'x'"):
        _f()
    with pytest.raises(TypeError, match="_f: got an unexpected keyword argument 'z'"):
        _f(torch.zeros(1, 1), z=1)


def test_declaration_errors_at_decoration_time():
    with pytest.raises(TypeError, match=r"no parameter\(s\) named \['nope'\]"):
        validate(nope=Integer())(lambda x: x)
    with pytest.raises(TypeError, match="must be a Constraint"):
        validate(x=int)


def test_constraints_are_introspectable():
    assert set(constraints_of(_f)) == {"x", "y", "index", "k", "lr", "mode"}

    class A:
        @validate(n=Integer(low=0))
        def __init__(self, n):
            self.n = n

    assert set(constraints_of(A)) == {"n"}
    with pytest.raises(ValueError, match="A: n must be an integer >= 0"):
        A(-1)


def test_tensor_values_norm_and_bounds():
    Tensor(values=(0, 1)).check(torch.tensor([0.0, 1.0]), "x")
    with pytest.raises(ValueError, match=r"x may only contain the values \(0, 1\)"):
        Tensor(values=(0, 1)).check(torch.tensor([0.0, 0.5]), "x")
    with pytest.raises(ValueError, match="row norms < 1, got 2"):
        Tensor(max_norm=1.0).check(torch.tensor([[2.0, 0.0]]), "x")
    Tensor(max_norm=1.0).check(torch.tensor([[0.5, 0.0]]), "x")
    with pytest.raises(ValueError, match=r"values in \[0, 1\], got max 2"):
        Tensor(low=0, high=1).check(torch.tensor([2.0]), "p")
    Tensor(finite=False).check(torch.tensor([math.inf]), "x")
    Tensor(nonempty=False).check(torch.zeros(0), "x")
    Tensor(high=lambda args: 5, dtype="integer").check(torch.tensor([4]), "i")


def test_scalars():
    for good in (1, np.int64(3), torch.tensor(2)):
        Integer(low=0).check(good, "n")
    for bad in (1.0, "1", np.float64(1.0)):
        with pytest.raises(TypeError):
            Integer().check(bad, "n")
    Real(0, 1, closed="neither").check(0.5, "p")
    with pytest.raises(ValueError):
        Real(0, 1, closed="neither").check(1.0, "p")
    Real(low=0, finite=False).check(math.inf, "t")
    with pytest.raises(ValueError):
        Real(finite=False).check(math.nan, "t")
    with pytest.raises(ValueError, match=r"p must be a real number in \[0, 1\]"):
        Probability().check(1.5, "p")
    Integer(optional=True).check(None, "n")
    with pytest.raises(TypeError, match="flag must be True or False"):
        Bool().check(1, "flag")
    with pytest.raises(TypeError, match="f must be callable"):
        IsCallable().check(3, "f")
    with pytest.raises(TypeError, match="obj must be a dict"):
        InstanceOf(dict).check([], "obj")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        Module().check(3, "model")
    Items(Real(low=0), length=2).check((1.0, 50.0), "reg_m")
    with pytest.raises(ValueError, match=r"reg_m\[1\] must be a real number >= 0"):
        Items(Real(low=0), length=2).check((1.0, -50.0), "reg_m")
    with pytest.raises(ValueError, match="reg_m must have 2 items, got 3"):
        Items(Real(low=0), length=2).check((1.0, 2.0, 3.0), "reg_m")


def test_generator_rule():
    Generator().check(None, "generator")
    Generator().check(3, "generator")
    Generator().check(torch.Generator(), "generator")
    with pytest.raises(ValueError, match="non-negative seed"):
        Generator().check(-1, "generator")
    with pytest.raises(TypeError, match="generator must be None, an int seed or a CPU torch.Generator"):
        Generator().check("seed", "generator")
    # same int seed, same numbers; a generator is advanced in place
    assert torch.equal(randn(3, generator=4), randn(3, generator=4))
    g = as_generator(4)
    a, b = randn(3, generator=g), randn(3, generator=g)
    assert not torch.equal(a, b) and torch.equal(a, randn(3, generator=4))
    # None draws from the global generator, so seeding it makes runs reproducible
    torch.manual_seed(0)
    c = randn(2)
    torch.manual_seed(0)
    assert torch.equal(c, randn(2))


def test_module_device_dtype_in_same_groups():
    @validate(model=Module(), x=Tensor(dtype="floating"), same=[("model", "x")])
    def apply(model, x):
        return model(x)

    net = torch.nn.Linear(2, 1)
    apply(net, torch.zeros(1, 2))
    with pytest.raises(TypeError, match="x has dtype torch.float64 but model has torch.float32"):
        apply(net, torch.zeros(1, 2, dtype=torch.float64))


def test_check_arguments():
    check_arguments("f", n=(3, Integer(low=0)))
    with pytest.raises(ValueError, match="f: n must be an integer >= 5"):
        check_arguments("f", n=(3, Integer(low=5)))


@pytest.mark.gpu
def test_generator_rule_same_numbers_on_cuda():
    cpu = randn(5, generator=7)
    cuda = randn(5, generator=7, device="cuda")
    assert cuda.device.type == "cuda"
    torch.testing.assert_close(cuda.cpu(), cpu)
    with pytest.raises(ValueError, match="CPU torch.Generator"):
        as_generator(torch.Generator(device="cuda"))


@pytest.mark.gpu
def test_device_mismatch_refused_on_cuda():
    with pytest.raises(ValueError, match="y is on cuda:0 but x is on cpu"):
        _f(torch.zeros(2, 2), torch.zeros(2, 2, device="cuda"))


def test_batched_shapes_device_and_dtype():
    t = Tensor(shape=("...", "n", 2))
    for shape in ((3, 2), (4, 3, 2), (5, 4, 3, 2)):
        t.check(torch.zeros(shape), "x")
    with pytest.raises(ValueError, match=r"x must be at least 2-D \(\.\.\., n, 2\)"):
        t.check(torch.zeros(2), "x")
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., n, 2\), got \(4, 3, 5\)"):
        t.check(torch.zeros(4, 3, 5), "x")

    @validate(a=Tensor(shape=("...", "n")), b=Tensor(shape=("n",)))
    def f(a, b):
        return a

    f(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="b has size 4 along axis 0 .n. but a has n = 3"):
        f(torch.zeros(2, 3), torch.zeros(4))
    Device().check("cpu", "device")
    Device().check(torch.device("cpu"), "device")
    with pytest.raises(ValueError, match="device must name a device"):
        Device().check("gpu-ish", "device")
    with pytest.raises(TypeError, match="device must be a torch.device"):
        Device().check(3, "device")
    DType().check(torch.float64, "dtype")
    with pytest.raises(TypeError, match="dtype must be a torch.dtype with a floating-point dtype"):
        DType().check(torch.int64, "dtype")
    DType(kind=None).check(torch.int64, "dtype")


def test_any_of():
    c = AnyOf(Real(low=0, closed="neither", finite=False), Items(Real(low=0, closed="neither", finite=False), length=2))
    for good in (1.0, math.inf, (1.0, 50.0), [2, math.inf]):
        c.check(good, "reg_m")
    with pytest.raises(ValueError, match="reg_m must be a real number or inf > 0, got -1.0"):
        c.check(-1.0, "reg_m")
    with pytest.raises(ValueError, match=r"reg_m\[1\] must be a real number"):
        c.check((1.0, -2.0), "reg_m")
    with pytest.raises(TypeError, match="reg_m must be a real number or inf > 0 or a list or tuple"):
        c.check("big", "reg_m")
    with pytest.raises(ValueError, match=r"values in \[0, inf\), got min -1"):
        Tensor(dtype="integer", low=0).check(torch.tensor([-1]), "i")


def test_nan_refused_by_bounds_even_when_inf_is_allowed():
    t = Tensor(finite=False, low=0)
    t.check(torch.tensor([0.0, math.inf]), "d")
    with pytest.raises(ValueError, match="d contains 1 NaN value"):
        t.check(torch.tensor([0.0, math.nan]), "d")


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_device_refuses_missing_cuda():
    with pytest.raises(ValueError, match="device is 'cuda' but CUDA is not available"):
        Device().check("cuda", "device")


@pytest.mark.parametrize("value", [np.ones(3), np.ones((3, 3)), torch.ones(2, 2)])
def test_options_refuses_arrays_with_a_clear_message(value):
    # ``value in choices`` is elementwise for arrays; Options must not raise NumPy's
    # "truth value of an array is ambiguous" or pass a tensor through.
    with pytest.raises(TypeError, match="a must be one of 'uniform', got a (numpy array|tensor) of shape"):
        Options("uniform").check(value, "a")


def test_any_of_tensor_or_option_names_the_numpy_conversion():
    c = AnyOf(Tensor(ndim=1), Options("uniform"))
    c.check("uniform", "a")
    c.check(torch.ones(3), "a")
    with pytest.raises(TypeError, match=r"rank 1 or one of 'uniform', got a numpy array .*torch\.as_tensor"):
        c.check(np.ones((3, 3)), "a")
    with pytest.raises(ValueError, match="a must be 1-D"):
        c.check(torch.ones(3, 3), "a")
