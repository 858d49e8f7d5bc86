"""Which student prompt and GRPO settings make the bundled student learn the demo task? (figures, no assertions)

Takes the verified samples of a demo run (`--pool RUN_DIR`, e.g. the folder bench/demo.py wrote), and for each
setting trains the bundled student on all of them with GRPO (the demo profile's settings, overridden per
setting), then evaluates the base and the checkpoints on the held-out benchmark (greedy, 240 items). The
settings run as parallel processes: meant for a GPU (about 2 minutes for seven settings on one H100); on 2 CPU
cores one setting of 20 steps takes about as long as the demo's training.

    .venv/bin/python bench/demo_sweep.py --pool /tmp/demo-run [--steps 20] [--save 5] [--only NAME,...]

Settings: `shots` (task.fewshot: demos before each question), `format` (the task's output format: "task" as in
the task file, "example" with example numbers, "number" for just the number), and TrainConfig fields.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FORMATS = {
    "number": "Answer with just the number.",
    "example": "Write the addition and its result, for example: 23 + 41 = 64",
}
SETTINGS = {
    "s1-r16-lr1e-5": dict(shots=1, learning_rate=1e-5, per_device_batch=16, num_generations=8),
    "s1-r16-lr2e-5": dict(shots=1, learning_rate=2e-5, per_device_batch=16, num_generations=8),
    "s1-r8x1-lr2e-5": dict(shots=1, learning_rate=2e-5, per_device_batch=8, num_generations=8),
    "s1-r8x2-lr2e-5": dict(shots=1, learning_rate=2e-5, per_device_batch=8, num_generations=4),
    "s0-r16-lr2e-5": dict(shots=0, learning_rate=2e-5, per_device_batch=16, num_generations=8),
    "s3-r16-lr1e-5": dict(shots=3, learning_rate=1e-5, per_device_batch=16, num_generations=8),
    "s2-r16-lr2e-5": dict(shots=2, learning_rate=2e-5, per_device_batch=16, num_generations=8),
    "s0-r16-lr2e-5-seed1": dict(shots=0, learning_rate=2e-5, seed=1),
    "s0-r16-lr2e-5-seed2": dict(shots=0, learning_rate=2e-5, seed=2),
    "s0-r16-lr3e-5": dict(shots=0, learning_rate=3e-5),
    "s1-r8x2-lr2e-5-seed1": dict(shots=1, learning_rate=2e-5, per_device_batch=8, num_generations=4, seed=1),
    "s1-r8x2-lr2e-5-seed2": dict(shots=1, learning_rate=2e-5, per_device_batch=8, num_generations=4, seed=2),
    "s1-r8x2-lr3e-5": dict(shots=1, learning_rate=3e-5, per_device_batch=8, num_generations=4),
    "example-s3-r16-lr5e-6-kl": dict(format="example", shots=3, learning_rate=5e-6, beta=0.001),
    "example-s3-r16-lr1e-5": dict(format="example", shots=3, learning_rate=1e-5),
}
BENCH = ROOT / "assets" / "benchmarks" / "demo_addition_heldout.jsonl"


def run_one(name: str, pool: Path, steps: int, save: int, work: Path) -> dict:
    from synthrl.records import Sample
    from synthrl.stages import train as T
    from synthrl.stages.evaluate import EvalConfig, evaluate
    from synthrl.store import RunStore
    from synthrl.task import load_task

    s = dict(SETTINGS[name])
    task = load_task(ROOT / "assets" / "tasks" / "demo_addition.yaml")
    fmt = s.pop("format", "task")
    task = task.replace(output_format=FORMATS.get(fmt, task.output_format), fewshot=s.pop("shots", 0))
    store = RunStore.open(work / name)
    store.save_task(task)
    src = RunStore(pool / "run.db", create=False)
    ids = [store.add_sample(Sample(None, r["question"], r["reference"], r["reference"], status="verified"))
           for r in src.query("SELECT question, reference FROM samples WHERE status IN ('verified', 'accepted')"
                              " ORDER BY id")]
    store.add_selection("sweep", {"rule": "all"}, ids)
    cfg = T.TrainConfig.profile("demo", model="bundled", max_steps=steps, save_steps=save, eval_every=0,
                                heldout_fraction=0.0, **{"beta": 0.0, **s})
    t = time.time()
    rep = T.train(store, cfg)
    out = {"setting": name, "samples": len(ids), "train_s": round(time.time() - t, 1), "steps": rep.steps}
    ec = EvalConfig(max_tokens=16, batch_size=64)
    out["base"] = sum(r["correct"] for r in store.eval_items(evaluate(store, task, "bundled", BENCH, ec)))
    ckpts = sorted(Path(rep.final_model).parent.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    for p in ckpts + [Path(rep.final_model)]:
        out[p.name] = sum(r["correct"] for r in store.eval_items(evaluate(store, task, str(p), BENCH, ec)))
    rewards = [m["value"] for m in store.metrics("train/reward")]
    out["mean_reward_per_5_steps"] = [round(sum(rewards[i:i + 5]) / len(rewards[i:i + 5]), 3)
                                      for i in range(0, len(rewards), 5)]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", required=True, type=Path, help="a demo run's folder: its verified samples are trained on")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--save", type=int, default=5, help="checkpoint (and evaluate) every N steps; the last 3 are kept")
    ap.add_argument("--only", default="", help="comma-separated setting names (default: all)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the settings' runs (default: a temporary one)")
    ap.add_argument("--_one", dest="one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="synthrl-demo-sweep-"))
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, args.pool, args.steps, args.save, work)), flush=True)
        return 0
    names = [n for n in args.only.split(",") if n] or list(SETTINGS)
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        ap.error(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
    work.mkdir(parents=True, exist_ok=True)
    procs = {n: subprocess.Popen([sys.executable, __file__, "--pool", str(args.pool), "--steps", str(args.steps),
                                  "--save", str(args.save), "--work", str(work), "--_one", n],
                                 stdout=open(work / f"{n}.log", "w"), stderr=subprocess.STDOUT) for n in names}
    print(f"held-out greedy accuracy on {BENCH.name} (of 240), base and after N GRPO steps:")
    for n, p in procs.items():
        p.wait()
        lines = [line for line in open(work / f"{n}.log") if line.startswith("RESULT ")]
        print(lines[-1][7:].strip() if lines else f"{n}: failed (exit {p.returncode}); log: {work / (n + '.log')}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
