"""The production image: only the production dependencies, at the tested versions, as the chart's user.

No Docker engine runs here, so the Dockerfile is read, and its lock is resolved for real by uv.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.chart import CHART, DEPLOY, REPO

pytestmark = pytest.mark.deploy

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
PRODUCTION_LOCK = REPO / "requirements.prod.lock"
# Packages that exist for the tests and the tools, whoever pulls them in.
TEST_ONLY = {
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "testcontainers",
    "docker",
    "ruff",
    "mypy",
    "arcadepy",
}


def pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock.read_text(), re.M)
    return {canonicalize_name(name): version for name, version in found}


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def final_stage() -> str:
    return DOCKERFILE.rsplit("\nFROM ", 1)[1]


def test_the_image_installs_the_production_lock_and_nothing_else() -> None:
    installs = re.findall(r"uv pip (?:sync|install)[^\n]*", DOCKERFILE)
    assert installs and all("requirements.lock" not in line and "--extra" not in line for line in installs)
    assert "uv pip sync" in installs[0] and installs[0].endswith("requirements.prod.lock")
    assert "--no-deps ." in installs[-1]
    assert re.search(r"^COPY requirements\.prod\.lock ", DOCKERFILE, re.M)


def test_the_production_lock_holds_no_test_or_dev_package() -> None:
    production = pins(PRODUCTION_LOCK).keys()
    dev_extra = {canonicalize_name(Requirement(r).name) for r in project()["optional-dependencies"]["dev"]}
    assert production & dev_extra == set()
    assert production & TEST_ONLY == set()
    assert not [name for name in production if name.startswith("pytest")]


def test_the_production_lock_has_every_dependency_at_the_version_the_tests_ran() -> None:
    production, everything = pins(PRODUCTION_LOCK), pins(REPO / "requirements.lock")
    assert {canonicalize_name(Requirement(r).name) for r in project()["dependencies"]} <= production.keys()
    assert {name: v for name, v in production.items() if everything.get(name) != v} == {}


def test_the_production_lock_resolves_complete_into_a_fresh_environment(tmp_path: Path) -> None:
    """uv resolves the lock's requirements again: nothing may be missing, nothing may move."""
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, tmp_path / "venv"], check=True)
    result = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--dry-run",
            "--python",
            tmp_path / "venv" / "bin" / "python",
            "--requirements",
            PRODUCTION_LOCK,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    would_install = dict(re.findall(r"^ \+ (\S+)==(\S+)$", result.stderr + result.stdout, re.M))
    assert {canonicalize_name(n): v for n, v in would_install.items()} == pins(PRODUCTION_LOCK)


def test_the_image_runs_as_the_user_the_chart_runs_its_pods_as() -> None:
    security = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurity"]
    user = re.search(r"^USER (\d+):(\d+)$", final_stage(), re.M)
    assert user and (int(user[1]), int(user[2])) == (security["runAsUser"], security["runAsGroup"])
    assert int(user[1]) != 0
    assert re.search(rf"useradd [^\n]*--uid {user[1]} ", final_stage())


def test_the_image_is_ready_for_a_read_only_root_filesystem() -> None:
    assert DOCKERFILE.count("--compile-bytecode") == 2
    assert "PYTHONDONTWRITEBYTECODE=1" in final_stage()


def test_the_image_exposes_the_ports_the_chart_probes_and_names_its_five_services() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILE, re.M)
    assert exposed and set(exposed[1].split()) == {"9099", str(values["opsPort"])}
    header = DOCKERFILE.split("\nFROM", 1)[0]
    assert "gateway | authorizer | token_refresher | executor | webhooks" in header


def test_the_build_context_is_limited_to_what_the_image_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.M):
        copied.update(line.split()[:-1])
    assert copied == allowed
