"""MkDocs hook: the documentation's code is executed, and its figures come from that code.

Three jobs, one per MkDocs event:

* ``on_config``: the footer shows the package version read from ``stability._version``
  (the single place the version lives), so the docs never repeat it.
* ``on_files``: every page's ```` ```python ```` blocks are executed in order, in one
  namespace, in a fresh temporary directory (so ``ax.figure.savefig("radius.svg")`` writes
  there, exactly as it would for a reader running the page in their own directory). An
  image the page references that is not a file under ``docs/``
  (``![a spectral radius plot](radius.svg)``) must have been written by that code, and is
  added to the site at the path the page refers to. A page whose code fails, or does not
  write an image it references, fails the build. Nothing is ever written into ``docs/``:
  figures exist only in the built site.
* ``on_page_markdown``: what each block printed is shown right after it, in a text block
  titled "Output", so every number a page quotes is computed when the site is built.

The same helpers (:func:`python_blocks`, :func:`run_blocks`, :func:`generated_images`)
are used by ``tests/test_docs.py``, which runs every page's code as a test and records
each successful run (:func:`record_run`) in a directory named by ``STABILITY_DOCS_CACHE``;
the strict build it then starts reuses those runs instead of executing the pages a second
time. Without that variable (a normal ``mkdocs build`` or ``mkdocs serve``) every page runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "CodeBlock",
    "code_blocks",
    "generated_images",
    "image_references",
    "on_config",
    "on_files",
    "on_page_markdown",
    "python_blocks",
    "record_run",
    "run_blocks",
    "with_outputs",
]

# Captured standard output of each executed page, by source path: one string per python block.
_OUTPUTS: dict[str, list[str]] = {}

# An opening fence: indentation, three or more backticks or tildes, an info string.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$")
# A Markdown image: ![alt](target "optional title"), target without spaces; titles in "", '' or ().
_IMAGE = re.compile(
    r"!\[[^\]]*\]\(\s*<?(?P<target>[^)\s>]+)>?"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
_PYTHON_LANGUAGES = {"python", "py", "python3"}


class CodeBlock(NamedTuple):
    """A fenced code block: language, (dedented) code, first code line, closing fence line."""

    language: str
    code: str
    line: int
    end: int = 0
    indent: str = ""


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Every fenced code block of a Markdown page, in order (nested fences not supported)."""
    lines = markdown.splitlines()
    blocks: list[CodeBlock] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, indent = match["fence"], match["indent"]
        info = match["info"].strip()
        language = info.split()[0].lstrip(".{").rstrip("}").lower() if info else ""
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        code = textwrap.dedent("\n".join(body)) + "\n"
        blocks.append(CodeBlock(language, code, index + 2, end + 1, indent))
        index = end + 1
    return blocks


def python_blocks(markdown: str) -> list[CodeBlock]:
    """The ```` ```python ```` blocks of a page, in order; other languages are not run."""
    return [block for block in code_blocks(markdown) if block.language in _PYTHON_LANGUAGES]


def _without_code(markdown: str) -> str:
    """The page with the contents of its fenced code blocks blanked out."""
    lines = markdown.splitlines()
    for block in code_blocks(markdown):
        start = block.line - 1
        for offset in range(block.code.count("\n")):
            if start + offset < len(lines):
                lines[start + offset] = ""
    return "\n".join(lines)


