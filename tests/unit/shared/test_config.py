"""engine.yaml loading: substitution, validation, and errors that name the file and the key."""

from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.runtime.config import load_engine_config
from shared.runtime.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "engine.yaml"
    path.write_text(text)
    return path


class TestSubstitution:
    def test_env_references_are_replaced_from_the_environment(self, tmp_path):
        path = write(tmp_path, "api:\n  port: ${env:PORT_X}\n  development: ${env:DEV_X}\n")
        config = load_engine_config(path, {"PORT_X": "9200", "DEV_X": "true"})
        assert config.api.port == 9200
        assert config.api.development is True

    def test_a_dotenv_file_beside_the_config_supplies_values(self, tmp_path):
        (tmp_path / ".env").write_text('HOOLI_CLIENT_ID="from-dotenv"\n')
        path = write(tmp_path, PROVIDER.format(enabled="true"))
        config = load_engine_config(path, {"HOOLI_CLIENT_SECRET": "s"})
        assert config.auth.providers[0].client_id == "from-dotenv"

    def test_a_missing_variable_names_the_file_the_key_and_the_variable(self, tmp_path):
        path = write(tmp_path, "security:\n  root_keys:\n    - id: k\n      value: ${env:NOT_SET_ANYWHERE}\n")
        with pytest.raises(ConfigError) as caught:
            load_engine_config(path, {})
        message = str(caught.value)
        assert str(path) in message
        assert "security.root_keys[0].value" in message
        assert "NOT_SET_ANYWHERE" in message

    def test_a_disabled_provider_may_leave_its_credentials_unset(self, tmp_path):
        path = write(tmp_path, PROVIDER.format(enabled="false"))
        config = load_engine_config(path, {})
        assert config.auth.providers[0].enabled is False

    def test_file_references_read_the_file(self, tmp_path):
        secret = tmp_path / "root.key"
        secret.write_text("from-a-file\n")
        path = write(tmp_path, f"security:\n  root_keys:\n    - id: k\n      value: ${{file:{secret}}}\n")
        config = load_engine_config(path, {})
        assert config.security.root_keys[0].value.get_secret_value() == "from-a-file"


PROVIDER = """
auth:
  providers:
    - id: hooli
      type: oauth2
      enabled: {enabled}
      client_id: ${{env:HOOLI_CLIENT_ID}}
      client_secret: ${{env:HOOLI_CLIENT_SECRET}}
      oauth2:
        authorize_request:
          endpoint: https://hooli.example/authorize
        token_request:
          endpoint: https://hooli.example/token
"""


class TestValidation:
    def test_a_typo_in_a_key_is_an_error_naming_that_key(self, tmp_path):
        path = write(tmp_path, "api:\n  prot: 9099\n")
        with pytest.raises(ConfigError, match=r"api\.prot"):
            load_engine_config(path, {})

    def test_a_wrong_type_names_the_key_and_the_problem(self, tmp_path):
        path = write(tmp_path, "api:\n  port: not-a-number\n")
        with pytest.raises(ConfigError, match=r"engine.yaml: api\.port: .*integer"):
            load_engine_config(path, {})

    def test_invalid_yaml_names_the_file(self, tmp_path):
        path = write(tmp_path, "api: [unclosed\n")
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_engine_config(path, {})

    def test_a_missing_file_is_a_clear_error(self, tmp_path):
        with pytest.raises(ConfigError, match="cannot read"):
            load_engine_config(tmp_path / "nope.yaml", {})

    def test_arcade_sections_valetkey_does_not_use_are_accepted(self, tmp_path):
        path = write(
            tmp_path, "llm:\n  models: []\nstorage:\n  in_memory: {}\ntelemetry:\n  environment: local\n"
        )
        load_engine_config(path, {})

    def test_the_shipped_example_config_is_valid(self):
        root = Path(__file__).resolve().parents[3]
        config = load_engine_config(root / "engine.yaml", {"VALETKEY_ROOT_KEY": "x" * 32})
        assert {p.id for p in config.auth.providers} >= {"hooli", "default-google"}


class TestSettings:
    def test_settings_prefer_valetkey_variables_over_the_generic_urls(self, tmp_path):
        path = write(tmp_path, "api:\n  development: true\n")
        settings = load_settings(
            {
                "VALETKEY_CONFIG": str(path),
                "NATS_URL": "nats://generic:1",
                "VALETKEY_NATS_URL": "nats://mine:2",
                "REDIS_URL": "redis://r:3/0",
            }
        )
        assert settings.runtime.nats_url == "nats://mine:2"
        assert settings.runtime.redis_url == "redis://r:3/0"

    def test_the_cipher_refuses_to_build_without_keys_outside_development(self, tmp_path):
        path = write(tmp_path, "api:\n  development: false\n")
        settings = load_settings({"VALETKEY_CONFIG": str(path)})
        with pytest.raises(ConfigError, match="no root key"):
            settings.cipher()


class TestWorkers:
    WORKER = (
        "tools:\n  directors:\n    - id: d\n      workers:\n"
        "        - id: w\n          http: {{uri: {uri}, secret: {secret}}}\n"
    )
    LONG = "s" * 32

    def test_a_worker_secret_shorter_than_32_characters_is_refused_outside_development(self, tmp_path):
        path = write(tmp_path, self.WORKER.format(uri="https://w.example", secret="dev"))
        with pytest.raises(
            ConfigError, match=r"tools\.directors\[0\]\.workers\[0\]\.http\.secret: at least 32"
        ):
            load_engine_config(path, {})

    def test_plain_http_needs_private_targets_allowed_outside_development(self, tmp_path):
        path = write(tmp_path, self.WORKER.format(uri="http://worker:8002", secret=self.LONG))
        with pytest.raises(
            ConfigError, match=r"http\.uri: plain http:// needs security\.allow_private_targets"
        ):
            load_engine_config(path, {})
        allowed = "security:\n  allow_private_targets: true\n" + self.WORKER.format(
            uri="http://worker:8002", secret=self.LONG
        )
        assert load_engine_config(write(tmp_path, allowed), {}).tools.directors[0].workers[0].id == "w"

    def test_development_accepts_arcade_serves_short_dev_secret_over_http(self, tmp_path):
        text = "api:\n  development: true\n" + self.WORKER.format(uri="http://localhost:8002", secret="dev")
        assert load_engine_config(write(tmp_path, text), {}).tools.directors[0].workers[0].id == "w"
