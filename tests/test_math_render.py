"""The offline math check of ``docs/_tools/screenshot_math.py``, without a browser.

The script opens a theory page in headless Chromium with the network off and counts the
formulas in the DOM after the page's scripts ran. Here its counting is run on DOMs written
by hand: a page typeset by KaTeX passes, and each way math can be left raw is reported.
(``tests/test_docs.py`` checks the built site itself: no external scripts, styles or fonts,
and the KaTeX files in place.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "_tools" / "screenshot_math.py"


def _load():
    spec = importlib.util.spec_from_file_location("stability_screenshot_math", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tool = _load()

TYPESET = (
    '<span class="arithmatex" data-typeset="katex"><span class="katex">'
    '<span class="katex-mathml"><math><annotation>\\eta</annotation></math></span>'
    '<span class="katex-html">η</span></span></span>'
)


def test_a_typeset_page_passes() -> None:
    code = "<pre>\\(raw in code\\)</pre>"
    dom = f"<html><body><p>rate {TYPESET} and {TYPESET}</p>{code}</body></html>"
    result = tool.census(dom)
    assert (result.formulas, result.typeset, result.rendered) == (2, 2, 2)
    assert tool.problems(result) == []


def test_raw_math_is_reported() -> None:
    dom = '<html><body><p><span class="arithmatex">\\(\\eta^*\\)</span></p></body></html>'
    found = tool.problems(tool.census(dom))
    assert any("untypeset" in problem for problem in found)
    assert any("raw TeX" in problem for problem in found)


def test_katex_errors_and_raw_navigation_are_reported() -> None:
    error = (
        '<span class="arithmatex" data-typeset="katex"><span class="katex-error" '
        'title="ParseError: Undefined control sequence">\\foo</span></span>'
    )
    dom = f'<nav><span class="md-ellipsis">The \\(k\\)-th moment</span></nav><p>{error}</p>'
    found = tool.problems(tool.census(dom))
    assert any("KaTeX errors" in problem and "Undefined" in problem for problem in found)
    assert any("raw TeX" in problem and "-th moment" in problem for problem in found)


def test_a_page_without_formulas_is_not_a_pass() -> None:
    assert tool.problems(tool.census("<html><body><p>no math</p></body></html>"))


def test_the_browser_has_no_route_to_other_hosts() -> None:
    command = tool.browser_command("chromium", Path("/tmp/profile"), "--dump-dom", "x")
    assert "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" in command
    assert "--disable-background-networking" in command and "--headless" in command
