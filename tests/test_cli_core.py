"""`synthrl validate | grade | runs | status | prepare` as a user runs them."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, TASKS
from synthrl.cli import main
from synthrl.records import Sample
from synthrl.store import RunStore


def synthrl(*args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "synthrl.cli", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)


def test_validate_bundled_tasks_ok():
    files = sorted(str(p) for p in TASKS.glob("*.yaml"))
    r = synthrl("validate", *files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [f"{f}: ok" for f in files]


def test_validate_reports_every_problem_and_fails(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text((TASKS / "demo_addition.yaml").read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: ''\ninput_format: q\noutput_format: a\nanswer: {type: colour}\nx: 1\n")
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{good}: ok" in out
    bad_lines = [line for line in out if line.startswith(str(bad))]
    assert any("'description'" in line and "empty" in line for line in bad_lines)
    assert any("'answer.type'" in line for line in bad_lines)
    assert any("'x'" in line and "unknown key" in line for line in bad_lines)
    assert f"{bad}: ok" not in out


def test_validate_a_folder(capsys):
    assert main(["validate", str(TASKS)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(list(TASKS.glob("*.yaml")))


def test_grade_stream_contract():
    lines = [
        {"completion": "23 + 41 = 64\n#### 64", "reference": "64"},
        "this is not json",
        {"completion": "The answer is 63.", "reference": "23 + 41 = 64\n#### 64"},
        {"completion": "#### 1,000", "reference": "$1000"},
        {"reference": "5"},
        {"completion": ["#### 5"], "reference": "5"},
        "",
        {"completion": "so the answer is 12", "reference": "12"},  # a stated answer (prose alone is not read)
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    r = synthrl("grade", "--task", str(TASKS / "gsm8k.yaml"), stdin=stdin)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(out) == 7  # the blank line is not an input
    assert out[0] == {"correct": True, "extracted": "64"}
    assert "error" in out[1] and "JSON" in out[1]["error"]
    assert out[2] == {"correct": False, "extracted": "63"}
    assert out[3] == {"correct": True, "extracted": "1000"}
    assert "error" in out[4] and "completion" in out[4]["error"]
    assert "error" in out[5] and "string" in out[5]["error"]
    assert out[6] == {"correct": True, "extracted": "12"}

    strict = synthrl("grade", "--strict", "--task", str(TASKS / "gsm8k.yaml"), stdin=stdin)
    last = json.loads(strict.stdout.splitlines()[-1])
    assert last == {"correct": False, "extracted": None}  # no '####': strict reads nothing


def test_grade_with_a_broken_task_file_fails_clearly(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("name: [\n")
    r = synthrl("grade", "--task", str(bad), stdin="{}\n")
    assert r.returncode == 1
    assert "not valid YAML" in r.stderr and "Traceback" not in r.stderr


def test_runs_and_status(runs_dir, capsys):
    assert main(["runs"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    s = RunStore.open("demo")
    s.add_sample(Sample(None, "q1", status="verified"))
    s.add_sample(Sample(None, "q2", status="dropped"))
    s.close()

    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["run"], r["samples"]) for r in runs] == [("demo", 2)]

    assert main(["status", "demo", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["samples_by_status"] == {"verified": 1, "dropped": 1}

    assert main(["status", "demo"]) == 0
    table = capsys.readouterr().out
    assert "samples" in table and "verified 1" in table and "dropped 1" in table


def test_status_of_a_missing_run(runs_dir, capsys):
    assert main(["status", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no run 'nope'" in err
    assert not (runs_dir / "nope").exists()  # asking does not create it
    assert main(["status", "../../etc"]) == 1


def test_status_missing_run_subprocess_is_one_clear_line(runs_dir):
    r = synthrl("status", "nope", env={**os.environ, "SYNTHRL_RUNS": str(runs_dir)})
    assert r.returncode == 1
    assert r.stderr.strip().startswith("synthrl status: error: no run 'nope'") and "Traceback" not in r.stderr


def test_prepare_is_a_fast_no_op_when_prepared(capsys):
    # The models are prepared once per machine (make test does it first); here they already are.
    from synthrl.models import bundled_model_dir

    if not (bundled_model_dir() / "config.json").exists():
        pytest.skip("bundled model not prepared on this machine")
    assert main(["prepare"]) == 0
    out = capsys.readouterr().out
    assert "already prepared" in out and "embedding model" in out
