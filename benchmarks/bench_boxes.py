"""Benchmarks for the box-embeddings chapter.

All-pairs containment probabilities :math:`-\\log P(v \\mid u)` of ``n`` boxes
(``nips2019.boxes.BoxEmbedding.distance_matrix``, vectorised in blocks of rows) against a naive
double loop of interval arithmetic in Python (the independent reference of the tests); and one
epoch of box training on the WordNet mammals closure (``nips2019.boxes.train_boxes``, Gumbel
boxes, batches of 1024, 10 negatives, hand-written Adam) against one epoch of Poincaré training
from ``nips2019.hyperbolic.train_embedding`` with its fastest configuration (fused sparse
Riemannian SGD, the chapter's batch of 512 and 10 negatives). The IESL ``box-embeddings``
library is not installed here, so there is no peer-library row.
"""

from __future__ import annotations

import math

import torch

from benchmarks.run import Case
from nips2019.boxes import BoxEmbedding, train_boxes
from nips2019.hyperbolic import train_embedding, wordnet_mammals


def _naive_distances(lo, hi):
    lo, hi = lo.tolist(), hi.tolist()
    n = len(lo)

    def run():
        out = [[0.0] * n for _ in range(n)]
        for u in range(n):
            vol_u = math.prod(max(0.0, b - a) for a, b in zip(lo[u], hi[u]))
            for v in range(n):
                inter = math.prod(max(0.0, min(hu, hv) - max(lu, lv))
                                  for lu, hu, lv, hv in zip(lo[u], hi[u], lo[v], hi[v]))
                out[u][v] = -math.log(max(inter, 1e-300) / vol_u)
        return out

    return run


def cases(quick: bool) -> list:
    out = []
    for n in ([100] if quick else [200, 400]):
        emb = BoxEmbedding(n, 10, method="hard", init_width=0.8, generator=0, dtype=torch.float64)
        lo, hi = (c.detach() for c in emb.corners())
        out.append(Case(name=f"all-pairs -log P(v|u), {n} hard boxes, d = 10",
                        ours=emb.distance_matrix,
                        baselines={"naive double loop (Python floats)": _naive_distances(lo, hi)},
                        repeat=1 if n > 200 else 3,
                        note="same numbers to 1e-10 (tests/boxes, test_distance_matrix_matches_interval_arithmetic)"))
    mam = wordnet_mammals()
    epochs = 1 if quick else 5
    out.append(Case(
        name=f"training on the mammals closure (6540 pairs), d = 5, {epochs} epoch(s)",
        ours=lambda: train_boxes(mam.closure, mam.n_nodes, 5, n_epochs=epochs, generator=0, progress=False),
        baselines={"Poincaré, fused sparse RSGD (nips2019.hyperbolic)": lambda: train_embedding(
            mam.closure, mam.n_nodes, 5, n_epochs=epochs, lr=100.0, batch_size=512, n_negatives=10,
            n_burnin_epochs=0, dtype=torch.float64, generator=0, progress=False)},
        repeat=1 if not quick else 2,
        note="float32 boxes vs float64 points; Poincaré is faster per epoch, so the chapter gives it twice the epochs"))
    return out
