"""The WordNet nouns (82,115 synsets, 743,086 closure pairs): sampler, epoch and evaluation costs.

Chapter: Hyperbolic embeddings of hierarchies (book/hyperbolic.ipynb). Not part of the tests.

    .venv/bin/python scripts/hyperbolic_nouns.py                  # measurements that take a few minutes
    .venv/bin/python scripts/hyperbolic_nouns.py --epochs 50 --eval  # a full run (hours of CPU on 2 cores)

The measurements (printed, with the machine load):

* the negative-sampler mask for a batch of 512 x 50 candidates: ``torch.isin`` against the 1.49M sorted keys
  (the old implementation) vs the binary search (``torch.searchsorted``) used now;
* CPU time per training step (batches of 512 pairs, 50 negatives, d = 10, float64), extrapolated to an epoch;
* reconstruction (mean rank / MAP) of ``--eval-nodes`` child nodes (all their closure pairs), from
  ``HierarchyEmbedding.distance_keys`` (and, with ``--compare``, from the arcosh distances of
  ``distance_matrix``: the same result): CPU time and the growth of the peak resident memory, extrapolated
  to all 82,115 nodes (time is linear in the nodes); ``--eval`` evaluates the whole closure instead.
"""

import argparse
import resource
import time

import torch

from nips2019 import hyperbolic as hyp
from nips2019.hyperbolic._model import NegativeSampler


def load():
    with open("/proc/loadavg") as fh:
        return fh.read().split()[0]


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--steps", type=int, default=200, help="training steps to time")
    ap.add_argument("--eval-nodes", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=0, help="train this many full epochs (0: only time steps)")
    ap.add_argument("--eval", action="store_true", help="evaluate the whole closure after training")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare", action="store_true", help="also evaluate from distance_matrix (slower)")
    ap.add_argument("--load", help="evaluate this saved state_dict (torch.save of the embedding) instead")
    ap.add_argument("--save", help="save the trained embedding's state_dict here (torch.save)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t = time.process_time()
    nouns = hyp.wordnet_nouns()
    n, m = nouns.n_nodes, len(nouns.closure)
    print(f"nouns: {n} nodes, {m} closure pairs, loaded in {time.process_time() - t:.1f} CPU-s (load {load()})")

    sampler = NegativeSampler(nouns.closure, n)
    g = torch.Generator().manual_seed(0)
    u = nouns.closure[torch.randint(m, (512,), generator=g), 0]
    neg = torch.randint(n, (512, 50), generator=g)
    key = u[:, None] * n + neg
    reps = 20
    t = time.process_time()
    for _ in range(reps):
        old = torch.isin(key, sampler.keys) | (neg == u[:, None])
    t_old = (time.process_time() - t) / reps
    t = time.process_time()
    for _ in range(reps):
        new = sampler._invalid(u, neg)
    t_new = (time.process_time() - t) / reps
    assert torch.equal(old, new)
    print(f"sampler mask, 512 x 50: isin {t_old * 1e3:.1f} ms, searchsorted {t_new * 1e3:.2f} ms "
          f"({t_old / t_new:.0f}x) (load {load()})")

    # training steps: the package's loop on a prefix of shuffled pairs (same code as a full epoch)
    perm = torch.randperm(m, generator=g)
    sub = nouns.closure[perm[: args.steps * 512]]
    t = time.process_time()
    res = hyp.train_embedding(sub, n, args.dim, n_epochs=1, lr=30.0, batch_size=512, n_negatives=50,
                              n_burnin_epochs=0, generator=0, dtype=torch.float64, progress=False)
    step = (time.process_time() - t) / args.steps
    print(f"training, d={args.dim}, 512 pairs x 50 negatives: {step * 1e3:.1f} CPU-ms per step, "
          f"{step * m / 512:.0f} CPU-s per epoch of {m // 512 + 1} steps "
          f"({512 / step:,.0f} relations/CPU-s) (load {load()})")

    emb = res.embedding
    if args.load:
        emb = hyp.HierarchyEmbedding(n, args.dim, dtype=torch.float64)
        emb.load_state_dict(torch.load(args.load, weights_only=True))
    if args.epochs:
        t = time.process_time()
        res = hyp.train_embedding(nouns.closure, n, args.dim, n_epochs=args.epochs, lr=30.0, batch_size=512,
                                  n_negatives=50, n_burnin_epochs=min(20, args.epochs // 5), generator=0,
                                  dtype=torch.float64, progress=True)
        emb = res.embedding
        print(f"trained {args.epochs} epochs in {time.process_time() - t:.0f} CPU-s (load {load()})")
    if args.save:
        torch.save(emb.state_dict(), args.save)

    pairs = nouns.closure if args.eval else None
    if pairs is None:
        children = torch.unique(nouns.closure[:, 0])
        pick = children[torch.randperm(len(children), generator=g)[: args.eval_nodes]]
        pairs = nouns.closure[torch.isin(nouns.closure[:, 0], pick)]
    n_child = len(torch.unique(pairs[:, 0]))
    for name in ("distance_keys", "distance_matrix") if args.compare else ("distance_keys",):
        before = peak_mib()
        t, w = time.process_time(), time.perf_counter()
        rec = hyp.reconstruction(getattr(emb, name), pairs, n)
        cpu = time.process_time() - t
        print(f"reconstruction of {n_child} nodes ({len(pairs)} pairs) from {name}: mean rank "
              f"{rec.mean_rank:.2f}, MAP {rec.map:.4f}, {cpu:.1f} CPU-s ({time.perf_counter() - w:.1f} s wall), "
              f"peak RSS grew by {peak_mib() - before:.0f} MiB (now {peak_mib():.0f} MiB) (load {load()})")
    if not args.eval:
        total = len(torch.unique(nouns.closure[:, 0]))
        print(f"  -> all {total} nodes: ~{cpu * total / n_child:.0f} CPU-s (linear in the nodes), "
              f"the same bounded memory")


if __name__ == "__main__":
    main()
