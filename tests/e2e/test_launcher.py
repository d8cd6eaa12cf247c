"""`valetkey up` as an operator meets it: broken configs fail at once, dead services come back.

Real processes throughout: the launcher, its supervisor, NATS and Valkey from the wheels,
the services; a service is killed with SIGKILL, not mocked.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from pydantic import SecretStr
from redis.exceptions import AuthenticationError

from shared.bus import subjects
from shared.runtime.redisio import service_redis
from shared.runtime.settings import RuntimeSettings
from tests.support.deadlines import PROCESS_START_S
from tests.support.engine import ROOT, base_config
from tests.support.launcher import CLI, cli, gone, healthy, pid_of, state, wait_for
from tools.launcher import embedded
from tools.launcher.credentials import NATS, credentials_file, ensure_credentials

pytestmark = pytest.mark.e2e

HOOLI = {
    "id": "hooli",
    "type": "oauth2",
    "client_id": "c",
    "client_secret": "s",
    "oauth2": {
        "authorize_request": {"endpoint": "https://auth.hooli.example/authorize"},
        "token_request": {"endpoint": "https://auth.hooli.example/token"},
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    config = base_config(embedded.free_port(), "r" * 32)
    *parents, last = path.split(".")
    section = config
    for key in parents:
        section = section.setdefault(key, {})
    section[last] = value
    return config


def _bad_endpoint() -> dict[str, Any]:
    provider = copy.deepcopy(HOOLI)
    provider["oauth2"]["token_request"]["endpoint"] = "not a url"
    return provider


# (what is wrong, the file's text or content, what the one-line error must name)
BROKEN = [
    ("an empty file", "", "the file is empty"),
    ("not YAML", "api: [", "not valid YAML"),
    ("a list at the top", "- 1\n", "top level must be a mapping"),
    ("a port that is not a number", _with("api.port", "ninety"), "api.port"),
    ("an unknown key", _with("api.colour", "blue"), "api.colour"),
    ("a state TTL below the floor", _with("auth.state_ttl_seconds", 5), "auth.state_ttl_seconds"),
    ("no root key outside development", _with("security.root_keys", []), "security.root_keys"),
    (
        "a root key too short",
        _with("security.root_keys", [{"id": "k", "value": "short", "default": True}]),
        "security.root_keys[0].value",
    ),
    (
        "an unset environment variable",
        _with("security.root_keys", [{"id": "k", "value": "${env:VK_TEST_NEVER_SET}", "default": True}]),
        "VK_TEST_NEVER_SET",
    ),
    ("no webhook key outside development", _with("security.webhook_keys", []), "security.webhook_keys"),
    ("a short bus key outside development", _with("security.bus_key", "short"), "security.bus_key"),
    ("an unknown toolkit", _with("tools.toolkits", ["no_such_toolkit_here"]), "tools.toolkits[0]"),
    (
        "a provider endpoint that is not a URL",
        _with("auth.providers", [_bad_endpoint()]),
        "auth.providers[0].oauth2.token_request.endpoint",
    ),
    (
        "an unknown built-in provider",
        _with(
            "auth.providers", [{"id": "g", "provider_id": "no-such", "client_id": "c", "client_secret": "s"}]
        ),
        "auth.providers[0].provider_id",
    ),
    ("two providers with one id", _with("auth.providers", [HOOLI, HOOLI]), "auth.providers[1].id"),
    (
        "a webhook URL that is not http",
        _with("webhooks.endpoints", [{"id": "w", "url": "ftp://hooks.example", "secret": "s" * 32}]),
        "webhooks.endpoints[0].url",
    ),
    (
        "a worker URI that is not http",
        _with("tools.directors", [{"id": "d", "workers": [{"id": "w", "http": {"uri": "ftp://x"}}]}]),
        "tools.directors[0].workers[0].http.uri",
    ),
    ("a custom verifier without its URL", _with("auth.verification", {"mode": "custom"}), "verifier_url"),
    (
        "the built-in verifier outside development",
        _with("auth.verification", {"mode": "builtin"}),
        "auth.verification.mode: builtin is for development only",
    ),
]


def _env(home: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "REDIS_URL", "VALETKEY_ROOT_KEY")}
    env.update(
        VALETKEY_HOME=str(home),
        VALETKEY_CONFIG=str(config),
        VALETKEY_NATS_PORT=str(embedded.free_port()),
        VALETKEY_REDIS_PORT=str(embedded.free_port()),
        VALETKEY_UP_TIMEOUT=str(PROCESS_START_S),
    )
    return env


class TestBrokenConfiguration:
    @pytest.mark.parametrize(("config", "names"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
    def test_up_refuses_with_one_line_that_names_the_problem_and_starts_nothing(
        self, tmp_path, config, names
    ):
        path = tmp_path / "engine.yaml"
        path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
        home = tmp_path / "home"

        result = cli(_env(home, path), "up")

        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert names in result.stderr
        assert not (home / "run" / "state.json").exists()
        assert not (home / "logs").exists()


@pytest.fixture
def engine_up(tmp_path) -> Iterator[tuple[Path, dict[str, str], str]]:
    port = embedded.free_port()
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(base_config(port, "${env:VALETKEY_ROOT_KEY}")))
    home = tmp_path / "home"
    env = _env(home, path)
    up = cli(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    key = next(line.split()[-1] for line in up.stdout.splitlines() if line.startswith("API key"))
    try:
        yield home, env, key
    finally:
        cli(env, "down")


class TestSupervision:
    def test_a_killed_service_is_started_again_and_counted_and_down_stops_it_too(self, engine_up):
        home, env, key = engine_up
        base_url = state(home)["base_url"]
        before = pid_of(home, "authorizer")

        os.kill(before, signal.SIGKILL)
        wait_for(lambda: pid_of(home, "authorizer") not in (before, 0), "the authorizer to be started again")
        wait_for(lambda: healthy(base_url, key), "the engine to be healthy again")

        status = cli(env, "status").stdout
        assert "authorizer" in status and "restarts 1" in status
        pids = [p["pid"] for p in state(home)["processes"]] + [state(home)["supervisor"]]
        assert len(pids) == len(subjects.SERVICES) + 3  # NATS, Valkey and the supervisor

        assert cli(env, "down").returncode == 0
        assert all(gone(pid) for pid in pids)

    def test_run_finds_the_running_engines_nats_and_redis_by_itself(self, engine_up):
        home, env, _ = engine_up
        nats_url = state(home)["nats_url"]
        extra = subprocess.Popen(
            [*CLI, "run", "token_refresher"], cwd=ROOT, env={**env, "VALETKEY_INSTANCE": "by-hand"}
        )
        try:
            probe = [sys.executable, "-m", "tools.launcher.probe", "token_refresher"]
            # the pod's probe runs with the service's own NATS user, as in Kubernetes
            own = ensure_credentials(home).service_env("token_refresher", {NATS})
            probe_env = {**env, **own, "VALETKEY_INSTANCE": "by-hand", "NATS_URL": nats_url}

            def answers() -> bool:
                return subprocess.run(probe, cwd=ROOT, env=probe_env, timeout=30).returncode == 0

            wait_for(answers, "the hand-started refresher to answer on the engine's NATS")
        finally:
            extra.terminate()
            extra.wait(30)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


class TestCredentials:
    async def test_the_embedded_servers_refuse_a_client_without_credentials(self, engine_up):
        home, _, _ = engine_up
        running = state(home)
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(running["nats_url"], allow_reconnect=False, connect_timeout=5)
        creds = ensure_credentials(home)
        for password, refused in ((None, True), (creds.redis, False)):
            secret = SecretStr(password) if password else None
            redis = service_redis(RuntimeSettings(redis_url=running["redis_url"], redis_password=secret))
            try:
                if refused:
                    with pytest.raises(AuthenticationError):
                        await redis.ping()
                else:
                    assert await redis.ping() is True
            finally:
                await redis.aclose()

    def test_each_service_holds_its_own_nats_user_and_the_secrets_only_the_owner_reads(self, engine_up):
        home, _, _ = engine_up
        creds = ensure_credentials(home)
        for service in subjects.SERVICES:
            environ = _environ(pid_of(home, service))
            assert environ["VALETKEY_NATS_USER"] == service
            assert environ["VALETKEY_NATS_PASSWORD"] == creds.nats[service]
            others = {pw for name, pw in creds.nats.items() if name != service}
            assert not others & set(environ.values())
        configs = [home / "run" / f"{server}.conf" for server in ("nats-server", "valkey-server")]
        for private in (credentials_file(home), *configs):
            assert private.stat().st_mode & 0o077 == 0, private
