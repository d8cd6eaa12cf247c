"""Token endpoint answers of other shapes (form-encoded, nested, scopes as an array, no expiry).

The package's local token endpoint fake (``shapes``) answers the code exchange.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.auth_flows import deliver, new_user, start, status
from tests.support.engine import Engine
from tests.support.token_endpoint import ACCESS

pytestmark = pytest.mark.e2e


async def _complete_with_fake(engine: Engine, provider: str) -> dict:
    user = new_user(provider)
    pending = await start(engine, user, provider=provider, scopes=[])
    state = httpx.URL(pending["url"]).params["state"]
    page = await deliver(f"{engine.redirect_uri}?code=fake-code&state={state}")
    assert page.status_code == 200, page.text
    done = (await status(engine, pending["id"])).json()
    assert done["status"] == "completed"
    async with httpx.AsyncClient(trust_env=False) as client:
        listing = await client.get(
            f"{engine.base_url}/v1/admin/user_connections",
            headers={
                **engine.headers,
                "Valetkey-Extras": "true",
            },  # expires_at (docs/arcade-compatibility.md §1.6)
            params={"user_id": user},
        )
    return {"status": done, "connection": listing.json()["items"][0]}


class TestTokenResponseShapes:
    async def test_a_form_encoded_response_is_read_with_comma_scopes_and_no_expiry(self, engine, shapes):
        result = await _complete_with_fake(engine, "shape-form")
        assert result["status"]["context"]["token"] == f"{ACCESS}-form"
        assert result["connection"]["scopes"] == ["repo", "gist"]
        assert result["connection"].get("expires_at") is None
        path, form = shapes.requests[-1]
        assert path == "/form" and form["code"] == "fake-code" and "client_secret" not in form

    async def test_a_nested_json_response_is_mapped_with_jsonpath(self, engine):
        result = await _complete_with_fake(engine, "shape-nested")
        assert result["status"]["context"]["token"] == f"{ACCESS}-nested"
        assert result["connection"]["scopes"] == ["alpha", "beta"]
        assert result["connection"].get("expires_at") is not None

    async def test_scopes_sent_as_an_array_are_joined(self, engine):
        result = await _complete_with_fake(engine, "shape-array")
        assert result["connection"]["scopes"] == ["one", "two"]

    async def test_a_response_without_expires_in_stores_a_token_that_never_expires(self, engine):
        result = await _complete_with_fake(engine, "shape-minimal")
        assert result["status"]["context"]["token"] == f"{ACCESS}-minimal"
        assert result["connection"].get("expires_at") is None
