"""What a granted OAuth scope lets an agent do, in plain words (``scope_words.yaml``).

The end-user connections page shows these beside the provider's own scope names. A scope is
looked up under the connection's provider id, then under ``common``; a scope that is a URL is
also looked up in every section, since a URL means the same whoever names it
(``https://www.googleapis.com/auth/gmail.send`` under a custom provider id pointed at Google),
while a short name does not (``repo`` is GitHub's). A scope found nowhere has no words: the page
shows the provider's name for it alone.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

COMMON = "common"


@cache
def _sections() -> dict[str, dict[str, str]]:
    text = resources.files("shared.providers").joinpath("scope_words.yaml").read_text()
    loaded: dict[str, dict[str, str]] = yaml.safe_load(text)
    return loaded


@cache
def _urls() -> dict[str, str]:
    """The scopes that are URLs, from every section, with their words."""
    return {scope: text for words in _sections().values() for scope, text in words.items() if "://" in scope}


def scope_words(provider_id: str, scope: str) -> str | None:
    """What ``scope`` lets an agent do at ``provider_id``, or None when nothing says."""
    sections = _sections()
    for section in (provider_id, COMMON):
        if (words := sections.get(section, {}).get(scope)) is not None:
            return words
    return _urls().get(scope)
