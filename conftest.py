"""Root pytest configuration: quick mode, one thread, headless plotting.

Set before any test (and inherited by nbval's notebook kernels).
"""

import os

os.environ.setdefault("NIPS2019_QUICK", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


# ---------------------------------------------------------------------------------------------
# Time budget per notebook (nbval): print the slowest notebooks, fail any over the budget, so one
# chapter cannot eat the test suite's time. Budget in seconds: NIPS2019_NOTEBOOK_BUDGET (120).
# ---------------------------------------------------------------------------------------------

_NOTEBOOK_SECONDS: dict[str, float] = {}


def _notebook_budget() -> float:
    return float(os.environ.get("NIPS2019_NOTEBOOK_BUDGET", "120"))


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] = _NOTEBOOK_SECONDS.get(path, 0.0) + report.duration


def _quick() -> bool:
    return os.environ.get("NIPS2019_QUICK", "").strip().lower() not in ("", "0", "false", "no", "off")


def _over_budget():
    if not _quick():  # the budget is for quick mode; full-size runs are timed by make book
        return {}
    budget = _notebook_budget()
    return {p: s for p, s in _NOTEBOOK_SECONDS.items() if s > budget}


def pytest_terminal_summary(terminalreporter):
    if not _NOTEBOOK_SECONDS:
        return
    ranked = sorted(_NOTEBOOK_SECONDS.items(), key=lambda kv: -kv[1])
    budget = f"quick-mode budget {_notebook_budget():.0f} s each" if _quick() else "full size, no budget"
    terminalreporter.write_sep("-", f"notebook times ({budget})")
    for path, seconds in ranked:
        flag = "  OVER BUDGET" if _quick() and seconds > _notebook_budget() else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")


def pytest_sessionfinish(session, exitstatus):
    over = _over_budget()
    if over and exitstatus == 0:
        session.exitstatus = 1
        names = ", ".join(f"{p} ({s:.0f} s)" for p, s in over.items())
        print(f"\nnotebook time budget exceeded: {names}; shrink the quick-mode sizes", flush=True)
