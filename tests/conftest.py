import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).parent))
ROOT = Path(__file__).resolve().parent.parent
TASKS = ROOT / "assets" / "tasks"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Runs go to a temporary folder; the prepared models stay in the shared SYNTHRL_HOME."""
    d = tmp_path / "runs"
    monkeypatch.setenv("SYNTHRL_RUNS", str(d))
    return d


@pytest.fixture
def store(runs_dir):
    from synthrl.store import RunStore

    s = RunStore.open("t")
    yield s
    s.close()
