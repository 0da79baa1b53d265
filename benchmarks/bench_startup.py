"""Benchmark: how fast the command line and ``import synframe`` start, cold and warm.

Usage (from the repository root, with the package installed in ``.venv``)::

    .venv/bin/python benchmarks/bench_startup.py [--repeat 10] [--cold]

Measured, each in a fresh interpreter (wall time of the whole process, median of ``--repeat``):

- ``synframe --help`` (the console script) -- target <= 0.5 s;
- ``python -c "import synframe"`` -- target <= 1.2 s;
- ``python -c "import synframe; import pandas"`` (what a notebook's first cell does) and the
  reference ``python -c "import pandas, xarray, pandera.pandas"`` (the libraries any synframe
  table operation needs), to compare in the same run;
- ``python -c "import synframe as sf; sf.datasets.example_synapses()"``: the first real call.

Warm: the OS page cache and bytecode caches are filled by a first, unmeasured run. Cold
(``--cold``, needs root): the page cache is dropped (``/proc/sys/vm/drop_caches``) before each run;
bytecode caches stay (as after any install).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGETS = {"synframe --help": 0.5, "import synframe": 1.2}


def _commands() -> dict[str, list[str]]:
    exe = shutil.which("synframe", path=str(Path(sys.executable).parent)) or "synframe"
    py = sys.executable
    return {
        "synframe --help": [exe, "--help"],
        "import synframe": [py, "-c", "import synframe"],
        "import synframe; import pandas": [py, "-c", "import synframe; import pandas"],
        "reference: import pandas, xarray, pandera": [
            py,
            "-c",
            "import pandas, xarray, pandera.pandas",
        ],
        "first call: sf.datasets.example_synapses()": [
            py,
            "-c",
            "import synframe as sf; sf.datasets.example_synapses()",
        ],
    }


def _drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def _time(cmd: list[str], cold: bool) -> float:
    if cold:
        _drop_caches()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    args = parser.parse_args()
    if args.cold and not _drop_caches():
        sys.exit("--cold needs root (writing /proc/sys/vm/drop_caches)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, repeat {args.repeat}")
    for mode in ["warm", "cold"] if args.cold else ["warm"]:
        print(f"\n{mode}:")
        for name, cmd in _commands().items():
            _time(cmd, cold=False)  # fills bytecode caches
            times = [_time(cmd, cold=mode == "cold") for _ in range(args.repeat)]
            med = statistics.median(times)
            target = TARGETS.get(name)
            verdict = (
                ""
                if target is None
                else f"  target <= {target} s: {'met' if med <= target else 'NOT met'}"
            )
            print(
                f"  {name:<45} median {med:6.3f} s  (min {min(times):.3f}, max {max(times):.3f}){verdict}"
            )


if __name__ == "__main__":
    main()
