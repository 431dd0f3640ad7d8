"""Package list for setuptools; everything else is in pyproject.toml.

pyproject.toml cannot both discover packages and add one from another folder, so the list is
built here: ``stability`` and every subpackage under ``stability/`` (new subpackages are picked
up automatically), plus ``stability.proofs``, whose sources are the repository's top-level
``proofs/`` folder (``[tool.setuptools.package-dir]`` in pyproject.toml).
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["stability", "stability.*"]), "stability.proofs"])
