"""Benchmarks for the chapter *Hyperbolic embeddings of hierarchies*.

* reconstruction metrics (mean rank + MAP): vectorised vs the naive Python loop;
* one training epoch on the WordNet mammals closure (relations/s in the note);
* Yu & De Sa's L-tiling distance (exact integer part + float part) vs evaluating the same distances
  in ``mpmath`` at 60 digits, the naive way to get exact distances far from the origin;
* Gromov-Wasserstein matching (our distance-profile start + POT) vs POT's solver from its default
  (product) start, on two ``fit_distances`` embeddings of an 80-node tree;
* the negative sampler's mask on a noun-sized closure (~1.5M sorted keys): the binary search used now vs
  ``torch.isin`` (the old implementation); full mode uses the real WordNet nouns;
* eight sparse Riemannian SGD steps on the same closure (batch 512 x 50 negatives, d = 10): the closed-form
  step used now vs the autograd + geoopt step used before (the same update); the same for the Lorentz model
  (closed-form Euclidean gradient vs autograd, both with geoopt's Riemannian gradient and retraction);
* full mode only: one training epoch on the WordNet nouns (CPU seconds and relations per CPU second in the
  note) and the reconstruction of the whole noun closure from it (CPU seconds and peak resident memory in
  the note);
* gensim's ``PoincareModel`` (a peer implementation, single-threaded Cython/NumPy) when gensim is
  importable; it is not a dependency of the project, so the row is skipped otherwise. Its default
  batch size is 10 (ours: 512), so the ratio compares epoch times, not identical updates.
"""

from __future__ import annotations

import time

import torch

from benchmarks.run import Case
import mpmath
import numpy as np
import ot

from nips2019.hyperbolic import (
    apply_isometry,
    fit_distances,
    graph_distances,
    gromov_wasserstein_matching,
    ltiling_distance,
    pairwise_distance,
    random_isometry,
    random_tree,
    to_ltiling,
    reconstruction,
    reconstruction_naive,
    train_embedding,
    wordnet_mammals,
)


