"""With tracing on, a webhook delivery is part of the trace of the work that caused its event:
the fan-out and the queued retries read the context from their JetStream headers, and a
retry queued during an attempt carries that attempt's."""

from __future__ import annotations

from services.webhooks.adapters import DeliveryQueue
from services.webhooks.dispatcher import DELIVER_SPAN
from services.webhooks.sender import Outcome
from shared.runtime import tracing
from tests.unit.webhooks.test_dispatcher import DELIVERY, FakeMsg, deliverer, delivery_msg, event_msg, fan_out

TRACE_ID, SPAN_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
HEADERS = {"Nats-Msg-Id": "evt_1", "traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01"}


def chain(exported) -> tuple:
    """The consumer span and the attempt's span under it."""
    spans = {s.name: s for s in exported.get_finished_spans()}
    (consumed,) = [s for name, s in spans.items() if name.startswith("process ")]
    return consumed, spans[DELIVER_SPAN]


def in_the_trace(consumed, attempt) -> bool:
    return (
        f"{consumed.context.trace_id:032x}" == TRACE_ID
        and f"{consumed.parent.span_id:016x}" == SPAN_ID
        and attempt.parent.span_id == consumed.context.span_id
    )


class RecordingJetStream:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def publish(self, subject: str, payload: bytes, *, headers: dict[str, str], timeout: float) -> None:
        self.headers.append(headers)


class TestTheFanOut:
    async def test_the_first_attempt_is_a_span_under_the_events_consumer_span_in_the_events_trace(
        self, exported
    ):
        handler, sender, _, _ = fan_out(Outcome(status=204))
        event, plain = event_msg()
        msg = FakeMsg(plain.data, subject="vk.events.connection.revoked", headers=HEADERS)
        await handler.handle(msg)  # type: ignore[arg-type]
        consumed, attempt = chain(exported)
        assert msg.acts == ["ack"] and sender.sent == [("e1", event.event_id)]
        assert consumed.name == "process vk.events.connection.revoked" and consumed.kind.name == "CONSUMER"
        assert in_the_trace(consumed, attempt)
        assert dict(attempt.attributes) == {
            "valetkey.webhook.endpoint_id": "e1",
            "valetkey.event_id": event.event_id,
            "valetkey.event_type": "connection.revoked",
        }
        assert attempt.status.status_code.name != "ERROR"

    async def test_a_failed_first_attempt_is_marked_failed(self, exported):
        handler, _, queue, _ = fan_out(Outcome(status=500))
        _, plain = event_msg()
        await handler.handle(FakeMsg(plain.data, headers=HEADERS))  # type: ignore[arg-type]
        _, attempt = chain(exported)
        assert attempt.status.status_code.name == "ERROR"
        assert attempt.attributes["error.type"] == "webhook_delivery_failed"
        assert len(queue.put_calls) == 1


class TestQueuedRetries:
    async def test_a_retry_is_a_span_in_the_trace_its_message_headers_name(self, exported):
        handler, sender, _ = deliverer(Outcome(status=204))
        msg = delivery_msg()
        msg.headers, msg.subject = HEADERS, "vk.webhooks.deliver.vk"
        await handler.handle(msg)  # type: ignore[arg-type]
        consumed, attempt = chain(exported)
        assert msg.acts == ["ack"] and sender.sent == [("e1", "evt_1")]
        assert consumed.name == "process vk.webhooks.deliver.vk" and in_the_trace(consumed, attempt)

    async def test_a_delivery_queued_during_an_attempt_carries_that_attempts_context(self, exported):
        js, queue = RecordingJetStream(), DeliveryQueue("vk.webhooks.deliver.vk")
        queue.bind(js)  # type: ignore[arg-type]
        with tracing.span(DELIVER_SPAN) as attempt:
            await queue.put(DELIVERY)
        (headers,) = js.headers
        context = attempt.get_span_context()
        assert headers["Nats-Msg-Id"] == DELIVERY.queue_id
        assert headers["traceparent"].split("-")[1:3] == [
            f"{context.trace_id:032x}",
            f"{context.span_id:016x}",
        ]

    async def test_with_tracing_off_a_queued_delivery_carries_no_trace_header(self):
        js, queue = RecordingJetStream(), DeliveryQueue("vk.webhooks.deliver.vk")
        queue.bind(js)  # type: ignore[arg-type]
        await queue.put(DELIVERY)
        handler, _, _ = deliverer(Outcome(status=204))
        msg = delivery_msg()
        msg.headers = HEADERS
        await handler.handle(msg)  # type: ignore[arg-type]
        assert js.headers == [{"Nats-Msg-Id": DELIVERY.queue_id}] and msg.acts == ["ack"]
