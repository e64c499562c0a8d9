"""Run every benchmark module in bench/, or list them.

Usage::

    .venv/bin/python -m bench            # run them all, one after the other
    .venv/bin/python -m bench --list     # list them
    .venv/bin/python -m bench import_roads sections   # run some
    .venv/bin/python -m bench -- --write # pass options on to every benchmark

Each benchmark runs in its own process (``python -m bench.<name>``), so one crash does not
stop the others; the exit status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def find_benchmarks() -> list[str]:
    """Return the names of the benchmark modules (every module of this package)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    args, passthrough = parser.parse_known_args()
    passthrough = [a for a in passthrough if a != "--"]
    found = find_benchmarks()
    if args.list:
        sys.stdout.write("\n".join(found) + "\n")
        return 0
    unknown = sorted(set(args.names) - set(found))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; found: {', '.join(found)}")
    failed = []
    for name in args.names or found:
        sys.stdout.write(f"== bench.{name}\n")
        sys.stdout.flush()
        start = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *passthrough])
        sys.stdout.write(
            f"== bench.{name}: exit {code} after {time.perf_counter() - start:.1f} s\n"
        )
        if code:
            failed.append(name)
    if failed:
        sys.stdout.write(f"failed: {', '.join(failed)}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