def cases(quick: bool) -> list[Case]:
    out = []
    h = wordnet_mammals()
    if quick:
        t = random_tree(150, generator=0)
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
    # L-tiling distances far from the origin vs mpmath
    n_pairs = 50 if quick else 200
    with mpmath.workdps(60):
        gen = torch.Generator().manual_seed(2)
        ang = (2 * torch.rand(n_pairs, 2, generator=gen, dtype=torch.float64)).tolist()
        xs = [mpmath.tanh(mpmath.mpf(15)) * mpmath.expjpi(a) for a, _ in ang]
        q = mpmath.tanh(mpmath.mpf(1) / 2)
        ys = [(q * mpmath.expjpi(b) + x) / (1 + mpmath.conj(x) * q * mpmath.expjpi(b)) for x, (_, b) in zip(xs, ang)]
        tx, ty = to_ltiling(xs), to_ltiling(ys)

    def mp_distances():
        with mpmath.workdps(60):
            return [2 * mpmath.asinh(abs(x - y) / mpmath.sqrt((1 - abs(x) ** 2) * (1 - abs(y) ** 2)))
                    for x, y in zip(xs, ys)]

    out.append(Case(
        name=f"L-tiling distance, {n_pairs} pairs 30 from the origin",
        ours=lambda: ltiling_distance(tx, ty),
        baselines={"mpmath, 60 digits": mp_distances},
        repeat=3,
        note="both exact to float64 (tested); plain float64 coordinates fail at this radius",
    ))

    # Gromov-Wasserstein matching of two distance-faithful embeddings
    t = random_tree(40 if quick else 80, generator=3)
    dt = graph_distances(t.parents, t.n_nodes).double()
    xa, xb = (fit_distances(dt, 5, n_steps=300 if quick else 1000, generator=s,
                            progress=False).embedding.poincare() for s in (0, 1))
    iso = random_isometry(5, max_shift=2.0, generator=4)
    yb = apply_isometry(xb, iso.rotation, iso.translation)
    ca, cb = pairwise_distance(xa).numpy(), pairwise_distance(yb).numpy()
    w = np.full(t.n_nodes, 1 / t.n_nodes)
    out.append(Case(
        name=f"GW matching, two fit_distances embeddings of a {t.n_nodes}-node tree, d=5",
        ours=lambda: gromov_wasserstein_matching(xa, yb, n_restarts=1),
        baselines={"POT gromov_wasserstein, default start": lambda: ot.gromov.gromov_wasserstein(
            ca, cb, w, w, loss_fun="square_loss")},
        repeat=3,
        note="ours: one start from the distance-profile plan; accuracy is the chapter's concern",
    ))

    # negative-sampler mask: searchsorted vs isin on ~1.5M keys (the WordNet nouns in full mode)
    from nips2019.hyperbolic import NegativeSampler, wordnet_nouns

    g = torch.Generator().manual_seed(5)
    if quick:
        n_big = 80_000
        big = torch.randint(n_big, (200_000, 2), generator=g)
        big_label = "random closure, 80k nodes, 200k pairs"
    else:
        nouns = wordnet_nouns()
        n_big, big = nouns.n_nodes, nouns.closure
        big_label = "WordNet nouns, 82k nodes, 743k pairs"
    sampler = NegativeSampler(big, n_big)
    u_big = big[torch.randint(len(big), (512,), generator=g), 0]
    neg_big = torch.randint(n_big, (512, 50), generator=g)
    out.append(Case(
        name=f"negative mask, 512 x 50 candidates, {big_label}",
        ours=lambda: sampler._invalid(u_big, neg_big),
        baselines={"torch.isin (before)": lambda: torch.isin(u_big[:, None] * n_big + neg_big, sampler.keys)},
        repeat=5,
        note="identical masks (tested)",
    ))
    # one sparse RSGD step, closed form (now) vs autograd + geoopt (before): on the nouns in full mode
    from nips2019.hyperbolic import HierarchyEmbedding
    from nips2019.hyperbolic._model import _autograd_rsgd_step, _fused_rsgd_step

    b_step, k_step, d_step = 512, 50, 10
    step_batches = []
    for _ in range(8):
        pairs = big[torch.randint(len(big), (b_step,), generator=g)]
        neg = sampler._draw(b_step * k_step, g, False).view(b_step, k_step)
        step_batches.append((pairs[:, 0], pairs[:, 1], neg, sampler._invalid(pairs[:, 0], neg)))
    emb_step = HierarchyEmbedding(n_big, d_step, init_scale=0.02, generator=6, dtype=torch.float64)
    scratch = torch.zeros_like(emb_step.weight.detach())

    def steps(fn, *extra):
        def go():
            for u, v, neg, inv in step_batches:
                fn(emb_step, u, v, neg, inv, 1.0, *extra)
        return go

    step_case = Case(
        name=f"8 sparse RSGD steps, {big_label}, d={d_step}, batch {b_step} x {k_step} negatives",
        ours=steps(_fused_rsgd_step),
        baselines={"autograd + geoopt egrad2rgrad/retr (before)": steps(_autograd_rsgd_step, 12.2, scratch)},
        repeat=3,
        note="same update (tested equal to geoopt's dense RiemannianSGD)",
    )
    out.append(step_case)
    # the same on the hyperboloid: closed-form Euclidean gradient (now) vs autograd (before), both then
    # geoopt's egrad2rgrad / retr and the radius cap
    from nips2019.hyperbolic._model import _lorentz_rsgd_step

    emb_lor = HierarchyEmbedding(n_big, d_step, model="lorentz", init_scale=0.02, generator=6, dtype=torch.float64)
    scratch_lor = torch.zeros_like(emb_lor.weight.detach())

    def lorentz_steps(fn):
        def go():
            for u, v, neg, inv in step_batches:
                fn(emb_lor, u, v, neg, inv, 1.0, 12.2, scratch_lor)
        return go

    out.append(Case(
        name=f"8 sparse Lorentz RSGD steps, {big_label}, d={d_step}, batch {b_step} x {k_step} negatives",
        ours=lorentz_steps(_lorentz_rsgd_step),
        baselines={"autograd gradient (before)": lorentz_steps(_autograd_rsgd_step)},
        repeat=3,
        note="same update (tested equal to geoopt's dense RiemannianSGD + cap)",
    ))
    if not quick:
        import resource

        nouns_stats = {}
        epoch_case = Case(
            name=f"one training epoch on the WordNet nouns ({len(big)} pairs), d=10, batch 512, 50 negatives",
            ours=None, baselines={}, repeat=1, warmup=False, note="")

        def noun_epoch():
            t = time.process_time()
            res = train_embedding(big, n_big, 10, n_epochs=1, lr=30.0, batch_size=512, n_negatives=50,
                                  n_burnin_epochs=0, generator=0, dtype=torch.float64, progress=False)
            cpu = time.process_time() - t
            nouns_stats["embedding"] = res.embedding
            epoch_case.note = (f"{cpu:.1f} CPU-s, {len(big) / cpu:,.0f} relations/CPU-s "
                               f"({res.relations_per_second:,.0f} relations/s wall)")

        epoch_case.ours = noun_epoch
        out.append(epoch_case)

        eval_case = Case(name="reconstruction (MR + MAP) of the whole noun closure from distance_keys, "
                              "after one epoch", ours=None, baselines={}, repeat=1, warmup=False, note="")

        def noun_eval():
            emb = nouns_stats["embedding"]
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            t = time.process_time()
            rec = reconstruction(emb.distance_keys, big, n_big)
            cpu = time.process_time() - t
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            eval_case.note = (f"{cpu:.0f} CPU-s; peak RSS {peak:.0f} MiB (grew by {peak - before:.0f} MiB); "
                              f"MR {rec.mean_rank:.1f}, MAP {rec.map:.3f} (one epoch: far from trained, "
                              f"so more candidates are searched than for a good embedding)")

        eval_case.ours = noun_eval
        out.append(eval_case)

    h = wordnet_mammals()
    epochs = 1 if quick else 3
    stats = {}

    def run(model):
        def go():
            res = train_embedding(h.closure, h.n_nodes, 5, model=model, n_epochs=epochs, lr=10.0, batch_size=512,
                                  n_negatives=10, n_burnin_epochs=0, generator=0,
                                  dtype=torch.float64, progress=False)
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
    mammal_case = Case(
        name=f"train {epochs} epoch(s), mammals closure (6540 pairs), d=5, 10 negatives, batch 512",
        ours=None,
        baselines=baselines,
        repeat=2,
    )

    def poincare_epochs():
        run("poincare")()
        mammal_case.note = (f"RiemannianSGD (closed-form sparse step), float64; "
                            f"{stats['poincare']:,.0f} relations/s (wall)")

    mammal_case.ours = poincare_epochs
    out.append(mammal_case)
    return out
