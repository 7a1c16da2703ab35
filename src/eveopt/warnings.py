"""The warning category of eveopt, importable without any framework."""

from __future__ import annotations


class EveWarning(UserWarning):
    """A loss that Eve could not use as given: missing, non-finite, or below ``f_star``.

    Each kind is reported once per optimizer instance; filter this category to silence them.
    """
