"""The Map tab: samples by meaning from the stored projection, and coverage figures.

    fig = map_view(store, "pass rate")
"""
from __future__ import annotations

from synthrl.frame import _frame
from synthrl.store import RunStore


# -- map (the data at a glance) ----------------------------------------------------------------------------------
MAP_COLOR_BY = ("pass rate", "status", "round", "origin")


def map_view(store: RunStore, color: str = "pass rate", version: str | None = None):
    """The sample map from the store's cached projection (synthrl.atlas; `synthrl map` / Update map computes it)."""
    from synthrl.atlas import map_figure

    return map_figure(store, color, version, samples=_frame(store, version))


def coverage_view(store: RunStore) -> str:
    from synthrl.atlas import coverage, coverage_markdown

    return coverage_markdown(coverage(store))
