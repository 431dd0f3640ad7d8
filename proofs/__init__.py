"""Machine-checked proofs of the theory in ``docs/theory/``, one file per theorem.

The repository keeps them in its top-level ``proofs/`` folder, which installs as this
subpackage, ``stability.proofs``. Run them with ``stability prove [NAME ...]`` (or
``python -m stability prove``); the test suite runs them too (``tests/test_proofs.py``).
Running a proof needs hypothesis (``pip install 'optimizer-stability[prove]'``); listing
them (``stability prove --list``, :func:`catalogue`) does not. The common interface and
the runner live in :mod:`stability.proofs.registry`.

Examples
--------
>>> from stability.proofs import catalogue
>>> "mulayoff_michaeli" in catalogue()
True
"""

from .registry import Check, Proof, ProofResult, catalogue, discover, run

__all__ = ["Check", "Proof", "ProofResult", "catalogue", "discover", "run"]
