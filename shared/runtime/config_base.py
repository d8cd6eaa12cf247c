"""What every ``engine.yaml`` section model shares: the strict base and the URL check."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL: a scheme we speak and a host."""
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _http_url(url: str) -> str:
    if not is_http_url(url):
        raise ValueError("must be an absolute http(s) URL")
    return url


HttpUrlText = Annotated[str, AfterValidator(_http_url)]


class Section(BaseModel):
    """A section of engine.yaml: unknown keys are errors, fields may be given by alias."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
