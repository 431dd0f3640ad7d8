"""Run the suite against this checkout's ``proofs/`` folder as ``stability.proofs``.

Installed, the folder is the subpackage ``stability.proofs``; from a checkout used through
``PYTHONPATH`` it is registered under that name here, before any test or doctest imports it.
"""

from stability.cli.prove import load_proofs

load_proofs()
