"""Benchmarks for the chapter on events with structure, each against a naive baseline in the same run.

The exact log-likelihood of a temporal logic point process (``logic_log_likelihood``: binary search
for the rule indicators on every piece between knots) against brute force (every indicator found by
comparing all pairs of events, per piece, in NumPy); the rule-weight fit (``fit_logic_rules``:
Newton on features computed once) against scipy's L-BFGS-B on the autograd gradient of the same
exact log-likelihood; and the graph Hawkes log-likelihood (``GraphHawkes.log_likelihood``: facts
grouped by triple, pair lists) against the dense O(n^2) masked sum over all pairs of facts.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import optimize

from benchmarks.run import Case
from nips2019.pointprocess import (
    GraphHawkes,
    TemporalRule,
    fit_logic_rules,
    logic_log_likelihood,
    make_temporal_kg,
    simulate_logic,
)

F64 = torch.float64
RULES = [TemporalRule(3, (0,), 1.0), TemporalRule(3, (0, 1), 2.0), TemporalRule(3, (2,), 1.0)]
BASE = torch.log(torch.tensor([0.4, 0.4, 0.4, 0.15], dtype=F64))
W = torch.tensor([1.0, 1.5, 0.0], dtype=F64)


def _brute_loglik(ev):
    ts, ms = ev.times.numpy(), ev.marks.numpy()
    knots = np.unique(np.clip(np.concatenate([[0.0, ev.t_max], ts] + [ts + r.window for r in RULES]), 0,
                              ev.t_max))
    b, w = BASE.numpy(), W.numpy()

    def feats(t):
        out = []
        for r in RULES:
            ta = ts[(ms == r.body[0]) & (ts < t) & (ts > t - r.window)]
            if len(r.body) == 1:
                out.append(float(len(ta) > 0))
            else:
                tc = ts[(ms == r.body[1]) & (ts < t)]
                out.append(float((ta[:, None] < tc[None, :]).any()))
        return np.array(out)

    def run():
        ll = 0.0
        for t, m in zip(ts, ms):
            ll += b[m] + (w * feats(t))[[k for k, r in enumerate(RULES) if r.head == m]].sum()
        for lo, hi in zip(knots[:-1], knots[1:]):
            f = feats(0.5 * (lo + hi))
            for i in range(4):
                ll -= (hi - lo) * math.exp(b[i] + sum(w[k] * f[k] for k, r in enumerate(RULES) if r.head == i))
        return ll

    return run


def _lbfgs(ev):
    def fun(x):
        th = torch.tensor(x, dtype=F64, requires_grad=True)
        val = -logic_log_likelihood(ev, RULES, th[:4], th[4:])
        (g,) = torch.autograd.grad(val, th)
        return float(val), g.numpy()

    x0 = np.concatenate([np.log(np.bincount(ev.marks.numpy(), minlength=4) / ev.t_max), np.zeros(3)])
    return lambda: optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", options=dict(ftol=1e-12, gtol=1e-8))


def _dense_graph_loglik(model, kg):
    def run():
        with torch.no_grad():
            base = model.base_rates()
            a, c, beta = model.excitation_parameters()
            s, r, o, t = kg.subjects, kg.relations, kg.objects, kg.times
            lag = t[:, None] - t[None, :]
            kern = torch.where(lag > 0, beta * torch.exp(-beta * lag.clamp_min(0)), torch.zeros((), dtype=F64))
            same_r = r[:, None] == r[None, :]
            same = same_r & (s[:, None] == s[None, :]) & (o[:, None] == o[None, :])
            rev = same_r & (s[:, None] == o[None, :]) & (o[:, None] == s[None, :])
            lam = base[s, r, o] + a[r] * (kern * same).sum(1) + c[r] * (kern * rev).sum(1)
            comp = base.sum() * kg.t_max + ((a[r] + c[r]) * (1 - torch.exp(-beta * (kg.t_max - t)))).sum()
            return torch.log(lam).sum() - comp

    return run


def cases(quick: bool) -> list:
    out = []
    for t_max in ([300.0] if quick else [300.0, 1500.0]):
        ev = simulate_logic(RULES, BASE, W, t_max, generator=0)
        out.append(Case(name=f"logic-rule log-likelihood, 3 rules, {len(ev.times)} events",
                        ours=lambda ev=ev: logic_log_likelihood(ev, RULES, BASE, W),
                        baselines={"brute force per piece (NumPy pairs)": _brute_loglik(ev)},
                        repeat=2, note="agree to 1e-12 (tests/pointprocess/test_logic.py)"))
        out.append(Case(name=f"logic-rule weight fit, 3 rules, {len(ev.times)} events",
                        ours=lambda ev=ev: fit_logic_rules(ev, RULES),
                        baselines={"scipy L-BFGS-B on the autograd gradient": _lbfgs(ev)},
                        repeat=2, note="same optimum (concave problem); Newton also returns standard errors"))
    for size in ([(20, 2, 300.0)] if quick else [(20, 2, 300.0), (30, 3, 600.0)]):
        kg = make_temporal_kg(*size, rate=0.05, repeat=0.45, reciprocal=0.35, generator=0).graph
        model = GraphHawkes(size[0], size[1], dim=8, generator=0)
        out.append(Case(name=f"graph Hawkes log-likelihood, {size[0]} entities, {len(kg.times)} facts",
                        ours=lambda m=model, kg=kg: m.log_likelihood(kg),
                        baselines={"dense O(n^2) masked sum (torch)": _dense_graph_loglik(model, kg)},
                        note="ours includes grouping facts by triple each call (fit_graph_hawkes caches it)"))
    return out
