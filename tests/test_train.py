"""RL training (stage 6): GRPO and PPO on a tiny Llama, metrics in the store, stop/resume, bad settings."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from train_helpers import ADDITION, add_selection, tiny_model  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def _text(c) -> str:
    return c if isinstance(c, str) else "".join(m["content"] for m in c)


class ParityReward:
    """A stand-in reward that varies between rollouts (so updates are non-zero) and records what it saw."""

    __name__ = "parity"

    def __init__(self, on_call=None):
        self.calls: list[dict] = []
        self.on_call = on_call

    def __call__(self, completions, answer, **kw):
        self.calls.append({"completions": [_text(c) for c in completions], "answer": list(answer), "kw": set(kw)})
        if self.on_call:
            self.on_call(len(self.calls))
        return [float(len(_text(c)) % 2) for c in completions]


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


def _steps(store, key):
    return [r["step"] for r in store.metrics(key) if r["key"] == key]


def test_reward_scores_the_completion_only(tiny_model):
    """A prompt that contains the right answer earns nothing; only the completion counts (GRPO and PPO paths)."""
    import torch
    from transformers import AutoTokenizer
    from trl.experimental.utils import get_reward

    from synthrl.prompts import student_messages
    from synthrl.stages.rewards import RewardRecorder, checker_reward_model
    from synthrl.stages.train import _ppo_pad_token

    question = "What is 20 + 22? (Hint: the answer is 42.)"
    prompt = student_messages(ADDITION, question)
    rec = RewardRecorder(ADDITION)  # the real checker (scoring.make_reward)
    # GRPO: TRL calls the reward with prompts, completions and the dataset columns
    got = rec(prompts=[prompt, prompt], completions=[[{"role": "assistant", "content": "I am not sure."}],
                                                     [{"role": "assistant", "content": "42"}]],
              answer=["42", "42"], completion_ids=[[1, 2], [3]])
    assert got == [0.0, 1.0]

    # PPO: TRL's get_reward on prompt+response token ids, through our checker reward model
    tok = AutoTokenizer.from_pretrained(tiny_model)
    _ppo_pad_token(tok)
    q = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)
    q = list(q["input_ids"] if hasattr(q, "keys") else q)
    model = checker_reward_model(tok, {tuple(q): ("42", question)}, RewardRecorder(ADDITION))
    rows = []
    for answer in ("I am not sure.", "42"):
        r = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        rows.append(r)
    width = max(len(r) for r in rows) + 2
    batch = torch.tensor([[tok.pad_token_id] + q + r + [tok.pad_token_id] * (width - len(r)) for r in rows])
    _, scores, _ = get_reward(model, batch, tok.pad_token_id, len(q) + 1)
    assert scores.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_training_fills_the_store_stops_on_sigterm_and_resumes(store, tiny_model, algo):
    """A few steps on a tiny model: SIGTERM mid-run saves checkpoint-2; --resume finishes steps 3-4."""
    from synthrl.stages.train import TrainConfig, latest_checkpoint, train

    add_selection(store, n=6)
    cfg = TrainConfig.profile("tiny", algo=algo, model=str(tiny_model), max_steps=4, save_steps=100, eval_every=2,
                              per_device_batch=4, max_completion_length=8)

    # the UI's Stop sends SIGTERM; here it arrives while step 2 is generating
    def stop_at_second_call(n):
        if n == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    reward = ParityReward(on_call=stop_at_second_call)
    report = train(store, cfg, reward_fn=reward)
    assert report.stopped and report.steps == 2 and report.final_model is None
    ck = store.dir / "checkpoints" / f"selection-{store.latest_selection()['id']}"
    assert latest_checkpoint(ck) == ck / "checkpoint-2"
    assert store.progress("train")["state"] == "stopped"
    assert report.train_samples + report.heldout_samples == 6 and report.heldout_samples >= 1
    # a later kill in the middle of saving leaves an incomplete folder: resume must skip it
    (ck / "checkpoint-3").mkdir()
    (ck / "checkpoint-3" / "config.json").write_text("{}")

    report = train(store, cfg, resume=True, reward_fn=reward)
    assert report.resumed_from == str(ck / "checkpoint-2")
    assert report.steps == 4 and not report.stopped

    # the final model is a loadable folder with its tokenizer, recorded as the run's latest model
    final = Path(report.final_model)
    assert final == ck / "final"
    assert (final / "model.safetensors").exists() and (final / "tokenizer.json").exists()
    assert store.get_config("latest_model") == str(final)
    before, after = _weights(tiny_model), _weights(final)
    changed = [k for k in before if k in after and not (before[k] == after[k]).all()]
    assert changed, "training did not change any weight"
    # exactly one value per step for the headline metrics, across the stop and the resume
    for key in ("train/reward", "train/kl", "train/loss", "train/completion_length", "train/reward_std"):
        assert _steps(store, key) == [1, 2, 3, 4], key
    acc = store.metrics("train/heldout_accuracy")
    assert [r["step"] for r in acc] == [2, 4] and all(0.0 <= r["value"] <= 1.0 for r in acc)
    assert store.progress("train")["state"] == "done" and store.progress("train")["done"] == 4
    rollouts = store.rollouts(limit=50)
    assert rollouts and {r["step"] for r in rollouts} == {1, 2, 3, 4}
    questions = {s.question for s in store.selection_samples()}
    assert all(r["prompt"] in questions for r in rollouts)
    # the reward saw completions and references only: no prompt, no question text
    assert len(reward.calls) >= 4
    for call in reward.calls:
        assert call["kw"] == set()
        assert not any("What is" in c for c in call["completions"])


def test_latest_checkpoint_is_chosen_by_step_number(tmp_path):
    from synthrl.stages.train import latest_checkpoint

    for n in (2, 9, 10, 11):
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        if n != 11:  # 11 was killed while saving (trainer_state.json is written last)
            (d / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-final-ish").mkdir()
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    assert latest_checkpoint(tmp_path / "missing") is None


def test_bad_settings_fail_fast_with_a_clear_message(store, runs_dir, tiny_model, capsys):
    import importlib.util

    from synthrl.cli import main
    from synthrl.stages.train import TrainConfig, TrainError, train

    with pytest.raises(TrainError, match="algo must be one of grpo, ppo"):
        TrainConfig(algo="dpo")
    with pytest.raises(TrainError, match=r"divisible by num_generations \(4\)"):
        TrainConfig(per_device_batch=6, num_generations=4)
    with pytest.raises(TrainError, match="unknown training profile"):
        TrainConfig.profile("huge")
    # no selection yet: refused before any model is loaded
    store.save_task(ADDITION)
    with pytest.raises(TrainError, match="no selected samples"):
        train(store, TrainConfig.profile("tiny", model=str(tiny_model)))
    add_selection(store, n=3)
    with pytest.raises(TrainError, match="does not load"):
        train(store, TrainConfig.profile("tiny", model=str(tiny_model.parent / "nope")))
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(TrainError, match="vllm is not installed"):
            train(store, TrainConfig.profile("tiny", model=str(tiny_model), use_vllm=True))
    with pytest.raises(TrainError, match="one training step takes 4 prompts"):
        train(store, TrainConfig.profile("tiny", model=str(tiny_model), per_device_batch=16))
    with pytest.raises(TrainError, match="max_prompt_length"):
        train(store, TrainConfig.profile("tiny", model=str(tiny_model), max_prompt_length=5))
    assert not (store.dir / "checkpoints").exists() or not any((store.dir / "checkpoints").iterdir())
    # the CLI prints the same message as one line and exits 1
    assert main(["train", "t", "--profile", "tiny", "--model", str(tiny_model), "--algo", "grpo",
                 "--config", str(_yaml(runs_dir / "bad.yaml", "per_device_batch: 6\n"))]) == 1
    err = capsys.readouterr().err
    assert "synthrl train: error:" in err and "divisible by num_generations" in err
    assert main(["train", "t", "--config", str(_yaml(runs_dir / "bad2.yaml", "learnin_rate: 1\n"))]) == 1
    assert "unknown training setting(s) learnin_rate" in capsys.readouterr().err


def _yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cli_train_runs_and_reports(store, runs_dir, tiny_model, capsys):
    from synthrl.cli import main

    add_selection(store, n=4)
    cfg = _yaml(runs_dir / "train.yaml", f"model: {tiny_model}\nmax_steps: 1\nheldout_fraction: 0.0\n")
    assert main(["train", "t", "--profile", "tiny", "--config", str(cfg), "--lora"]) == 0
    out = capsys.readouterr().out
    assert "grpo finished at step 1/1" in out
    final = store.dir / "checkpoints" / "selection-1" / "final"
    assert str(final) in out and "on selection 1" in out
    # LoRA adapters are merged: the final folder is a plain model that transformers loads
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(final) is not None
    assert not (final / "adapter_config.json").exists()
    # training again from scratch keeps the first training's checkpoints and metrics, apart
    assert main(["train", "t", "--profile", "tiny", "--config", str(cfg)]) == 0
    previous = list((store.dir / "checkpoints" / "selection-1").glob("previous-*/final/model.safetensors"))
    assert len(previous) == 1 and (final / "model.safetensors").exists()
    assert [r["step"] for r in store.metrics("train/reward", tag="") if r["key"] == "train/reward"] == [1]
    assert len([r for r in store.metrics("train/reward") if r["key"] == "train/reward"]) == 2


def test_cli_subprocess_stops_on_sigterm_and_resumes_with_its_settings(store, runs_dir, tiny_model, capsys):
    """What the UI does: launch `synthrl train`, press Stop (SIGTERM), later --resume."""
    import time

    from synthrl.cli import main

    add_selection(store, n=6)
    cfg = _yaml(runs_dir / "train.yaml", f"model: {tiny_model}\nmax_steps: 200\nsave_steps: 1000\n"
                                         "max_completion_length: 4\nper_device_batch: 4\n")
    env = {**os.environ, "SYNTHRL_RUNS": str(runs_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "synthrl.cli", "train", "t", "--profile", "tiny", "--config",
                             str(cfg)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            p = store.progress("train")
            if p and p["done"] >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "stopped (checkpoint saved; continue with --resume)" in out
    step = store.progress("train")["done"]
    assert store.progress("train")["state"] == "stopped" and 1 <= step < 200
    sel = store.latest_selection()["id"]
    assert (store.dir / "checkpoints" / f"selection-{sel}" / f"checkpoint-{step}" / "trainer_state.json").exists()
    # --resume without --profile/--config continues with the stopped run's settings (its model, its lengths)
    assert main(["train", "t", "--resume", "--max-steps", str(step + 1)]) == 0
    assert f"finished at step {step + 1}/{step + 1}" in capsys.readouterr().out
    assert _steps(store, "train/reward") == list(range(1, step + 2))


def test_config_round_trips_through_yaml(tmp_path):
    from synthrl.stages.train import TrainConfig

    cfg = TrainConfig.profile("tiny", algo="ppo", lora=True)
    p = tmp_path / "t.yaml"
    p.write_text(cfg.to_yaml())
    assert TrainConfig.from_yaml(p) == cfg
    paper = TrainConfig.profile("paper")
    assert (paper.learning_rate, paper.num_generations, paper.temperature, paper.top_p, paper.beta) == \
        (1e-6, 16, 1.2, 0.8, 0.01)  # KL: the paper's text (its code: 0.001)
    assert paper.per_device_batch // paper.num_generations == 4 and paper.epochs == 5


@pytest.mark.slow
def test_bundled_model_grpo_two_steps(store):
    from synthrl.stages.train import TrainConfig, train

    add_selection(store, n=5)
    report = train(store, TrainConfig.profile("tiny", model="bundled", max_steps=2))
    assert report.steps == 2 and Path(report.final_model, "model.safetensors").exists()
    assert _steps(store, "train/reward") == [1, 2]


def test_two_processes_under_accelerate_write_one_set_of_metrics(store, runs_dir, tiny_model):
    """Two processes under `accelerate launch` run the same entry point; only rank 0 writes.

    (accelerate 1.15's `--cpu --num_processes 2` starts ONE process unless mpirun is set up;
    the shipped ddp.yaml (MULTI_GPU) on a machine without GPUs starts two gloo/CPU processes.)
    """
    add_selection(store, n=6)
    cfg = _yaml(runs_dir / "train.yaml", f"model: {tiny_model}\nmax_steps: 2\nper_device_batch: 4\n"
                                         "num_generations: 4\n")
    env = {**os.environ, "SYNTHRL_RUNS": str(runs_dir), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "assets" / "accelerate" / "ddp.yaml"), "--num_processes", "2", "-m", "synthrl.cli", "train", "t", "--profile", "tiny", "--config", str(cfg)]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _steps(store, "train/reward") == [1, 2]
    assert _steps(store, "train/loss") == [1, 2]
    assert (store.dir / "checkpoints" / "selection-1" / "final" / "model.safetensors").exists()
    assert any("2 process(es)" in e.message for e in store.events("train"))
    assert len(store.metrics("train/heldout_accuracy")) == 1


@pytest.mark.gpu
@pytest.mark.parametrize("use_vllm", [False, True])
def test_gpu_grpo_bf16_and_vllm_rollouts(store, use_vllm):
    """On an NVIDIA GPU: bf16 GRPO on the bundled model, with vLLM (colocated) rollouts when vllm is installed."""
    import importlib.util

    import torch

    from synthrl.stages.train import TrainConfig, train

    if not torch.cuda.is_available():
        pytest.skip("no NVIDIA GPU")
    if use_vllm and importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed")
    add_selection(store, n=8)
    cfg = TrainConfig.profile("tiny", model="bundled", max_steps=2, use_vllm=use_vllm, vllm_mode="colocate")
    report = train(store, cfg)
    assert report.steps == 2 and Path(report.final_model, "model.safetensors").exists()
    assert _steps(store, "train/reward") == [1, 2]


# -- which samples and which folder (no training) -------------------------------------------------
def test_a_sample_rejected_after_selection_is_not_trained_on(store, tiny_model):
    from synthrl.review import edit_sample
    from synthrl.stages.train import TrainConfig, prepare

    ids = add_selection(store, n=6)
    edit_sample(store, ids[2], status="rejected", author="test")
    plan = prepare(store, TrainConfig.profile("tiny", model=str(tiny_model), per_device_batch=4,
                                              heldout_fraction=0.0))
    used = {s.id for s in plan.train + plan.heldout}
    assert ids[2] not in used and used == set(ids) - {ids[2]}
    assert plan.left_out_rejected == 1 and plan.selection_id == store.latest_selection()["id"]


def test_each_selection_trains_into_its_own_folder_and_is_recorded(store):
    from synthrl.stages.train import TrainError, checkpoints_dir, latest_model, resolve_selection

    ids = add_selection(store, n=4)
    first = store.latest_selection()["id"]
    second = store.add_selection("m=2", {"rule": "paper", "m": 2}, ids[:2])
    assert resolve_selection(store) == second and resolve_selection(store, first) == first
    with pytest.raises(TrainError, match="no selection 99"):
        resolve_selection(store, 99)
    a, b = checkpoints_dir(store, first), checkpoints_dir(store, second)
    assert a != b and a.parent == b.parent == store.dir / "checkpoints"
    # what train() records when it finishes; the pipeline and evaluation read it back
    (a / "final").mkdir(parents=True)
    store.add_trained_model(str(a / "final"), first, algo="grpo")
    assert store.trained_model(first) == str(a / "final") and store.trained_model(second) is None
    assert store.model_selection(str(a / "final")) == first
    (b / "checkpoint-2").mkdir(parents=True)
    (b / "checkpoint-2" / "trainer_state.json").write_text("{}")
    assert latest_model(store) == str(b / "checkpoint-2")


def test_metrics_reach_the_users_tracker_only_when_asked(store, runs_dir, tiny_model, capsys):
    """report_to sends training curves to TensorBoard too; by default nothing is written for any tracker."""
    from synthrl.cli import main
    from synthrl.stages.train import TrainConfig, TrainError

    with pytest.raises(TrainError, match="report_to: unknown tracker"):
        TrainConfig(report_to="mlflow")
    add_selection(store, n=4)
    cfg = _yaml(runs_dir / "train.yaml", f"model: {tiny_model}\nmax_steps: 1\nheldout_fraction: 0.0\n")
    assert main(["train", "t", "--profile", "tiny", "--config", str(cfg)]) == 0
    assert list(store.dir.rglob("events.out.tfevents*")) == []
    assert main(["train", "t", "--profile", "tiny", "--config", str(cfg), "--report-to", "tensorboard"]) == 0
    events = list(store.dir.rglob("events.out.tfevents*"))
    assert events, "no TensorBoard event file was written"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert any("reward" in tag for tag in acc.Tags()["scalars"])
    # the run store still has the curves the app draws
    assert [r for r in store.metrics("train/reward") if r["key"] == "train/reward"]


def test_a_run_copied_to_another_machine_finds_its_bundled_student(store, tmp_path):
    """Runs trained before the name was kept recorded the bundled model's folder of the machine that trained
    them; where that folder does not exist, the run's student is this machine's bundled model."""
    from synthrl.stages.train import base_model

    store.set_config("base_model", str(tmp_path / "other-machine" / "models" / "smollm2-135m-instruct"))
    assert base_model(store) == "bundled"
    own = tmp_path / "my-student"
    own.mkdir()
    store.set_config("base_model", str(own))
    assert base_model(store) == str(own)  # any other folder is kept as recorded
    store.set_config("base_model", "bundled")
    assert base_model(store) == "bundled" and base_model(store, "other/model") == "other/model"
