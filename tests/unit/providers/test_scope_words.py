"""Scopes in plain words for the end-user page: by provider, then common, then wherever only one
provider names the scope; unknown scopes have no words."""

from __future__ import annotations

from shared.providers.scope_words import scope_words


def test_a_providers_own_scope_reads_as_its_words():
    assert scope_words("slack", "chat:write") == "Send messages as you"


def test_a_standard_openid_scope_reads_the_same_at_every_provider():
    assert scope_words("hooli", "email") == "See your email address"
    assert scope_words("github", "openid") == "Know who you are"


def test_a_google_scope_reads_as_its_words_under_a_custom_provider_id():
    assert scope_words("my-google", "https://www.googleapis.com/auth/gmail.send") == "Send email as you"


def test_a_scope_no_section_names_has_no_words():
    assert scope_words("google", "scope1") is None
    assert scope_words("slack", "repo") is None  # GitHub's, and only under github or any other id


def test_every_entry_is_a_short_sentence():
    from shared.providers.scope_words import _sections

    for section, words in _sections().items():
        for scope, text in words.items():
            assert isinstance(text, str) and 0 < len(text) <= 80, (section, scope)
            assert text[0].isupper() and not text.endswith("."), (section, scope)
