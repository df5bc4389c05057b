"""Contract cases for nips2019.polyproofs (see tests/contract.py)."""

import torch

from nips2019 import polyproofs as pp
from tests.contract import Bad, Case, check_case, contract_params


def _tri():
    return ~torch.eye(3, dtype=torch.bool)


def _path():
    adj = torch.zeros(3, 3, dtype=torch.bool)
    adj[0, 1] = adj[1, 0] = adj[1, 2] = adj[2, 1] = True
    return adj


def _x(i, n=2):
    return pp.Polynomial.variable(i, n)


def _cube():
    return pp.hypercube_problem(_x(0) * _x(1) - _x(0))


def _proof():
    return pp.static_proof(_cube(), 2)


CASES = [
    Case(pp.Polynomial, lambda: dict(exponents=torch.tensor([[0, 0], [1, 2]]),
                                     coefficients=torch.tensor([1.0, -2.0], dtype=torch.float64)),
         bad=[Bad(dict(exponents=torch.tensor([[0, -1], [1, 2]])), "exponents", why="negative power")]),
    Case(pp.Polynomial.constant, lambda: dict(value=2.0, n_vars=2), name="Polynomial.constant"),
    Case(pp.Polynomial.variable, lambda: dict(index=1, n_vars=2), name="Polynomial.variable",
         bad=[Bad(dict(index=2), "index must be < n_vars = 2", why="no such variable")]),
    Case(pp.ProofProblem, lambda: dict(objective=_x(0) * _x(1), axioms=[_x(0), 1 - _x(0)],
                                       ideal=torch.tensor([[1, 1]]), boolean=False),
         bad=[Bad(dict(ideal=torch.tensor([[0, 0]])), "constant monomial", why="1 = 0 on the domain"),
              Bad(dict(axioms=[pp.Polynomial.variable(0, 3)]), r"axioms\[0\] has 3 variables",
                  why="variables do not match")]),
    Case(pp.hypercube_problem, lambda: dict(objective=_x(0) * _x(1), constraints=[1 - _x(0) - _x(1)],
                                            boolean=False),
         bad=[Bad(dict(constraints=[pp.Polynomial.variable(0, 3)]), "constraints", why="3 variables")]),
    Case(pp.stable_set_problem, lambda: dict(adjacency=_path()),
         bad=[Bad(dict(adjacency=torch.tensor([[False, True], [False, False]])), "symmetric",
                  why="a directed edge"),
              Bad(dict(adjacency=torch.eye(2, dtype=torch.bool)), "diagonal", why="self-loops")]),
    Case(pp.max_cut_problem, lambda: dict(adjacency=_tri()),
         bad=[Bad(dict(adjacency=torch.tensor([[False, True], [False, False]])), "symmetric",
                  why="a directed edge")]),
    Case(pp.random_graph, lambda: dict(n_nodes=5, p=0.5, generator=0),
         bad=[Bad(dict(p=1.5), "p", why="not a probability")]),
    Case(pp.vertex_minimum, lambda: dict(problem=pp.stable_set_problem(_path())),
         bad=[Bad(dict(problem=pp.stable_set_problem(torch.zeros(21, 21, dtype=torch.bool))), "n <= 20",
                  why="2^21 points")]),
    Case(pp.certify, lambda: dict(problem=pp.stable_set_problem(_tri()), factors=[[1, 3, 5], [0]]),
         bad=[Bad(dict(factors=[[1, 9]]), "refers to axiom 9", why="no such axiom")]),
    Case(pp.static_proof, lambda: dict(problem=_cube(), degree=2, progress=False),
         allow_nonfinite="-inf is the documented bound when no certificate of this degree exists"),
    Case(pp.dynamic_proof, lambda: dict(problem=pp.stable_set_problem(_tri()), n_steps=2, max_degree=3,
                                        policy="greedy", n_lookahead=2, generator=0, progress=False),
         allow_nonfinite="-inf is the documented bound while no certificate exists"),
    Case(pp.verify_certificate, lambda: dict(problem=_cube(), result=_proof()),
         bad=[Bad(dict(result=pp.static_proof(pp.max_cut_problem(_tri()), 1)), "must be finite",
                  why="no certificate to check")]),
]

EXEMPT = {
    "ProofResult": "result container (dataclass) returned by static_proof, certify and dynamic_proof",
    "DynamicProofResult": "result container (dataclass) returned by dynamic_proof",
    "CertificateCheck": "result container (dataclass) returned by verify_certificate",
}


@contract_params(CASES)
def test_contract(case):
    check_case(case)
