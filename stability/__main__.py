"""``python -m stability``: the same command line as the ``stability`` script."""

from stability.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
