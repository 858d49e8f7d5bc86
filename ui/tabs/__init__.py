"""The workbench's tabs: one module per tab, each owning its components, wiring, render and live outputs.

Each module has `build(ctx) -> Tab` (see ui/tabs/base.py); ui/app.py builds them in TAB_MODULES order.

    from ui.tabs import TAB_MODULES
"""
from __future__ import annotations

import os

# As in ui/app.py: offline and quiet before Gradio is first imported, also when a tab module is imported alone.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TAB_MODULES = ("task", "knowledge", "generate", "review", "difficulty", "map", "select", "train", "evaluate", "runs")
