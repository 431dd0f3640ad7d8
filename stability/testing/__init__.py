"""Tools for users' own CI: hypothesis strategies (:mod:`stability.testing.strategies`)."""

__all__: list[str] = []
