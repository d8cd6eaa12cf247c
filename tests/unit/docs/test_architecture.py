"""docs/architecture.md answers, for every subject and every Redis key, who owns it.

The code is the truth: each request-reply subject constant in ``shared/bus/subjects.py`` must
match a row of the document's subject table, and each Redis key the code builds must be
named in its key table. A new subject or key without a row fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from shared.bus import subjects

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "architecture.md").read_text()
# Keys are built as f"{prefix}:..." or, in stores that keep their own prefix, f"{self._p}:...",
# or through a Keyspace as key(<shard>, "...") / key(<shard>, f"...{...}").
KEY_BUILT = re.compile(
    r"\{(?:prefix|self\._p|self\.prefix)\}:([a-z_:]+?):?\"|\bkey\([^\n]*?, f?\"([a-z_:]+?):?[{\"]"
)


def _table(heading_cell: str) -> list[str]:
    """The first cells of the table whose header row starts with ``heading_cell``."""
    rows = DOC.split(f"| {heading_cell}", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return [row.split("|")[1] for row in rows]


def _pattern(cell_part: str) -> re.Pattern[str]:
    text = re.escape(cell_part)
    text = re.sub(r"\\\{([^}]*)\\\}", lambda m: "(" + m.group(1).replace(",", "|") + ")", text)
    text = text.replace(r"\*", r"[\w.]+")
    text = re.sub(r"<[^>]*>", r"[\\w-]+", text)
    return re.compile(text + r"\Z")


def _request_reply_subjects() -> list[str]:
    values = [v for k, v in vars(subjects).items() if k.isupper() and isinstance(v, str)]
    return [
        v
        for v in values
        if v.startswith("vk.") and not v.startswith(("vk.events", "vk.webhooks", "vk.health"))
    ]


def test_every_request_reply_subject_has_its_owner_in_the_document() -> None:
    patterns = [_pattern(part) for cell in _table("subject") for part in re.findall(r"`([^`]+)`", cell)]
    unowned = [s for s in _request_reply_subjects() if not any(p.match(s) for p in patterns)]
    assert _request_reply_subjects(), "no subjects found: the constants moved"
    assert unowned == []


def test_every_redis_key_the_code_builds_is_in_the_document() -> None:
    built = {
        name
        for path in [*(ROOT / "services").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]
        for match in KEY_BUILT.findall(path.read_text())
        for name in match
        if name
    }
    assert len(built) > 10, "no keys found: the way keys are built changed"
    missing = [key for key in sorted(built) if f"vk:{key}" not in DOC and f"vk:authz:{key}" not in DOC]
    assert missing == []
