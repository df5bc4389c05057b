"""Genomes of sparse feed-forward networks, their NEAT-style mutations, and the shared-weight forward pass."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..utils import Generator, InstanceOf, Integer, Items, Options, Probability, Real, Tensor, numpy_rng, validate

#: Node activations, in the order of the codes stored in a genome (the WANN paper's set).
ACTIVATIONS = ("linear", "step", "sin", "gaussian", "tanh", "sigmoid", "inverse", "abs", "relu", "cos")

_FUNCS = {
    "linear": lambda t: t,
    "step": lambda t: (t > 0).to(t.dtype),
    "sin": lambda t: torch.sin(np.pi * t),
    "gaussian": lambda t: torch.exp(-t * t / 2),
    "tanh": torch.tanh,
    "sigmoid": lambda t: torch.sigmoid(t),
    "inverse": lambda t: -t,
    "abs": torch.abs,
    "relu": torch.relu,
    "cos": lambda t: torch.cos(np.pi * t),
}


class Genome:
    r"""A sparse feed-forward network: nodes with one activation each, directed connections.

    Node indices: ``0 .. n_inputs - 1`` are the inputs, ``n_inputs`` is a bias node (always 1),
    the next ``n_outputs`` are the outputs, and any further index is a hidden node. Each
    connection ``(src, dst)`` is enabled or disabled (NEAT keeps disabled genes so that a
    split connection can be re-enabled). The enabled connections must form a directed acyclic
    graph that never ends in an input or the bias and never starts at an output. A node
    computes :math:`h_j = \sigma_j\big(\sum_{i \to j} w_{ij} h_i\big)`; in a weight-agnostic
    network every :math:`w_{ij}` is the same shared value :math:`w`.

    Genomes are immutable: :func:`mutate` returns a new one.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Sizes, >= 1.
    connections : sequence of (int, int), optional
        Directed connections ``(src, dst)``; none by default.
    enabled : sequence of bool, optional
        One flag per connection (all enabled by default).
    activations : sequence of str, optional
        One name from :data:`ACTIVATIONS` per node (inputs and bias first); default
        ``"linear"`` for inputs, bias and outputs, and no hidden nodes. Its length fixes the
        number of nodes.

    Attributes
    ----------
    n_nodes : int
    n_connections : int
        Enabled connections (the size objective of the search).
    layers : list of numpy arrays
        Non-input nodes grouped by their longest distance from an input (evaluation order).

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> g = Genome(2, 1, connections=[(0, 3), (1, 3), (2, 3)])
    >>> g.n_nodes, g.n_connections
    (4, 3)
    >>> import torch
    >>> shared_weight_forward(g, torch.tensor([[1.0, 2.0]]), torch.tensor([0.5])).tolist()
    [[[2.0]]]
    """

    @validate(n_inputs=Integer(low=1), n_outputs=Integer(low=1),
              connections=Items(Items(Integer(low=0), length=2), optional=True),
              enabled=Items(InstanceOf(bool, np.bool_), optional=True),
              activations=Items(Options(*ACTIVATIONS), optional=True))
    def __init__(self, n_inputs: int, n_outputs: int, *, connections=None, enabled=None, activations=None):
        self.n_inputs, self.n_outputs = int(n_inputs), int(n_outputs)
        n_fixed = n_inputs + 1 + n_outputs
        acts = ["linear"] * n_fixed if activations is None else list(activations)
        if len(acts) < n_fixed:
            raise ValueError(f"Genome: activations must name at least n_inputs + 1 + n_outputs = {n_fixed} nodes, "
                             f"got {len(acts)}")
        self.act = np.array([ACTIVATIONS.index(a) for a in acts], dtype=np.int64)
        self.n_nodes = len(acts)
        conns = np.zeros((0, 2), dtype=np.int64) if not connections else np.asarray(connections, dtype=np.int64)
        en = np.ones(len(conns), dtype=bool) if enabled is None else np.asarray(enabled, dtype=bool)
        if len(en) != len(conns):
            raise ValueError(f"Genome: enabled must have one flag per connection ({len(conns)}), got {len(en)}")
        self.conns, self.enabled = conns, en
        self._check()
        self.layers = self._layers()

    # -- structure ---------------------------------------------------------------------------------

    @property
    def n_connections(self) -> int:
        return int(self.enabled.sum())

    @property
    def n_hidden(self) -> int:
        return self.n_nodes - self.n_inputs - 1 - self.n_outputs

    def is_source(self, i) -> np.ndarray:
        """Nodes that may start a connection (inputs, bias, hidden)."""
        i = np.asarray(i)
        return (i <= self.n_inputs) | (i > self.n_inputs + self.n_outputs)

    def _check(self):
        if len(self.conns) == 0:
            return
        src, dst = self.conns[:, 0], self.conns[:, 1]
        if int(self.conns.max()) >= self.n_nodes:
            raise ValueError(f"Genome: connections must use node indices < n_nodes = {self.n_nodes} (the length "
                             f"of activations), got {int(self.conns.max())}")
        if np.any(~self.is_source(src)):
            raise ValueError("Genome: connections may not start at an output node")
        if np.any(dst <= self.n_inputs):
            raise ValueError("Genome: connections may not end at an input or the bias node")
        if np.any(src == dst):
            raise ValueError("Genome: connections may not be self-loops")
        if len({(int(a), int(b)) for a, b in self.conns}) != len(self.conns):
            raise ValueError("Genome: connections contains a duplicate (src, dst) pair")

    def _layers(self):
        """Longest-path depth of every non-input node over all connections (raises on a cycle)."""
        n = self.n_nodes
        depth = np.ones(n, dtype=np.int64)
        depth[:self.n_inputs + 1] = 0
        indeg = np.zeros(n, dtype=np.int64)
        children = [[] for _ in range(n)]
        for s, d in self.conns:
            children[s].append(d)
            indeg[d] += 1
        queue = [i for i in range(n) if indeg[i] == 0]
        seen = 0
        while queue:
            i = queue.pop()
            seen += 1
            for c in children[i]:
                depth[c] = max(depth[c], depth[i] + 1)
                indeg[c] -= 1
                if indeg[c] == 0:
                    queue.append(c)
        if seen != n:
            raise ValueError("Genome: connections contain a cycle; the network must be feed-forward")
        self.depth = depth
        rest = np.arange(self.n_inputs + 1, n)
        return [rest[depth[rest] == k] for k in np.unique(depth[rest])]

    def adjacency(self) -> np.ndarray:
        """The ``(n_nodes, n_nodes)`` 0/1 matrix of enabled connections, ``A[src, dst]``."""
        a = np.zeros((self.n_nodes, self.n_nodes))
        c = self.conns[self.enabled]
        a[c[:, 0], c[:, 1]] = 1.0
        return a

    def replace(self, *, connections=None, enabled=None, activations=None) -> "Genome":
        """A copy with some fields replaced (arrays of codes for ``activations``)."""
        acts = self.act if activations is None else np.asarray(activations)
        return Genome(self.n_inputs, self.n_outputs,
                      connections=[tuple(map(int, c)) for c in (self.conns if connections is None else connections)],
                      enabled=[bool(e) for e in (self.enabled if enabled is None else enabled)],
                      activations=[ACTIVATIONS[int(a)] for a in acts])

    def __repr__(self):
        return (f"Genome(n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, hidden={self.n_hidden}, "
                f"connections={self.n_connections})")

    # -- constructors ------------------------------------------------------------------------------

    @classmethod
    @validate(n_inputs=Integer(low=1), n_outputs=Integer(low=1), n_hidden=Items(Integer(low=1)),
              activation=Options(*ACTIVATIONS))
    def dense(cls, n_inputs: int, n_outputs: int, *, n_hidden=(), activation: str = "tanh") -> "Genome":
        """A fully connected layered network (every layer also fed by the bias node), outputs linear.

        With every weight set to ``w`` it computes the same function as an MLP whose weights
        and biases all equal ``w``.
        """
        n_fixed = n_inputs + 1 + n_outputs
        sizes = list(n_hidden)
        ids, nxt = [], n_fixed
        for h in sizes:
            ids.append(list(range(nxt, nxt + h)))
            nxt += h
        ins = list(range(n_inputs))
        bias, outs = n_inputs, list(range(n_inputs + 1, n_fixed))
        conns = []
        prev = ins
        for layer in ids + [outs]:
            conns += [(s, d) for d in layer for s in prev + [bias]]
            prev = layer
        acts = ["linear"] * n_fixed + [activation] * sum(sizes)
        return cls(n_inputs, n_outputs, connections=conns, activations=acts)

    @classmethod
    @validate(n_inputs=Integer(low=1), n_outputs=Integer(low=1), p_connect=Probability(), generator=Generator())
    def initial(cls, n_inputs: int, n_outputs: int, *, p_connect: float = 0.25, generator=None) -> "Genome":
        """A minimal starting genome: each input/bias-output connection present with probability
        ``p_connect`` (at least one), no hidden nodes, as in the WANN search."""
        rng = numpy_rng(generator)
        pairs = [(s, d) for d in range(n_inputs + 1, n_inputs + 1 + n_outputs) for s in range(n_inputs + 1)]
        keep = rng.random(len(pairs)) < p_connect
        if not keep.any():
            keep[rng.integers(len(pairs))] = True
        return cls(n_inputs, n_outputs, connections=[p for p, k in zip(pairs, keep) if k])


#: Default probabilities of the mutation operators (add connection, add node, change activation,
#: re-enable a connection), those of the authors' released WANN configuration.
MUTATION_PROBS = (0.2, 0.25, 0.5, 0.05)


def _reaches(genome, start, target):
    """Whether ``target`` is reachable from ``start`` along any connection."""
    children = {}
    for s, d in genome.conns:
        children.setdefault(int(s), []).append(int(d))
    stack, seen = [int(start)], set()
    while stack:
        i = stack.pop()
        if i == target:
            return True
        if i in seen:
            continue
        seen.add(i)
        stack.extend(children.get(i, []))
    return False


def _mutate(genome, rng, probs, hidden_acts):
    op = rng.choice(4, p=np.asarray(probs) / np.sum(probs))
    conns, enabled, act = genome.conns.copy(), genome.enabled.copy(), genome.act.copy()
    if op == 0:  # add a connection
        existing = {(int(a), int(b)) for a, b in conns}
        srcs = np.flatnonzero(genome.is_source(np.arange(genome.n_nodes)))
        dsts = np.arange(genome.n_inputs + 1, genome.n_nodes)
        for _ in range(20):
            s, d = int(rng.choice(srcs)), int(rng.choice(dsts))
            if s != d and (s, d) not in existing and not _reaches(genome, d, s):
                conns = np.vstack([conns, [[s, d]]])
                enabled = np.append(enabled, True)
                break
    elif op == 1:  # split an enabled connection with a new hidden node
        on = np.flatnonzero(enabled)
        if len(on):
            k = int(rng.choice(on))
            s, d = conns[k]
            new = genome.n_nodes
            enabled[k] = False
            conns = np.vstack([conns, [[s, new], [new, d]]])
            enabled = np.append(enabled, [True, True])
            act = np.append(act, int(rng.choice(hidden_acts)))
    elif op == 2:  # change the activation of a hidden node
        hidden = np.arange(genome.n_inputs + 1 + genome.n_outputs, genome.n_nodes)
        if len(hidden):
            h = int(rng.choice(hidden))
            choices = [a for a in hidden_acts if a != act[h]]
            if choices:
                act[h] = int(rng.choice(choices))
    else:  # re-enable a disabled connection
        off = np.flatnonzero(~enabled)
        if len(off):
            enabled[int(rng.choice(off))] = True
    return genome.replace(connections=conns, enabled=enabled, activations=act)


@validate(genome=InstanceOf(Genome), probs=Items(Real(low=0), length=4), activations=Items(Options(*ACTIVATIONS),
                                                                                          min_length=1),
          generator=Generator())
def mutate(genome: Genome, *, probs=MUTATION_PROBS, activations=ACTIVATIONS, generator=None) -> Genome:
    r"""One NEAT-style topological mutation, chosen at random with probabilities ``probs``.

    - **add connection**: join a random source node (input, bias, hidden) to a random
      non-input node, if the pair is new and creates no cycle (up to 20 tries);
    - **add node**: disable a random enabled connection :math:`s \to d` and route it through a
      new hidden node :math:`s \to n \to d` with a random activation;
    - **change activation** of a random hidden node;
    - **re-enable** a random disabled connection.

    An operator with nothing to act on (no hidden node to change) leaves the genome as it is.

    Parameters
    ----------
    genome : Genome
    probs : sequence of 4 floats
        Relative probabilities of the four operators, in the order above (default
        :data:`MUTATION_PROBS`).
    activations : sequence of str
        Activations a new or changed hidden node may take.
    generator : None, int or torch.Generator

    Returns
    -------
    Genome

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    References
    ----------
    K. O. Stanley and R. Miikkulainen, *Evolving neural networks through augmenting
    topologies*, Evolutionary Computation 2002.

    Examples
    --------
    >>> g = Genome(2, 1, connections=[(0, 3)])
    >>> child = mutate(g, probs=(0, 1, 0, 0), generator=0)  # always "add node"
    >>> child.n_hidden, child.n_connections
    (1, 2)
    """
    if sum(probs) <= 0:
        raise ValueError("mutate: probs must not all be zero")
    codes = [ACTIVATIONS.index(a) for a in activations]
    return _mutate(genome, numpy_rng(generator), probs, codes)


def _forward(genome: Genome, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """Evaluate with weighted adjacency ``adj`` (K, N, N) for inputs ``x`` (B, n_inputs): (K, B, n_outputs)."""
    k, b = adj.shape[0], x.shape[0]
    n_in = genome.n_inputs
    h = x.new_zeros(k, b, genome.n_nodes)
    h[:, :, :n_in] = x
    h[:, :, n_in] = 1.0
    for layer in genome.layers:
        idx = torch.as_tensor(layer, device=x.device)
        pre = torch.matmul(h, adj[:, :, idx])  # (K, B, |layer|)
        codes = genome.act[layer]
        out = torch.empty_like(pre)
        for code in np.unique(codes):
            cols = torch.as_tensor(np.flatnonzero(codes == code), device=x.device)
            out[:, :, cols] = _FUNCS[ACTIVATIONS[int(code)]](pre[:, :, cols])
        h = h.index_copy(2, idx, out)
    return h[:, :, n_in + 1:n_in + 1 + genome.n_outputs]


@validate(genome=InstanceOf(Genome), x=Tensor(shape=("B", None), dtype="floating"),
          weights=Tensor(shape=("K",), dtype="floating"), same=[("x", "weights")])
def shared_weight_forward(genome: Genome, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""Outputs of ``genome`` for every shared weight value at once.

    For each value :math:`w_k` every enabled connection carries the weight :math:`w_k`; nodes
    are evaluated layer by layer, all ``K`` weight values and all ``B`` inputs in one batched
    product per layer:

    .. math::

        h^{(k)}_j = \sigma_j\Big(w_k \sum_{i \to j} h^{(k)}_i\Big).

    Parameters
    ----------
    genome : Genome
    x : Tensor, shape (B, n_inputs)
    weights : Tensor, shape (K,)
        The shared weight values.

    Returns
    -------
    Tensor, shape (K, B, n_outputs)
        Output-node values (pre-softmax for classification), ``x``'s dtype and device.

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> import torch
    >>> g = Genome.dense(3, 2, n_hidden=(4,), activation="tanh")
    >>> shared_weight_forward(g, torch.ones(5, 3), torch.tensor([-1.0, 0.5, 2.0])).shape
    torch.Size([3, 5, 2])
    """
    if x.shape[1] != genome.n_inputs:
        raise ValueError(f"shared_weight_forward: x must have shape (B, {genome.n_inputs}), got {tuple(x.shape)}")
    a = torch.as_tensor(genome.adjacency(), dtype=x.dtype, device=x.device)
    return _forward(genome, x, weights[:, None, None] * a)