def image_references(markdown: str) -> list[str]:
    """Relative image targets of a page (outside code blocks), in order, without duplicates."""
    targets: list[str] = []
    for match in _IMAGE.finditer(_without_code(markdown)):
        target = match["target"].split("#")[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            continue
        if target not in targets:
            targets.append(target)
    return targets


def generated_images(page: Path, docs_dir: Path) -> list[str]:
    """Images a page refers to that are not files under ``docs_dir``: its code must make them.

    Returned as paths relative to the page's directory, as written in the page.
    """
    markdown = page.read_text(encoding="utf-8")
    return [
        target
        for target in image_references(markdown)
        if not (page.parent / target).resolve().is_file()
        or docs_dir.resolve() not in (page.parent / target).resolve().parents
    ]


def run_blocks(
    blocks: list[CodeBlock],
    workdir: Path,
    source: str,
    *,
    outputs: list[str] | None = None,
) -> dict[str, Any]:
    """Execute ``blocks`` in order, in one namespace, with ``workdir`` as working directory.

    Line numbers in tracebacks are those of ``source`` (the page's path). matplotlib, when
    installed, uses the non-interactive Agg backend; pyplot figures are closed afterwards.
    If ``outputs`` is a list, each block's standard output is captured and appended to it
    (one string per block). Returns the namespace.
    """
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a test and docs dependency
        matplotlib = None
    if matplotlib is not None:
        matplotlib.use("Agg")
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        for block in blocks:
            padded = "\n" * (block.line - 1) + block.code
            code = compile(padded, source, "exec")
            if outputs is None:
                exec(code, namespace)  # the docs' own code
                continue
            captured = io.StringIO()
            with contextlib.redirect_stdout(captured):
                exec(code, namespace)  # the docs' own code
            outputs.append(captured.getvalue())
    finally:
        os.chdir(previous)
        if matplotlib is not None and "matplotlib.pyplot" in sys.modules:
            import matplotlib.pyplot as plt

            plt.close("all")
    return namespace


def with_outputs(markdown: str, outputs: list[str], *, limit: int = 60) -> str:
    """Insert each non-empty output as a ```` ```text ```` block after its python block.

    ``outputs[k]`` belongs to the ``k``-th python block of ``markdown``. Outputs longer
    than ``limit`` lines are cut, saying how many lines were left out.
    """
    lines = markdown.split("\n")
    insertions: list[tuple[int, list[str]]] = []
    for block, output in zip(python_blocks(markdown), outputs, strict=False):
        text = output.rstrip("\n")
        if not text.strip():
            continue
        shown = text.split("\n")
        if len(shown) > limit:
            shown = [*shown[:limit], f"… ({len(shown) - limit} more lines)"]
        fence = "`" * 3
        rendered = ["", f'{block.indent}{fence}text title="Output"']
        rendered += [f"{block.indent}{line}" if line else "" for line in shown]
        rendered.append(f"{block.indent}{fence}")
        insertions.append((block.end, rendered))
    for end, rendered in reversed(insertions):
        lines[end:end] = rendered
    return "\n".join(lines)


# ---------------------------------------------------------------------------- MkDocs events


def on_config(config: Any) -> Any:
    """Put the package version (from ``stability._version``) in the footer."""
    from stability._version import __version__

    config["copyright"] = f"stability {__version__} · MIT licence"
    config["extra"]["stability_version"] = __version__
    return config


#: Environment variable naming a directory of runs recorded by :func:`record_run` (the docs
#: tests record each page's run there, so the build they check does not run it again).
CACHE_VARIABLE = "STABILITY_DOCS_CACHE"


def _run_key(markdown: str) -> str:
    return hashlib.sha256(markdown.encode("utf-8")).hexdigest()


def record_run(cache: Path, markdown: str, outputs: list[str], workdir: Path, targets: list[str]):
    """Record a successful run of a page (its outputs and generated images) under ``cache``.

    The record is keyed by the page's exact text, so an edited page is run again.
    """
    entry = cache / _run_key(markdown)
    for target in targets:
        destination = entry / "files" / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(workdir / target, destination)
    entry.mkdir(parents=True, exist_ok=True)
    (entry / "outputs.json").write_text(json.dumps(outputs), encoding="utf-8")


def _recorded_run(markdown: str, workdir: Path) -> list[str] | None:
    """Copy a recorded run's images into ``workdir`` and return its outputs, if recorded."""
    cache = os.environ.get(CACHE_VARIABLE)
    if not cache:
        return None
    entry = Path(cache) / _run_key(markdown)
    if not (entry / "outputs.json").is_file():
        return None
    if (entry / "files").is_dir():
        shutil.copytree(entry / "files", workdir, dirs_exist_ok=True)
    return json.loads((entry / "outputs.json").read_text(encoding="utf-8"))


def on_files(files: Any, config: Any) -> Any:
    """Run every page's python code; add the figures it writes; keep its printed output."""
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    docs_dir = Path(config["docs_dir"])
    _OUTPUTS.clear()
    for file in list(files.documentation_pages()):
        page = Path(file.abs_src_path)
        markdown = page.read_text(encoding="utf-8")
        blocks = python_blocks(markdown)
        missing = generated_images(page, docs_dir)
        if not blocks and not missing:
            continue
        with tempfile.TemporaryDirectory(prefix="stability-docs-") as scratch:
            workdir = Path(scratch)
            outputs = _recorded_run(markdown, workdir)
            if outputs is None:
                outputs = []
                try:
                    run_blocks(blocks, workdir, str(page), outputs=outputs)
                except Exception as error:
                    raise PluginError(
                        f"docs/{file.src_uri}: its python code failed: "
                        f"{type(error).__name__}: {error}"
                    ) from error
            for target in missing:
                produced = workdir / target
                if not produced.is_file():
                    raise PluginError(
                        f"docs/{file.src_uri} shows {target!r}, which is not a file under docs/ "
                        "and was not written by the page's python code"
                    )
                src_uri = posixpath.normpath(
                    posixpath.join(posixpath.dirname(file.src_uri), target)
                )
                files.append(File.generated(config, src_uri, content=produced.read_bytes()))
        _OUTPUTS[file.src_uri] = outputs
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Show what each python block printed, in a text block right after it."""
    outputs = _OUTPUTS.get(page.file.src_uri)
    if not outputs:
        return markdown
    return with_outputs(markdown, outputs)
