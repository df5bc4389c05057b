"""Root pytest configuration: quick mode, one thread, headless plotting.

Set before any test (and inherited by nbval's notebook kernels).
"""

import os

os.environ.setdefault("NIPS2019_QUICK", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
