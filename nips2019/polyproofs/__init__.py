"""Polynomial proofs: certificates of non-negativity from products of constraints, static and dynamic.

Sparse polynomials, problems on the unit cube and on polytopes (stable set, max cut, any
objective with linear constraints), the static linear-programming hierarchy of
Krivine / Sherali-Adams / Handelman certificates of a fixed degree, the dynamic proof
system of Fawzi, Malinowski, Fawzi & Fawzi (NeurIPS 2019) that grows the set of products
one multiplication at a time (here with a greedy column-generation policy and a random
baseline in place of the paper's learned one), and an exact rational re-check that turns
a floating-point certificate into a rigorous bound. See the chapter
:doc:`Certificates of non-negativity </book/proofs>`.
"""

from ._poly import Polynomial
from ._problems import (
    ProofProblem,
    hypercube_problem,
    max_cut_problem,
    random_graph,
    stable_set_problem,
    vertex_minimum,
)
from ._proofs import (
    CertificateCheck,
    DynamicProofResult,
    ProofResult,
    certify,
    dynamic_proof,
    static_proof,
    verify_certificate,
)

__all__ = [
    "CertificateCheck",
    "DynamicProofResult",
    "Polynomial",
    "ProofProblem",
    "ProofResult",
    "certify",
    "dynamic_proof",
    "hypercube_problem",
    "max_cut_problem",
    "random_graph",
    "stable_set_problem",
    "static_proof",
    "verify_certificate",
    "vertex_minimum",
]
