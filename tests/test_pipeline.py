"""The run config (profiles, YAML round trip, precise errors, overrides) and the pipeline:
killed with SIGKILL mid-way and run again, it finishes without redoing or duplicating work."""
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loopback_server import LoopbackServer
from synthrl.config import ConfigError, RunConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "assets" / "tasks" / "demo_addition.yaml"


# -- config ---------------------------------------------------------------------------------------
def test_profiles_hold_the_papers_numbers_and_a_tiny_cpu_run():
    paper = RunConfig.from_profile("paper")
    assert (paper.generate.n, paper.verify.votes, paper.measure.rollouts, paper.measure.temperature,
            paper.select.m) == (500, 16, 64, 0.7, 500)
    tiny = RunConfig.from_profile("tiny")
    assert tiny.generate.n <= 8 and tiny.measure.rollouts <= 8 and tiny.adapt.rounds == 1 and tiny.select.m <= 10
    assert tiny.teacher.is_bundled and tiny.student.is_bundled


def test_yaml_round_trip_and_overrides(tmp_path):
    cfg = RunConfig.from_profile("tiny").with_overrides(["measure.rollouts=6", "select.rule=band",
                                                         "select.lo=0.1", "train=null"])
    path = cfg.save(tmp_path / "run.yaml")
    back = RunConfig.from_yaml(path)
    assert back.to_dict() == cfg.to_dict()
    assert back.measure.rollouts == 6 and back.select.rule == "band" and back.train is None
    # a partial file starts from its profile
    (tmp_path / "part.yaml").write_text("profile: tiny\nmeasure: {rollouts: 2}\n")
    part = load_config(tmp_path / "part.yaml")
    assert part.measure.rollouts == 2 and part.generate.n == RunConfig.from_profile("tiny").generate.n


def test_config_errors_name_file_section_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("measure: {rollouts: lots, rollout: 3}\nselekt: {}\n")
    with pytest.raises(ConfigError) as e:
        RunConfig.from_yaml(bad)
    assert "selekt': unknown section" in str(e.value)
    bad.write_text("measure: {rollouts: lots, rollout: 3}\n")
    with pytest.raises(ConfigError) as e:
        RunConfig.from_yaml(bad)
    msg = str(e.value)
    assert f"{bad}: measure.rollout: unknown key" in msg and "measure.rollouts: expected an integer" in msg
    bad.write_text("select: {rule: best}\n")
    with pytest.raises(ConfigError, match="select.rule: must be one of"):
        RunConfig.from_yaml(bad)
    with pytest.raises(ConfigError, match="section.key=value"):
        RunConfig.from_profile("tiny").with_overrides(["rollouts=3"])


def test_stored_config_holds_no_secret(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-value")
    cfg = RunConfig.from_profile("tiny").with_overrides(
        {"teacher": {"backend": "openai", "model": "gpt", "base_url": "http://127.0.0.1:1/v1",
                     "api_key_env": "MY_KEY"}})
    text = json.dumps(cfg.to_dict())
    assert "MY_KEY" in text and "sk-secret-value" not in text


# -- the pipeline, killed and resumed ------------------------------------------------------------
def _responder():
    counter = itertools.count(10)
    lock = threading.Lock()

    def reply(body):
        text = body["messages"][-1]["content"]
        if '"pattern"' in text:
            return json.dumps({"pattern": "A shop adds two counts of one item."})
        if '"domain"' in text:
            return json.dumps({"domain": "shop", "synonyms": ["store", "ledger"]})
        if "Reply with JSON only" in text:
            with lock:
                a = next(counter)
            if "[input]" in text:  # a rewrite: harder adds a third number, easier drops to one digit
                nums = [int(x) for x in re.findall(r"\d+", text.split("[input]", 1)[1].split("[output]")[0])]
                new = nums + [a] if "HARDER" in text else [nums[0] % 10, 1]
            else:
                new = [a, a + 1]
            q = "A shop counted " + " and ".join(map(str, new)) + " apples. How many apples in total?"
            return json.dumps({"input": q, "output": str(sum(new))})
        # an answer (teacher vote or student attempt): right for two numbers, often wrong for three
        nums = [int(x) for x in re.findall(r"\d+", text.split("\n")[0])]
        with lock:
            k = next(counter)
        wrong = len(nums) > 2 and k % 3 != 0
        return str(sum(nums) + (1 if wrong else 0))
    return reply


def _config(tmp_path, url):
    spec = {"backend": "openai", "model": "loopback", "base_url": url, "max_concurrency": 4, "max_retries": 1}
    cfg = RunConfig.from_profile("tiny").with_overrides({
        "teacher": spec, "student": spec, "train": None, "evaluate": None,
        "generate": {"n": 8, "dedup_threshold": None, "concurrency": 4},
        "verify": {"votes": 2, "concurrency": 4}, "measure": {"rollouts": 4, "batch_size": 8},
        "select": {"m": 6},
    })
    return cfg.save(tmp_path / "loopback.yaml")


def _counts(db):
    con = sqlite3.connect(db, timeout=30)
    try:
        q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "generated": q("SELECT count(*) FROM samples WHERE round=0"),
            "children": q("SELECT count(*) FROM samples WHERE round=1"),
            "attempts": q("SELECT count(*) FROM attempts"),
            "pass_rates": q("SELECT count(*) FROM pass_rates"),
            "selections": q("SELECT count(*) FROM selections"),
            "dup_children": q("SELECT count(*) FROM (SELECT parent_id FROM samples WHERE round=1"
                              " GROUP BY parent_id HAVING count(*) > 1)"),
            "dup_attempts": q("SELECT count(*) FROM (SELECT sample_id, kind, count(*) AS c FROM attempts"
                              " GROUP BY sample_id, model_version, kind HAVING (kind='greedy' AND c > 1)"
                              " OR (kind='sample' AND c > 4))"),
        }
    finally:
        con.close()


