"""CPU instructions per outreach workflow: scenario (a) of ``orchestration.py``, counted.

Wall times on a shared virtual machine move by a third or more from one hour to the next,
which hides changes of a few per cent. Instructions do not: this script runs scenario (a)
twice under Valgrind's cachegrind (``--cache-sim=no``, counting only instructions), with a
small and a larger number of workflows, and divides the difference by the difference in
workflows. Start-up (imports, migrations, seeding the fixed part) cancels out; what remains is
the per-workflow cost of our process, instructions executed by the kernel excepted. The model
server runs in a child process that is not instrumented.

Runs of the same code agree within about 2% (polling and commit windows still depend on
time); compare two versions of the code with this, and read ms per workflow from
``orchestration.py``. Needs ``valgrind`` on PATH (``apt-get install valgrind``); a run takes
a few minutes.

Run: .venv/bin/python bench/instructions.py [--small 100] [--large 400]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "instructions.json"
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def count(workflows: int) -> int:
    """Instructions this process executes for scenario (a) with ``workflows`` workflows."""
    with tempfile.TemporaryDirectory(prefix="cc-bench-instructions-") as scratch:
        command = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            str(ROOT / "bench" / "orchestration.py"),
            "--workflows",
            str(workflows),
            "--slow-workflows",
            "0",
            "--repeat",
            "1",
            "--results",
            str(Path(scratch) / "orchestration.json"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the counted run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", type=int, default=100, help="Workflows in the first run.")
    parser.add_argument("--large", type=int, default=400, help="Workflows in the second run.")
    args = parser.parse_args(argv)
    if args.large <= args.small:
        parser.error("--large must be more than --small")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")

    small, large = count(args.small), count(args.large)
    per_workflow = (large - small) / (args.large - args.small)
    print(f"{'workflows':>10} {'instructions':>16}")
    print(f"{args.small:>10} {small:>16,}")
    print(f"{args.large:>10} {large:>16,}")
    print(f"\n{per_workflow / 1e6:.2f} million instructions per workflow (scenario (a))")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "runs": {str(args.small): small, str(args.large): large},
        "instructions_per_workflow": round(per_workflow),
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
