"""The tracing switch, the log lines' trace ids and the redaction of the gateway span's URL."""

from __future__ import annotations

import pytest
import yarl
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from shared.errors import ConfigError
from shared.runtime import tracing
from shared.runtime.config_arcade import TelemetryConfig
from shared.runtime.logging import add_trace_ids


class TestTheSwitch:
    @pytest.mark.parametrize(
        ("environ", "on"),
        [
            ({}, False),
            ({"PATH": "/bin", "VALETKEY_API_KEY": "k"}, False),
            ({"OTEL_SERVICE_NAME": "x", "OTEL_RESOURCE_ATTRIBUTES": "a=b"}, False),
            ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
            ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
            ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
            ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
            ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ],
    )
    def test_traces_are_on_only_when_the_environment_names_an_exporter(self, environ, on):
        assert tracing.requested(environ) is on

    def test_without_otel_settings_nothing_is_installed_and_the_api_stays_a_no_op(self):
        assert tracing.setup_tracing("gateway", {}) is False
        assert not tracing.enabled()
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)
        with tracing.nats_request("vk.auth.start") as headers:
            assert headers is None  # the request goes without headers
        with tracing.nats_serve("vk.auth.start", {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}):
            assert not trace.get_current_span().get_span_context().is_valid

    @pytest.mark.parametrize(
        ("name", "value"), [("OTEL_TRACES_EXPORTER", "console"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]
    )
    def test_an_exporter_other_than_otlp_over_http_is_a_config_error_naming_the_variable(self, name, value):
        environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", name: value}
        with pytest.raises(ConfigError, match=name):
            tracing.setup_tracing("gateway", environ)
        assert not tracing.enabled()


class TestTheResource:
    def test_telemetrys_environment_and_version_name_the_deployment_and_the_service_version(self):
        telemetry = TelemetryConfig(environment="staging", version="1.4.2")
        attributes = tracing.resource("executor", telemetry).attributes
        assert attributes["deployment.environment.name"] == "staging"
        assert attributes["deployment.environment"] == "staging"
        assert attributes["service.version"] == "1.4.2"
        assert (attributes["service.name"], attributes["service.namespace"]) == ("executor", "valetkey")

    def test_without_telemetry_neither_is_set(self):
        attributes = tracing.resource("executor").attributes
        assert "deployment.environment.name" not in attributes and "service.version" not in attributes

    def test_otel_resource_attributes_win_over_telemetry_but_not_over_the_services_name(self, monkeypatch):
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.version=9.9,service.name=other")
        telemetry = TelemetryConfig(environment="staging", version="1.4.2")
        attributes = tracing.resource("executor", telemetry).attributes
        assert (attributes["service.version"], attributes["service.name"]) == ("9.9", "executor")
        assert attributes["deployment.environment.name"] == "staging"


class TestLogLines:
    def test_a_line_written_inside_a_sampled_span_carries_its_trace_and_span_ids(self):
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("request") as span:
            line = add_trace_ids(None, "info", {"event": "http.request"})
        context = span.get_span_context()
        assert line["trace_id"] == format(context.trace_id, "032x")
        assert line["span_id"] == format(context.span_id, "016x")

    def test_a_line_written_outside_any_span_carries_no_trace_id(self):
        assert add_trace_ids(None, "info", {"event": "http.request"}) == {"event": "http.request"}


class TestTheGatewaySpan:
    def test_the_callbacks_code_and_state_leave_its_url_attributes_redacted(self):
        tracer = TracerProvider().get_tracer("test")
        query = "code=abc123&state=xyz789&iss=http%3A%2F%2Fissuer"
        with tracer.start_as_current_span("GET /oauth/callback") as span:
            span.set_attribute("url.query", query)
            span.set_attribute("http.target", f"/oauth/callback?{query}")
            tracing._redact_url_attributes(span, {})
        values = " ".join(str(v) for v in span.attributes.values())
        assert "abc123" not in values and "xyz789" not in values
        assert "iss=http" in values


class TestResumedTraces:
    def test_work_resumed_from_a_kept_traceparent_joins_that_trace_and_links_the_request_at_hand(
        self, exported
    ):
        with tracing.span("start") as start:
            kept = tracing.trace_context()
        with (
            tracing.span("callback") as callback,
            tracing.resumed("authorization.callback", kept, authorization_id="ac_1") as resumed,
            tracing.span("exchange") as exchange,
        ):
            pass
        started, answered = start.get_span_context(), callback.get_span_context()
        assert kept.startswith(f"00-{started.trace_id:032x}-{started.span_id:016x}-")
        assert resumed.get_span_context().trace_id == started.trace_id != answered.trace_id
        assert resumed.parent.span_id == started.span_id
        assert [link.context for link in resumed.links] == [answered]
        assert exchange.get_span_context().trace_id == started.trace_id
        assert resumed.attributes["authorization_id"] == "ac_1"

    def test_resuming_inside_the_kept_trace_or_without_one_is_an_ordinary_child_span(self, exported):
        with tracing.span("start") as start:
            kept = tracing.trace_context()
            with tracing.resumed("again", kept) as nested:
                pass
        with tracing.span("callback") as callback, tracing.resumed("nothing kept", None) as plain:
            pass
        assert nested.parent.span_id == start.get_span_context().span_id and not nested.links
        assert plain.parent.span_id == callback.get_span_context().span_id and not plain.links

    def test_with_tracing_off_nothing_is_kept_and_nothing_is_resumed(self):
        assert tracing.trace_context() is None
        with tracing.resumed("authorization.callback", "00-" + "1" * 32 + "-" + "2" * 16 + "-01") as span:
            assert span is None
            assert not trace.get_current_span().get_span_context().is_valid


class TestWebhookUrls:
    def test_once_paths_are_hidden_an_aiohttp_span_records_a_urls_origin_only(self, monkeypatch):
        monkeypatch.setattr(tracing, "_url_shown", tracing._without_query)  # as a process starts
        url = yarl.URL("https://hooks.example.com/services/T0/B0/s3cr3t?token=t0k3n#f")
        assert tracing._shown_url(url) == "https://hooks.example.com/services/T0/B0/s3cr3t"
        tracing.hide_url_paths()
        assert tracing._shown_url(url) == "https://hooks.example.com"


class TestMessageHeaders:
    def test_with_tracing_off_nothing_is_carried_and_a_consumed_message_opens_no_span(self):
        headers = {"Nats-Msg-Id": "evt_1"}
        tracing.carry(headers)
        assert headers == {"Nats-Msg-Id": "evt_1"}
        with tracing.nats_consume(
            "vk.events.x", {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
        ) as span:
            assert span is None and not trace.get_current_span().get_span_context().is_valid

    def test_the_current_context_is_carried_in_a_messages_headers(self, exported):
        headers = {"Nats-Msg-Id": "evt_1"}
        with tracing.span("webhook.deliver") as attempt:
            tracing.carry(headers)
        context = attempt.get_span_context()
        assert headers["traceparent"].split("-")[1:3] == [
            f"{context.trace_id:032x}",
            f"{context.span_id:016x}",
        ]
