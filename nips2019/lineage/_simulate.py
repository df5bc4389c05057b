"""A developmental simulator with known ancestry: a stochastic pitchfork with division, death and barcodes."""

from __future__ import annotations

import dataclasses
import math

import torch

from nips2019.utils import check_positive, progress


@dataclasses.dataclass
class LineageSimulation:
    """Snapshots of a simulated developing population, with the ground truth kept aside.

    Returned by :func:`simulate_lineage`. See the chapter *OT for lineage tracing*.

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
        the upper branch (:math:`x_1 > 0`); NaN for cells whose lineage dies out.
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
        if not 0 <= k_early <= k_late < len(self.times):
            raise ValueError(f"need 0 <= k_early <= k_late < {len(self.times)}, got {k_early}, {k_late}")
        return self.population[k_early][self.lineage[k_late][:, k_early]]


def birth_death_rates(x: torch.Tensor, birth: float, death: float, bias: float):
    r"""Division and death rates of the simulator at states ``x``.

    .. math::

        b(x) = b_0 \,(1 + \beta \tanh(2 x_1)), \qquad d(x) = d_0,

    so cells drifting to the upper branch (:math:`x_1 > 0`) proliferate faster when
    :math:`\beta > 0`. See the chapter *OT for lineage tracing*.

    Examples
    --------
    >>> import torch
    >>> b, d = birth_death_rates(torch.tensor([[0.0, 0.0]]), 1.0, 0.3, 0.5)
    >>> float(b[0] - d[0])
    0.7
    """
    b = birth * (1.0 + bias * torch.tanh(2.0 * x[:, 1]))
    return b, torch.full_like(b, death)


def simulate_lineage(
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
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    show_progress: bool = False,
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
    (Forrow & Schiebinger 2021). See the chapter *OT for lineage tracing*.

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
        Time step.
    max_cells : int
        Abort if the population exceeds this.
    generator : torch.Generator, optional
        On ``device``.
    dtype, device
        Of the returned states.
    show_progress : bool

    Returns
    -------
    LineageSimulation

    Examples
    --------
    >>> import torch
    >>> sim = simulate_lineage(n_cells=20, times=(0.0, 0.5), generator=torch.Generator().manual_seed(0))
    >>> [tuple(x.shape) for x in sim.x]
    [(20, 2), (20, 2)]
    """
    times_t = torch.as_tensor(times, dtype=torch.float64)
    if times_t.dim() != 1 or len(times_t) < 1 or bool((times_t[1:] <= times_t[:-1]).any()) or times_t[0] < 0:
        raise ValueError(f"times must be a non-empty increasing sequence of non-negative numbers, got {times!r}")
    for name, val in (("noise", noise), ("progress_noise", progress_noise), ("birth", birth), ("step", step), ("edit_rate", edit_rate)):
        check_positive(val, name, strict=name in ("step",))
    check_positive(death, "death", strict=False)
    if not 0 <= growth_bias <= 1:
        raise ValueError(f"growth_bias must lie in [0, 1], got {growth_bias}")
    sizes = [n_cells] * len(times_t) if isinstance(n_cells, int) else list(n_cells)
    if len(sizes) != len(times_t) or any(not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"n_cells must be a positive integer or one per time point, got {n_cells!r}")
    n_founders = 4 * sizes[0] if n_founders is None else n_founders
    if not isinstance(n_founders, int) or n_founders < sizes[0]:
        raise ValueError(f"n_founders must be an integer >= n_cells at the first time ({sizes[0]}), got {n_founders!r}")
    kw = dict(device=device, dtype=dtype)
    gen = generator
    K = len(times_t)
    snap_steps = [int(round(float(t) / step)) for t in times_t]

    x = torch.empty(n_founders, 2, **kw)
    x[:, 0] = x0_start
    x[:, 1] = 0.0
    x = x + 0.1 * torch.randn(n_founders, 2, generator=gen, **kw)
    bc = torch.zeros(n_founders, n_sites, dtype=torch.long, device=device)
    snap = torch.full((n_founders, K), -1, dtype=torch.long, device=device)
    sd = torch.tensor([progress_noise, noise], **kw) * math.sqrt(step)

    out_x, out_x2, out_bc, out_lin, out_rows, pop = [], [], [], [], [], []
    k = 0
    for s in progress(range(snap_steps[-1] + 1), desc="simulate", disable=not show_progress):
        while k < K and s == snap_steps[k]:
            n, want = x.shape[0], sizes[k]
            if n < want:
                raise RuntimeError(f"only {n} cells alive at time {float(times_t[k])}; need {want}")
            snap[:, k] = torch.arange(n, device=device)
            pop.append(x.clone())
            rows = torch.randperm(n, generator=gen, device=device)[: 2 * want]
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
        x = x + drift * step + sd * torch.randn(x.shape, generator=gen, **kw)
        # barcode edits
        if n_sites:
            hit = (bc == 0) & (torch.rand(bc.shape, generator=gen, device=device) < edit_rate * step)
            alleles = torch.randint(1, n_alleles + 1, bc.shape, generator=gen, device=device)
            bc = torch.where(hit, alleles, bc)
        # division and death
        b, d = birth_death_rates(x, birth, death, growth_bias)
        u = torch.rand(x.shape[0], generator=gen, device=device, dtype=dtype)
        dies = u < d * step
        divides = (~dies) & (u < (d + b) * step)
        keep = ~dies
        x = torch.cat([x[keep], x[divides]])
        bc = torch.cat([bc[keep], bc[divides]])
        snap = torch.cat([snap[keep], snap[divides]])
        if x.shape[0] > max_cells:
            raise RuntimeError(f"population exceeded max_cells={max_cells}; lower birth or the time span")
        if x.shape[0] == 0:
            raise RuntimeError("the population died out")

    # true fates: fraction of descendants at the last time on the upper branch
    upper = (x[:, 1] > 0).to(dtype)
    fates = []
    for k in range(K):
        n_k = pop[k].shape[0]
        cnt = torch.zeros(n_k, **kw).index_add_(0, snap[:, k], torch.ones_like(upper))
        up = torch.zeros(n_k, **kw).index_add_(0, snap[:, k], upper)
        frac = torch.where(cnt > 0, up / cnt.clamp_min(1.0), torch.full_like(cnt, float("nan")))
        fates.append(frac[out_rows[k]])
    rates = [birth_death_rates(xk, birth, death, growth_bias) for xk in out_x]
    expression = None
    if n_genes is not None:
        loadings = torch.randn(2, n_genes, generator=gen, **kw) / math.sqrt(2.0)
        expression = [xk @ loadings + gene_noise * torch.randn(xk.shape[0], n_genes, generator=gen, **kw) for xk in out_x]
    params = dict(noise=noise, progress_noise=progress_noise, x0_start=x0_start, birth=birth, death=death, growth_bias=growth_bias,
                  n_sites=n_sites, edit_rate=edit_rate, n_alleles=n_alleles, step=step)
    return LineageSimulation(
        times=times_t.to(device=device, dtype=dtype), x=out_x, x_batch2=out_x2, expression=expression,
        barcodes=out_bc, fate=fates, growth_rate=[b - d for b, d in rates], population=pop,
        lineage=out_lin, params=params,
    )
