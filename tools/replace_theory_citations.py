#!/usr/bin/env python3
"""Rewrite citations of the old theory specification into pointers to ``docs/theory/``.

The project's theory used to be cited by section of a specification file, ``theory.md``
in a ``shared`` folder next to the repository (written as that folder, a slash and the file
name, then ``§N``), a file users do not have; sometimes as ``theory §N``, ``theory.md §N``
or a bare ``§N``. Its content now lives in the documentation, and this tool rewrites every
such citation in a tree to the page that states the same result:

====  ==========================================================  ================================
§     content                                                     page
====  ==========================================================  ================================
1     conventions: per-sample Hessians, data, sharpness, MS       ``docs/theory/operator.md``
2     second-moment operator, Krein–Rutman rules, neutral dirs    ``docs/theory/operator.md``
3     GD/SGD: mixing weight, exact threshold, facts, Gram form    ``docs/theory/threshold.md``
4     momentum (heavy ball, Nesterov, EMA), weight decay          ``docs/theory/methods.md``
5     variational GD: noise, stationary moment, edge              ``docs/theory/methods.md``
6     higher moments, almost-sure stability, first layer          ``docs/theory/higher-moments.md``
7     deep linear networks                                        ``docs/theory/deep-linear.md``
8     Monte Carlo of the same dynamics, finite-time moments       ``docs/monte-carlo.md``
====  ==========================================================  ================================

Rules:

* the specification file's path followed by sections (``§2``, ``§2–§4``,
  ``§2 (rule 3) and §5``, on the same line or the next) becomes the pages of those sections,
  in order, without repeats, each keeping its parenthesised qualifier (``(rule 3)``) and the
  quoting of the original (````…````, ```…``` or none); without sections it becomes
  ``docs/theory/``;
* ``theory §N``, ``theory.md §N`` and a bare ``§N`` become the page of ``§N`` likewise;
* in Markdown files under ``docs/`` the pointers are Markdown links relative to the page
  (``[The exact threshold](../theory/threshold.md)``);
* a line that the rewrite makes longer than ``--line-length`` (default 100) is re-wrapped
  when it is prose (a comment, a docstring, Markdown outside code blocks and tables), and
  reported otherwise (a string literal in code cannot be wrapped safely);
* any other mention of that folder (its design notes, say) is reported, not rewritten.
* a file containing the marker ``replace-theory-citations: skip`` is left alone (the tests of
  this tool hold citations on purpose).

Usage::

    python tools/replace_theory_citations.py [--check] [--line-length N] PATH ...

Without ``--check`` the files are rewritten in place; with it nothing is written and the exit
code is 1 when a file would change. Either way every changed file, every long line left and
every remaining mention of the folder is printed. Exit code 0 means nothing is left to do.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tokenize
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Section of the old specification → repository path of the page that now holds it.
SECTION_PAGES = {
    1: "docs/theory/operator.md",
    2: "docs/theory/operator.md",
    3: "docs/theory/threshold.md",
    4: "docs/theory/methods.md",
    5: "docs/theory/methods.md",
    6: "docs/theory/higher-moments.md",
    7: "docs/theory/deep-linear.md",
    8: "docs/monte-carlo.md",
}
#: Link texts of the pages, for Markdown.
PAGE_TITLES = {
    "docs/theory/operator.md": "The second-moment operator",
    "docs/theory/threshold.md": "The exact threshold",
    "docs/theory/methods.md": "GD, SGD, momentum and variational GD",
    "docs/theory/higher-moments.md": "Higher moments and almost-sure stability",
    "docs/theory/deep-linear.md": "Deep linear networks",
    "docs/monte-carlo.md": "Monte Carlo checks",
    "docs/theory/": "the theory pages",
}
SUFFIXES = {".py", ".md", ".txt", ".rst", ".toml", ".cfg", ".yml", ".yaml", ".ini"}
SKIP_PARTS = {".git", "__pycache__", "site", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

_QUALIFIER = r"(?:[ \t]*\((?:[^()\n]|\([^()\n]*\))*\))?"
_SECTION = r"§[ \t]?\d" + _QUALIFIER
_SEPARATOR = r"[ \t]*(?:–|—|-|,[ \t]*and|,|and)[ \t]*"
_SECTIONS = rf"{_SECTION}(?:{_SEPARATOR}§?[ \t]?\d{_QUALIFIER})*"
#: The retired folder (spelled in two pieces so that this file does not mention it).
FOLDER = "shared" + "/"
#: The specification's path with its quoting, then (optionally, maybe on the next line) sections.
CITATION = re.compile(
    rf"(?P<quote>``|`)?(?:\.\./)?{re.escape(FOLDER)}theory\.md(?P=quote)?"
    rf"(?P<gap>[ \t]*\n[ \t]*(?:#[ \t]*)?|[ \t]+)?(?P<sections>{_SECTIONS})?"
)
#: ``theory §N``, ``theory.md §N``, ``Theory §N`` and bare ``§N`` lists.
LOOSE = re.compile(rf"(?:\b[Tt]heory(?:\.md)?[ \t]+)?(?P<sections>{_SECTIONS})")
_ITEM = re.compile(rf"(?P<range>–|—|-)?[ \t]*§?[ \t]?(?P<number>\d)(?P<qualifier>{_QUALIFIER})")


def _sections(text: str) -> list[tuple[int, str]]:
    """``"§2 (rule 3) and §5"`` → ``[(2, " (rule 3)"), (5, "")]``; ranges expanded."""
    found: list[tuple[int, str]] = []
    for match in _ITEM.finditer(text):
        number = int(match["number"])
        if match["range"] and found:
            found.extend((section, "") for section in range(found[-1][0] + 1, number))
        found.append((number, match["qualifier"] or ""))
    return found


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def pointers(sections: Sequence[tuple[int, str]], quote: str, markdown_from: Path | None) -> str:
    """The text that replaces a citation of ``sections``."""
    pages: dict[str, str] = {}
    for number, qualifier in sections or [(0, "")]:
        page = SECTION_PAGES.get(number, "docs/theory/")
        pages[page] = pages.get(page, "") + qualifier
    items = []
    for page, qualifier in pages.items():
        if markdown_from is not None:
            target = os.path.relpath(page, markdown_from.parent.as_posix())
            if page.endswith("/"):
                target = os.path.relpath("docs/theory/operator.md", markdown_from.parent)
            items.append(f"[{PAGE_TITLES[page]}]({target}){qualifier}")
        else:
            items.append(f"{quote}{page}{quote}{qualifier}")
    return _join(items)


def _markdown_page(path: Path, root: Path) -> Path | None:
    """The page's path relative to the repository when it is a docs Markdown page."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    if path.suffix == ".md" and relative.parts[:1] == ("docs",):
        return relative
    return None


