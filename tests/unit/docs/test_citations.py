"""Comments and docs cite only documents inside the repository, and only sections that exist.

A comment that sends the reader to a file nobody has, or to a section that was renamed, is
worse than none. Citations take the form ``docs/<name>.md §<number>``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("services", "shared", "tests", "bench", "deploy", "docs")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".tpl", ".txt"}
SKIP_PARTS = {"node_modules", "__pycache__", ".venv"}
CITATION = re.compile(r"(docs/[\w-]+\.md) §(\d+(?:\.\d+)*)")
# References to the material the engine was first designed from, which is not in the repository.
OUTSIDE = re.compile(
    r"arcade-api(\.md)? §|stack\.md|peers\.md|aesthetics\.md|\.\./shared/|reference/architecture"
)


def _files() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for top in SOURCES:
        found += [
            p
            for p in (ROOT / top).rglob("*")
            if p.is_file() and p.suffix in SUFFIXES and not SKIP_PARTS & set(p.parts)
        ]
    return [p for p in found if p != Path(__file__).resolve()]


def _sections(doc: Path) -> set[str]:
    return set(re.findall(r"^#+ §(\d+(?:\.\d+)*)\b", doc.read_text(), flags=re.MULTILINE))


def test_no_file_cites_a_document_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_every_cited_section_exists_in_its_document() -> None:
    citations = [
        (path, doc, section)
        for path in _files()
        for doc, section in CITATION.findall(path.read_text(errors="replace"))
    ]
    assert citations, "the code cites docs/arcade-compatibility.md; finding none means the pattern broke"
    missing = [
        f"{path.relative_to(ROOT)} cites {doc} §{section}"
        for path, doc, section in citations
        if not (ROOT / doc).is_file() or section not in _sections(ROOT / doc)
    ]
    assert missing == []


@pytest.mark.parametrize("line", ["# see arcade-api §3.1", "# stack.md §5 saw it", "see ../shared/seeds"])
def test_a_citation_of_outside_material_is_recognised(line: str) -> None:
    assert OUTSIDE.search(line)
