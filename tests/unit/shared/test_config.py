"""engine.yaml loading: substitution, validation, and errors that name the file and the key."""

from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.runtime.config_loading import load_engine_config
from shared.runtime.settings import load_settings

#: Outside development a configuration must name a real verification mode (builtin is refused).
VERIFIED = "auth:\n  verification:\n    mode: unsafe_skip\n"


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
        text = f"security:\n  root_keys:\n    - id: k\n      value: ${{file:{secret}}}\n"
        path = write(tmp_path, text + VERIFIED)
        config = load_engine_config(path, {})
        assert config.security.root_keys[0].value.get_secret_value() == "from-a-file"


PROVIDER = """
auth:
  verification:
    mode: unsafe_skip
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

    def test_arcade_sections_valetkey_reads_are_accepted(self, tmp_path):
        path = write(tmp_path, "llm:\n  models: []\ntelemetry:\n  environment: local\n" + VERIFIED)
        assert load_engine_config(path, {}).telemetry.json_logs() is False

    def test_llm_models_name_openai_compatible_upstreams_and_route_a_model_to_the_entry_listing_it(
        self, tmp_path
    ):
        text = (
            "llm:\n  models:\n"
            "    - {id: primary, openai: {api_key: k1}}\n"
            "    - {id: local, openai: {base_url: 'http://127.0.0.1:9/v1/', models: [llama3]}}\n"
        )
        llm = load_engine_config(write(tmp_path, text + VERIFIED), {}).llm
        assert llm is not None
        local = llm.upstream_for("llama3")
        assert local is not None and local.openai.base_url == "http://127.0.0.1:9/v1"
        primary = llm.upstream_for("gpt-4o")
        assert primary is not None and primary.openai.base_url == "https://api.openai.com/v1"
        assert primary.openai.api_key is not None and primary.openai.api_key.get_secret_value() == "k1"

    @pytest.mark.parametrize(
        ("section", "named"),
        [
            ("storage:\n  in_memory: {}\n", "storage: valetkey keeps its state in Redis"),
            ("storage:\n  postgres: {host: db}\n", "storage: valetkey keeps its state in Redis"),
            ("cache:\n  api_key_ttl: 10s\n", "cache: valetkey caches in memory"),
            ("llm:\n  models: [{id: claude, anthropic: {api_key: k}}]\n", r"llm\.models\[0\]\.openai"),
            ("telemetry:\n  logging: {level: loud}\n", "telemetry.logging.level"),
        ],
    )
    def test_an_arcade_section_valetkey_would_ignore_stops_the_engine(self, tmp_path, section, named):
        with pytest.raises(ConfigError, match=named):
            load_engine_config(write(tmp_path, section + VERIFIED), {})

    def test_arcades_older_auth_token_store_stops_the_engine(self, tmp_path):
        text = "auth:\n  token_store:\n    in_memory: {}\n  verification:\n    mode: unsafe_skip\n"
        with pytest.raises(ConfigError, match=r"auth\.token_store: valetkey keeps tokens in Redis"):
            load_engine_config(write(tmp_path, text), {})

    def test_execution_logging_is_read_and_a_key_valetkey_cannot_honour_is_refused(self, tmp_path):
        text = "execution_logging:\n  enabled: false\n  include_outputs: true\n  retention_days: 2\n"
        config = load_engine_config(write(tmp_path, text + VERIFIED), {})
        logging = config.execution_logging
        assert (logging.enabled, logging.include_inputs, logging.include_outputs) == (False, False, True)
        assert logging.retention_days == 2
        buffered = write(tmp_path, "execution_logging:\n  buffer_size: 100\n" + VERIFIED)
        with pytest.raises(ConfigError, match=r"execution_logging\.buffer_size"):
            load_engine_config(buffered, {})

    def test_the_scheduling_horizon_must_be_positive(self, tmp_path):
        path = write(tmp_path, "tools:\n  scheduled:\n    horizon_days: 0\n" + VERIFIED)
        with pytest.raises(ConfigError, match=r"tools\.scheduled\.horizon_days"):
            load_engine_config(path, {})

    def test_the_shipped_example_config_is_valid(self):
        root = Path(__file__).resolve().parents[3]
        env = {"VALETKEY_ROOT_KEY": "x" * 32, "VALETKEY_BUS_KEY": "b" * 32, "VALETKEY_WEBHOOK_KEY": "w" * 32}
        config = load_engine_config(root / "engine.yaml", env)
        assert {p.id for p in config.auth.providers} >= {"hooli", "default-google"}
        assert config.security.bus_key is not None


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

    def test_api_keys_are_plain_default_admins_or_name_their_project_and_role(self, tmp_path):
        keys_yaml = "  keys:\n    - plain\n    - {key: k2, project: acme, role: agent}\n"
        text = "api:\n  development: true\n" + keys_yaml
        settings = load_settings({"VALETKEY_CONFIG": str(write(tmp_path, text)), "VALETKEY_API_KEY": "env"})
        keys = [(k.key.get_secret_value(), k.project, k.role) for k in settings.api_keys()]
        assert keys == [("plain", "default", "admin"), ("k2", "acme", "agent"), ("env", "default", "admin")]

    @pytest.mark.parametrize("entry", ["{key: k, role: owner}", "{key: k, project: 'a:b'}", "{project: a}"])
    def test_an_api_key_with_an_unknown_role_a_bad_project_or_no_key_is_refused(self, tmp_path, entry):
        with pytest.raises(ConfigError, match=r"api\.keys\[0\]"):
            load_engine_config(write(tmp_path, f"api:\n  keys:\n    - {entry}\n"), {})

    def test_the_cipher_refuses_to_build_without_keys_outside_development(self, tmp_path):
        path = write(tmp_path, "api:\n  development: false\n" + VERIFIED)
        settings = load_settings({"VALETKEY_CONFIG": str(path)})
        with pytest.raises(ConfigError, match="no root key"):
            settings.cipher()


class TestWorkers:
    WORKER = VERIFIED + (
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


class TestVerification:
    OIDC = (
        "auth:\n  verification:\n    mode: oidc\n    oidc:\n      issuer: https://login.example.com\n"
        "      client_id: valetkey\n      client_secret: ${env:OIDC_SECRET}\n"
    )

    def test_the_builtin_verifier_outside_development_is_refused_naming_the_key(self, tmp_path):
        path = write(tmp_path, "api:\n  development: false\nauth:\n  verification:\n    mode: builtin\n")
        with pytest.raises(ConfigError) as caught:
            load_engine_config(path, {})
        assert caught.value.key == "auth.verification.mode"
        assert "development only" in caught.value.problem
        assert len(str(caught.value).splitlines()) == 1

    def test_a_configuration_that_names_no_verification_is_refused_outside_development(self, tmp_path):
        with pytest.raises(ConfigError, match=r"auth\.verification\.mode: builtin is for development only"):
            load_engine_config(write(tmp_path, "api:\n  port: 9100\n"), {})

    def test_the_builtin_verifier_is_accepted_in_development(self, tmp_path):
        path = write(tmp_path, "api:\n  development: true\nauth:\n  verification:\n    mode: builtin\n")
        assert load_engine_config(path, {}).auth.verification.mode == "builtin"

    def test_oidc_reads_its_secret_from_the_environment_with_sub_and_openid_by_default(self, tmp_path):
        config = load_engine_config(write(tmp_path, self.OIDC), {"OIDC_SECRET": "s3cret"})
        oidc = config.auth.verification.oidc
        assert oidc is not None and oidc.client_secret.get_secret_value() == "s3cret"
        assert (oidc.user_claim, oidc.scopes) == ("sub", ["openid"])

    def test_oidc_without_its_provider_is_refused(self, tmp_path):
        path = write(tmp_path, "auth:\n  verification:\n    mode: oidc\n")
        with pytest.raises(ConfigError, match=r"auth\.verification: oidc \(issuer"):
            load_engine_config(path, {})

    def test_oidc_scopes_without_openid_are_refused(self, tmp_path):
        path = write(tmp_path, self.OIDC + "      scopes: [profile]\n")
        with pytest.raises(ConfigError, match=r"auth\.verification\.oidc: scopes must include openid"):
            load_engine_config(path, {"OIDC_SECRET": "s"})


class TestSecretsPerService:
    TEXT = (
        "security:\n  root_keys:\n    - id: k\n      value: ${env:ROOT_X}\n"
        "auth:\n  verification:\n    mode: oidc\n    oidc:\n      issuer: https://login.example.com\n"
        "      client_id: ${env:OIDC_ID_X}\n      client_secret: ${env:OIDC_SECRET_X}\n"
    )

    def test_the_gateway_reads_the_file_without_the_root_key_and_oidc_secret_it_never_uses(self, tmp_path):
        config = load_engine_config(write(tmp_path, self.TEXT), {"OIDC_ID_X": "vk"}, service="gateway")
        assert config.security.root_keys[0].value.get_secret_value() == ""
        assert config.auth.verification.oidc is not None
        assert config.auth.verification.oidc.client_secret.get_secret_value() == ""

    def test_the_authorizer_needs_both(self, tmp_path):
        with pytest.raises(ConfigError, match=r"auth\.verification\.oidc\.client_secret: .*OIDC_SECRET_X"):
            load_engine_config(
                write(tmp_path, self.TEXT), {"OIDC_ID_X": "vk", "ROOT_X": "r" * 32}, service="authorizer"
            )

    def test_a_variable_outside_the_unused_secrets_is_still_required(self, tmp_path):
        with pytest.raises(ConfigError, match=r"auth\.verification\.oidc\.client_id: .*OIDC_ID_X"):
            load_engine_config(write(tmp_path, self.TEXT), {}, service="gateway")

    def test_the_launcher_checking_for_every_service_needs_every_variable(self, tmp_path):
        with pytest.raises(ConfigError, match=r"security\.root_keys\[0\]\.value: .*ROOT_X"):
            load_engine_config(write(tmp_path, self.TEXT), {"OIDC_ID_X": "vk", "OIDC_SECRET_X": "s"})


class TestMcpGateways:
    GATEWAY = VERIFIED + "mcp:\n  gateways:\n    - slug: {slug}\n      tools: [{tools}]\n"

    def test_a_gateway_is_read_with_its_patterns(self, tmp_path):
        config = load_engine_config(write(tmp_path, self.GATEWAY.format(slug="hooli", tools='"Hooli.*"')), {})
        gateway = config.mcp.gateways[0]
        assert (gateway.slug, gateway.tools, gateway.auth) == ("hooli", ["Hooli.*"], "headers")

    @pytest.mark.parametrize(("slug", "tools"), [("Bad Slug", '"Hooli.*"'), ("ok", '"a.b.c"'), ("ok", "")])
    def test_a_bad_slug_or_pattern_is_refused_naming_the_key(self, tmp_path, slug, tools):
        with pytest.raises(ConfigError) as error:
            load_engine_config(write(tmp_path, self.GATEWAY.format(slug=slug, tools=tools)), {})
        assert "mcp.gateways[0]" in str(error.value)

    def test_two_gateways_with_one_slug_are_refused(self, tmp_path):
        text = VERIFIED + "mcp:\n  gateways:\n    - {slug: a, tools: ['*']}\n    - {slug: a, tools: ['*']}\n"
        with pytest.raises(ConfigError, match="slug a is used twice"):
            load_engine_config(write(tmp_path, text), {})

    def test_an_oauth_gateway_needs_the_platforms_openid_provider(self, tmp_path):
        text = VERIFIED + "mcp:\n  gateways:\n    - {slug: a, tools: ['*'], auth: oauth}\n"
        with pytest.raises(ConfigError, match=r"oauth needs auth\.verification\.oidc") as error:
            load_engine_config(write(tmp_path, text), {})
        assert error.value.key == "mcp.gateways[0].auth"
