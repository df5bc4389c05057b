"""Learning-rate / negatives / burn-in sweep for the WordNet mammals at d = 5 (chapter: Hyperbolic embeddings).

How the chapter's full-mode setting (lr 30, 50 negatives, 20 burn-in epochs, 300 epochs, batches of 512)
was chosen. Each line: the setting, the reconstruction (mean rank, MAP; ties count against the embedding)
and the CPU time of the training on one thread.

    .venv/bin/python scripts/hyperbolic_mammals_sweep.py            # the grid below
    .venv/bin/python scripts/hyperbolic_mammals_sweep.py 30,20,50,300  # lr,burn-in,negatives,epochs

Measured while writing the chapter (1 thread, machine load ~7, float64, seed 0):

    lr  burn-in  negatives  epochs   mean rank   MAP     CPU-s
    10    10        10       300       3.56     0.725    19
    30    20        50       150       1.365    0.920    35
    30    20        20       200       1.466    0.908    23
    30    20        50       300       1.257    0.946    59
    30     0        50       300       8.87     0.729    60
   100    20        50       300       1.974    0.926    49
   300    20        50       300      12.84     0.740    55
"""

import sys
import time

import torch

from nips2019 import hyperbolic as hyp

GRID = [(10, 10, 10, 300), (30, 20, 50, 150), (30, 20, 20, 200), (30, 20, 50, 300), (30, 0, 50, 300),
        (100, 20, 50, 300), (300, 20, 50, 300)]


def main(argv):
    torch.set_num_threads(1)
    grid = [tuple(float(x) for x in a.split(",")) for a in argv] or GRID
    m = hyp.wordnet_mammals()
    for lr, burnin, k, epochs in grid:
        t = time.process_time()
        res = hyp.train_embedding(m.closure, m.n_nodes, 5, n_epochs=int(epochs), batch_size=512,
                                  n_negatives=int(k), lr=float(lr), n_burnin_epochs=int(burnin), generator=0,
                                  dtype=torch.float64, progress=False)
        cpu = time.process_time() - t
        rec = hyp.reconstruction(res.embedding.distance_matrix, m.closure, m.n_nodes)
        print(f"lr {lr:g} burn-in {burnin:g} negatives {k:g} epochs {epochs:g}: mean rank {rec.mean_rank:.3f} "
              f"MAP {rec.map:.4f} ({cpu:.1f} CPU-s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
