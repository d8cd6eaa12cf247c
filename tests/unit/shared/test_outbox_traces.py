"""An outbox entry keeps the trace it was committed in, and the relay publishes in that trace."""

from __future__ import annotations

import json

from shared.bus.outbox import Entry, Outbox, OutboxRelay
from shared.contracts.events import AuthorizationCompleted
from shared.runtime import tracing

EVENT = AuthorizationCompleted(user_id="u1", provider_id="hooli", authorization_id="ac_1")


class KeptOutbox:
    """Holds ``entries`` until the relay says they are done."""

    def __init__(self, *entries: Entry) -> None:
        self.entries = list(entries)

    async def busy_shards(self) -> list[int]:
        return [0]  # one shard, as on a single server

    async def waiting(self, limit: int = 200, *, shard: int | None = None) -> list[Entry]:
        return self.entries[:limit]

    async def done(self, *event_ids: str, shard: int = 0) -> None:
        self.entries = [e for e in self.entries if e.event.event_id not in event_ids]


class RecordingJetStream:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, payload: bytes, *, headers: dict[str, str], timeout: float) -> None:
        self.published.append((subject, payload, headers))


async def relay(entry: Entry) -> tuple[str, bytes, dict[str, str]]:
    js = RecordingJetStream()
    await OutboxRelay(KeptOutbox(entry), js).drain()  # type: ignore[arg-type]
    (published,) = js.published
    return published


def ids(traceparent: str) -> tuple[str, str]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return trace_id, span_id


class TestTheEntry:
    def test_an_event_queued_in_a_traced_request_keeps_that_requests_traceparent(self, exported):
        with tracing.span("authorization.callback") as request:
            field, value = Outbox.entry(EVENT)
        context = request.get_span_context()
        entry = Entry.parse(value)
        assert field == EVENT.event_id and entry.event == EVENT
        assert ids(entry.traceparent or "") == (f"{context.trace_id:032x}", f"{context.span_id:016x}")

    def test_with_tracing_off_the_entry_is_the_events_json_as_published(self):
        field, value = Outbox.entry(EVENT)
        assert (field, value) == (EVENT.event_id, EVENT.model_dump_json())
        assert Entry.parse(value) == Entry(EVENT, None)


class TestTheRelay:
    async def test_a_kept_entry_is_published_in_its_trace_however_late_with_traceparent_in_the_headers(
        self, exported
    ):
        with tracing.span("authorization.callback") as request:
            _, value = Outbox.entry(EVENT)
        subject, payload, headers = await relay(Entry.parse(value))  # a drain: no request at hand
        (publish,) = [s for s in exported.get_finished_spans() if s.name.startswith("publish")]
        context = request.get_span_context()
        assert subject == EVENT.subject and publish.name == f"publish {EVENT.subject}"
        assert publish.parent is not None and publish.parent.span_id == context.span_id
        assert ids(headers["traceparent"]) == (f"{context.trace_id:032x}", f"{publish.context.span_id:016x}")
        assert headers["Nats-Msg-Id"] == EVENT.event_id
        assert "traceparent" not in json.loads(payload), "the event on the bus stays the contract"

    async def test_with_tracing_off_an_event_goes_with_its_message_id_only(self):
        _, _, headers = await relay(Entry(EVENT, "00-" + "1" * 32 + "-" + "2" * 16 + "-01"))
        assert headers == {"Nats-Msg-Id": EVENT.event_id}

    async def test_an_event_from_no_traced_work_makes_no_span_and_no_header(self, exported):
        _, _, headers = await relay(Entry(EVENT))
        assert headers == {"Nats-Msg-Id": EVENT.event_id}
        assert exported.get_finished_spans() == ()
