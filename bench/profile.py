"""Where a service's CPU goes on a hot path: CPU per request from /proc, and a breakdown of py-spy
samples by what the deepest recognised frame is doing (HTTP parsing, key check, JSON, validation,
logging, NATS, Redis, ...). Used by ``bench gateway --profile`` and ``bench execute --profile``.

py-spy (a sampling profiler, a dev dependency) attaches to the running service by pid and
writes collapsed stacks (``--format raw``): one line per distinct stack, frames root-first
separated by ``;``, then the sample count. ``--nonblocking`` samples without pausing the
process, so the profile costs the service nothing but the reads of its memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (category, substrings of a frame's "function (file:line)"), most specific first: a sample counts
# for the first category whose pattern its deepest matching frame has.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("key check", ("services/gateway/domain.py", "hashlib", "hmac")),
    ("crypto", ("cryptography/", "shared/runtime/crypto.py")),
    ("JSON", ("json/", "orjson", "model_dump_json", "JSONResponse")),
    ("validation", ("pydantic", "model_validate")),
    ("logging", ("structlog", "logging/", "shared/runtime/logging.py")),
    ("tracing", ("opentelemetry",)),
    ("metrics", ("prometheus_client",)),
    ("NATS", ("nats/",)),
    ("Redis", ("redis/",)),
    ("HTTP parsing", ("httptools", "h11", "uvicorn/protocols")),
    ("framework (routing, middleware)", ("starlette/", "fastapi/")),
    ("event loop and socket I/O", ("asyncio/", "uvloop", "selectors")),
    ("engine code", ("services/", "shared/")),
]
OTHER = "other"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def category_of(stack: str) -> str:
    """The category of one collapsed stack, judged from its deepest frame that any pattern names."""
    for frame in reversed(stack.split(";")):
        for name, patterns in CATEGORIES:
            if any(p in frame for p in patterns):
                return name
    return OTHER


def breakdown(raw: str) -> dict[str, float]:
    """Share of samples per category (0..1), largest first."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[category_of(stack)] += int(count)
    total = sum(counts.values()) or 1
    return {name: round(n / total, 3) for name, n in counts.most_common()}


@dataclass
class Profile:
    """CPU per request and the breakdown of one service over one measured load."""

    service: str
    cpu_s: float = 0.0
    shares: dict[str, float] = field(default_factory=dict)

    def per_request_us(self, requests: int) -> float:
        return round(self.cpu_s / requests * 1e6, 1) if requests else 0.0


def print_services(services: dict[str, dict[str, Any]]) -> None:
    """One line per service: CPU per request and its largest shares."""
    for service, found in services.items():
        top = ", ".join(f"{name} {share:.0%}" for name, share in list(found["shares"].items())[:8])
        print(f"  {service:<11} {found['cpu_us_per_request']:>7} µs CPU/request   {top}")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy (pip install py-spy; it is in the dev extras)")
    return found


@contextlib.contextmanager
def profiled(pids: dict[str, int], out: Path, *, rate: int = 200) -> Iterator[dict[str, Profile]]:
    """Sample every pid in ``pids`` while the block runs; the profiles are filled in on exit."""
    out.mkdir(parents=True, exist_ok=True)
    profiles = {name: Profile(name) for name in pids}
    started = {name: cpu_seconds(pid) for name, pid in pids.items()}
    record = [py_spy(), "record", "--rate", str(rate), "--format", "raw", "--nonblocking"]
    spies = {
        name: subprocess.Popen(
            [*record, "--pid", str(pid), "--output", str(out / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    }
    try:
        yield profiles
    finally:
        for name, pid in pids.items():
            profiles[name].cpu_s = cpu_seconds(pid) - started[name]
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for name, spy in spies.items():
            spy.wait(30)
            raw = out / f"{name}.txt"
            profiles[name].shares = breakdown(raw.read_text()) if raw.exists() else {}
