"""Stability diagrams with matplotlib (optional extra: ``pip install stability[plot]``).

matplotlib is imported lazily inside each function, so ``import stability`` never needs it.
"""

__all__: list[str] = []
