"""``stability prove``: run the machine-checked proofs of ``proofs/`` and print their verdicts."""

from __future__ import annotations

import argparse

from stability.cli._common import print_json

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prove`` subcommand."""
    parser = subparsers.add_parser(
        "prove",
        help="run the machine-checked proofs",
        description="Run the proofs in proofs/ (all, or the NAMEs given) and print one line "
        "per proof with its verdict, 'proved' or 'FAILED'. Exit code 0 only when all hold.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="proofs to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the proofs and exit")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="print every check of every proof"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Run the proofs; 0 if all hold, 1 if one failed (2, via the CLI, for an unknown name).

    Examples
    --------
    >>> from stability.cli import main
    >>> main(["prove", "batch_moment"])  # doctest: +ELLIPSIS
    batch_moment...proved...
    1 of 1 proofs hold
    0
    """
    from proofs.registry import discover
    from proofs.registry import run as run_proofs

    if arguments.list:
        for name, module in discover().items():
            print(f"{name:<28} {module.STATEMENT.splitlines()[0]}")
        return 0
    results = run_proofs(arguments.names)
    if arguments.json:
        print_json(
            {
                "all_hold": all(result.holds for result in results),
                "proofs": [
                    {
                        "name": result.name,
                        "verdict": result.verdict,
                        "statement": result.statement,
                        "citation": result.citation,
                        "seconds": round(result.seconds, 3),
                        "checks": [
                            {"description": c.description, "passed": c.passed, "detail": c.detail}
                            for c in result.checks
                        ],
                    }
                    for result in results
                ],
            }
        )
    else:
        for result in results:
            print(result.summary())
            if arguments.verbose or not result.holds:
                for check in result.checks:
                    mark = "ok  " if check.passed else "FAIL"
                    detail = f" — {check.detail.splitlines()[0]}" if check.detail else ""
                    print(f"    {mark} {check.description}{detail}")
        failed = sum(not result.holds for result in results)
        print(f"{len(results) - failed} of {len(results)} proofs hold")
    return 0 if all(result.holds for result in results) else 1
