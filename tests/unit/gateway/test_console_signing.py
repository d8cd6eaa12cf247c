"""The console's signed values: sessions and end-user links, forged, expired, or used for the wrong thing."""

import pytest

from services.gateway.console.signing import Expired, Session, Signer, UserLink, key_digest
from services.gateway.domain import ApiKeys, Principal
from services.gateway.middleware import loggable_path
from shared.errors import Unauthorized

NOW = 1_800_000_000.0


def test_a_signed_value_reads_back_until_its_expiry_and_then_is_expired():
    signer = Signer(["key-one"])
    token = signer.sign("console", {"p": "default"}, 60, now=NOW)
    assert signer.verify("console", token, now=NOW + 59)["p"] == "default"
    with pytest.raises(Expired):
        signer.verify("console", token, now=NOW + 60)


@pytest.mark.parametrize("token", [None, "", "abc", "abc.def", "a.b.c"])
def test_a_missing_or_malformed_value_is_refused(token):
    with pytest.raises(Unauthorized):
        Signer(["k"]).verify("console", token, now=NOW)


def test_a_changed_payload_another_purpose_or_other_api_keys_are_refused():
    signer = Signer(["key-one"])
    token = signer.sign("console", {"p": "default"}, 60, now=NOW)
    mac = token.partition(".")[2]
    other_body = Signer(["other"]).sign("console", {"p": "other"}, 60, now=NOW).partition(".")[0]
    with pytest.raises(Unauthorized):
        signer.verify("console", f"{other_body}.{mac}", now=NOW)
    with pytest.raises(Unauthorized):
        signer.verify("user-session", token, now=NOW)
    with pytest.raises(Unauthorized):
        Signer(["key-two"]).verify("console", token, now=NOW)


def test_replicas_holding_the_same_keys_in_any_order_accept_each_others_values():
    token = Signer(["a", "b"]).sign("console", {}, 60, now=NOW)
    assert Signer(["b", "a"]).verify("console", token, now=NOW) == {"exp": int(NOW + 60)}


def test_a_session_checks_its_csrf_token_and_remembers_only_a_digest_of_the_key():
    session = Session.open("proj", "secret-admin-key")
    again = Session.of({**session.payload(), "exp": 5})
    assert again.csrf_ok(session.csrf) and not again.csrf_ok("") and not again.csrf_ok(None)
    assert not again.csrf_ok(session.csrf + "x")
    assert "secret-admin-key" not in str(session.payload())


def test_the_key_of_a_session_is_found_by_its_digest_with_its_project_and_role():
    keys = ApiKeys([("adm", Principal("p", "admin")), ("agt", Principal("p", "agent"))])
    assert keys.by_digest(key_digest("adm")) == Principal("p", "admin")
    assert keys.by_digest(key_digest("agt")) == Principal("p", "agent")
    assert keys.by_digest(key_digest("gone")) is None


def test_a_user_link_allows_only_its_providers_or_every_one_when_none_are_named():
    limited = UserLink.of({**UserLink("p", "u", ("github",), 0).payload(), "exp": 1})
    assert limited.allows("github") and not limited.allows("google")
    assert UserLink.of({**UserLink("p", "u", None, 0).payload(), "exp": 1}).allows("google")


def test_an_end_user_links_token_never_reaches_the_request_log():
    assert loggable_path("/connect/abc.def/revoke") == "/connect/<link>/revoke"
    assert loggable_path("/connect/abc.def") == "/connect/<link>"
    assert loggable_path("/v1/tools") == "/v1/tools"
