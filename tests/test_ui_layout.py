"""The workbench's house rules, checked: ui/ holds layout, wiring and views only.

SQL lives in the store (synthrl/store.py), and every ui/ module stays small enough to read
in one sitting (one module per tab), so a file over 400 lines, or a query in ui/ or anywhere in
synthrl/ outside the store, fails here.

    .venv/bin/python -m pytest tests/test_ui_layout.py
"""
import re
from pathlib import Path

UI = Path(__file__).resolve().parent.parent / "ui"
MAX_LINES = 400
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE) ")


def _ui_files() -> list[Path]:
    files = sorted(UI.rglob("*.py"))
    assert files, f"no Python files under {UI}"
    return files


def test_no_ui_file_is_over_400_lines():
    long = {str(p.relative_to(UI)): n for p in _ui_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these ui/ files (one module per tab, views next to their tab): {long}"


def test_no_sql_outside_the_store():
    lib = [p for p in sorted((UI.parent / "synthrl").rglob("*.py")) if p.name != "store.py"]
    hits = [f"{p.relative_to(UI.parent)}:{i}: {line.strip()}" for p in [*_ui_files(), *lib]
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if SQL.search(line)]
    assert not hits, "move these queries into RunStore methods (synthrl/store.py):\n" + "\n".join(hits)


def test_every_listed_tab_has_a_module():
    from ui.tabs import TAB_MODULES

    assert {p.stem for p in (UI / "tabs").glob("*.py")} >= set(TAB_MODULES)