class WANNNetwork(nn.Module):
    r"""The network of a :class:`Genome` with one trainable weight per enabled connection.

    Starts with every connection at the shared value ``weight``, so that before training it
    computes exactly ``shared_weight_forward(genome, x, torch.tensor([weight]))[0]``; training the
    individual weights (by any ``torch.optim`` optimiser) is the WANN paper's last step.

    Parameters
    ----------
    genome : Genome
    weight : float
        Initial value of every connection weight.

    Notes
    -----
    See the chapter :doc:`One shared weight, infinitely many layers </book/equilibrium>`.

    Examples
    --------
    >>> import torch
    >>> g = Genome.dense(2, 1, n_hidden=(3,))
    >>> net = WANNNetwork(g, weight=0.5)
    >>> x = torch.randn(4, 2)
    >>> bool(torch.allclose(net(x), shared_weight_forward(g, x, torch.tensor([0.5]))[0]))
    True
    >>> sum(p.numel() for p in net.parameters()) == g.n_connections
    True
    """

    @validate(genome=InstanceOf(Genome), weight=Real())
    def __init__(self, genome: Genome, *, weight: float = 1.0):
        super().__init__()
        self.genome = genome
        on = genome.conns[genome.enabled]
        self.register_buffer("src", torch.as_tensor(on[:, 0]), persistent=False)
        self.register_buffer("dst", torch.as_tensor(on[:, 1]), persistent=False)
        self.weight = nn.Parameter(torch.full((len(on),), float(weight)))

    @validate(x=Tensor(shape=("B", None), dtype="floating"))
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output-node values, shape (B, n_outputs)."""
        g = self.genome
        if x.shape[1] != g.n_inputs:
            raise ValueError(f"WANNNetwork.forward: x must have shape (B, {g.n_inputs}), got {tuple(x.shape)}")
        if x.dtype != self.weight.dtype or x.device != self.weight.device:
            raise TypeError(f"WANNNetwork.forward: x has {x.dtype} on {x.device} but the network has "
                            f"{self.weight.dtype} on {self.weight.device}")
        n = g.n_nodes
        adj = torch.zeros(n * n, dtype=x.dtype, device=x.device).index_put((self.src * n + self.dst,), self.weight)
        return _forward(g, x, adj.view(1, n, n))[0]
