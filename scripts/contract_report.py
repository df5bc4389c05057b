"""Print, per subpackage, how many bad inputs the contract test derives and how each was answered.

    python scripts/contract_report.py

Columns: cases (public names with a valid call), derived (bad calls generated from them),
clear (refused with a message naming the argument), accepted (in fact valid: finite result),
and failures (obscure errors, silent NaN/inf, accepted nonsense). See tests/contract.py.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

os.environ.setdefault("NIPS2019_PROGRESS", "0")

import nips2019  # noqa: E402
from tests.contract import attack  # noqa: E402


def main() -> int:
    rows, total = [], Counter()
    for sub in sorted(nips2019._SUBPACKAGES):
        module = importlib.import_module(f"tests.{sub}.test_{sub}_contract")
        counts = Counter()
        for case in module.CASES:
            c, _ = attack(case)
            counts.update(c)
        failures = counts["obscure"] + counts["nonfinite"] + counts["wrong"]
        derived = counts["clear"] + counts["accepted"] + failures
        rows.append((sub, len(module.CASES), derived, counts["clear"], counts["accepted"], failures))
        total.update(dict(cases=len(module.CASES), derived=derived, clear=counts["clear"],
                          accepted=counts["accepted"], failures=failures))
    print("| subpackage | cases | derived bad calls | clear error | accepted (valid) | failures |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")
    print(f"| **all** | {total['cases']} | {total['derived']} | {total['clear']} | {total['accepted']} | {total['failures']} |")
    return 0 if total["failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
