"""The pure webhook rules: signatures receivers can verify, targets we refuse, retry timing, payloads."""

import base64
import ipaddress
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from services.webhooks import domain
from shared.contracts.events import ConnectionRevoked, TokenRefreshed
from shared.errors import BadRequest


class TestSigning:
    def test_signatures_verify_with_the_standardwebhooks_package(self):
        secret = domain.new_secret()
        body = b'{"id":"evt_1","type":"token.refreshed"}'
        now = int(datetime.now(UTC).timestamp())
        headers = domain.signed_headers([domain.secret_key(secret)], "evt_1", now, body)
        assert Webhook(secret).verify(body, headers) == json.loads(body)

    def test_the_signature_matches_the_reference_implementation_exactly(self):
        secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
        ours = domain.sign(domain.secret_key(secret), "msg_1", 1_700_000_000, b"{}")
        theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1_700_000_000, UTC), "{}")
        assert ours == theirs

    def test_during_a_rotation_either_secret_verifies(self):
        old, new = domain.new_secret(), domain.new_secret()
        keys = [domain.secret_key(new), domain.secret_key(old)]
        now = int(datetime.now(UTC).timestamp())
        headers = domain.signed_headers(keys, "evt_1", now, b"{}")
        assert headers["webhook-signature"].count("v1,") == 2
        Webhook(old).verify(b"{}", headers)
        Webhook(new).verify(b"{}", headers)

    @pytest.mark.parametrize(
        "secret", ["", "abc", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode()]
    )
    def test_malformed_or_weak_secrets_are_refused(self, secret):
        with pytest.raises(BadRequest):
            domain.secret_key(secret)


class TestTargets:
    @pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x", "//x/y"])
    def test_only_http_and_https_are_accepted(self, url):
        with pytest.raises(domain.InvalidTarget):
            domain.parse_target(url)

    def test_a_target_keeps_path_and_query_and_defaults_the_port(self):
        target = domain.parse_target("https://hooks.example.com/in?team=1")
        assert target == domain.Target("https", "hooks.example.com", 443, "/in?team=1")
        assert target.url_for("93.184.216.34") == "https://93.184.216.34:443/in?team=1"
        assert target.url_for("2606:2800::1") == "https://[2606:2800::1]:443/in?team=1"

    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.3.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fc00::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ],
    )
    def test_non_public_addresses_are_refused_unless_allowed(self, address):
        with pytest.raises(domain.InvalidTarget):
            domain.check_addresses("h", [address], allow_private=False)
        assert ipaddress.ip_address(domain.check_addresses("h", [address], allow_private=True)) == (
            ipaddress.ip_address(address)
        )

    def test_one_private_address_among_public_ones_is_enough_to_refuse(self):
        with pytest.raises(domain.InvalidTarget):
            domain.check_addresses("h", ["93.184.216.34", "10.0.0.1"], allow_private=False)

    def test_a_public_host_gets_its_first_address(self):
        assert (
            domain.check_addresses("h", ["93.184.216.34", "2606:2800::1"], allow_private=False)
            == "93.184.216.34"
        )


class TestRetries:
    def test_backoff_doubles_within_jitter_bounds_and_is_capped(self):
        low = [domain.backoff_delay(n, base=1, cap=60, rand=lambda: 0.0) for n in range(1, 9)]
        high = [domain.backoff_delay(n, base=1, cap=60, rand=lambda: 1.0) for n in range(1, 9)]
        assert high == [1, 2, 4, 8, 16, 32, 60, 60]
        assert low == [h / 2 for h in high]

    def test_retries_stop_once_the_next_one_would_fall_outside_the_window(self):
        rules = {"window": 10.0, "base": 1.0, "cap": 60.0, "rand": lambda: 1.0}
        assert domain.after_failure(3, 5.0, **rules) == domain.Retry(4.0)
        assert domain.after_failure(3, 6.5, **rules) == domain.GiveUp()

    def test_a_receivers_retry_after_can_lengthen_the_wait_never_shorten_it(self):
        rules = {"window": 100.0, "base": 1.0, "cap": 60.0, "rand": lambda: 1.0}
        assert domain.after_failure(3, 0.0, retry_after=30.0, **rules) == domain.Retry(30.0)
        assert domain.after_failure(3, 0.0, retry_after=1.0, **rules) == domain.Retry(4.0)
        assert domain.after_failure(3, 80.0, retry_after=30.0, **rules) == domain.GiveUp()

    @pytest.mark.parametrize(
        ("status", "ok"), [(200, True), (204, True), (299, True), (301, False), (500, False)]
    )
    def test_only_2xx_counts_as_delivered(self, status, ok):
        assert domain.is_success(status) is ok


class TestPayload:
    def test_the_payload_carries_the_facts_and_nothing_else(self):
        event = TokenRefreshed(user_id="u1", provider_id="google", connection_id="c1").model_dump(mode="json")
        event["access_token"] = "ya29.secret"  # even if a producer ever added one, it is not forwarded
        payload = domain.shape_payload(event)
        assert payload == {
            "id": event["event_id"],
            "type": "token.refreshed",
            "timestamp": event["occurred_at"],
            "data": {"user_id": "u1", "provider_id": "google", "connection_id": "c1", "status": "refreshed"},
        }

    def test_a_revoked_connection_says_how_the_providers_revocation_went(self):
        event = ConnectionRevoked(
            user_id="u1",
            provider_id="google",
            connection_id="c1",
            provider_revocation="failed",
            provider_revocation_reason="revoking the refresh token: timed out",
        )
        data = domain.shape_payload(event.model_dump(mode="json"))["data"]
        assert (data["status"], data["provider_revocation"]) == ("revoked", "failed")
        assert data["provider_revocation_reason"] == "revoking the refresh token: timed out"

    def test_subscriptions_match_exact_types_or_everything(self):
        assert domain.subscribes(["*"], "connection.revoked")
        assert domain.subscribes(["token.refreshed"], "token.refreshed")
        assert not domain.subscribes(["token.refreshed"], "token.refresh_failed")

    def test_unknown_event_types_are_refused_with_the_known_ones_named(self):
        with pytest.raises(BadRequest, match=r"authorization\.completed"):
            domain.check_event_types(["authorization.done"])
        assert domain.check_event_types(["*", "*"]) == ["*"]

    def test_the_delivery_key_is_stable_per_event_and_endpoint(self):
        assert domain.delivery_key("evt_1", "a") == domain.delivery_key("evt_1", "a")
        assert domain.delivery_key("evt_1", "a") != domain.delivery_key("evt_1", "b")