def rewrite_text(text: str, markdown_from: Path | None = None) -> str:
    """``text`` with every theory citation replaced (no wrapping)."""

    def cited(match: re.Match) -> str:
        quote = match["quote"] or ("" if markdown_from is None else "`")
        sections = _sections(match["sections"] or "")
        replacement = pointers(sections, quote, markdown_from)
        gap = match["gap"] or ""
        if match["sections"] is None:
            return replacement + gap
        return replacement

    text = CITATION.sub(cited, text)

    def loose(match: re.Match) -> str:
        return pointers(_sections(match["sections"]), "", markdown_from)

    return LOOSE.sub(loose, text)


def _prose_lines(path: Path, text: str) -> set[int]:
    """1-based numbers of the lines that are prose (safe to re-wrap)."""
    lines = text.splitlines()
    if path.suffix == ".py":
        prose: set[int] = set()
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError):
            return prose
        previous = None
        for token in tokens:
            if token.type == tokenize.COMMENT and token.line.strip().startswith("#"):
                prose.add(token.start[0])
            elif token.type == tokenize.STRING and (
                previous is None
                or previous.type in (tokenize.INDENT, tokenize.NEWLINE, tokenize.DEDENT)
            ):
                if token.string.lstrip("rRbBuUfF").startswith(('"""', "'''")):
                    prose.update(range(token.start[0] + 1, token.end[0]))  # inner lines only
                    first = lines[token.start[0] - 1]
                    if token.start[0] != token.end[0] and len(first.strip()) > 3:
                        prose.add(token.start[0])
            if token.type not in (tokenize.NL, tokenize.COMMENT):
                previous = token
        return {
            number for number in prose if not lines[number - 1].lstrip().startswith((">>>", "..."))
        }
    if path.suffix == ".md":
        prose = set()
        fenced = False
        for number, line in enumerate(lines, 1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
                continue
            if not fenced and not line.lstrip().startswith(("|", "#", "    ")):
                prose.add(number)
        return prose
    return set()


_MARKERS = ("# ", "* ", "- ")


def _split_prefix(line: str) -> tuple[str, str, str]:
    """(prefix of this line, prefix of its continuation lines, body)."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    for marker in _MARKERS:
        if stripped.startswith(marker):
            continuation = indent + (marker if marker == "# " else " " * len(marker))
            return indent + marker, continuation, stripped[len(marker) :]
    return indent, indent, stripped


def _continues(line: str, continuation: str) -> bool:
    """Whether ``line`` continues a paragraph whose continuation prefix is ``continuation``."""
    if not line.startswith(continuation) or not line.strip():
        return False
    body = line[len(continuation) :]
    if not body or body[0].isspace() or body.startswith((*_MARKERS, ">>>", "...", ":", "|")):
        return False
    return not body.rstrip().endswith("::")


def _reflow(lines: list[str], width: int, long: set[int], prose: set[int]) -> list[str]:
    """Re-wrap the prose lines in ``long`` (0-based), pushing overflow into the paragraph."""
    lines = list(lines)
    index = 0
    while index < len(lines):
        line = lines[index]
        if index in long and index in prose and len(line) > width:
            first, continuation, body = _split_prefix(line)
            room = width - len(first)
            cut = body.rfind(" ", 0, room + 1)
            # never split inside a ``literal`` or $math$
            while cut > 0 and (body[:cut].count("``") % 2 or body[:cut].count("$") % 2):
                cut = body.rfind(" ", 0, cut)
            if cut > 0:
                head, carry = body[:cut].rstrip(), body[cut + 1 :].lstrip()
                lines[index] = first + head
                following = index + 1
                if (
                    following < len(lines)
                    and following in prose
                    and _continues(lines[following], continuation)
                ):
                    rest = lines[following][len(continuation) :]
                    lines[following] = continuation + carry + " " + rest
                else:
                    lines.insert(following, continuation + carry)
                    long = {number + 1 if number >= following else number for number in long}
                    prose = {number + 1 if number >= following else number for number in prose}
                    prose.add(following)
                long.add(following)
        index += 1
    return lines


#: Files containing this marker are not rewritten.
SKIP_MARKER = "replace-theory-citations: " + "skip"


def rewrite_file(path: Path, root: Path, width: int) -> tuple[str, str, list[str]]:
    """(old text, new text, notes) for one file."""
    old = path.read_text(encoding="utf-8")
    if SKIP_MARKER in old:
        return old, old, []
    markdown_from = _markdown_page(path, root)
    new = rewrite_text(old, markdown_from)
    notes: list[str] = []
    if new != old:
        before = set(old.splitlines())
        prose = {number - 1 for number in _prose_lines(path, new)}
        lines = new.splitlines()
        long = {index for index, line in enumerate(lines) if line not in before}
        lines = _reflow(lines, width, long, prose)
        for number, line in enumerate(lines, 1):
            if len(line) > width and line not in before:
                notes.append(f"{path}:{number}: line of {len(line)} characters (fix by hand)")
        new = "\n".join(lines) + ("\n" if new.endswith("\n") else "")
    for number, line in enumerate(new.splitlines(), 1):
        if FOLDER in line:
            notes.append(f"{path}:{number}: still mentions {FOLDER}: {line.strip()}")
    return old, new, notes


def files(paths: Iterable[str]) -> Iterable[Path]:
    for name in paths:
        path = Path(name)
        if path.is_file():
            yield path
        elif path.is_dir():
            for child in sorted(path.rglob("*")):
                if (
                    child.is_file()
                    and child.suffix in SUFFIXES
                    and not SKIP_PARTS.intersection(child.parts)
                ):
                    yield child


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="files or folders to rewrite")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on changes")
    parser.add_argument("--line-length", type=int, default=100)
    parser.add_argument(
        "--root",
        default=".",
        help="repository root, for Markdown links of docs/ pages (default: current folder)",
    )
    arguments = parser.parse_args(argv)
    root = Path(arguments.root)
    changed, notes = [], []
    for path in files(arguments.paths):
        if path.resolve() == Path(__file__).resolve():
            continue
        old, new, file_notes = rewrite_file(path, root, arguments.line_length)
        notes.extend(file_notes)
        if new != old:
            changed.append(path)
            if not arguments.check:
                path.write_text(new, encoding="utf-8")
    for path in changed:
        print(f"{'would rewrite' if arguments.check else 'rewrote'} {path}")
    for note in notes:
        print(note)
    return 1 if notes or (arguments.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
