"""Start-up time of the package and of the command line (never asserted in tests).

Run ``python benchmarks/startup.py`` (``--repeat N`` runs, default 7; ``--json PATH``
saves the results). Each case is a fresh ``python`` process, timed from launch to exit
(wall clock), so the numbers include the interpreter's own start; the median and the
minimum over the runs are reported, with a bare ``python -c pass`` as the floor.

Cases:

* ``python``: ``python -c pass``, the interpreter alone;
* ``import``: ``import stability`` (lazy: no NumPy, SciPy or SymPy is loaded);
* ``import-api``: ``from stability import critical_learning_rate, Quadratic, SGD``;
* ``help``: ``stability --help``;
* ``critical-lr``: ``stability critical-lr --example --method gd sgd --batch-size 4``;
* ``critical-lr-json``: the same with ``--json``;
* ``derive``: ``stability derive --method sgd --samples 2 --batch-size 1`` (loads SymPy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES: dict[str, list[str]] = {
    "python": ["-c", "pass"],
    "import": ["-c", "import stability"],
    "import-api": ["-c", "from stability import critical_learning_rate, Quadratic, SGD"],
    "help": ["-m", "stability", "--help"],
    "critical-lr": [
        "-m", "stability", "critical-lr", "--example", "--method", "gd", "sgd",
        "--batch-size", "4",
    ],
    "critical-lr-json": [
        "-m", "stability", "critical-lr", "--example", "--method", "gd", "sgd",
        "--batch-size", "4", "--json",
    ],
    "derive": [
        "-m", "stability", "derive", "--method", "sgd", "--samples", "2", "--batch-size", "1",
    ],
}  # fmt: skip


def time_case(arguments: list[str], repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` fresh runs of ``python *arguments``."""
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    root = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = root + os.pathsep + environment.get("PYTHONPATH", "")
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, *arguments],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    """Time every case and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", metavar="PATH")
    arguments = parser.parse_args()
    results = {}
    print("| case | median (s) | min (s) |")
    print("|---|---|---|")
    for name, case in CASES.items():
        time_case(case, 1)  # warm the file-system cache
        seconds = time_case(case, arguments.repeat)
        results[name] = {"median": statistics.median(seconds), "min": min(seconds)}
        print(f"| {name} | {results[name]['median']:.3f} | {results[name]['min']:.3f} |")
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
