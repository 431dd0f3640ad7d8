"""Run the suite against this checkout's ``proofs/`` folder as ``stability.proofs``.

Installed, the folder is the subpackage ``stability.proofs``; from a checkout used through
``PYTHONPATH`` it is registered under that name here, before any test or doctest imports it.

Hypothesis runs derandomized (profile ``repository``): every run of the suite, CI's included,
draws the same examples, so a red run is reproducible and never a matter of luck. To search
new examples, run ``HYPOTHESIS_PROFILE=explore python -m pytest``.
"""

import os

from stability.cli.prove import load_proofs

load_proofs()

try:
    from hypothesis import settings
except ImportError:  # the suite needs the test extra; the proofs say which extra is missing
    pass
else:
    settings.register_profile("repository", derandomize=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repository"))
