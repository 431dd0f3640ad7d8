"""Every citation of a theory page points to a page that exists and is in the site's navigation.

Code, proofs, tests, docs and the README cite the theory as ``docs/theory/<page>.md``; a page
renamed or removed would leave citations pointing nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(r"docs/theory/([\w-]+)\.md")
FOLDERS = ("stability", "proofs", "tests", "docs", "benchmarks")


def cited_pages() -> dict[str, list[str]]:
    """Page name → the places citing it."""
    pages: dict[str, list[str]] = {}
    paths = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    for folder in FOLDERS:
        paths += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".md"}]
    for path in paths:
        if "vendor" in path.parts or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for match in CITATION.finditer(text):
            pages.setdefault(match[1], []).append(str(path.relative_to(ROOT)))
    return pages


def test_every_cited_theory_page_exists_and_is_in_the_navigation():
    navigation = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = cited_pages()
    assert len(pages) >= 10  # the code does cite its theory
    missing = {page: where[:3] for page, where in pages.items()
               if not (ROOT / "docs" / "theory" / f"{page}.md").is_file()}
    assert missing == {}
    unlisted = [page for page in pages if f"theory/{page}.md" not in navigation]
    assert unlisted == []
