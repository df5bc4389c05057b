r"""LTL model checking of finite transition systems, with witnesses.

Existence of a path satisfying a formula is decided by the tableau construction of
Lichtenstein and Pnueli: the product of the system with the *atoms* of the formula (truth
assignments to its temporal subformulas that are locally consistent), in which a path satisfies the
formula iff it reaches a strongly connected component that is *fair*, i.e. meets, for every until
subformula :math:`a\,\mathsf{U}\,b`, a node where it is false or :math:`b` holds. The witness is a
lasso: a shortest path into the component, then a cycle through one node of each fairness set.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from nips2019.utils import InstanceOf, Integer, Items, validate

from ._ltl import And, Const, Formula, LassoWord, Next, Not, Or, Prop, Until, _subformulas

MAX_TEMPORAL = 14  # 2**14 atoms per state


@dataclasses.dataclass(frozen=True)
class TransitionSystem:
    """A finite transition system (Kripke structure) with labelled states.

    Attributes
    ----------
    successors : tuple of tuple of int
        ``successors[s]``: the states reachable from ``s`` in one step (at least one each).
    labels : tuple of frozenset of str
        The propositions true in each state.
    initial : int
        The initial state.
    """

    successors: tuple
    labels: tuple
    initial: int = 0

    @property
    def n_states(self) -> int:
        return len(self.successors)


@validate(successors=Items(Items(Integer(low=0)), min_length=1), labels=Items(), initial=Integer(low=0))
def transition_system(successors, labels, *, initial=0):
    r"""A finite transition system: states :math:`0..S-1`, successor lists and labels.

    Parameters
    ----------
    successors : list of list of int, length S
        The successors of each state; every state needs one (paths are infinite).
    labels : list of sets of str, length S
        Propositions true in each state.
    initial : int
        The initial state.

    Returns
    -------
    TransitionSystem

    Examples
    --------
    >>> ts = transition_system([[1], [0, 1]], [{"a"}, set()])
    >>> ts.n_states
    2
    """
    n = len(successors)
    if len(labels) != n:
        raise ValueError(f"transition_system: labels must have one set per state ({n}), got {len(labels)}")
    for s, succ in enumerate(successors):
        if not succ:
            raise ValueError(f"transition_system: successors[{s}] is empty (every state needs a successor)")
        if max(succ) >= n:
            raise ValueError(f"transition_system: successors[{s}] has state {max(succ)}, but there are {n} states")
    if initial >= n:
        raise ValueError(f"transition_system: initial must be < {n}, got {initial}")
    for s, lab in enumerate(labels):
        if isinstance(lab, str):
            raise TypeError(f"transition_system: labels[{s}] must be a set of names, got the string {lab!r}")
    return TransitionSystem(tuple(tuple(int(t) for t in succ) for succ in successors),
                            tuple(frozenset(lab) for lab in labels), int(initial))


@dataclasses.dataclass
class PathResult:
    """Outcome of :func:`find_path` and :func:`model_check`.

    Attributes
    ----------
    found : bool
        :func:`find_path`: a path satisfying the formula exists. :func:`model_check`: the formula
        holds on every path (no counterexample found).
    prefix_states, loop_states : list of int
        The witness (or counterexample) path ``prefix loop loop ...`` as system states; empty lists
        when there is none.
    word : LassoWord or None
        Its labels.
    n_product_states : int
        Reachable states of the product with the formula's atoms (the work done).
    """

    found: bool
    prefix_states: list
    loop_states: list
    word: LassoWord | None
    n_product_states: int


def _valuations(formula: Formula, labels):
    """Per state: the valid atoms, as (atom bits, valuation bits) pairs."""
    subs = _subformulas(formula)
    index = {g: i for i, g in enumerate(subs)}
    temporal = [g for g in subs if isinstance(g, (Next, Until))]
    if len(temporal) > MAX_TEMPORAL:
        raise ValueError(f"find_path: formula has {len(temporal)} temporal subformulas, at most {MAX_TEMPORAL} "
                         "are supported (2**k atoms per state)")
    tpos = {g: k for k, g in enumerate(temporal)}
    per_state = []
    for label in labels:
        atoms = []
        for atom in range(1 << len(temporal)):
            val = {}
            ok = True
            for g in subs:
                if isinstance(g, Prop):
                    v = g.name in label
                elif isinstance(g, Const):
                    v = g.value
                elif isinstance(g, Not):
                    v = not val[g.arg]
                elif isinstance(g, And):
                    v = val[g.left] and val[g.right]
                elif isinstance(g, Or):
                    v = val[g.left] or val[g.right]
                else:
                    v = bool(atom >> tpos[g] & 1)
                    if isinstance(g, Until):
                        a, b = val[g.left], val[g.right]
                        if (v and not (a or b)) or (not v and b):
                            ok = False
                            break
                val[g] = v
            if ok:
                bits = sum(1 << index[g] for g, v in val.items() if v)
                # what the successor's valuation must look like
                mask = want = 0
                for g in temporal:
                    if isinstance(g, Next):
                        mask |= 1 << index[g.arg]
                        want |= int(val[g]) << index[g.arg]
                    elif not val[g.right]:
                        if val[g]:  # a holds now, the obligation moves on
                            mask |= 1 << index[g]
                            want |= 1 << index[g]
                        elif val[g.left]:  # a & !b & !(a U b) now: not next either
                            mask |= 1 << index[g]
                fair = [(not val[g]) or val[g.right] for g in temporal if isinstance(g, Until)]
                atoms.append((bits, mask, want, fair))
        per_state.append(atoms)
    return per_state, index


def _bfs_path(starts, targets, adj, allowed=None):
    """Shortest path (list of nodes) from any of ``starts`` to any of ``targets``."""
    parent = {s: None for s in starts}
    queue = deque(starts)
    while queue:
        u = queue.popleft()
        if u in targets:
            path = []
            while u is not None:
                path.append(u)
                u = parent[u]
            return path[::-1]
        for v in adj[u]:
            if v not in parent and (allowed is None or v in allowed):
                parent[v] = u
                queue.append(v)
    return None


def _find(system: TransitionSystem, formula: Formula) -> PathResult:
    per_state, index = _valuations(formula, system.labels)
    top = 1 << index[formula]
    nodes, node_id = [], {}

    def node(s, k):
        key = (s, k)
        if key not in node_id:
            node_id[key] = len(nodes)
            nodes.append(key)
        return node_id[key]

    starts = [node(system.initial, k) for k, at in enumerate(per_state[system.initial]) if at[0] & top]
    adj: list = []
    queue = deque(starts)
    seen = set(starts)
    while queue:
        u = queue.popleft()
        s, k = nodes[u]
        _, mask, want, _ = per_state[s][k]
        out = []
        for t in system.successors[s]:
            for j, at in enumerate(per_state[t]):
                if at[0] & mask == want:
                    v = node(t, j)
                    out.append(v)
                    if v not in seen:
                        seen.add(v)
                        queue.append(v)
        while len(adj) <= u:
            adj.append([])
        adj[u] = out
    n = len(nodes)
    while len(adj) < n:
        adj.append([])
    empty = PathResult(False, [], [], None, n)
    if not starts:
        return empty
    rows = [u for u in range(n) for _ in adj[u]]
    cols = [v for u in range(n) for v in adj[u]]
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, comp = connected_components(graph, directed=True, connection="strong")
    n_fair = len(per_state[system.initial][0][3]) if per_state[system.initial] else 0
    members: dict = {}
    for u in range(n):
        members.setdefault(comp[u], []).append(u)
    for c, mem in sorted(members.items(), key=lambda kv: min(kv[1])):
        mset = set(mem)
        if len(mem) == 1 and mem[0] not in adj[mem[0]]:
            continue  # trivial component: no cycle
        fair_sets = []
        for f in range(n_fair):
            hit = {u for u in mem if per_state[nodes[u][0]][nodes[u][1]][3][f]}
            if not hit:
                break
            fair_sets.append(hit)
        else:
            to_comp = _bfs_path(starts, mset, adj)
            entry = to_comp[-1]
            cycle = [entry]
            for hit in fair_sets:
                if cycle[-1] in hit:
                    continue
                step = _bfs_path([cycle[-1]], hit, adj, mset)
                cycle.extend(step[1:])
            # close the cycle with at least one edge
            back = None
            for v in adj[cycle[-1]]:
                if v in mset:
                    back = _bfs_path([v], {entry}, adj, mset)
                    if back is not None:
                        break
            cycle.extend(back[:-1])
            prefix = [nodes[u][0] for u in to_comp[:-1]]
            loop = [nodes[u][0] for u in cycle]
            word = LassoWord(tuple(system.labels[s] for s in prefix), tuple(system.labels[s] for s in loop))
            return PathResult(True, prefix, loop, word, n)
    return empty


@validate(system=InstanceOf(TransitionSystem), formula=InstanceOf(Formula))
def find_path(system, formula):
    r"""Search for an infinite path from the initial state that satisfies an LTL formula.

    The tableau construction: a node of the product is a state :math:`s` and an *atom* :math:`A`,
    a truth assignment to the subformulas that agrees with :math:`s`'s label and with
    :math:`a\,\mathsf{U}\,b \equiv b \lor (a \land \mathsf{X}(a\,\mathsf{U}\,b))`; an edge
    :math:`(s, A) \to (t, B)` needs :math:`s \to t` and that :math:`B` honours every
    :math:`\mathsf{X}` promise of :math:`A`. A path satisfying :math:`f` exists iff some
    component reachable from an initial node with :math:`f \in A` is strongly connected, has a
    cycle, and meets every fairness set :math:`\{A : a\,\mathsf{U}\,b \notin A \text{ or } b \in A\}`.
    Cost :math:`O(S\,2^{k} \cdot E\,2^{k})` for :math:`k` temporal subformulas: exponential in the
    formula, linear in the system.

    Parameters
    ----------
    system : TransitionSystem
        From :func:`transition_system` or :func:`~nips2019.verification.arena`.
    formula : Formula
        At most 14 temporal (``X``/``U``) subformulas.

    Returns
    -------
    PathResult
        ``found`` and, if found, a lasso witness whose word satisfies ``formula``.

    References
    ----------
    Lichtenstein & Pnueli (1985), *Checking that finite state concurrent programs satisfy their
    linear specification*; see the chapter :doc:`Many agents </book/multiagent>`.

    Examples
    --------
    >>> from nips2019.verification import parse_ltl
    >>> ts = transition_system([[0, 1], [1]], [set(), {"p"}])
    >>> r = find_path(ts, parse_ltl("G !p"))
    >>> r.found, r.loop_states
    (True, [0])
    >>> find_path(ts, parse_ltl("G F p & F !p")).prefix_states
    [0]
    """
    return _find(system, formula)


@validate(system=InstanceOf(TransitionSystem), formula=InstanceOf(Formula))
def model_check(system, formula):
    r"""Whether every path of a transition system satisfies an LTL formula.

    :math:`S \models f` iff no path satisfies :math:`\neg f` (:func:`find_path`); the path found,
    if any, is returned as a counterexample.

    Parameters
    ----------
    system : TransitionSystem
    formula : Formula

    Returns
    -------
    PathResult
        ``found`` is True when the formula holds on all paths; otherwise the witness fields hold a
        counterexample.

    Examples
    --------
    >>> from nips2019.verification import parse_ltl
    >>> ts = transition_system([[0, 1], [1]], [set(), {"p"}])
    >>> model_check(ts, parse_ltl("F p")).found
    False
    >>> model_check(ts, parse_ltl("G (p -> X p)")).found
    True
    """
    res = _find(system, Not(formula))
    return PathResult(not res.found, res.prefix_states, res.loop_states, res.word, res.n_product_states)
