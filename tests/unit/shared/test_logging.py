"""Secrets never reach a log line."""

import json
import logging

import structlog

from shared.runtime.logging import MASK, configure_logging, get_logger, redact


class TestRedact:
    def test_values_under_secret_keys_are_masked_at_any_depth(self):
        event = {
            "payload": {"access_token": "at-1", "nested": [{"refresh_token": "rt-1"}], "client_secret": "cs"}
        }
        assert json.dumps(redact(event)).count(MASK) == 3
        assert "at-1" not in json.dumps(redact(event))

    def test_codes_verifiers_and_states_are_masked(self):
        cleaned = redact({"code": "abc", "code_verifier": "v", "state": "s", "status_code": 200})
        assert cleaned == {"code": MASK, "code_verifier": MASK, "state": MASK, "status_code": 200}

    def test_numbers_and_booleans_under_secret_keys_are_masked_and_empty_values_kept(self):
        cleaned = redact({"code": 0, "token": False, "pin_code": 1.5, "secret": "", "state": None})
        assert cleaned == {"code": MASK, "token": MASK, "pin_code": MASK, "secret": "", "state": None}

    def test_a_string_subclass_is_scrubbed_like_a_string(self):
        class Header(str):
            pass

        assert redact({"header": Header("Bearer gho_abcdef")})["header"] == f"Bearer {MASK}"
        assert redact({"token": Header("t-1")})["token"] == MASK

    def test_bearer_values_inside_strings_are_scrubbed(self):
        assert redact({"header": "Bearer gho_abcdef.123"})["header"] == f"Bearer {MASK}"

    def test_secrets_in_urls_are_scrubbed(self):
        url = "http://x/oauth/callback?code=SPLX&state=STATE1&other=keep"
        cleaned = redact({"url": url})["url"]
        assert "SPLX" not in cleaned and "STATE1" not in cleaned and "other=keep" in cleaned

    def test_every_secret_query_parameter_is_scrubbed_in_any_case_and_other_queries_kept(self):
        names = ["code", "state", "access_token", "refresh_token", "id_token", "client_secret"]
        names += ["code_verifier", "token", "flow_id", "CODE", "Access_Token", "Flow_Id"]
        for name in names:
            assert redact({"query": f"id=1&{name}=s3cret"})["query"] == f"id=1&{name}={MASK}"
            assert redact({"query": f"{name}=s3cret"})["query"] == f"{name}={MASK}"
        for query in ("id=ac_123", "id=ac_1&limit=5", "statement=x&codes=1", "a=b=c"):
            assert redact({"query": query})["query"] == query

    def test_camel_case_names_are_masked_like_their_snake_case_spelling(self):
        event = {"accessToken": "at-2", "clientSecret": "cs-2", "refreshToken": "rt-2", "apiKey": "k-2"}
        assert redact(event) == dict.fromkeys(event, MASK)
        harmless = {"statusCode": 200, "tokenType": "bearer"}
        assert redact(harmless) == harmless

    def test_secrets_quoted_inside_exception_text_are_scrubbed(self):
        texts = [
            'provider said {"access_token": "at-3", "expires_in": 3600}',
            "KeyError: {'clientSecret': 'cs-3', 'client_id': 'app'}",
            "Grant(refresh_token='rt-3', scope='read')",
        ]
        cleaned = [redact({"error": text})["error"] for text in texts]
        assert not any(secret in line for line in cleaned for secret in ("at-3", "cs-3", "rt-3"))
        assert "3600" in cleaned[0] and "'app'" in cleaned[1] and "scope='read'" in cleaned[2]


class TestConfiguredLogging:
    def test_standard_library_and_structlog_lines_are_redacted_json(self, capsys):
        configure_logging(service="test", json_output=True)
        structlog.get_logger("t").info("token.stored", access_token="tok-structlog")
        logging.getLogger("lib").warning("calling https://p/token?refresh_token=tok-stdlib")
        err = capsys.readouterr().err
        assert "tok-structlog" not in err and "tok-stdlib" not in err
        lines = [json.loads(line) for line in err.strip().splitlines()]
        assert {line["service"] for line in lines} == {"test"}

    def test_a_json_line_is_the_standard_librarys_rendering_of_the_event(self, capsys):
        class Custom:
            def __repr__(self) -> str:
                return "<custom>"

        class Described:
            def __structlog__(self) -> str:
                return "described"

        configure_logging(service="test", json_output=True)
        fields = {"text": "déjà vu \u2028 \ud800", "ms": 1.25, "big": 10**30, "nan": float("nan")}
        fields |= {"nested": {"a": [1, None, True]}, "custom": Custom(), "described": Described()}
        get_logger("services.example").info("rendered", **fields)
        line = capsys.readouterr().err.strip().splitlines()[-1]
        event = json.loads(line)
        assert line == json.dumps(event)  # the standard library's separators and escapes
        assert event["text"] == fields["text"] and event["big"] == 10**30 and event["nan"] != event["nan"]
        assert (event["custom"], event["described"], event["nested"]) == (
            "<custom>",
            "described",
            fields["nested"],
        )

    def test_our_lines_name_their_logger_and_lines_below_the_level_are_dropped(self, capsys):
        configure_logging(service="test", level="INFO", json_output=True)
        log = get_logger("services.example")
        log.debug("too.quiet")
        log.info("handled", ms=1.5)
        lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
        assert [(line["event"], line["logger"], line["level"]) for line in lines] == [
            ("handled", "services.example", "info")
        ]

    def test_a_traceback_is_logged_as_text_with_its_secrets_redacted(self, capsys):
        configure_logging(service="test", json_output=True)
        try:
            raise RuntimeError("upstream said no to https://p/token?refresh_token=tok-in-traceback")
        except RuntimeError:
            get_logger("services.example").exception("refresh.crashed")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert "RuntimeError" in line["exception"]
        assert "tok-in-traceback" not in line["exception"]
