"""The provider registry: configured providers, runtime providers in Redis, §3.1 resolution."""

from __future__ import annotations

import secrets

import pytest
from redis.asyncio import Redis

from shared.errors import BadRequest, Conflict, NotFound, TargetRefused
from shared.providers.models import ProviderEntry
from shared.providers.registry import ProviderRegistry
from shared.runtime.crypto import Cipher, RootKey
from tests.support.provider_examples import hooli_entry

pytestmark = pytest.mark.integration

CIPHER = Cipher([RootKey(id="k", value="r" * 32, default=True)])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def registry(redis, entries, *, prefix, clock=None) -> ProviderRegistry:
    parsed = [ProviderEntry.model_validate(e) for e in entries]
    return ProviderRegistry(parsed, redis, CIPHER, prefix=prefix, clock=clock or Clock())


def github(id: str, **extra) -> dict:
    return {"id": id, "provider_id": "github", "client_id": f"cid-{id}", "client_secret": "s", **extra}


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(4)}"


class TestFind:
    async def test_an_id_selects_exactly_that_provider(self, redis, prefix):
        reg = registry(redis, [github("gh-a"), github("gh-b")], prefix=prefix)
        assert (await reg.find(id="gh-b", builtin_id=None)).client_id == "cid-gh-b"

    async def test_a_provider_id_matching_a_configured_id_wins(self, redis, prefix):
        reg = registry(redis, [hooli_entry()], prefix=prefix)
        assert (await reg.find(id=None, builtin_id="hooli")).id == "hooli"

    async def test_a_provider_type_selects_the_single_enabled_provider_of_that_type(self, redis, prefix):
        reg = registry(redis, [github("gh-a"), github("gh-b", enabled=False)], prefix=prefix)
        assert (await reg.find(id=None, builtin_id="github")).id == "gh-a"

    async def test_two_enabled_providers_of_one_type_are_ambiguous(self, redis, prefix):
        reg = registry(redis, [github("gh-a"), github("gh-b")], prefix=prefix)
        with pytest.raises(BadRequest, match="gh-a, gh-b"):
            await reg.find(id=None, builtin_id="github")

    async def test_a_disabled_or_unknown_provider_is_not_found(self, redis, prefix):
        reg = registry(redis, [github("gh-a", enabled=False)], prefix=prefix)
        with pytest.raises(NotFound):
            await reg.find(id="gh-a", builtin_id=None)
        with pytest.raises(NotFound):
            await reg.find(id=None, builtin_id="slack")

    async def test_a_built_in_is_enabled_by_its_id_alone(self, redis, prefix):
        reg = registry(redis, [{"id": "google", "client_id": "g", "client_secret": "s"}], prefix=prefix)
        provider = await reg.find(id=None, builtin_id="google")
        assert provider.builtin_id == "google"
        assert provider.oauth2.authorize_request.endpoint.startswith("https://accounts.google.com/")


class TestRuntimeProviders:
    async def test_a_created_provider_is_usable_at_once_and_its_secret_is_encrypted(self, redis, prefix):
        reg = registry(redis, [], prefix=prefix)
        entry = hooli_entry() | {"id": "rt", "client_secret": "very-secret-value"}
        await reg.put_runtime(entry, create=True)
        assert (await reg.find(id="rt", builtin_id=None)).secret == "very-secret-value"
        raw = await redis.hget(f"{prefix}:providers", "rt")
        assert b"very-secret-value" not in raw

    async def test_another_replica_sees_a_change_after_its_check_interval(self, redis, prefix):
        clock = Clock()
        writer, reader = registry(redis, [], prefix=prefix), registry(redis, [], prefix=prefix, clock=clock)
        assert await reader.get("rt") is None
        await writer.put_runtime(hooli_entry() | {"id": "rt"}, create=True)
        assert await reader.get("rt") is None  # cached for up to a second
        clock.now += 1.5
        assert (await reader.get("rt")).id == "rt"
        await writer.delete_runtime("rt")
        clock.now += 1.5
        assert await reader.get("rt") is None

    async def test_creating_an_existing_id_conflicts(self, redis, prefix):
        reg = registry(redis, [github("gh")], prefix=prefix)
        await reg.put_runtime(hooli_entry() | {"id": "rt"}, create=True)
        with pytest.raises(Conflict):
            await reg.put_runtime(hooli_entry() | {"id": "rt"}, create=True)
        with pytest.raises(Conflict):
            await reg.put_runtime(hooli_entry() | {"id": "gh"}, create=True)

    async def test_an_update_may_rename_and_keeps_the_creation_time(self, redis, prefix):
        reg = registry(redis, [], prefix=prefix)
        first = await reg.put_runtime(hooli_entry() | {"id": "old"}, create=True)
        renamed = await reg.put_runtime(hooli_entry() | {"id": "new"}, create=False, replaces="old")
        assert renamed.created_at == first.created_at
        assert await reg.get("old") is None and (await reg.get("new")) is not None

    async def test_an_invalid_entry_is_a_bad_request_naming_the_key(self, redis, prefix):
        reg = registry(redis, [], prefix=prefix)
        with pytest.raises(BadRequest, match="token_request"):
            await reg.put_runtime(
                {
                    "id": "x",
                    "client_id": "c",
                    "oauth2": {"authorize_request": {"endpoint": "https://x.example/a"}},
                },
                create=True,
            )

    async def test_configured_providers_cannot_be_deleted_at_runtime(self, redis, prefix):
        reg = registry(redis, [github("gh")], prefix=prefix)
        with pytest.raises(Conflict):
            await reg.delete_runtime("gh")
        assert await reg.delete_runtime("nope") is None


class TestAddressPolicy:
    @pytest.mark.parametrize(
        ("request_name", "endpoint"),
        [
            ("user_info_request", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
            ("user_info_request", "http://[::ffff:127.0.0.1]:9099/v1/admin/secrets"),
            ("token_request", "http://10.0.0.12/token"),
        ],
    )
    async def test_a_runtime_provider_calling_a_private_address_is_refused_and_not_stored(
        self, redis, prefix, request_name, endpoint
    ):
        reg = registry(redis, [], prefix=prefix)
        entry = hooli_entry(**{request_name: {"endpoint": endpoint}})
        with pytest.raises(TargetRefused, match=rf"oauth2\.{request_name}\.endpoint"):
            await reg.put_runtime(entry, create=True)
        assert await reg.record("hooli") is None

    async def test_private_addresses_pass_when_the_deployment_allows_them(self, redis, prefix):
        reg = registry(redis, [], prefix=prefix)
        entry = hooli_entry(user_info_request={"endpoint": "http://10.0.0.12/userinfo"})
        record = await reg.put_runtime(entry, create=True, allow_private_targets=True)
        assert record.provider.oauth2.user_info_request is not None
