"""The profile breakdown of ``bench gateway --profile``: samples land in the category of their
deepest recognised frame."""

from __future__ import annotations

from bench.profile import breakdown, category_of

ROOT = "run (uvicorn/server.py:1);handle (services/gateway/routes/auth.py:10)"


def test_a_sample_counts_for_its_deepest_recognised_frame():
    stack = f"{ROOT};dumps (json/__init__.py:231);encode (json/encoder.py:200)"
    assert category_of(stack) == "JSON"


def test_the_engine_code_is_what_remains_when_no_library_frame_is_deeper():
    assert category_of(ROOT) == "engine code"


def test_a_stack_nothing_names_is_other():
    assert category_of("main (<string>:1)") == "other"


def test_shares_are_weighted_by_sample_counts_and_add_up_to_one():
    raw = "\n".join(
        [
            f"{ROOT};request (nats/aio/client.py:900) 3",
            f"{ROOT};execute_command (redis/asyncio/client.py:600) 1",
        ]
    )
    shares = breakdown(raw)
    assert shares == {"NATS": 0.75, "Redis": 0.25}
