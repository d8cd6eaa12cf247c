"""The operator console in a real headless Chromium, against the whole engine as processes.

A real OAuth flow (oidc-provider) creates the connections the console shows; the webhook
receiver refuses deliveries until a test replays a dead letter. Each test leaves screenshots in
tests/artifacts/screenshots/ (README, "Console").
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.console_support import AGENT_KEY, TOOL, Console, console_engine, csrf_of, sign_in, wait_for
from tests.e2e.webhook_support import always, until
from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.real_browser import PHONE, chromium, screenshot

pytestmark = pytest.mark.e2e

PAGES = [
    "/console",
    "/console/connections",
    "/console/authorizations",
    "/console/failures",
    "/console/executions",
    "/console/providers",
    "/console/tools",
    f"/console/tools/{TOOL}",
    "/console/workers",
    "/console/webhooks",
]
FORMS = [
    "/console/connections/refresh",
    "/console/connections/revoke",
    f"/console/tools/{TOOL}",
    "/console/webhooks/dead_letters/dl_x/replay",
    "/console/providers/hooli/test",
    "/console/sign-out",
]


@pytest.fixture(scope="module")
def console(tmp_path_factory, nats_url, redis_url):
    with console_engine(tmp_path_factory.mktemp("console"), nats_url, redis_url) as running:
        yield running


async def sign_in_over_http(client: httpx.AsyncClient, console: Console) -> None:
    """Sign in through the form as a browser does; the client keeps the session cookie."""
    token = csrf_of((await client.get("/console/sign-in")).text)
    answer = await client.post("/console/sign-in", data={"csrf": token, "api_key": console.engine.api_key})
    assert answer.status_code == 303 and answer.headers["location"] == "/console", answer.text


class TestSession:
    def test_without_a_session_every_console_url_redirects_to_sign_in(self, console):
        with httpx.Client(base_url=console.engine.base_url, timeout=30) as anonymous:
            answers = {
                (m, p): anonymous.request(m, p)
                for m, paths in (("GET", PAGES), ("POST", FORMS))
                for p in paths
            }
        wrong = {k: r.status_code for k, r in answers.items() if r.status_code != 303}
        assert wrong == {}
        assert {r.headers["location"].split("?")[0] for r in answers.values()} == {"/console/sign-in"}

    def test_a_forged_cookie_or_an_unknown_key_gets_no_session(self, console):
        cookies = {"vk_console": "eyJwIjoiZGVmYXVsdCJ9.forged"}
        with httpx.Client(base_url=console.engine.base_url, timeout=30, cookies=cookies) as forged:
            assert forged.get("/console").status_code == 303
            token = csrf_of(forged.get("/console/sign-in").text)
            refused = forged.post("/console/sign-in", data={"csrf": token, "api_key": "vk_wrong"})
        assert refused.status_code == 401 and "vk_console=" not in refused.headers.get("set-cookie", "")

    def test_an_agent_key_cannot_sign_in(self, console):
        with httpx.Client(base_url=console.engine.base_url, timeout=30) as client:
            token = csrf_of(client.get("/console/sign-in").text)
            answer = client.post("/console/sign-in", data={"csrf": token, "api_key": AGENT_KEY})
        assert answer.status_code == 401 and "agent key" in answer.text

    def test_the_session_cookie_is_httponly_and_samesite_strict(self, console):
        with httpx.Client(base_url=console.engine.base_url, timeout=30) as client:
            token = csrf_of(client.get("/console/sign-in").text)
            answer = client.post("/console/sign-in", data={"csrf": token, "api_key": console.engine.api_key})
        cookie = answer.headers["set-cookie"].lower()
        assert "vk_console=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert "secure" not in cookie  # public_url is http here; an https one adds Secure

    async def test_a_form_posted_without_its_csrf_token_is_refused(self, console):
        user = await console.connected_user("csrf")
        base = console.engine.base_url
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await sign_in_over_http(client, console)
            listed = await client.get("/console/connections", params={"user_id": user})
            connection = listed.text.split('data-connection="')[1].split('"')[0]
            without = await client.post("/console/connections/revoke", data={"connection_id": connection})
            wrong = await client.post(
                "/console/connections/revoke", data={"connection_id": connection, "csrf": "x"}
            )
        async with httpx.AsyncClient(base_url=base, timeout=30) as fresh:
            sign_in_without = await fresh.post("/console/sign-in", data={"api_key": console.engine.api_key})
        assert (without.status_code, wrong.status_code, sign_in_without.status_code) == (403, 403, 403)
        still = await asyncio.to_thread(console.execute, user)
        assert still.status_code == 200, still.text  # still connected


class TestPagesInChromium:
    async def test_an_operator_finds_a_real_connection_forces_its_refresh_and_sees_the_new_expiry(
        self, console
    ):
        user = await console.connected_user("refresh")
        assert (await asyncio.to_thread(console.execute, user)).status_code == 200
        with chromium() as browser:
            sign_in(browser, console.engine, f"/console/connections?user_id={user}")

            def used(b: WebDriver) -> bool:  # the executor writes the last use after its reply
                b.refresh()
                return wait_for(b, "#connections tbody tr .last-use").text != "never"

            WebDriverWait(browser, 30, poll_frequency=0.5).until(used)
            row = wait_for(browser, "#connections tbody tr", "hooli")
            assert user in row.text and "scope1" in row.text and "active" in row.text
            assert row.find_element(By.CSS_SELECTOR, ".last-use").text.endswith("UTC")
            before = row.find_element(By.CSS_SELECTOR, ".expires").text
            screenshot(browser, "console-connections")
            await asyncio.sleep(1.1)  # expiry is stored to the second: let one pass so the new one differs
            row.find_element(By.XPATH, ".//button[normalize-space()='Force refresh']").click()
            wait_for(browser, ".notice", "refreshed")
            after = (
                wait_for(browser, "#connections tbody tr", "hooli")
                .find_element(By.CSS_SELECTOR, ".expires")
                .text
            )
            screenshot(browser, "console-connections-refreshed")
        assert after > before

    async def test_the_playground_runs_a_tool_for_a_user_and_shows_a_new_users_authorization_url(
        self, console
    ):
        user = await console.connected_user("playground")
        with chromium() as browser:
            sign_in(browser, console.engine, "/console/tools")
            assert "in process" in wait_for(browser, ".tag.source").text  # the hooli toolkit's source
            wait_for(browser, "a", TOOL).click()
            field = wait_for(browser, "input#user_id")
            field.send_keys(user)
            box = browser.find_element(By.ID, "input")
            box.clear()
            box.send_keys('{"num_splines": 3}')
            box.find_element(By.XPATH, "ancestor::form").submit()
            output = wait_for(browser, "#output")
            assert '"reticulated": 3' in output.text and '"success": true' in output.text
            screenshot(browser, "console-playground")
            browser.find_element(By.ID, "user_id").clear()
            browser.find_element(By.ID, "user_id").send_keys("nobody-yet@example.com")
            browser.find_element(By.ID, "input").submit()
            link = wait_for(browser, "#authorization-url")
            assert link.get_attribute("href").startswith("http://127.0.0.1:")
            screenshot(browser, "console-playground-authorization")

    async def test_an_operator_replays_a_dead_letter_and_the_receiver_gets_it(self, console):
        await console.connected_user("webhook")  # its authorization.completed event dies at the 503 receiver

        def dead() -> int:
            return int(console.api("GET", "/v1/admin/webhooks/dead_letters").json()["total_count"])

        await until(lambda: dead() >= 1, timeout=30, what="a dead letter")
        console.receiver.scripts["/down"] = always(204)
        with chromium() as browser:
            sign_in(browser, console.engine, "/console/webhooks")
            row = wait_for(browser, "#dead-letters tbody tr[data-dead]")
            refused = wait_for(browser, "#deliveries tr[data-ok=no] .result", "HTTP 503")  # its attempts
            assert refused.text == "HTTP 503"
            screenshot(browser, "console-webhooks")
            before = dead()
            row.find_element(By.XPATH, ".//button[normalize-space()='Replay']").click()
            wait_for(browser, ".notice", "Queued again: 1")
        await until(
            lambda: len(console.receiver.accepted("/down")) >= 1, timeout=30, what="the replayed delivery"
        )
        assert dead() == before - 1

    async def test_the_overview_counts_the_projects_completed_authorizations_and_refreshes_by_hour(
        self, console
    ):
        user = await console.connected_user("counted")
        async with httpx.AsyncClient(base_url=console.engine.base_url, timeout=60) as client:
            await sign_in_over_http(client, console)
            token = csrf_of((await client.get("/console/connections")).text)
            forced = {"csrf": token, "user_id": user, "provider_id": "hooli"}
            assert (await client.post("/console/connections/refresh", data=forced)).status_code == 303
        with chromium() as browser:
            sign_in(browser, console.engine)

            def total(b: WebDriver, event: str) -> int:
                found = b.find_elements(By.CSS_SELECTOR, f"figure[data-event='{event}'] .total")
                return int(found[0].text) if found else 0

            def counted(b: WebDriver) -> bool:
                b.refresh()
                return all(
                    total(b, event) >= 1
                    for event in ("authorization.started", "authorization.completed", "refresh.started")
                )

            WebDriverWait(browser, 30, poll_frequency=0.5).until(counted)
            assert browser.find_elements(
                By.CSS_SELECTOR, "figure[data-event='authorization.completed'] svg rect"
            )
            assert browser.find_elements(By.CSS_SELECTOR, "figure[data-event='refresh.late']")
            screenshot(browser, "console-overview")

    async def test_a_refused_consent_shows_among_the_failures_with_its_reason(self, console):
        user = new_user("refuser")
        pending = console.api("POST", "/v1/tools/authorize", json={"tool_name": TOOL, "user_id": user}).json()
        await consent_and_follow(
            pending["url"], login="refuser", approve=False, callback_prefix=console.engine.redirect_uri
        )
        with chromium() as browser:
            sign_in(browser, console.engine, "/console/failures")

            def listed(b: WebDriver) -> bool:
                b.refresh()
                return user in b.find_element(By.ID, "failures").text

            WebDriverWait(browser, 30, poll_frequency=0.5).until(listed)
            row = wait_for(browser, "#failures tr[data-type='authorization.failed']", user)
            assert "hooli" in row.text and row.find_element(By.CSS_SELECTOR, ".reason").text
            screenshot(browser, "console-failures")

    def test_testing_a_provider_sends_the_operator_to_its_consent_page(self, console):
        with chromium() as browser:
            sign_in(browser, console.engine, "/console/providers")
            assert wait_for(browser, "#redirect-uri").text == console.engine.redirect_uri
            screenshot(browser, "console-providers")
            wait_for(browser, "button", "Test").click()
            WebDriverWait(browser, 30).until(
                lambda b: b.current_url.startswith(console.provider_origin + "/")
            )

    def test_every_page_renders_for_a_signed_in_operator_on_a_desktop_and_a_phone(self, console):
        for size, tag in ((None, "desktop"), (PHONE, "phone")):
            with chromium(*(size,) if size else ()) as browser:
                sign_in(browser, console.engine)
                for path in PAGES:
                    browser.get(console.engine.base_url + path)
                    wait_for(browser, "main h1")
                    assert browser.find_elements(By.CSS_SELECTOR, "meta[name=viewport]")
                    assert not browser.find_elements(By.CSS_SELECTOR, ".error"), browser.page_source
                    unlabeled = browser.execute_script(
                        "return [...document.querySelectorAll('input:not([type=hidden]),textarea,select')]"
                        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).length"
                    )
                    assert unlabeled == 0, path
                    ActionChains(browser).send_keys(Keys.TAB).perform()  # keyboard: the skip link comes first
                    assert browser.switch_to.active_element.text == "Skip to content", path
                    name = path.strip("/").replace("/", "-").replace(".", "_") or "console"
                    screenshot(browser, f"{name}-{tag}")
                overflow = browser.execute_script(
                    "return document.documentElement.scrollWidth > window.innerWidth + 1"
                )
                assert not overflow or tag == "desktop"

    async def test_an_authorization_left_at_the_consent_page_is_listed_in_flight(self, console):
        user = new_user("hesitant")
        pending = console.api("POST", "/v1/tools/authorize", json={"tool_name": TOOL, "user_id": user})
        assert pending.json()["status"] == "pending"
        with chromium() as browser:
            sign_in(browser, console.engine, "/console/authorizations")
            row = wait_for(browser, "#in-flight tbody tr[data-authorization]", user)
            assert "hooli" in row.text and row.find_element(By.CSS_SELECTOR, ".stage").text == "consent"
            screenshot(browser, "console-authorizations")

    async def test_the_execution_history_lists_a_users_tool_run_and_filters_by_status(self, console):
        user = await console.connected_user("history")
        assert (await asyncio.to_thread(console.execute, user)).status_code == 200
        with chromium() as browser:
            sign_in(browser, console.engine, "/console/executions")
            wait_for(browser, "input#user_id").send_keys(user)
            browser.find_element(By.ID, "user_id").submit()
            row = wait_for(browser, "#executions tbody tr[data-execution]", user)
            assert TOOL.split(".")[-1] in row.text and row.get_attribute("data-status") == "success"
            screenshot(browser, "console-executions")
            browser.find_element(By.XPATH, "//select[@id='status']/option[.='failed']").click()
            browser.find_element(By.ID, "status").submit()
            wait_for(browser, "#executions tbody td", "No executions match")
