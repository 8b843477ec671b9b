"""The table of cases: every ``_cases_*.py`` module of this package contributes ``CASES``."""

from __future__ import annotations

import importlib
import pkgutil

from ._case import LayerCase


def _case_modules() -> list[str]:
    package = importlib.import_module(__package__)
    return sorted(
        f"{__package__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.startswith("_cases_")
    )


def all_cases() -> tuple[LayerCase, ...]:
    """Every case of the stock layers, sorted by name.

    Collected from the ``CASES`` sequence of each ``flaxen.layers.testing._cases_*``
    module (one per layer area).

    >>> from flaxen.layers.testing import all_cases
    >>> 'Dense/default' in [case.name for case in all_cases()]
    True

    Raises:
      ValueError: two cases share a name.
    """
    cases: dict[str, LayerCase] = {}
    for module_name in _case_modules():
        for case in importlib.import_module(module_name).CASES:
            if case.name in cases:
                raise ValueError(f"duplicate LayerCase name {case.name!r} (in {module_name})")
            cases[case.name] = case
    return tuple(cases[name] for name in sorted(cases))


def cases_for(name: str) -> tuple[LayerCase, ...]:
    """The cases that cover the exported name ``name`` (e.g. ``'Conv'``).

    >>> from flaxen.layers.testing import cases_for
    >>> len(cases_for('Conv')) > 1
    True
    """
    return tuple(case for case in all_cases() if name in case.covers)


def covered_names() -> frozenset[str]:
    """Every exported name some case covers."""
    return frozenset(name for case in all_cases() for name in case.covers)
