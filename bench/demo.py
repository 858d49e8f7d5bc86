"""The demo profile end to end on this machine: does the bundled student learn, and how fast?

Runs `synthrl run --profile demo` (generate, verify, measure, select, GRPO, evaluate) into a
fresh run folder and prints the figures docs/results.md reports: label accuracy against the
demo's known answers (an oracle used only for reporting), base vs trained greedy accuracy on
the held-out benchmark with 95% intervals, and the wall time of each stage and of the whole.

    .venv/bin/python bench/demo.py [--run-dir /tmp/demo-run] [--set train.max_steps=40 ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
# bench/ itself off the path: a bench script named vllm.py would shadow the vllm package (TRL then fails to import)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from synthrl.config import RunConfig  # noqa: E402
from synthrl.pipeline import run_pipeline  # noqa: E402
from synthrl.stages.demo_questions import label_accuracy  # noqa: E402
from synthrl.store import RunStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default=None, help="run folder (default: a fresh temporary one)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    args = ap.parse_args()
    folder = Path(args.run_dir or tempfile.mkdtemp(prefix="synthrl-demo-"))
    cfg = RunConfig.from_profile("demo").with_overrides(args.set)
    t0 = time.time()
    run_pipeline(folder, task_path=ROOT / "assets" / "tasks" / "demo_addition.yaml",
                 docs=[ROOT / "assets" / "corpus" / "demo_addition"], config=cfg, profile="demo",
                 progress=lambda m: print(f"[{time.time() - t0:6.0f}s] {m}", flush=True))
    wall = time.time() - t0
    store = RunStore(folder / "run.db")
    acc = label_accuracy(store)
    print(f"\nrun folder: {folder}")
    print(f"label accuracy (oracle): {acc['right']}/{acc['total']} kept labels right; {acc['dropped']} dropped")
    for ev in store.evaluations():
        print(f"{'base' if ev['model'] == 'base' else 'trained'}: {ev['n_correct']}/{ev['n']} = "
              f"{100 * ev['accuracy']:.1f}% (95% CI {100 * ev['ci_low']:.1f}-{100 * ev['ci_high']:.1f})")
    for ev in store.events("pipeline", limit=50):
        if ev.message.startswith("stage ") and "finished" in ev.message:
            print(f"  {ev.message}")
    print(f"wall time: {wall:.0f}s on {os.cpu_count()} CPU cores")


if __name__ == "__main__":
    main()
