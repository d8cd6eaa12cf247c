"""The embedded servers' credentials: generated once, private to the owner, one NATS user per service."""

from __future__ import annotations

import stat
from pathlib import Path

from shared.bus import subjects
from tools.launcher.cli import ensure_secrets
from tools.launcher.credentials import NATS, REDIS, credentials_file, ensure_credentials


def test_credentials_are_generated_once_and_only_the_owner_can_read_them(tmp_path: Path):
    first = ensure_credentials(tmp_path)
    again = ensure_credentials(tmp_path)
    assert first == again
    assert stat.S_IMODE(credentials_file(tmp_path).stat().st_mode) == 0o600
    assert set(first.nats) == set(subjects.SERVICES)
    assert len({*first.nats.values(), first.redis}) == len(subjects.SERVICES) + 1  # all different


def test_a_service_is_given_its_own_nats_user_and_no_other_services_password(tmp_path: Path):
    creds = ensure_credentials(tmp_path)
    env = creds.service_env("executor", {NATS, REDIS})
    assert env == {
        "VALETKEY_NATS_USER": "executor",
        "VALETKEY_NATS_PASSWORD": creds.nats["executor"],
        "VALETKEY_REDIS_PASSWORD": creds.redis,
    }
    assert creds.service_env("executor", set()) == {}


def test_the_server_configurations_carry_the_passwords(tmp_path: Path):
    creds = ensure_credentials(tmp_path)
    assert all(f'"password": "{pw}"' in creds.nats_config() for pw in creds.nats.values())
    assert creds.valkey_config() == f"requirepass {creds.redis}\n"


def test_the_bus_key_is_generated_once_beside_the_root_key_and_an_older_secrets_file_gains_it(
    tmp_path: Path, monkeypatch
):
    for name in ("VALETKEY_API_KEY", "VALETKEY_ROOT_KEY", "VALETKEY_BUS_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "secrets.env").write_text("VALETKEY_API_KEY=vk_old\nVALETKEY_ROOT_KEY=old-root-key\n")
    first = ensure_secrets(tmp_path)
    assert first["VALETKEY_API_KEY"] == "vk_old" and first["VALETKEY_ROOT_KEY"] == "old-root-key"
    assert len(first["VALETKEY_BUS_KEY"]) >= 32 and first["VALETKEY_BUS_KEY"] != first["VALETKEY_ROOT_KEY"]
    assert ensure_secrets(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "secrets.env").stat().st_mode) == 0o600
