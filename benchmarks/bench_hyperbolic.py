"""Benchmarks for the chapter *Hyperbolic embeddings of hierarchies*.

* reconstruction metrics (mean rank + MAP): vectorised vs the naive Python loop;
* one training epoch on the WordNet mammals closure (relations/s in the note);
* gensim's ``PoincareModel`` (a peer implementation, single-threaded Cython/NumPy) when gensim is
  importable; it is not a dependency of the project, so the row is skipped otherwise. Its default
  batch size is 10 (ours: 512), so the ratio compares epoch times, not identical updates.
"""

from __future__ import annotations

import torch

from benchmarks.run import Case
from nips2019.hyperbolic import (
    random_tree,
    reconstruction,
    reconstruction_naive,
    train_embedding,
    wordnet_mammals,
)


def cases(quick: bool) -> list[Case]:
    out = []
    h = wordnet_mammals()
    if quick:
        t = random_tree(150, torch.Generator().manual_seed(0))
        closure, n, label = t.closure, t.n_nodes, "random tree n=150"
    else:
        closure, n, label = h.closure, h.n_nodes, "WordNet mammals n=1180"
    x = torch.randn(n, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    d = torch.cdist(x, x)
    out.append(Case(
        name=f"reconstruction MR+MAP, {label} ({len(closure)} pairs)",
        ours=lambda: reconstruction(d, closure),
        baselines={"naive Python loop": lambda: reconstruction_naive(d, closure)},
        repeat=3,
        note="float64, same definition (tested equal)",
    ))
    h = wordnet_mammals()
    epochs = 1 if quick else 3
    stats = {}

    def run(model):
        def go():
            res = train_embedding(h.closure, h.n_nodes, 5, model, epochs=epochs, lr=10.0, batch_size=512,
                                  negatives=10, burnin=0, generator=torch.Generator().manual_seed(0),
                                  dtype=torch.float64, progress_bar=False)
            stats[model] = res.relations_per_second
        return go

    baselines = {"same loop, Euclidean": run("euclidean"), "same loop, Lorentz": run("lorentz")}
    try:
        import logging

        from gensim.models.poincare import PoincareModel

        logging.getLogger("gensim").setLevel(logging.ERROR)
        relations = [(h.names[u], h.names[v]) for u, v in h.closure.tolist()]

        def gensim_epochs():
            model = PoincareModel(relations, size=5, negative=10, burn_in=0, seed=0)
            model.train(epochs=epochs, batch_size=10, print_every=10**9)

        baselines["gensim PoincareModel (batch 10)"] = gensim_epochs
    except ImportError:
        pass
    out.append(Case(
        name=f"train {epochs} epoch(s), mammals closure (6540 pairs), d=5, 10 negatives, batch 512",
        ours=run("poincare"),
        baselines=baselines,
        repeat=2,
        note="RiemannianSGD, float64; relations/s = 6540 x epochs / time",
    ))
    return out
