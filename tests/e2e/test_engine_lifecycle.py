"""The engine as processes: healthy, survives a NATS restart, stops cleanly, refuses bad config."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.deadlines import PROCESS_START_S
from tests.support.engine import ROOT, base_config, running_engine
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

EXTRAS = {"Valetkey-Extras": "true"}  # each service's answer (docs/arcade-compatibility.md §1.6)


class TestHealth:
    def test_all_five_services_report_healthy(self, tmp_path, nats_url, redis_url):
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url) as engine:
            body = engine.health().json()
        assert body["healthy"] is True
        assert set(body["services"]) == {"gateway", "authorizer", "token_refresher", "executor", "webhooks"}
        assert all(s["reachable"] for s in body["services"].values())

    def test_the_pod_probe_answers_for_its_own_instance_only(self, tmp_path, nats_url, redis_url):
        env = {"VALETKEY_INSTANCE": "pod-a"}
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url, extra_env=env) as engine:
            probe = [sys.executable, "-m", "tools.launcher.probe"]
            mine = [
                subprocess.run([*probe, s], env=engine.service_env(s), cwd=ROOT, timeout=30).returncode
                for s in ("authorizer", "token_refresher", "executor", "webhooks")
            ]
            other = subprocess.run(
                [*probe, "executor"],
                env={**engine.service_env("executor"), "VALETKEY_INSTANCE": "pod-b"},
                cwd=ROOT,
                timeout=30,
            ).returncode
        assert mine == [0, 0, 0, 0]
        assert other == 1

    def test_health_answers_without_an_api_key_too(self, tmp_path, nats_url, redis_url):
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url) as engine:
            body = httpx.get(f"{engine.base_url}/v1/health", headers=EXTRAS, timeout=5).json()
        assert set(body["services"]) == {"gateway", "authorizer", "token_refresher", "executor", "webhooks"}
        assert all(s["reachable"] for s in body["services"].values())

    def test_a_stopped_service_is_reported_unreachable_with_503(self, tmp_path, nats_url, redis_url):
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url) as engine:
            engine.stop_service("executor")
            response = engine.health()
        assert response.status_code == 503
        assert response.json()["services"]["executor"]["reachable"] is False
        assert "executor" in response.json()["reason"]


class TestNatsRestart:
    def test_services_keep_serving_after_nats_server_is_killed_and_restarted(
        self, tmp_path, own_nats, redis_url
    ):
        with running_engine(tmp_path, nats_url=own_nats.url, redis_url=redis_url) as engine:
            # A health ping the old server delivered just before the kill is answered into the
            # client's buffer and flushed to the new server on reconnect, which refuses it: NATS
            # grants a reply (allow_responses) only for a request it delivered itself.
            engine.expect_refusals(r'publish to \\"_inbox\.gateway\.')
            pids = {name: proc.pid for name, proc in engine.procs.items()}
            statuses: list[int] = []
            stop = threading.Event()

            def hammer() -> None:
                while not stop.is_set():
                    try:
                        statuses.append(engine.health().status_code)
                    except httpx.HTTPError:
                        statuses.append(-1)
                    time.sleep(0.05)

            thread = threading.Thread(target=hammer)
            thread.start()
            time.sleep(0.5)
            own_nats.kill()
            time.sleep(1.0)
            own_nats.start()
            engine.wait_healthy(timeout=30)
            time.sleep(0.5)
            stop.set()
            thread.join()
            assert {name: proc.pid for name, proc in engine.procs.items()} == pids
            assert all(proc.poll() is None for proc in engine.procs.values())
        assert 503 in statuses, "the outage should have been visible as 503, not hidden"
        assert -1 not in statuses and 500 not in statuses
        assert statuses[-1] == 200


class TestShutdown:
    def test_sigterm_stops_every_service_cleanly(self, tmp_path, nats_url, redis_url):
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url) as engine:
            codes = {name: engine.stop_service(name, signal.SIGTERM) for name in list(engine.procs)}
        assert codes == {"gateway": 0, "authorizer": 0, "token_refresher": 0, "executor": 0, "webhooks": 0}

    def test_sigterm_answers_waiting_long_polls_with_the_current_status_before_the_gateway_exits(
        self, tmp_path, nats_url, redis_url
    ):
        config = base_config(embedded.free_port(), "t" * 32)
        config["auth"]["providers"] = [{"provider_id": "google", "client_id": "cid", "client_secret": "cs"}]
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url, config=config) as engine:
            pending = httpx.post(
                f"{engine.base_url}/v1/auth/authorize",
                headers=engine.headers,
                json={"user_id": "drained@example.com", "auth_requirement": {"provider_id": "google"}},
            ).json()
            answers: list[httpx.Response] = []

            def long_poll() -> None:
                response = httpx.get(
                    f"{engine.base_url}/v1/auth/status",
                    params={"id": pending["id"], "wait": 45},
                    headers=engine.headers,
                    timeout=60,
                )
                answers.append(response)

            waiter = threading.Thread(target=long_poll)
            waiter.start()
            time.sleep(1.0)  # the long-poll is waiting inside the gateway
            code = engine.stop_service("gateway", signal.SIGTERM)
            waiter.join(60)
        assert code == 0
        (response,) = answers
        assert response.status_code == 200 and response.json()["status"] == "pending"


def _start_with(config: dict, path: Path, service: str) -> subprocess.CompletedProcess[str]:
    """Start one service with ``config`` written to ``path``; it is expected to refuse."""
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "VALETKEY_CONFIG": str(path), "VALETKEY_API_KEY": "k"}
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestBadConfiguration:
    def test_a_bad_config_stops_a_service_with_the_file_and_key_named(self, tmp_path):
        config = base_config(embedded.free_port(), "r" * 32)
        config["api"]["port"] = "ninety"
        path = tmp_path / "engine.yaml"
        result = _start_with(config, path, "authorizer")
        assert result.returncode == 2
        assert str(path) in result.stderr and "api.port" in result.stderr
        assert "Traceback" not in result.stderr

    def test_no_root_key_outside_development_refuses_to_start(self, tmp_path):
        config = base_config(embedded.free_port(), "r" * 32)
        config["security"]["root_keys"] = []
        result = _start_with(config, tmp_path / "engine.yaml", "token_refresher")
        assert result.returncode == 2
        assert "security.root_keys" in result.stderr

    def test_the_builtin_verifier_outside_development_refuses_to_start_naming_the_key(self, tmp_path):
        config = base_config(embedded.free_port(), "r" * 32)
        config["auth"]["verification"] = {"mode": "builtin"}
        path = tmp_path / "engine.yaml"
        result = _start_with(config, path, "gateway")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{path}: auth.verification.mode: builtin is for development only" in result.stderr

    def test_a_changed_root_key_is_refused_at_start_naming_the_key(self, tmp_path, nats_url, redis_url):
        with running_engine(tmp_path, nats_url=nats_url, redis_url=redis_url) as engine:
            env = engine.service_env("authorizer")
            engine.stop_service("authorizer")
        changed = dict(engine.config)
        changed["security"] = {
            **engine.config["security"],
            "root_keys": [{"id": "k1", "value": "s" * 32, "default": True}],
        }
        path = tmp_path / "changed.yaml"
        path.write_text(yaml.safe_dump(changed))
        result = subprocess.run(
            [sys.executable, "-m", "services.authorizer"],
            cwd=ROOT,
            env={**env, "VALETKEY_CONFIG": str(path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr[-2000:]
        assert f"{path}: security.root_keys[0].value: root key 'k1'" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout


class TestStartCommand:
    def test_up_starts_embedded_servers_on_free_ports_and_down_leaves_nothing(self, tmp_path):
        port = embedded.free_port()
        config = base_config(port, "${env:VALETKEY_ROOT_KEY}")
        (tmp_path / "engine.yaml").write_text(yaml.safe_dump(config))
        busy = embedded.free_port()  # the preferred NATS port is taken: up must pick another
        with socket_listening(busy):
            env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "REDIS_URL")}
            env.update(
                VALETKEY_HOME=str(tmp_path / "home"),
                VALETKEY_CONFIG=str(tmp_path / "engine.yaml"),
                VALETKEY_NATS_PORT=str(busy),
                VALETKEY_REDIS_PORT=str(embedded.free_port()),
                VALETKEY_UP_TIMEOUT=str(PROCESS_START_S),
            )
            cli = [sys.executable, "-m", "tools.launcher.cli"]
            up = subprocess.run(
                [*cli, "up"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=PROCESS_START_S + 60,
            )
            assert up.returncode == 0, up.stdout + up.stderr
            key = next(line.split()[-1] for line in up.stdout.splitlines() if line.startswith("API key"))
            health = httpx.get(
                f"http://127.0.0.1:{port}/v1/health", headers={"Authorization": f"Bearer {key}", **EXTRAS}
            )
            state = (tmp_path / "home" / "run" / "state.json").read_text()
            down = subprocess.run(
                [*cli, "down"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
            )
        assert health.status_code == 200 and health.json()["healthy"]
        assert f":{busy}" not in state
        assert down.returncode == 0
        processes = yaml.safe_load(state)["processes"]
        pids = [p["pid"] for p in processes]
        assert len(pids) == 7  # NATS, Valkey and the five services
        assert "webhooks" in {p["name"] for p in processes}
        assert set(health.json()["services"]) >= {"webhooks"}
        assert not [pid for pid in pids if Path(f"/proc/{pid}").exists() and _not_zombie(pid)]


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class socket_listening:
    """Hold a loopback port open for the duration of a with-block."""

    def __init__(self, port: int) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", port))

    def __enter__(self):
        self.sock.listen()
        return self

    def __exit__(self, *exc):
        self.sock.close()


class TestDependencyOutages:
    def test_health_names_the_services_that_cannot_reach_redis_while_it_is_down(
        self, tmp_path, nats_url, own_redis
    ):
        with running_engine(tmp_path, nats_url=nats_url, redis_url=own_redis.url) as engine:
            own_redis.kill()
            try:
                during = engine.health()
                status = httpx.get(
                    f"{engine.base_url}/v1/auth/status",
                    params={"id": "ac_during_the_outage"},
                    headers={"Authorization": engine.api_key},
                    timeout=30,
                )
            finally:
                own_redis.start()
            engine.wait_healthy(timeout=PROCESS_START_S)
            after = engine.health()
        assert during.status_code == 503 and during.headers["retry-after"] == "1"
        services = during.json()["services"]
        assert {name for name, s in services.items() if s.get("dependencies", {}).get("redis") is False} == {
            "authorizer",
            "token_refresher",
            "executor",
            "webhooks",
        }
        assert "authorizer cannot reach redis" in during.json()["reason"]
        assert status.status_code == 503, status.text
        assert after.status_code == 200

    def test_a_request_while_nats_is_down_is_a_503_that_says_when_to_retry(
        self, tmp_path, own_nats, redis_url
    ):
        with running_engine(tmp_path, nats_url=own_nats.url, redis_url=redis_url) as engine:
            own_nats.kill()
            try:
                started = time.monotonic()
                response = httpx.get(
                    f"{engine.base_url}/v1/tools", headers={"Authorization": engine.api_key}, timeout=30
                )
                took = time.monotonic() - started
            finally:
                own_nats.start()
            engine.wait_healthy(timeout=PROCESS_START_S)
        print(f"503 during the NATS outage after {took * 1000:.0f} ms")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["name"] == "service_unavailable"


class TestSecretsPerService:
    def test_the_gateway_and_the_webhooks_service_run_without_the_secrets_only_the_authorizer_is_given(
        self, tmp_path, nats_url, redis_url
    ):
        config = base_config(embedded.free_port(), "${env:VALETKEY_ROOT_KEY}")
        config["auth"]["verification"] = {
            "mode": "oidc",
            "oidc": {
                "issuer": "https://login.example.com",
                "client_id": "valetkey",
                "client_secret": "${env:VK_TEST_OIDC_SECRET}",
            },
        }
        given = {"VALETKEY_ROOT_KEY": "r" * 32, "VK_TEST_OIDC_SECRET": "oidc-secret"}
        with running_engine(
            tmp_path, nats_url=nats_url, redis_url=redis_url, config=config, extra_env=given
        ) as engine:
            engine.stop_service("gateway")
            engine.stop_service("webhooks")
            engine.env = {k: v for k, v in engine.env.items() if k not in given}
            engine.start_service("gateway")
            engine.start_service("webhooks")  # its webhook key, and no root key
            engine.wait_healthy()
            authorizer = subprocess.run(
                [sys.executable, "-m", "services.authorizer"],
                cwd=ROOT,
                env=engine.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert authorizer.returncode == 2 and "Traceback" not in authorizer.stderr
        assert "environment variable VALETKEY_ROOT_KEY is not set" in authorizer.stderr
