"""The end-user connections page in a real headless Chromium (a phone's viewport), on the whole engine.

The platform mints a link with ``POST /v1/admin/user_sessions``; the user sees what their
agents may use, removes one, and the next tool call asks for authorization again.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.console_support import AGENT_KEY, Console, console_engine, wait_for
from tests.support.real_browser import PHONE, chromium, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console(tmp_path_factory, nats_url, redis_url):
    with console_engine(tmp_path_factory.mktemp("user-page"), nats_url, redis_url) as running:
        yield running


def mint(console: Console, user: str, **extra: object) -> dict[str, str]:
    answer = console.api("POST", "/v1/admin/user_sessions", json={"user_id": user, **extra})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


class TestUserPage:
    async def test_a_user_revokes_a_connection_and_the_next_tool_call_asks_for_authorization_again(
        self, console
    ):
        user = await console.connected_user("revoker")
        assert (await asyncio.to_thread(console.execute, user)).status_code == 200
        link = await asyncio.to_thread(mint, console, user, allowed_providers=["hooli"])
        assert link["url"].startswith(console.engine.base_url + "/connect/") and link["expires_at"]
        with chromium(PHONE) as browser:
            browser.get(link["url"])
            row = wait_for(browser, "#user-connections tr[data-provider=hooli]")
            assert "scope1" in row.text and user in browser.page_source
            assert "Know who you are" in row.text  # openid, in plain words beside its name

            def used(b: WebDriver) -> bool:  # the executor writes the last use after its reply
                b.refresh()
                return wait_for(b, "tr[data-provider=hooli] .last-use").text != "not yet"

            WebDriverWait(browser, 30, poll_frequency=0.5).until(used)
            row = wait_for(browser, "#user-connections tr[data-provider=hooli]")
            screenshot(browser, "connect-user-page")
            row.find_element(By.XPATH, ".//button[normalize-space()='Remove access']").click()
            wait_for(browser, ".notice", "removed")
            assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-provider=hooli]")
            screenshot(browser, "connect-user-page-revoked")
        again = await asyncio.to_thread(console.execute, user)
        assert again.status_code == 403 and again.json()["name"] == "tool_authorization_required"
        assert again.json()["output"]["authorization"]["status"] == "pending"
        assert link["url"].rsplit("/", 1)[1] not in console.engine.all_logs()

    def test_connect_sends_the_user_to_the_provider_for_an_allowed_provider(self, console):
        link = mint(console, "connect-me@example.com", allowed_providers=["hooli"])
        with chromium(PHONE) as browser:
            browser.get(link["url"])
            wait_for(browser, "select#provider_id")
            browser.find_element(By.XPATH, "//button[normalize-space()='Connect']").click()
            wait_for(browser, "body")
            assert browser.current_url.startswith(console.provider_origin + "/")

    def test_an_expired_link_shows_the_expiry_page_and_its_forms_do_nothing(self, console):
        link = mint(console, "late@example.com", ttl_seconds=1)
        with chromium(PHONE) as browser:
            browser.get(link["url"])
            wait_for(browser, "main h1")
            time.sleep(1.5)  # a lower bound: the link is at least this old when opened again
            browser.get(link["url"])
            heading = wait_for(browser, "main h1", "expired")
            screenshot(browser, "connect-expired")
            assert heading.text == "This link has expired"
        token = link["url"].rsplit("/", 1)[1]
        late = httpx.post(f"{console.engine.base_url}/connect/{token}/revoke", data={"provider_id": "hooli"})
        assert late.status_code == 410

    def test_a_changed_link_or_a_form_without_its_csrf_value_is_refused(self, console):
        link = mint(console, "someone@example.com")
        token = link["url"].rsplit("/", 1)[1]
        base = console.engine.base_url
        forged = re.sub(r"\.[^.]+$", ".AAAA", token)
        assert httpx.get(f"{base}/connect/{forged}").status_code == 404
        without = httpx.post(f"{base}/connect/{token}/revoke", data={"provider_id": "hooli"})
        assert without.status_code == 403

    def test_only_an_admin_key_mints_a_link_and_a_ttl_is_bounded(self, console):
        agent = console.api(
            "POST",
            "/v1/admin/user_sessions",
            json={"user_id": "u"},
            headers={"Authorization": f"Bearer {AGENT_KEY}"},
        )
        assert agent.status_code == 403 and agent.json()["name"] == "admin_key_required"
        too_long = console.api("POST", "/v1/admin/user_sessions", json={"user_id": "u", "ttl_seconds": 10**6})
        assert too_long.status_code == 400
