"""OAuth 2.0 flows end to end: engine processes, a real OAuth server (oidc-provider), a scripted browser.

One OAuth server and one engine (verification ``unsafe_skip``) serve the whole package
(``conftest.py``, package-scoped); every test uses its own user id. Response shapes use a
local token endpoint fake.
"""

SCOPES = ["openid", "profile", "read"]
