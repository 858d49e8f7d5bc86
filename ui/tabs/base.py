"""The contract between the app shell and a tab module.

A tab's `build(ctx)` lays out its components inside the shell's gr.Tabs, puts on `ctx` the few
components other tabs wire to, and returns a Tab: the components the live refresh re-renders
(`outputs`), the inputs that refresh reads (`inputs`), `render(live)` giving the outputs' values in
order, and `wire()`, called once every tab exists, for its event handlers. The shell concatenates
the tabs' outputs and values, so adding a tab touches no list anywhere else.

    def build(ctx: Ctx) -> Tab:
        with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
            runs_df = gr.Dataframe(...)
        return Tab(outputs=[runs_df], render=lambda live: [views.runs_table(live.runs, live.all_jobs)])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from types import SimpleNamespace


class Ctx(SimpleNamespace):
    """What tabs share while the app is built: the shell's `demo`, `run_dd`, `version_dd`, and after every
    tab is built `rerender` (`dep.then(*ctx.rerender)` re-renders the header and the tab in view; the others
    render when next selected), `opened` (the run
    picker's change) and `loaded` (page load); plus the components a tab publishes for others."""


@dataclass
class Live:
    """One live render's shared facts; `store` is None when no run is open."""
    run: str | None
    store: Any
    jobs: dict
    status: dict | None
    version: str | None
    versions: list
    names: list
    runs: list
    all_jobs: dict
    values: dict = field(default_factory=dict)

    def value(self, component):
        """The value the live inputs carried for `component`."""
        return self.values[id(component)]


@dataclass
class Tab:
    """What a tab module's build(ctx) hands the shell."""
    outputs: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    render: Callable[[Live], list] | None = None
    wire: Callable[[], None] | None = None
    load_outputs: list = field(default_factory=list)
    load: Callable[[], list] | None = None
    key: str = ""            # set by the shell: the tab's module name (its gr.Tab id)
    component: Any = None    # set by the shell: the gr.Tab, whose select renders the tab when its data changed
