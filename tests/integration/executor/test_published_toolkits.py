"""arcade-github and arcade-gmail, unchanged, run in process against local fake upstreams."""

import httplib2
import pytest

from services.executor.sources import InProcessToolkits
from tests.support.fake_upstreams import FakeUpstreams

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def published() -> InProcessToolkits:
    # Importing both toolkits takes a few seconds: load once per module.
    return InProcessToolkits(["arcade_github", "arcade_gmail"], timeout_s=20)


@pytest.fixture
def fake(monkeypatch):
    with FakeUpstreams(messages=["m1", "m2"], revoked_tokens=frozenset({"revoked"})) as upstreams:
        for key, value in upstreams.gmail_env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        # httplib2 read HTTPLIB2_CA_CERTS when it was imported; trust the test CA now.
        monkeypatch.setattr(httplib2, "CA_CERTS", upstreams.ca_file)
        yield upstreams


async def test_github_set_starred_calls_the_upstream_with_the_users_token(published, fake):
    request = {
        "execution_id": "tc_gh",
        "tool": {"name": "SetStarred", "toolkit": "Github"},
        "inputs": {"owner": "ArcadeAI", "name": "arcade-ai", "starred": True},
        "context": {
            "authorization": {"token": "gho_user_token_1"},
            "secrets": [{"key": "GITHUB_SERVER_URL", "value": fake.github_url}],
        },
    }
    response = await published.invoke(request)
    assert response["success"] is True, response["output"]["error"]
    assert response["output"]["value"]["repository"] == "ArcadeAI/arcade-ai"
    assert [(s.method, s.path, s.authorization) for s in fake.seen] == [
        ("PUT", "/user/starred/ArcadeAI/arcade-ai", "Bearer gho_user_token_1")
    ]


async def test_gmail_list_emails_calls_the_upstream_with_the_users_token(published, fake):
    request = {
        "execution_id": "tc_gmail",
        "tool": {"name": "ListEmails", "toolkit": "Gmail"},
        "inputs": {"n_emails": 2},
        "context": {"authorization": {"token": "ya29.user_token_2"}},
    }
    response = await published.invoke(request)
    assert response["success"] is True, response["output"]["error"]
    emails = response["output"]["value"]["emails"]
    assert [e["id"] for e in emails] == ["m1", "m2"]
    assert emails[0]["subject"] == "Re: m1"
    assert {s.host for s in fake.seen} == {"gmail.googleapis.com"}
    assert {s.authorization for s in fake.seen} == {"Bearer ya29.user_token_2"}
    assert fake.seen[0].path.startswith("/gmail/v1/users/me/messages")


async def test_an_upstream_401_comes_back_as_an_upstream_auth_error(published, fake):
    request = {
        "execution_id": "tc_gh",
        "tool": {"name": "SetStarred", "toolkit": "Github"},
        "inputs": {"owner": "ArcadeAI", "name": "arcade-ai"},
        "context": {
            "authorization": {"token": "revoked"},
            "secrets": [{"key": "GITHUB_SERVER_URL", "value": fake.github_url}],
        },
    }
    response = await published.invoke(request)
    assert response["success"] is False
    assert response["output"]["error"]["kind"] == "UPSTREAM_RUNTIME_AUTH_ERROR"
    assert response["output"]["error"]["status_code"] == 401
