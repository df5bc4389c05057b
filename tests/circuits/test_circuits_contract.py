"""Contract cases for nips2019.circuits (see tests/contract.py)."""

import math

import torch

from nips2019 import circuits
from nips2019.circuits import Circuit, CircuitBuilder
from tests.contract import Bad, Case, check_case, contract_params

F64 = torch.float64


def _binary(n=12, v=4, seed=0):
    return (torch.rand(n, v, generator=torch.Generator().manual_seed(seed)) < 0.5).to(F64)


def _mixed_builder():
    """Two components over a binary, a 3-category and a Gaussian variable: (builder, root)."""
    b = CircuitBuilder()
    s = b.sum(
        [
            b.product([b.bernoulli(0, 0.8), b.categorical(1, [0.2, 0.3, 0.5]), b.gaussian(2, 0.0, 1.0)]),
            b.product([b.bernoulli(0, 0.3), b.categorical(1, [0.6, 0.3, 0.1]), b.gaussian(2, 1.0, 0.5)]),
        ],
        [0.4, 0.6],
    )
    return b, s


def _mixed():
    b, s = _mixed_builder()
    return b.build(s, dtype=F64)


def _mixed_x():
    return torch.tensor([[1.0, 2.0, 0.3], [0.0, math.nan, -1.2], [math.nan, 0.0, math.nan]], dtype=F64)


def _independent():
    """The issue's example: a fully factorised circuit over 4 binary variables."""
    return circuits.independent_circuit(_binary())


def _method(name, make_circuit, make_x, **extra):
    def make():
        c = make_circuit()
        return getattr(c, name), dict(x=make_x(), **extra)

    return make


def _row(*values):
    return torch.tensor([values], dtype=F64)


# Non-binary values for Bernoulli variables, and categories out of range (issue 12).
NOT_BINARY = [
    Bad(dict(x=_row(7.0, 0, 1, 0)), r"x\[0, 0\] = 7 is not in the domain \{0, 1\}", why="7 for a binary variable"),
    Bad(dict(x=_row(math.inf, 0, 1, 0)), "x contains 1 infinite", why="inf for a binary variable"),
    Bad(dict(x=_row(0.5, 0, 1, 0)), r"x\[0, 0\] = 0.5 is not in the domain", why="0.5 for a binary variable"),
    Bad(dict(x=_row(0, -1.0, 1, 0)), r"x\[0, 1\] = -1 is not in the domain", why="-1 for a binary variable"),
]
MIXED_DOMAIN = [
    Bad(dict(x=_row(1.0, 3.0, 0.0)), r"x\[0, 1\] = 3 is not in the domain \{0, \.\.\., 2\}", why="category 3 of 3"),
    Bad(dict(x=_row(1.0, 1.5, 0.0)), r"x\[0, 1\] = 1.5 is not in the domain", why="fractional category"),
    Bad(dict(x=_row(2.0, 1.0, 0.0)), r"x\[0, 0\] = 2 is not in the domain \{0, 1\}", why="2 for a binary variable"),
    Bad(dict(x=_row(1.0, 1.0, -math.inf)), "x contains 1 infinite", why="-inf for a Gaussian variable"),
    Bad(dict(x=torch.zeros(2, 4, dtype=F64)), r"x must have shape \(n, 3\)", why="wrong number of variables"),
    Bad(dict(x=_mixed_x().float()), "x has dtype torch.float32 but the circuit", why="dtype mismatch"),
]
LEARN_DOMAIN = [
    Bad(dict(x=torch.cat([_binary(), _row(7.0, 0, 1, 0)])), "is not in the domain", why="7 in binary training data"),
    Bad(dict(x=torch.cat([_binary(), _row(0.5, 0, 1, 0)])), "is not in the domain", why="0.5 in binary training data"),
    Bad(dict(x=torch.cat([_binary(), _row(math.nan, 0, 1, 0)])), r"x must be complete \(no NaN\)", why="missing value"),
]
DATA_DOMAIN = [
    Bad(dict(x=torch.cat([_binary(), _row(0.5, 0, 1, 0)])), "x must hold non-negative integer", why="0.5 in data"),
    Bad(dict(x=torch.cat([_binary(), _row(-1.0, 0, 1, 0)])), "x must hold non-negative integer", why="-1 in data"),
]
NEGATIVE_PSEUDOCOUNT = [Bad(dict(pseudocount=-1.0), "pseudocount must be", why="negative pseudocount (issue 12)")]


