"""The engine the console's browser tests drive: the real OAuth server behind the ``hooli`` provider,
the hooli toolkit in process, an agent key, and one webhook endpoint at a receiver that starts out
answering 503 (so every event becomes a dead letter within seconds)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.webhook_support import FAST_RETRIES, Receiver, RunningReceiver, always, endpoint
from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

HOOLI = "tests.support.toolkits.hooli"
TOOL = "Hooli.ReticulateSplines"
AGENT_KEY = f"vk_test_agent_{secrets.token_urlsafe(8)}"
# Bounds a failure only: a page or a state that never comes.
PAGE_WAIT_S = 30


@dataclass
class Console:
    engine: Engine
    receiver: Receiver
    provider_origin: str  # the OAuth server's scheme://host:port

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", self.engine.headers)
        return httpx.request(method, f"{self.engine.base_url}{path}", headers=headers, timeout=60, **kwargs)

    def execute(self, user: str) -> httpx.Response:
        """Run the tool for ``user``; a 403 carries the authorization to open (valetkey's extras,
        docs/arcade-compatibility.md §1.6)."""
        return self.api(
            "POST",
            "/v1/tools/execute",
            json={"tool_name": TOOL, "input": {"num_splines": 3}, "user_id": user},
            headers={**self.engine.headers, "Valetkey-Extras": "true"},
        )

    async def connected_user(self, tag: str) -> str:
        """A user who granted hooli through the real OAuth server (the engine's flow, end to end)."""
        user = new_user(tag)
        pending = self.api("POST", "/v1/tools/authorize", json={"tool_name": TOOL, "user_id": user}).json()
        assert pending["status"] == "pending", pending
        await consent_and_follow(
            pending["url"], login=user.split("@")[0], callback_prefix=self.engine.redirect_uri
        )
        done = self.api("GET", "/v1/auth/status", params={"id": pending["id"], "wait": 30}).json()
        assert done["status"] == "completed", done
        return user


@contextmanager
def console_engine(home: Path, nats_url: str, redis_url: str) -> Iterator[Console]:
    port = embedded.free_port()
    client = OAuthClient(
        "console-hooli", [f"http://127.0.0.1:{port}/oauth/callback"], client_secret="hooli-secret"
    )
    receiver = Receiver()
    receiver.scripts["/down"] = always(503)
    with RunningReceiver(receiver), start_oauth_server(home, clients=[client]) as oauth:
        config = base_config(port, secrets.token_urlsafe(32))
        entry = oidc_provider_entry(
            oauth, id="hooli", client_id=client.client_id, client_secret=client.client_secret
        )
        entry["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
        config["auth"]["providers"] = [entry]
        config["tools"] = {"toolkits": [HOOLI], "directors": []}
        config["api"]["keys"] = [{"key": AGENT_KEY, "role": "agent"}]
        config["webhooks"] = {**FAST_RETRIES, "endpoints": [endpoint("down", receiver.url("/down"))]}
        with running_engine(home / "engine", nats_url=nats_url, redis_url=redis_url, config=config) as engine:
            origin = "/".join(oauth.authorize_endpoint.split("/")[:3])
            yield Console(engine, receiver, origin)


def wait_for(driver: WebDriver, css: str, text: str | None = None) -> Any:
    """The first element matching ``css`` (holding ``text``, when given) once the page shows it."""

    def found(d: WebDriver) -> Any:
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if text is None or text in element.text:
                return element
        return False

    return WebDriverWait(driver, PAGE_WAIT_S).until(found)


def sign_in(driver: WebDriver, engine: Engine, path: str = "/console") -> None:
    """Open ``path``, land on the sign-in form, sign in with the admin key, come back to ``path``."""
    driver.get(engine.base_url + path)
    field = wait_for(driver, "input#api_key")
    assert driver.find_element(By.CSS_SELECTOR, "label[for=api_key]").text
    field.send_keys(engine.api_key)
    field.submit()
    wait_for(driver, "form[action='/console/sign-out']")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)
