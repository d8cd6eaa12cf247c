"""Arcade's api limits read as valetkey honours them: sizes, durations, rate limits, telemetry;
a value that cannot be honoured stops the engine with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import ConfigError
from shared.runtime.config_arcade import MAX_BODY_LIMIT, RateLimitConfig, byte_size, duration_seconds
from shared.runtime.config_loading import load_engine_config
from shared.runtime.redisio import create_redis

VERIFIED = "auth:\n  verification:\n    mode: unsafe_skip\n"


def _load(tmp_path: Path, text: str):
    path = tmp_path / "engine.yaml"
    path.write_text(text + VERIFIED)
    return load_engine_config(path, {})


@pytest.mark.parametrize(
    ("written", "size"),
    [(4096, 4096), ("512Kb", 512 * 1024), ("512KiB", 512 * 1024), ("1Mb", 1024**2), (" 2048 ", 2048)],
)
def test_a_body_size_reads_in_bytes_as_arcade_writes_it(written, size):
    assert byte_size(written) == size


@pytest.mark.parametrize(
    ("written", "seconds"), [("30s", 30.0), ("1m", 60.0), ("500ms", 0.5), ("2h", 7200.0)]
)
def test_a_duration_reads_in_seconds_as_go_writes_it(written, seconds):
    assert duration_seconds(written) == seconds


@pytest.mark.parametrize("bad", ["30", "1 minute", "-1s", "s"])
def test_a_duration_without_a_unit_is_refused(bad):
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(bad)


def test_a_body_limit_above_one_nats_message_stops_the_engine(tmp_path):
    with pytest.raises(ConfigError, match="max_request_body_size") as raised:
        _load(tmp_path, "api:\n  max_request_body_size: 4Mb\n")
    assert str(MAX_BODY_LIMIT) in str(raised.value)


def test_a_typo_in_a_timeout_stops_the_engine_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="not a duration"):
        _load(tmp_path, "api:\n  read_timeout: thirty\n")


def test_a_rate_limit_reads_its_window_and_an_explicit_noop_turns_it_off(tmp_path):
    config = _load(tmp_path, "api:\n  rate_limit:\n    limit: 5\n    time_unit: s\n")
    limit = config.api.rate_limit
    assert isinstance(limit, RateLimitConfig)
    assert (limit.enabled, limit.limit, limit.window_seconds, limit.redis) == (True, 5, 1, None)
    assert not _load(tmp_path, "api:\n  rate_limit:\n    noop: {}\n").api.rate_limit.enabled


def test_a_rate_limits_own_redis_is_an_address(tmp_path):
    text = "api:\n  rate_limit:\n    redis: {addr: 'cache.internal:6380', password: pw, db: 2}\n"
    assert _load(tmp_path, text).api.rate_limit.redis.url() == "redis://:pw@cache.internal:6380/2"
    with pytest.raises(ConfigError, match="addr"):
        _load(tmp_path, "api:\n  rate_limit:\n    redis: {addr: 'redis://x'}\n")


async def test_a_rate_limits_own_redis_timeouts_bound_each_command_the_larger_of_the_two(tmp_path):
    # redis-py has one timeout for a command's write and its reply.
    redis = "api:\n  rate_limit:\n    redis: {addr: 'cache.internal:6380'"
    timed, untimed = redis + ", read_timeout: 750ms, write_timeout: 300ms}\n", redis + "}\n"
    timeouts = []
    for text in (timed, untimed):
        own = _load(tmp_path, text).api.rate_limit.redis
        client = create_redis(own.url(), **own.client_options())  # not connected: nothing is sent
        timeouts.append(client.connection_pool.connection_kwargs["socket_timeout"])
        await client.aclose()
    assert timeouts == [0.75, 5]  # 5 s: every client's default


def test_a_typo_in_a_rate_limit_redis_timeout_stops_the_engine_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"rate_limit\.redis\.read_timeout"):
        _load(tmp_path, "api:\n  rate_limit:\n    redis: {addr: 'cache.internal:6380', read_timeout: soon}\n")


def test_telemetry_sets_the_log_level_and_format(tmp_path):
    config = _load(tmp_path, "telemetry:\n  logging: {level: warn, encoding: json}\n")
    assert (config.telemetry.log_level(), config.telemetry.json_logs()) == ("WARNING", True)
