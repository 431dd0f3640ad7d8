"""tools/replace_theory_citations.py: old theory-section citations become docs/theory pointers.

The tool is run once by hand over the tree; these tests pin down what it does on every form of
citation the repository has used, and check that the pages it points to exist. The retired
folder is spelled in pieces here (``OLD``) so that this file does not mention it, and the
tool leaves this file alone (replace-theory-citations: skip).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SPEC = importlib.util.spec_from_file_location(
    "replace_theory_citations", ROOT / "tools" / "replace_theory_citations.py"
)
assert _SPEC is not None and _SPEC.loader is not None
tool = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = tool
_SPEC.loader.exec_module(tool)

OLD = "shared" + "/theory.md"


def test_every_target_page_exists_and_is_in_the_nav():
    navigation = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in set(tool.SECTION_PAGES.values()):
        assert (ROOT / page).is_file(), page
        assert page.removeprefix("docs/") in navigation, page
    assert set(tool.SECTION_PAGES) == set(range(1, 9))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (f"Theory: ``{OLD}`` §2. Every", "Theory: ``docs/theory/operator.md``. Every"),
        (
            f'CITATION = "Polyak (1964); {OLD} §4"',
            'CITATION = "Polyak (1964); docs/theory/methods.md"',
        ),
        (
            f"(``{OLD}`` §2 (rule 3) and §5)",
            "(``docs/theory/operator.md`` (rule 3) and ``docs/theory/methods.md``)",
        ),
        (
            f"(``{OLD}`` §1 and §2 (neutral directions) and §3 (Gram form))",
            "(``docs/theory/operator.md`` (neutral directions) and "
            "``docs/theory/threshold.md`` (Gram form))",
        ),
        (
            f"({OLD} §3–§6)",
            "(docs/theory/threshold.md, docs/theory/methods.md and docs/theory/higher-moments.md)",
        ),
        (f"``{OLD}`` §2 and §8", "``docs/theory/operator.md`` and ``docs/monte-carlo.md``"),
        (f"Theory: ``{OLD}``. Every", "Theory: ``docs/theory/``. Every"),
        ("(§2, rule 2)", "(docs/theory/operator.md, rule 2)"),
        (
            "1-D closed form (theory §3), against",
            "1-D closed form (docs/theory/threshold.md), against",
        ),
        ("do not depend on S (theory.md §5).", "do not depend on S (docs/theory/methods.md)."),
        (f"(see ``{OLD}``\n    §1). Symmetry", "(see ``docs/theory/operator.md``). Symmetry"),
        ("no section sign here: 2 + 2", "no section sign here: 2 + 2"),
    ],
    ids=[
        "one-section",
        "string-literal",
        "qualifiers",
        "merged-pages",
        "range",
        "monte-carlo",
        "no-section",
        "bare-section",
        "theory-word",
        "theory-md-word",
        "next-line",
        "untouched",
    ],
)
def test_citation_forms(before, after):
    assert tool.rewrite_text(before) == after
    assert tool.rewrite_text(after) == after  # idempotent


def test_markdown_pages_get_relative_links():
    text = f"the operator (`{OLD}` §2–§3) and"
    page = Path("docs/reference/numeric.md")
    assert tool.rewrite_text(text, page) == (
        "the operator ([The second-moment operator](../theory/operator.md) and "
        "[The exact threshold](../theory/threshold.md)) and"
    )
    assert tool.rewrite_text(f"see `{OLD}` §7.", Path("docs/theory/methods.md")) == (
        "see [Deep linear networks](deep-linear.md)."
    )


def test_rewrite_file_rewraps_prose_and_reports_code_lines(tmp_path):
    source = tmp_path / "module.py"
    source.write_text(
        '"""Summary line.\n\n'
        f"Theory: ``{OLD}`` §3–§7. Functions that return a bound on a critical learning\n"
        "rate, with their citations.\n"
        '"""\n\n'
        f'CITATION = "A very long citation string of some paper, with a title; {OLD} §3–§4"\n',
        encoding="utf-8",
    )
    _, new, notes = tool.rewrite_file(source, tmp_path, 100)
    assert OLD not in new
    assert all(len(line) <= 100 for line in new.splitlines()[:-1])
    words = re.sub(r"\s+", " ", new.split('"""')[1])
    assert words == (
        "Summary line. Theory: ``docs/theory/threshold.md``, ``docs/theory/methods.md``, "
        "``docs/theory/higher-moments.md`` and ``docs/theory/deep-linear.md``. Functions that "
        "return a bound on a critical learning rate, with their citations. "
    )
    compile(new, str(source), "exec")
    (note,) = notes
    line = 1 + [row.startswith("CITATION") for row in new.splitlines()].index(True)
    assert note.startswith(f"{source}:{line}: line of") and note.endswith("(fix by hand)")


def test_marked_files_are_left_alone(tmp_path):
    marked = tmp_path / "marked.py"
    marked.write_text(f"# {tool.SKIP_MARKER}\n# see {OLD} §3\n", encoding="utf-8")
    old, new, notes = tool.rewrite_file(marked, tmp_path, 100)
    assert new == old and notes == []
    assert tool.rewrite_file(Path(__file__), ROOT, 100)[2] == []


def test_command_line_check_mode(tmp_path, capsys):
    page = tmp_path / "notes.md"
    page.write_text(f"See `{OLD}` §6.\n", encoding="utf-8")
    assert tool.main(["--check", str(tmp_path)]) == 1
    assert page.read_text(encoding="utf-8") == f"See `{OLD}` §6.\n"
    assert tool.main([str(tmp_path)]) == 0
    assert page.read_text(encoding="utf-8") == "See `docs/theory/higher-moments.md`.\n"
    assert tool.main(["--check", str(tmp_path)]) == 0
    assert "rewrote" in capsys.readouterr().out


FREE_OF_THE_OLD_FOLDER = [
    "proofs",
    "tests",
    "benchmarks",
    "tools",
    "docs/theory",
    "docs/proofs.md",
    "CONTRIBUTING.md",
    "README.md",
    "pyproject.toml",
    "setup.py",
    "conftest.py",
]


def test_these_parts_of_the_repository_do_not_mention_the_old_folder():
    mentions = []
    for path in tool.files(str(ROOT / name) for name in FREE_OF_THE_OLD_FOLDER):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if tool.FOLDER in line:
                mentions.append(f"{path.relative_to(ROOT)}:{number}")
    assert mentions == []
