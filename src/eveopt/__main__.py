"""``python -m eveopt``: the same as the ``eveopt`` command."""

from __future__ import annotations

from eveopt.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
