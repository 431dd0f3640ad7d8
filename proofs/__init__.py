"""Machine-checked proofs of the results of ``shared/theory.md`` §3–§7, one file per theorem.

Run them with ``python -m stability prove [NAME ...]`` (or ``stability prove``); the test
suite runs them too (``tests/test_proofs.py``). The common interface and the runner live in
:mod:`proofs.registry`.
"""

from proofs.registry import Check, Proof, ProofResult, discover, run

__all__ = ["Check", "Proof", "ProofResult", "discover", "run"]
