"""Runs every benchmark (`bench/bench_*.py`) or the one named, each in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))
    chosen = [name for name in names if not argv or name in argv]
    unknown = [name for name in argv if name not in names]
    if unknown:
        print(f"bench: unknown benchmark {', '.join(unknown)}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        print(f"bench: running {name}", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.bench_{name}"], cwd=HERE.parent) != 0:  # noqa: S603 (own modules)
            failed.append(name)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
