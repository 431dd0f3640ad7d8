"""Screenshot a theory page in headless Chromium with the network off; fail if math is raw.

Usage (from the repository root, with the ``docs`` extra and Debian's ``chromium``)::

    python docs/_tools/screenshot_math.py                     # builds the site, checks
    python docs/_tools/screenshot_math.py --page theory/threshold/ --output threshold.png
    python docs/_tools/screenshot_math.py --site site/        # an already built site

What it does:

1. builds the documentation (``mkdocs build``) into a temporary directory, unless ``--site``
   names a built one;
2. serves it on ``127.0.0.1`` (fonts and scripts are fetched over HTTP, as from any web
   server) and opens each ``--page`` (default: every theory page) in headless Chromium
   whose host resolver maps every name except ``127.0.0.1`` to "not found" and whose
   background networking is off, so any request to another host fails;
3. dumps the DOM after the page's scripts ran and counts the formulas: every
   ``.arithmatex`` element must hold KaTeX output (``.katex``), none may be a KaTeX parse
   error (``.katex-error``) and no raw ``\\(`` or ``\\[`` may be left in the visible text;
4. writes a screenshot (``--output``, default ``math-screenshot.png``; with several pages
   ``math-screenshot-theory-operator.png`` and so on) to look at.

Exit status 0 when every formula rendered, 1 otherwise (with a summary on stderr), 2 when
Chromium is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import html.parser
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class MathCensus(html.parser.HTMLParser):
    """Counts arithmatex elements, KaTeX output and errors, and raw TeX in visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.formulas = 0
        self.typeset = 0
        self.rendered = 0
        self.errors: list[str] = []
        self.raw: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, hidden: script/style/mathml/code)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "arithmatex" in classes:
            self.formulas += 1
            if attributes.get("data-typeset") == "katex":
                self.typeset += 1
        if "katex" in classes:
            self.rendered += 1
        if "katex-error" in classes:
            self.errors.append(attributes.get("title") or "")
        hidden = tag in {"script", "style", "code", "pre", "annotation", "textarea"} or (
            "katex-mathml" in classes
        )
        if tag in {"br", "img", "hr", "input", "meta", "link"}:
            return
        parent_hidden = bool(self._stack) and self._stack[-1][1]
        self._stack.append((tag, hidden or parent_hidden))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1][1]:
            return
        for marker in ("\\(", "\\["):
            if marker in data:
                self.raw.append(data.strip()[:80])


def census(dom: str) -> MathCensus:
    """Parse a dumped DOM and count its formulas."""
    parser = MathCensus()
    parser.feed(dom)
    return parser


def problems(result: MathCensus) -> list[str]:
    """What is wrong with the math of a page (empty when every formula rendered)."""
    found = []
    if result.formulas == 0:
        found.append("the page has no arithmatex formula (wrong page?)")
    if result.typeset < result.formulas:
        found.append(f"{result.formulas - result.typeset} of {result.formulas} formulas untypeset")
    if result.rendered < result.formulas:
        found.append(f"only {result.rendered} KaTeX elements for {result.formulas} formulas")
    if result.errors:
        found.append(f"{len(result.errors)} KaTeX errors, e.g. {result.errors[0]!r}")
    if result.raw:
        found.append(f"{len(result.raw)} raw TeX fragments, e.g. {result.raw[0]!r}")
    return found


def find_browser() -> str | None:
    """The path of a Chromium-family browser, if one is installed."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) while the context is open."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def browser_command(browser: str, profile: Path, *extra: str) -> list[str]:
    """Headless Chromium with every host other than 127.0.0.1 unresolvable."""
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *extra,
    ]


# mkdocs, with the checkout's proofs/ registered as stability.proofs first (as the test
# suite's conftest.py does), so that a checkout used through PYTHONPATH builds like an install
_MKDOCS = """
try:
    from stability.cli.prove import load_proofs
except ImportError:
    pass
else:
    load_proofs()
from mkdocs.__main__ import cli
cli()
"""


def build_site(destination: Path) -> None:
    """``mkdocs build`` of this repository into ``destination``."""
    subprocess.run(
        [sys.executable, "-c", _MKDOCS, "build", "--quiet", "--site-dir", str(destination)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "MPLBACKEND": "Agg"},
        check=True,
    )


def check_page(site: Path, page: str, output: Path, browser: str) -> MathCensus:
    """Open ``page`` of the built ``site`` offline, screenshot it, and count its formulas."""
    with tempfile.TemporaryDirectory(prefix="stability-chromium-") as profile, serve(site) as url:
        address = url + page.lstrip("/")
        dom = subprocess.run(
            browser_command(browser, Path(profile), "--dump-dom", address),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        subprocess.run(
            browser_command(
                browser,
                Path(profile),
                f"--screenshot={output.resolve()}",
                "--window-size=1280,1600",
                "--hide-scrollbars",
                address,
            ),
            capture_output=True,
            timeout=120,
            check=True,
        )
    return census(dom)


def theory_pages(site: Path) -> list[str]:
    """The theory pages of a built site, as page paths (``theory/operator/``, …)."""
    return [
        path.parent.relative_to(site).as_posix() + "/"
        for path in sorted((site / "theory").glob("*/index.html"))
    ]


def _screenshot_path(output: Path, page: str, several: bool) -> Path:
    if not several:
        return output
    slug = page.strip("/").replace("/", "-") or "index"
    return output.with_name(f"{output.stem}-{slug}{output.suffix}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    parser.add_argument(
        "--page",
        nargs="+",
        help="page paths in the site (default: every theory page)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("math-screenshot.png"),
        help="screenshot file; with several pages, one file per page named after it",
    )
    arguments = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("no Chromium found: apt-get install chromium", file=sys.stderr)
        return 2
    failed = False
    with tempfile.TemporaryDirectory(prefix="stability-site-") as scratch:
        site = arguments.site
        if site is None:
            site = Path(scratch) / "site"
            build_site(site)
        pages = arguments.page or theory_pages(site)
        several = len(pages) > 1
        for page in pages:
            output = _screenshot_path(arguments.output, page, several)
            result = check_page(site, page, output, browser)
            found = problems(result)
            print(
                f"{page}: {result.formulas} formulas, {result.rendered} rendered by KaTeX, "
                f"{len(result.errors)} errors, {len(result.raw)} raw; screenshot {output}"
            )
            for problem in found:
                print(f"FAIL {page}: {problem}", file=sys.stderr)
            failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
