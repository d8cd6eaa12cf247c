"""The whole engine as real processes (the five services), for end-to-end tests.

Each service runs as ``python -m services.<name>`` with a test ``engine.yaml``, its own
log file, the NATS/Redis URLs of the test servers and, when the test kit started that NATS, its
own NATS user (``shared.bus.permissions``), exactly as ``valetkey up`` runs it.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from shared.bus import subjects
from shared.bus.sealing import BusSeal
from tests.support.deadlines import PROCESS_START_S
from tests.support.processes import die_with_parent
from tests.support.servers import service_passwords, without_credentials
from tools.launcher import embedded

ROOT = Path(__file__).resolve().parents[2]


def base_config(port: int, root_key: str) -> dict[str, Any]:
    """A minimal valid config; tests add providers, toolkits and workers to it. A root key read
    from the environment (``${env:...}``) goes with a bus key read from ``VALETKEY_BUS_KEY``."""
    from_env = root_key.startswith("${env:")
    bus_key = "${env:VALETKEY_BUS_KEY}" if from_env else f"bus-key-of-{root_key}"
    webhook_key = "${env:VALETKEY_WEBHOOK_KEY}" if from_env else f"webhook-key-of-{root_key}"
    return {
        "api": {
            "development": False,
            "host": "127.0.0.1",
            "port": port,
            "public_url": f"http://127.0.0.1:{port}",
        },
        # the tests' OAuth servers and workers listen on loopback
        "security": {
            "root_keys": [{"id": "k1", "value": root_key, "default": True}],
            "bus_key": bus_key,
            "webhook_keys": [{"id": "w1", "value": webhook_key, "default": True}],
            "allow_private_targets": True,
        },
        "auth": {"providers": [], "verification": {"mode": "unsafe_skip"}},
        "tools": {"toolkits": [], "directors": []},
    }


@dataclass
class Engine:
    home: Path
    config: dict[str, Any]
    env: dict[str, str]
    api_key: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Each service's NATS password, when the server asks for them (tests/support/servers.py).
    nats_passwords: dict[str, str] = field(default_factory=dict)
    # The URL the engine was given, with the test process's own credentials in it.
    tester_nats_url: str = ""
    # Refusals a test expects, as patterns on the log line (see ``expect_refusals``).
    expected_refusals: list[re.Pattern[str]] = field(default_factory=list)

    def service_env(self, service: str) -> dict[str, str]:
        """The environment ``service`` runs with: the engine's, and its own NATS user."""
        if service not in self.nats_passwords:
            return dict(self.env)
        user = {"VALETKEY_NATS_USER": service, "VALETKEY_NATS_PASSWORD": self.nats_passwords[service]}
        return {**self.env, **user}

    def bus_seal(self) -> BusSeal:
        """The engine's bus seal, for a test that talks to its services over NATS as they do."""
        key = str(self.config["security"]["bus_key"])
        return BusSeal(self.env["VALETKEY_BUS_KEY"] if key.startswith("${env:") else key)

    @property
    def port(self) -> int:
        return int(self.config["api"]["port"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/oauth/callback"

    def log_path(self, service: str) -> Path:
        return self.home / "logs" / f"{service}.log"

    def write_config(self) -> None:
        (self.home / "engine.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False))

    def start_service(
        self, service: str, *, replica: int = 1, extra_env: dict[str, str] | None = None
    ) -> str:
        """Start ``service`` (its ``replica``-th process: ``gateway-2`` for the second); returns its name."""
        name = service if replica == 1 else f"{service}-{replica}"
        self.log_path(name).parent.mkdir(parents=True, exist_ok=True)
        with self.log_path(name).open("ab") as log:
            self.procs[name] = subprocess.Popen(
                self.service_command(service),
                cwd=ROOT,
                env={**self.service_env(service), **(extra_env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )
        return name

    def service_command(self, service: str) -> list[str]:
        """The command line of one of ``service``'s processes."""
        return [sys.executable, "-m", f"services.{service}"]

    def stop_service(self, service: str, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        proc = self.procs.pop(service)
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return int(proc.returncode)

    def restart_service(self, service: str) -> None:
        self.stop_service(service)
        self.start_service(service)
        self.wait_healthy()

    def start(self) -> None:
        self.write_config()
        for service in subjects.SERVICES:
            self.start_service(service)
        self.wait_healthy()

    def stop(self) -> None:
        for service in list(self.procs):
            self.stop_service(service)

    def health(self) -> httpx.Response:
        """``/v1/health`` with each service's answer (an extra: docs/arcade-compatibility.md §1.6)."""
        headers = {**self.headers, "Valetkey-Extras": "true"}
        return httpx.get(f"{self.base_url}/v1/health", headers=headers, timeout=5)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def wait_healthy(self, timeout: float = PROCESS_START_S) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")
            try:
                response = self.health()
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(
            f"engine not healthy within {timeout}s: {last}\n" + "\n".join(self.tail(s) for s in self.procs)
        )

    def tail(self, service: str, lines: int = 40) -> str:
        path = self.log_path(service)
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- {service} ---\n" + "\n".join(text)

    def refusals(self) -> list[str]:
        """Log lines where NATS refused a service a publish or a subscription, but those the test
        said it expects."""
        return [
            line
            for line in self.all_logs().splitlines()
            if "permissions violation" in line.lower()
            and not any(pattern.search(line) for pattern in self.expected_refusals)
        ]

    def expect_refusals(self, pattern: str) -> None:
        """Refusals whose log line matches ``pattern`` (case-insensitive) are part of what the
        test does, not a gap in ``shared.bus.permissions``; the caller says why beside the call."""
        self.expected_refusals.append(re.compile(pattern, re.IGNORECASE))

    def assert_clean(self) -> None:
        """No service was refused a subject by NATS (``shared.bus.permissions`` must allow whatever
        the services do), and the gateway sent no answer its OpenAPI document does not allow."""
        assert not self.refusals(), "NATS refused the services:\n" + "\n".join(self.refusals())
        unfit = self.unfit_responses()
        assert not unfit, "answers unfit for the gateway's document:\n" + "\n".join(unfit)

    def unfit_responses(self) -> list[str]:
        """Log lines where the gateway answered a body its own OpenAPI document does not allow."""
        return [line for line in self.all_logs().splitlines() if "wire.response_unfit" in line]

    def all_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.home / "logs").glob("*.log"))


def make_engine(
    home: Path,
    *,
    nats_url: str,
    redis_url: str,
    config: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    check_responses: bool = True,
) -> Engine:
    """An engine of its own under ``home``; ``check_responses=False`` for a benchmark (the check
    costs a schema validation per answer: ~20 % of a status read's throughput)."""
    home.mkdir(parents=True, exist_ok=True)
    api_key = f"vk_test_{secrets.token_urlsafe(12)}"
    cfg = config or base_config(embedded.free_port(), secrets.token_urlsafe(32))
    passwords = service_passwords(nats_url)
    env = {
        # Tracing is off unless a test asks for it (extra_env): the runner's own OTEL_* stays out.
        **{k: v for k, v in os.environ.items() if not k.startswith(("VALETKEY_", "OTEL_"))},
        "VALETKEY_CONFIG": str(home / "engine.yaml"),
        "VALETKEY_API_KEY": api_key,
        "VALETKEY_BUS_KEY": secrets.token_urlsafe(32),
        "VALETKEY_WEBHOOK_KEY": secrets.token_urlsafe(32),
        "VALETKEY_KEY_PREFIX": f"vk{secrets.token_hex(3)}",
        "VALETKEY_LOG_JSON": "true",
        "VALETKEY_LOG_LEVEL": "DEBUG",
        # Every answer the tests receive is checked against the gateway's document (§1.6).
        "VALETKEY_CHECK_RESPONSES": str(check_responses).lower(),
        "NATS_URL": without_credentials(nats_url) if passwords else nats_url,
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    return Engine(
        home=home,
        config=cfg,
        env=env,
        api_key=api_key,
        nats_passwords=passwords or {},
        tester_nats_url=nats_url,
    )


@contextmanager
def running_engine(home: Path, **kwargs: Any) -> Iterator[Engine]:
    """The engine for the block; after it, no service may have been refused a subject by NATS
    (``shared.bus.permissions`` must allow whatever the services do), and the gateway may have
    sent no answer its OpenAPI document does not allow."""
    engine = make_engine(home, **kwargs)
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()
    engine.assert_clean()
