"""A developmental simulator with known ancestry: a stochastic pitchfork with division, death and barcodes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from nips2019.utils import (
    AnyOf,
    Bool,
    Device,
    DType,
    Generator,
    Integer,
    Items,
    Real,
    Tensor,
    as_generator,
    check_arguments,
    validate,
)
from nips2019.utils import progress as _progress_bar


@dataclasses.dataclass
class LineageSimulation:
    """Snapshots of a simulated developing population, with the ground truth kept aside.

    Returned by :func:`simulate_lineage`. See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Attributes
    ----------
    times : Tensor, shape (K,)
        Snapshot times.
    x : list of Tensor, each (n, 2)
        Latent states of the cells sampled at each time (``x[:, 0]`` progress, ``x[:, 1]`` fate axis).
    x_batch2 : list of Tensor, each (n, 2)
        A second, disjoint sample at each time (for the batch-to-batch noise floor; up to ``n`` cells).
    expression : list of Tensor, each (n, n_genes), or None
        Noisy linear "gene expression" read-outs of ``x`` when ``n_genes`` was given.
    barcodes : list of Tensor, each (n, n_sites), int64
        Lineage barcodes (0 = unedited site), empty when ``n_sites == 0``.
    fate : list of Tensor, each (n,)
        True fate probability of each sampled cell: fraction of its descendants at the last time on
        the upper branch (:math:`x_1 > 0`); -1 for cells whose lineage dies out (select the others
        with ``fate[k] >= 0``).
    growth_rate : list of Tensor, each (n,)
        True net growth rate (birth minus death) at each sampled cell.
    population : list of Tensor, each (N_k, 2)
        The whole population at each time (the sampled cells are a subset).
    lineage : list of Tensor, each (n, K), int64
        ``lineage[k][c, l]`` is the row in ``population[l]`` of cell ``c``'s ancestor at time ``l``
        (``l <= k``; -1 for ``l > k``).
    params : dict
        The simulation parameters (rates, noise, ...).
    """

    times: torch.Tensor
    x: list
    x_batch2: list
    expression: list | None
    barcodes: list
    fate: list
    growth_rate: list
    population: list
    lineage: list
    params: dict

    def ancestor_states(self, k_late: int, k_early: int) -> torch.Tensor:
        """True states at ``times[k_early]`` of the ancestors of the cells sampled at ``times[k_late]``.

        Returns a tensor of shape (n_late, 2).
        """
        K = len(self.times)
        check_arguments("LineageSimulation.ancestor_states", k_late=(k_late, Integer(low=0, high=K - 1)),
                        k_early=(k_early, Integer(low=0, high=K - 1)))
        if not k_early <= k_late:
            raise ValueError(f"LineageSimulation.ancestor_states: need k_early <= k_late, got k_early={k_early}, "
                             f"k_late={k_late}")
        return self.population[k_early][self.lineage[k_late][:, k_early]]


@dataclasses.dataclass
class BirthDeathResult:
    """Division and death rates at a set of states, from :func:`birth_death_rates`.

    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Attributes
    ----------
    birth : Tensor, shape (n,)
        Division rate :math:`b(x)` of each state.
    death : Tensor, shape (n,)
        Death rate :math:`d(x)` of each state.
    """

    birth: torch.Tensor
    death: torch.Tensor


def _birth_death_rates(x, birth, death, growth_bias):
    b = birth * (1.0 + growth_bias * torch.tanh(2.0 * x[:, 1]))
    return b, torch.full_like(b, death)


@validate(
    x=Tensor(shape=(None, 2), dtype="floating"),
    birth=Real(low=0),
    death=Real(low=0),
    growth_bias=Real(0.0, 1.0),
)
def birth_death_rates(x: torch.Tensor, *, birth: float = 1.0, death: float = 0.5,
                      growth_bias: float = 1.0) -> BirthDeathResult:
    r"""Division and death rates of the simulator at states ``x``, shape (n, 2).

    .. math::

        b(x) = b_0 \,(1 + \beta \tanh(2 x_1)), \qquad d(x) = d_0,

    so cells drifting to the upper branch (:math:`x_1 > 0`) proliferate faster when
    :math:`\beta > 0`; ``birth`` :math:`b_0 \ge 0`, ``death`` :math:`d_0 \ge 0`, ``growth_bias``
    :math:`\beta \in [0, 1]` (so that :math:`b \ge 0`).
    See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Examples
    --------
    >>> import torch
    >>> rates = birth_death_rates(torch.tensor([[0.0, 0.0]]), birth=1.0, death=0.3, growth_bias=0.5)
    >>> float(rates.birth[0] - rates.death[0])
    0.7
    """
    b, d = _birth_death_rates(x, birth, death, growth_bias)
    return BirthDeathResult(birth=b, death=d)


@validate(
    n_cells=AnyOf(Integer(low=1), Items(Integer(low=1), min_length=1)),
    times=Items(Real(low=0), min_length=1),
    n_founders=Integer(low=1, optional=True),
    noise=Real(low=0),
    progress_noise=Real(low=0),
    x0_start=Real(),
    birth=Real(low=0),
    death=Real(low=0),
    growth_bias=Real(0.0, 1.0),
    n_sites=Integer(low=0),
    edit_rate=Real(low=0),
    n_alleles=Integer(low=1),
    n_genes=Integer(low=1, optional=True),
    gene_noise=Real(low=0),
    step=Real(low=0, closed="neither"),
    max_cells=Integer(low=1),
    generator=Generator(),
    dtype=DType(),
    device=Device(optional=False),
    progress=Bool(optional=True),
)
def simulate_lineage(
    *,
    n_cells: int = 500,
    times=(0.0, 0.5, 1.0, 1.5, 2.0, 2.5),
    n_founders: int | None = None,
    noise: float = 0.25,
    progress_noise: float = 0.0,
    x0_start: float = -0.5,
    birth: float = 1.0,
    death: float = 0.5,
    growth_bias: float = 1.0,
    n_sites: int = 0,
    edit_rate: float = 1.0,
    n_alleles: int = 100,
    n_genes: int | None = None,
    gene_noise: float = 0.1,
    step: float = 0.02,
    max_cells: int = 500_000,
    generator=None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
) -> LineageSimulation:
    r"""Simulate a dividing population in a pitchfork landscape and sample it at several times.

    Each cell follows the stochastic differential equation (Euler-Maruyama, step ``step``)

    .. math::

        dx_0 = dt + \sigma_0\, dW_0, \qquad dx_1 = (-x_1^3 + x_0 x_1)\, dt + \sigma\, dW_1,

    a pitchfork: while :math:`x_0 < 0` the fate axis is held at :math:`x_1 = 0`; after
    :math:`x_0 = 0` cells commit to :math:`x_1 \approx \pm\sqrt{x_0}`. Cells divide at rate
    :math:`b(x)` and die at rate :math:`d(x)` (:func:`birth_death_rates`); daughters inherit
    the state and the barcode. Each of ``n_sites`` unedited barcode sites is edited at rate
    ``edit_rate`` to one of ``n_alleles`` alleles, CRISPR-like (irreversible, heritable).
    At every snapshot time two disjoint random samples of ``n_cells`` cells are drawn
    (the second, smaller if the population is small, only serves the noise floor). This follows the simulator of LineageOT
    (Forrow & Schiebinger 2021). See the chapter :doc:`OT for lineage tracing </book/lineage>`.

    Parameters
    ----------
    n_cells : int or sequence of int
        Cells sampled per time point (one number for all, or one per time).
    times : sequence of float
        Increasing snapshot times, the first >= 0 (the simulation starts at 0).
    n_founders : int, optional
        Cells at time 0; defaults to four times the first sample size.
    noise : float
        Diffusion :math:`\sigma` of the fate coordinate.
    progress_noise : float
        Diffusion :math:`\sigma_0` of the progress coordinate (0: :math:`x_0` is a clock, up to the
        initial spread of 0.1, as in LineageOT's simulator).
    x0_start : float
        Initial progress coordinate (the bifurcation happens at time ``-x0_start``).
    birth, death, growth_bias : float
        Rates :math:`b_0, d_0, \beta` of :func:`birth_death_rates`.
    n_sites, edit_rate, n_alleles : int, float, int
        Barcode model.
    n_genes : int, optional
        If given, also return ``expression = x A + gene_noise * noise`` with a random
        ``(2, n_genes)`` loading matrix ``A``.
    gene_noise : float
    step : float
        Time step, smaller than the gaps between ``times``.
    max_cells : int
        Abort (``ValueError``) if the population exceeds this.
    generator : None, int or CPU torch.Generator
        All random numbers are drawn on the CPU and moved to ``device``
        (:func:`nips2019.utils.as_generator`), so CPU and CUDA runs agree.
    dtype : torch.dtype
        A floating dtype.
    device : str or torch.device
        Of the returned states.
    progress : bool, optional
        Progress bar; ``None`` shows it in interactive sessions only (:func:`nips2019.utils.progress`).

    Returns
    -------
    LineageSimulation

    Examples
    --------
    >>> import torch
    >>> sim = simulate_lineage(n_cells=20, times=(0.0, 0.5), generator=0)
    >>> [tuple(x.shape) for x in sim.x]
    [(20, 2), (20, 2)]
    """
    func = "simulate_lineage"
    times_t = torch.as_tensor(times.tolist() if hasattr(times, "tolist") else list(times), dtype=torch.float64)
    if bool((times_t[1:] <= times_t[:-1]).any()):
        raise ValueError(f"{func}: times must increase, got {[float(t) for t in times_t]}")
    K = len(times_t)
    sizes = [int(n_cells)] * K if not isinstance(n_cells, (list, tuple, torch.Tensor, np.ndarray)) else \
        [int(n) for n in (n_cells.tolist() if hasattr(n_cells, "tolist") else n_cells)]
    if len(sizes) != K:
        raise ValueError(f"{func}: n_cells must be one integer or one per time point ({K}), got {len(sizes)}")
    n_founders = 4 * sizes[0] if n_founders is None else n_founders
    if n_founders < sizes[0]:
        raise ValueError(f"{func}: n_founders must be >= n_cells at the first time ({sizes[0]}), got {n_founders}")
    if n_founders > max_cells:
        raise ValueError(f"{func}: n_founders ({n_founders}) exceeds max_cells ({max_cells})")
    snap_steps = [int(round(float(t) / step)) for t in times_t]
    if len(set(snap_steps)) < K:
        raise ValueError(f"{func}: step={step} is too coarse to separate the snapshot times {times_t.tolist()}")
    device = _as_device(func, device)
    kw = dict(device=device, dtype=dtype)
    gen = as_generator(generator)

    def randn(*shape):  # the package's randomness rule: draw on the CPU, move to the device
        return torch.randn(*shape, generator=gen, dtype=dtype).to(device)

    def rand(*shape, dtype=torch.float32):
        return torch.rand(*shape, generator=gen, dtype=dtype).to(device)

    x = torch.empty(n_founders, 2, **kw)
    x[:, 0] = x0_start
    x[:, 1] = 0.0
    x = x + 0.1 * randn(n_founders, 2)
    bc = torch.zeros(n_founders, n_sites, dtype=torch.long, device=device)
    snap = torch.full((n_founders, K), -1, dtype=torch.long, device=device)
    sd = torch.tensor([progress_noise, noise], **kw) * math.sqrt(step)

    out_x, out_x2, out_bc, out_lin, out_rows, pop = [], [], [], [], [], []
    k = 0
    bar = _progress_bar(range(snap_steps[-1] + 1), desc="simulate", disable=None if progress is None else not progress)
    for s in bar:
        while k < K and s == snap_steps[k]:
            n, want = x.shape[0], sizes[k]
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"{func}: the Euler-Maruyama scheme diverged before time {float(times_t[k])}; "
                                 f"lower step (got {step}) or noise")
            if n < want:
                raise ValueError(f"{func}: only {n} cells alive at time {float(times_t[k])}, fewer than "
                                 f"n_cells={want}; sample fewer cells, start with more n_founders or raise birth")
            snap[:, k] = torch.arange(n, device=device)
            pop.append(x.clone())
            rows = torch.randperm(n, generator=gen).to(device)[: 2 * want]
            out_rows.append(rows[:want])
            out_x.append(x[rows[:want]].clone())
            out_x2.append(x[rows[want:]].clone())
            out_bc.append(bc[rows[:want]].clone())
            out_lin.append(snap[rows[:want]].clone())
            k += 1
        if s == snap_steps[-1]:
            break
        # diffusion and drift
        drift = torch.stack([torch.ones_like(x[:, 0]), -x[:, 1] ** 3 + x[:, 0] * x[:, 1]], dim=1)
        x = x + drift * step + sd * randn(*x.shape)
        # barcode edits
        if n_sites:
            hit = (bc == 0) & (rand(*bc.shape) < edit_rate * step)
            alleles = torch.randint(1, n_alleles + 1, bc.shape, generator=gen).to(device)
            bc = torch.where(hit, alleles, bc)
        # division and death
        b, d = _birth_death_rates(x, birth, death, growth_bias)
        u = rand(x.shape[0], dtype=dtype)
        dies = u < d * step
        divides = (~dies) & (u < (d + b) * step)
        keep = ~dies
        x = torch.cat([x[keep], x[divides]])
        bc = torch.cat([bc[keep], bc[divides]])
        snap = torch.cat([snap[keep], snap[divides]])
        if x.shape[0] > max_cells:
            raise ValueError(f"{func}: the population exceeded max_cells={max_cells}; raise max_cells, or lower "
                             "birth or the time span")
        if x.shape[0] == 0:
            raise ValueError(f"{func}: the population died out; raise birth or n_founders, or lower death")

    # true fates: fraction of descendants at the last time on the upper branch
    upper = (x[:, 1] > 0).to(dtype)
    fates = []
    for k in range(K):
        n_k = pop[k].shape[0]
        cnt = torch.zeros(n_k, **kw).index_add_(0, snap[:, k], torch.ones_like(upper))
        up = torch.zeros(n_k, **kw).index_add_(0, snap[:, k], upper)
        frac = torch.where(cnt > 0, up / cnt.clamp_min(1.0), torch.full_like(cnt, -1.0))
        fates.append(frac[out_rows[k]])
    rates = [_birth_death_rates(xk, birth, death, growth_bias) for xk in out_x]
    expression = None
    if n_genes is not None:
        loadings = randn(2, n_genes) / math.sqrt(2.0)
        expression = [xk @ loadings + gene_noise * randn(xk.shape[0], n_genes) for xk in out_x]
    params = dict(noise=noise, progress_noise=progress_noise, x0_start=x0_start, birth=birth, death=death, growth_bias=growth_bias,
                  n_sites=n_sites, edit_rate=edit_rate, n_alleles=n_alleles, step=step)
    return LineageSimulation(
        times=times_t.to(device=device, dtype=dtype), x=out_x, x_batch2=out_x2, expression=expression,
        barcodes=out_bc, fate=fates, growth_rate=[b - d for b, d in rates], population=pop,
        lineage=out_lin, params=params,
    )


def _as_device(func: str, device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{func}: device {device!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{func}: device must be a CPU or CUDA device, got {device!r}")
    return dev