def _with(bads, **kwargs):
    """The same bad calls with extra arguments (e.g. ``missing=None`` where the valid call has a mask)."""
    return [Bad({**b.kwargs, **kwargs}, b.match, b.exc, b.why) for b in bads]


def _structured():
    vt = (0, (1, 2))
    return circuits.random_structured_circuit(vt, width=2, generator=0), vt


def _nonsmooth():
    b, r = circuits.random_structured_circuit((0, (1, 2)), width=2, generator=0)
    return b.build(r, dtype=F64)


def _em_circuit():
    return circuits.mixture_circuit(_binary(), 2, generator=0)


def _builder_with_leaves():
    b = CircuitBuilder()
    b.bernoulli(0, 0.3)
    b.bernoulli(1, 0.6)
    return b


CASES = [
    # ------------------------------------------------------------------ the compiled circuit
    Case(
        Circuit,
        lambda: dict(zip(("builder", "root"), _mixed_builder()), n_vars=4, dtype=F64, device="cpu", min_std=1e-3),
        bad=[
            Bad(dict(root=99), "root must be a node id", why="root out of range"),
            Bad(dict(n_vars=2), "n_vars=2 but the circuit uses variable 2", why="too few variables"),
            Bad(dict(dtype=torch.int64), "dtype must be a torch.dtype with a floating", why="integer dtype"),
        ],
    ),
    Case(None, _method("forward", _independent, lambda: _binary(1), missing=torch.zeros(1, 4, dtype=torch.bool)),
         name="Circuit.forward", bad=NOT_BINARY + [
             Bad(dict(missing=torch.zeros(2, 4, dtype=torch.bool)), "missing has size 2 along axis 0", why="mask of another shape"),
         ]),
    Case(None, _method("log_likelihood", _mixed, _mixed_x), name="Circuit.log_likelihood", bad=MIXED_DOMAIN),
    Case(None, _method("leaf_flows", _mixed, _mixed_x), name="Circuit.leaf_flows", bad=MIXED_DOMAIN),
    Case(None, _method("marginals", _mixed, _mixed_x, missing=torch.zeros(3, 3, dtype=torch.bool)),
         name="Circuit.marginals", bad=_with(MIXED_DOMAIN, missing=None)),
    Case(None, _method("mpe", _independent, lambda: _row(math.nan, 0, 1, 0)), name="Circuit.mpe", bad=NOT_BINARY),
    Case(None, _method("sample", _mixed, _mixed_x, generator=0), name="Circuit.sample", bad=MIXED_DOMAIN),
    # ------------------------------------------------------------------ the builder
    Case(CircuitBuilder, lambda: {}),
    Case(None, lambda: (CircuitBuilder().bernoulli, dict(var=0, p=0.3)), name="CircuitBuilder.bernoulli",
         bad=[Bad(dict(p=1.0), "p must be", why="p = 1")]),
    Case(None, lambda: (CircuitBuilder().indicator, dict(var=0, value=1)), name="CircuitBuilder.indicator"),
    Case(None, lambda: (CircuitBuilder().categorical, dict(var=1, probs=[0.2, 0.8])), name="CircuitBuilder.categorical",
         bad=[Bad(dict(probs=[0.5, 0.6]), "probs must sum to 1"), Bad(dict(probs=[1.0]), "probs must have at least 2")]),
    Case(None, lambda: (CircuitBuilder().gaussian, dict(var=2, mean=0.5, std=1.0)), name="CircuitBuilder.gaussian"),
    Case(None, lambda: (_builder_with_leaves().product, dict(children=[0, 1])), name="CircuitBuilder.product",
         bad=[Bad(dict(children=[0, 5]), "children must be existing node ids"),
              Bad(dict(children=[]), "children must have at least 1")]),
    Case(None, lambda: (_builder_with_leaves().sum, dict(children=[0, 1], weights=[0.5, 0.5])),
         name="CircuitBuilder.sum",
         bad=[Bad(dict(weights=[1.0]), "weights must have one entry per child"),
              Bad(dict(weights=[0.5, -0.5]), r"weights\[1\] must be")]),
    # ------------------------------------------------------------------ structure learners and baselines
    Case(circuits.chow_liu_tree, lambda: dict(x=_binary(), pseudocount=1.0, root=0),
         bad=DATA_DOMAIN + NEGATIVE_PSEUDOCOUNT + [Bad(dict(root=4), "root must be a variable index")]),
    Case(circuits.chow_liu_circuit, lambda: dict(x=_binary(), pseudocount=1.0),
         bad=DATA_DOMAIN + NEGATIVE_PSEUDOCOUNT + [Bad(dict(pseudocount=0.0), "pseudocount must be a real number > 0")]),
    Case(circuits.independent_circuit, lambda: dict(x=_binary(), pseudocount=1.0), bad=DATA_DOMAIN + NEGATIVE_PSEUDOCOUNT),
    Case(circuits.hclt, lambda: dict(x=_binary(), n_latent=2, pseudocount=1.0, generator=0),
         bad=DATA_DOMAIN + NEGATIVE_PSEUDOCOUNT),
    Case(circuits.mixture_circuit, lambda: dict(x=_binary(), n_components=2, generator=0),
         bad=DATA_DOMAIN + [Bad(dict(x=2 * _binary()), "x must be binary")]),
    Case(circuits.random_region_circuit,
         lambda: dict(n_vars=4, depth=1, n_repetitions=1, n_sums=2, n_inputs=2, generator=0, dtype=F64, device="cpu"),
         bad=[Bad(dict(depth=3), "depth must satisfy"), Bad(dict(dtype=torch.int32), "dtype must be a torch.dtype with a floating")]),
    Case(circuits.mixture_of, lambda: dict(circuits=[_independent(), circuits.chow_liu_circuit(_binary())],
                                          weights=[0.25, 0.75]),
         bad=[
             Bad(dict(circuits=[_independent(), circuits.independent_circuit(_binary(v=3))]), "must share n_vars"),
             Bad(dict(circuits=[_independent(), circuits.independent_circuit(_binary().float())]),
                 r"circuits\[1\] has dtype torch.float32"),
             Bad(dict(weights=[1.0]), "weights must have one entry per circuit"),
             Bad(dict(circuits=[_independent(), "a circuit"]), r"circuits\[1\] must be"),
             Bad(dict(circuits=[]), "circuits must have at least 1"),
         ]),
    Case(circuits.load_binary_digits, lambda: dict(threshold=8, n_test=360, generator=0, dtype=torch.float32),
         bad=[Bad(dict(dtype=torch.int64), "dtype must be a torch.dtype with a floating")]),
    # ------------------------------------------------------------------ learning
    Case(circuits.em_step, lambda: dict(circuit=_em_circuit(), x=_binary(), pseudocount=0.0, chunk_size=5,
                                        leaf_pseudocount=0.1),
         bad=LEARN_DOMAIN + [Bad(dict(x=_binary(v=3)), r"x must have shape \(n, 4\)")]),
    Case(circuits.fit_em, lambda: dict(circuit=_em_circuit(), x=_binary(), n_epochs=2, pseudocount=0.1, batch_size=5,
                                       step_size=0.5, chunk_size=4, leaf_pseudocount=0.1, generator=0, progress=False),
         bad=LEARN_DOMAIN + NEGATIVE_PSEUDOCOUNT + [Bad(dict(x=_binary().float()), "x has dtype torch.float32")]),
    Case(circuits.fit_gradient, lambda: dict(circuit=_em_circuit(), x=_binary(), n_epochs=2, lr=0.05, batch_size=5,
                                             generator=0, progress=False),
         bad=LEARN_DOMAIN),
    Case(circuits.hclt_ensemble, lambda: dict(x=_binary(), n_members=2, n_latent=2, n_epochs=1, pseudocount=1e-3,
                                              chunk_size=8, generator=0, progress=False),
         bad=DATA_DOMAIN + NEGATIVE_PSEUDOCOUNT),
    # ------------------------------------------------------------------ structure and smoothing
    Case(circuits.is_smooth, lambda: dict(circuit=_structured()[0]),
         bad=[Bad(dict(circuit=(CircuitBuilder(), 0)), r"circuit\[1\] \(the root\) must be a node id")]),
    Case(circuits.is_decomposable, lambda: dict(circuit=_independent()),
         bad=[Bad(dict(circuit=CircuitBuilder()), "circuit must be a Circuit or a")]),
    Case(circuits.is_deterministic, lambda: dict(circuit=circuits.chow_liu_circuit(_binary()), max_assignments=64),
         bad=[Bad(dict(max_assignments=8), "16 joint states, more than max_assignments=8")]),
    Case(circuits.is_structured_decomposable, lambda: dict(circuit=_structured()[0], vtree=(0, (1, 2))),
         bad=[Bad(dict(vtree=(0, (1, 1))), "vtree repeats variable 1"), Bad(dict(vtree=(0, -1)), "vtree leaves must")]),
    Case(circuits.smooth, lambda: dict(circuit=_structured()[0], vtree=(0, (1, 2)), method="interval"),
         bad=[
             Bad(dict(vtree=(0, 1)), "variable 2 is not in the vtree"),
             Bad(dict(vtree=(0, (1, (2, 2)))), "vtree repeats variable 2"),
             Bad(dict(vtree=((0, 1), 2)), "not structured-decomposable"),
             Bad(dict(circuit=(CircuitBuilder(), 3)), "the root"),
         ]),
    Case(circuits.all_marginals, lambda: dict(circuit=_nonsmooth(), x=_row(math.nan, 1.0, math.nan),
                                                missing=torch.zeros(1, 3, dtype=torch.bool)),
         bad=[
             Bad(dict(x=_row(2.0, 1.0, 0.0), missing=None), r"x\[0, 0\] = 2 is not in the domain", why="2 for a binary variable"),
             Bad(dict(circuit=_mixed(), x=_mixed_x(), missing=None), "discrete variables only", why="Gaussian input"),
             Bad(dict(x=torch.zeros(2, 4, dtype=F64), missing=None), r"x must have shape \(n, 3\)", why="wrong width"),
         ]),
    Case(circuits.random_structured_circuit, lambda: dict(vtree=(0, 1), width=2, skip=0.5, generator=0),
         bad=[Bad(dict(skip=1.5), "skip must be"), Bad(dict(vtree=(0, (1, 0))), "vtree repeats variable 0")]),
    Case(circuits.right_linear_vtree, lambda: dict(n_vars=4)),
    Case(circuits.balanced_vtree, lambda: dict(n_vars=5, start=2)),
]

EXEMPT = {
    "MPEResult": "result container returned by Circuit.mpe (a dataclass of two tensors)",
    "SmoothingResult": "result container returned by smooth (a dataclass)",
    "AllMarginalsResult": "result container returned by all_marginals (a dataclass of two tensors)",
    "EMResult": "result container returned by fit_em (a dataclass of the per-epoch log-likelihoods)",
    "GradientResult": "result container returned by fit_gradient (a dataclass of the per-epoch log-likelihoods)",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