def test_pipeline_killed_midway_resumes_without_duplicating(tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "SYNTHRL_RUNS": str(runs), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    with LoopbackServer(_responder(), delay=0.05) as srv:
        cmd = [sys.executable, "-m", "synthrl.cli", "run", "--task", str(TASK), "--run", "resume",
               "--config", str(_config(tmp_path, srv.url))]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        db = runs / "resume" / "run.db"
        deadline = time.time() + 120
        # kill it once it is measuring: samples generated, some attempts stored, more work left
        while time.time() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    if _counts(db)["attempts"] > 0:
                        break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate()[0].decode()
        assert proc.returncode == -signal.SIGKILL, f"the run finished before it could be killed:\n{out}"
        killed = _counts(db)
        assert killed["generated"] >= 8 and killed["selections"] == 0

        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        after = _counts(db)
        assert after["generated"] == killed["generated"]  # generation was not redone
        assert after["children"] > 0 and after["selections"] == 1
        assert after["dup_children"] == 0 and after["dup_attempts"] == 0
        assert "select: stored selection" in done.stdout

        # a third run has nothing left to do
        requests = len(srv.chat_requests)
        again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _counts(db) == after and len(srv.chat_requests) == requests


def test_cli_select_and_export(runs_dir, capsys):
    from synthrl.cli import main
    from synthrl.records import PassRate, Sample
    from synthrl.store import RunStore
    from synthrl.task import load_task

    store = RunStore.open("clirun")
    store.save_task(load_task(TASK))
    for i, k in enumerate([0, 1, 3, 4]):
        sid = store.add_sample(Sample(None, f"What is {i} + 1?", str(i + 1), str(i + 1), status="verified",
                                      agreement=1.0))
        store.set_pass_rate(PassRate(sid, "v1", 4, k, k > 0))
    assert main(["select", "clirun", "--rule", "band", "--lo", "0.2", "--hi", "0.8", "--m", "5"]) == 0
    assert "selection 1: 2 samples" in capsys.readouterr().out
    out = runs_dir / "x.jsonl"
    assert main(["export", "clirun", "--format", "jsonl", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["pass_rate"] for r in rows] == [0.25, 0.75]
    # user errors are one clear line, not a traceback
    assert main(["select", "clirun", "--rule", "band", "--lo", "0.9", "--hi", "0.1"]) == 1
    assert "must not exceed" in capsys.readouterr().err
    assert main(["export", "nosuchrun", "--format", "hf"]) == 1
    assert "no run store" in capsys.readouterr().err


def test_cli_measure_with_a_served_student_and_print_config(runs_dir, capsys):
    from synthrl.cli import main
    from synthrl.records import Sample
    from synthrl.store import RunStore
    from synthrl.task import load_task

    store = RunStore.open("climeasure")
    store.save_task(load_task(TASK))
    ids = [store.add_sample(Sample(None, f"What is {a} + 2?", str(a + 2), str(a + 2), status="verified"))
           for a in (1, 5)]
    with LoopbackServer(_responder()) as srv:
        args = ["measure", "climeasure", "--rollouts", "3", "--student-url", srv.url, "--student-model", "loopback"]
        assert main(args) == 0
        assert main(args + ["--samples", str(ids[0])]) == 0  # re-measure one: replaces, no duplicates
    out = capsys.readouterr().out
    assert "2 measured" in out and "1 measured" in out
    rates = store.pass_rates()
    assert all(rates[i].n == 3 and rates[i].n_correct == 3 for i in ids)
    assert len(store.attempts(ids[0])) == 4
    assert main(["measure", "climeasure", "--samples", "1,x"]) == 1
    assert "--samples" in capsys.readouterr().err
    assert main(["run", "--run", "climeasure", "--profile", "paper", "--print-config",
                 "--set", "measure.rollouts=32"]) == 0
    printed = capsys.readouterr().out
    assert "rollouts: 32" in printed and "n: 500" in printed


def test_cli_adapt_with_served_models(runs_dir, capsys):
    from synthrl.cli import main
    from synthrl.records import Sample
    from synthrl.store import RunStore
    from synthrl.task import load_task

    store = RunStore.open("cliadapt")
    store.save_task(load_task(TASK))
    for a in (3, 4):
        store.add_sample(Sample(None, f"A shop counted {a} and {a + 10} apples. How many apples in total?",
                                str(2 * a + 10), str(2 * a + 10), status="verified", agreement=1.0))
    with LoopbackServer(_responder()) as srv:
        flags = ["--teacher-url", srv.url, "--teacher-model", "loopback",
                 "--student-url", srv.url, "--student-model", "loopback"]
        assert main(["adapt", "cliadapt", "--rounds", "1", "--votes", "2", "--rollouts", "3", *flags]) == 0
    assert "round 1: 2 harder, 0 easier" in capsys.readouterr().out
    kids = store.samples(round=1)
    assert len(kids) == 2 and all(k.origin == "harder" and k.status == "verified" for k in kids)
    assert all(store.pass_rates()[k.id].n == 3 for k in kids)


@pytest.mark.slow
def test_tiny_profile_with_the_bundled_models_killed_and_resumed(tmp_path):
    """The real thing on a CPU: bundled teacher and student, the demo corpus, SIGKILL mid-generation."""
    runs = tmp_path / "runs"
    env = {**os.environ, "SYNTHRL_RUNS": str(runs), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "synthrl.cli", "run", "--task", str(TASK), "--run", "tiny", "--profile", "tiny",
           "--docs", str(ROOT / "assets" / "corpus" / "demo_addition"), "--until", "select"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = runs / "tiny" / "run.db"
    deadline = time.time() + 1200
    while time.time() < deadline and proc.poll() is None:
        try:
            if db.exists() and _counts(db)["generated"] >= 2:
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = _counts(db)
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "note: The bundled teacher" in done.stdout
    after = _counts(db)
    assert after["generated"] >= killed["generated"] and after["selections"] == 1
    assert after["dup_children"] == 0 and after["dup_attempts"] == 0


def test_a_different_selection_trains_a_new_model_and_is_evaluated_on_its_own(runs_dir, tmp_path, monkeypatch):
    """Re-running with another selection (--set select.m=...) must not reuse the old checkpoints/final."""
    import synthrl.stages.evaluate as evaluate_mod
    import synthrl.stages.train as train_mod
    from synthrl import pipeline
    from synthrl.records import PassRate, Sample
    from synthrl.store import RunStore
    from synthrl.task import load_task

    store = RunStore.open("keyed")
    task = load_task(TASK)
    store.save_task(task)
    for i in range(4):
        sid = store.add_sample(Sample(None, f"What is {i} + 1?", str(i + 1), str(i + 1), status="verified"))
        store.set_pass_rate(PassRate(sid, "v", 4, i, True))
    bench = tmp_path / "bench.jsonl"
    bench.write_text('{"question": "What is 1 + 1?", "answer": "2"}\n')
    trained_on, evaluated = [], []

    def fake_train(st, config, resume=False, selection_id=None, **kw):
        final = train_mod.checkpoints_dir(st, selection_id) / "final"
        final.mkdir(parents=True)
        st.add_trained_model(str(final), selection_id)
        trained_on.append(selection_id)
        return train_mod.TrainReport("grpo", 1, 1, final_model=str(final), selection_id=selection_id)

    def fake_evaluate(st, task, model, bench_path, config=None):
        evaluated.append(model)
        sel = None if model == "base" else st.model_selection(model)
        return st.add_evaluation(model, str(Path(bench_path).resolve()), [{"correct": True}], (0, 1),
                                 selection_id=sel)

    monkeypatch.setattr(train_mod, "train", fake_train)
    monkeypatch.setattr(evaluate_mod, "evaluate", fake_evaluate)
    base = RunConfig.from_profile("tiny").with_overrides({"benchmark": str(bench)})

    def run(m):
        cfg = base.with_overrides([f"select.m={m}"])
        return pipeline.run_pipeline("keyed", config=cfg, stages=["select", "train", "evaluate"], progress=None)

    first = run(4)
    run(4)  # the same selection again: nothing new is trained or evaluated
    assert trained_on == [first.selection_id] and evaluated == ["base", store.trained_model(first.selection_id)]
    second = run(2)
    assert second.selection_id != first.selection_id
    assert trained_on == [first.selection_id, second.selection_id]
    new_model = store.trained_model(second.selection_id)
    assert new_model != store.trained_model(first.selection_id) and f"selection-{second.selection_id}" in new_model
    # the new model is evaluated under its own selection; base is not evaluated again
    assert evaluated[-1] == new_model and evaluated.count("base") == 1
    keys = {(e["model"], e["selection_id"]) for e in store.evaluations()}
    assert (new_model, second.selection_id) in keys and ("base", None) in keys
