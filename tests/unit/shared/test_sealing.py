"""Sealed bus payloads: AES-256-GCM under the bus key, bound to the subject and the request."""

import re

import pytest

from shared.bus import subjects
from shared.bus.sealing import BusSeal, is_sealed
from shared.errors import ConfigError, SealError
from shared.runtime.config import EngineConfig
from shared.runtime.settings import RuntimeSettings, Settings

SEAL = BusSeal("the-bus-key-of-this-engine-0123456789")
TOKEN = b'{"access_token":"gho_live_secret_token"}'


class TestRequests:
    def test_a_sealed_request_hides_its_payload_and_opens_on_its_subject(self):
        sealed = SEAL.seal_request(subjects.AUTH_START, TOKEN)
        assert b"gho_live_secret_token" not in sealed
        body, request_id = SEAL.open_request(subjects.AUTH_START, sealed)
        assert body == TOKEN and request_id == BusSeal.request_id(sealed)

    def test_a_request_replayed_on_another_subject_is_refused(self):
        sealed = SEAL.seal_request(subjects.AUTH_STATUS, TOKEN)
        with pytest.raises(SealError, match=re.escape("the request on vk.tools.execute does not open")):
            SEAL.open_request(subjects.TOOLS_EXECUTE, sealed)

    def test_an_altered_request_is_refused(self):
        sealed = bytearray(SEAL.seal_request(subjects.AUTH_START, TOKEN))
        sealed[-1] ^= 1
        with pytest.raises(SealError):
            SEAL.open_request(subjects.AUTH_START, bytes(sealed))

    def test_a_request_sealed_under_another_bus_key_is_refused(self):
        sealed = BusSeal("another-bus-key-0123456789abcdef").seal_request(subjects.AUTH_START, TOKEN)
        with pytest.raises(SealError, match=re.escape("security.bus_key")):
            SEAL.open_request(subjects.AUTH_START, sealed)

    @pytest.mark.parametrize("payload", [b"", b"{}", TOKEN, b"vks1", b"vks1" + b"\0" * 20])
    def test_an_unsealed_or_truncated_request_is_refused_as_not_sealed(self, payload):
        with pytest.raises(SealError, match=re.escape("is not sealed")):
            SEAL.open_request(subjects.AUTH_START, payload)


class TestReplies:
    def test_a_reply_opens_only_as_the_answer_to_its_request(self):
        first = SEAL.seal_request(subjects.AUTH_START, b"{}")
        second = SEAL.seal_request(subjects.AUTH_START, b"{}")
        reply = SEAL.seal_reply(subjects.AUTH_START, BusSeal.request_id(first), TOKEN)
        assert b"gho_live_secret_token" not in reply
        assert SEAL.open_reply(subjects.AUTH_START, BusSeal.request_id(first), reply) == TOKEN
        with pytest.raises(SealError, match=re.escape("the reply on vk.auth.start")):
            SEAL.open_reply(subjects.AUTH_START, BusSeal.request_id(second), reply)

    def test_a_reply_does_not_open_as_a_request(self):
        request = SEAL.seal_request(subjects.AUTH_START, b"{}")
        reply = SEAL.seal_reply(subjects.AUTH_START, BusSeal.request_id(request), TOKEN)
        with pytest.raises(SealError):
            SEAL.open_request(subjects.AUTH_START, reply)


def test_every_request_reply_subject_but_a_replicas_own_health_ping_is_sealed():
    assert is_sealed(subjects.AUTH_START) and is_sealed(subjects.WEBHOOKS_ENDPOINTS_ROTATE)
    assert is_sealed(subjects.health_subject("token_refresher"))  # /v1/health's: a key mismatch shows
    assert not is_sealed(subjects.instance_health_subject("token_refresher", "pod-1.example"))


class TestBusKeySetting:
    @staticmethod
    def settings(bus_key: str | None, *, development: bool = False) -> Settings:
        security = {} if bus_key is None else {"bus_key": bus_key}
        engine = EngineConfig.model_validate(
            {
                "api": {"development": development},
                "security": security,
                "auth": {"verification": {"mode": "unsafe_skip"}},
            }
        )
        return Settings(runtime=RuntimeSettings(), engine=engine)

    @pytest.mark.parametrize("bus_key", [None, "", "short", "valetkey-development-only-bus-key"])
    def test_outside_development_a_missing_short_or_default_bus_key_is_refused_naming_the_key(self, bus_key):
        with pytest.raises(ConfigError) as caught:
            self.settings(bus_key).bus_seal()
        assert caught.value.key == "security.bus_key"

    def test_in_development_the_engine_runs_without_a_bus_key(self):
        seal = self.settings(None, development=True).bus_seal()
        assert seal.open_request("s", seal.seal_request("s", b"x"))[0] == b"x"

    def test_two_services_with_the_same_bus_key_understand_each_other(self):
        gateway, executor = self.settings("k" * 32).bus_seal(), self.settings("k" * 32).bus_seal()
        assert executor.open_request("s", gateway.seal_request("s", b"x"))[0] == b"x"
