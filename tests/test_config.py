"""The run config and its one resolver: defaults < profile < stored < file < --set/flags."""
import pytest
import yaml

from conftest import TASKS
from synthrl.config import RunConfig, resolve_config
from synthrl.store import RunStore
from synthrl.task import load_task

STAGE_COMMANDS = ("run", "measure", "adapt", "select")


def _stored_run(name: str) -> RunStore:
    """A run whose recorded config differs from every profile (so reading it is visible)."""
    store = RunStore.open(name)
    store.save_task(load_task(TASKS / "demo_addition.yaml"))
    cfg = RunConfig.from_profile("tiny").with_overrides(["measure.rollouts=7", "select.m=5", "adapt.rounds=2"])
    store.set_config("run_config", cfg.to_dict())
    return store


def _printed(capsys, argv) -> dict:
    from synthrl.cli import main

    assert main(argv) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_precedence_profile_then_stored_then_file_then_overrides(runs_dir, tmp_path):
    store = _stored_run("prec")
    assert resolve_config(None).to_dict() == RunConfig.from_profile("tiny").to_dict()
    assert resolve_config(None, fallback="paper").measure.rollouts == 64
    assert resolve_config(store).to_dict() == store.get_config("run_config")
    # another profile than the stored one starts over from that profile
    assert resolve_config(store, profile="paper").measure.rollouts == 64
    assert resolve_config(store, profile="tiny").measure.rollouts == 7
    file = tmp_path / "run.yaml"
    file.write_text("measure: {rollouts: 9}\n", encoding="utf-8")
    cfg = resolve_config(store, file)
    assert (cfg.measure.rollouts, cfg.select.m, cfg.adapt.rounds) == (9, 5, 2)  # the file over the stored config
    cfg = resolve_config(store, file, overrides=["measure.rollouts=11"])
    assert (cfg.measure.rollouts, cfg.select.m) == (11, 5)


@pytest.mark.parametrize("command", STAGE_COMMANDS)
def test_print_config_shows_the_runs_stored_config(runs_dir, capsys, command):
    store = _stored_run(f"pc{command}")
    run = ["--run", store.name] if command == "run" else [store.name]
    assert _printed(capsys, [command, *run, "--print-config"]) == store.get_config("run_config")
    printed = _printed(capsys, [command, *run, "--print-config", "--set", "select.m=9"])
    assert printed["select"]["m"] == 9 and printed["measure"]["rollouts"] == 7


def test_print_config_puts_a_commands_own_flags_over_set(runs_dir, capsys):
    store = _stored_run("pcflags")
    printed = _printed(capsys, ["measure", store.name, "--print-config", "--set", "measure.rollouts=3",
                                "--rollouts", "5"])
    assert printed["measure"]["rollouts"] == 5
    printed = _printed(capsys, ["adapt", store.name, "--print-config", "--votes", "3"])
    assert (printed["verify"]["votes"], printed["adapt"]["rounds"]) == (3, 2)
    assert store.get_config("run_config")["measure"]["rollouts"] == 7  # printing runs and records nothing


# -- every command that takes settings resolves them through the one resolver ---------------------------
# (command, its run argument); each prints what it would run with and runs nothing
SETTINGS_COMMANDS = {"run": ["--run"], "measure": [], "adapt": [], "select": [], "generate": [], "train": [],
                     "eval": [], "experiment": []}


def test_every_settings_command_is_checked_here():
    """A command that takes --config resolves settings: it must be in SETTINGS_COMMANDS (and so be tested)."""
    import argparse

    from synthrl.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    taking = {name for name, p in sub.choices.items()
              if any("--config" in a.option_strings for a in p._actions)}
    assert taking == set(SETTINGS_COMMANDS)
    for name in taking:
        assert any("--print-config" in a.option_strings for a in sub.choices[name]._actions), name


def test_every_settings_command_prints_the_runs_stored_config(runs_dir, capsys):
    store = _stored_run("pcall")
    for command, run_flag in SETTINGS_COMMANDS.items():
        printed = _printed(capsys, [command, *run_flag, store.name, "--print-config"])
        assert printed == store.get_config("run_config"), command
        printed = _printed(capsys, [command, *run_flag, store.name, "--print-config", "--set", "train.seed=5"])
        assert printed["train"]["seed"] == 5 and printed["measure"]["rollouts"] == 7, command


def test_stage_flags_are_generated_from_the_fields_and_go_over_set(runs_dir, capsys):
    store = _stored_run("pcfields")
    printed = _printed(capsys, ["train", store.name, "--print-config", "--set", "train.max_steps=2",
                                "--max-steps", "9", "--lora", "--algo", "ppo"])
    assert (printed["train"]["max_steps"], printed["train"]["lora"], printed["train"]["algo"]) == (9, True, "ppo")
    printed = _printed(capsys, ["generate", store.name, "--print-config", "--n", "3", "--votes", "5",
                                "--keywords", "shop, market", "--mode", "bm25"])
    assert (printed["generate"]["n"], printed["verify"]["votes"]) == (3, 5)
    assert printed["generate"]["keywords"] == ["shop", "market"] and printed["generate"]["retrieval_mode"] == "bm25"
    printed = _printed(capsys, ["eval", store.name, "--print-config", "--limit", "4", "--batch-size", "2"])
    assert (printed["evaluate"]["limit"], printed["evaluate"]["batch_size"]) == (4, 2)
    printed = _printed(capsys, ["select", store.name, "--print-config", "--rule", "band", "--lo", "0.2"])
    assert (printed["select"]["rule"], printed["select"]["lo"], printed["select"]["m"]) == ("band", 0.2, 5)


def test_a_generated_flags_help_shows_the_field_help_and_the_profile_default(capsys):
    from synthrl.cli import main

    with pytest.raises(SystemExit):
        main(["measure", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--rollouts L" in out and "sampled answers per sample" in out
    assert "default: the run's measure.rollouts; paper profile: 64" in out


def test_a_train_config_file_may_hold_the_training_settings_alone(runs_dir, capsys, tmp_path):
    store = _stored_run("pctrain")
    f = tmp_path / "train.yaml"
    f.write_text("max_steps: 4\nlearning_rate: 1e-5\n", encoding="utf-8")  # YAML reads 1e-5 as text
    printed = _printed(capsys, ["train", store.name, "--print-config", "--config", str(f)])
    assert (printed["train"]["max_steps"], printed["train"]["learning_rate"]) == (4, 1e-5)
    assert printed["measure"]["rollouts"] == 7  # the rest is still the run's


def test_older_runs_per_stage_keys_are_read_as_the_stored_layer(runs_dir, capsys):
    """A run.db from before run_config: its generate_config / train_config are the stored settings."""
    from synthrl.stages.generate import GenerateConfig
    from synthrl.stages.train import TrainConfig

    store = RunStore.open("legacy")
    store.save_task(load_task(TASKS / "demo_addition.yaml"))
    store.set_config("generate_config", GenerateConfig(n=12, concurrency=3).to_dict())
    store.set_config("train_config", TrainConfig.profile("tiny", max_steps=7).to_dict())
    printed = _printed(capsys, ["generate", store.name, "--print-config"])
    assert (printed["generate"]["n"], printed["generate"]["concurrency"]) == (12, 3)
    assert _printed(capsys, ["train", store.name, "--print-config"])["train"]["max_steps"] == 7
    cfg = resolve_config(store)
    assert cfg.generate.n == 12 and cfg.train.max_steps == 7


def test_a_resumed_training_continues_with_the_stopped_trainings_settings(runs_dir, capsys):
    from synthrl.stages.train import TrainConfig

    store = _stored_run("pcresume")
    sel = store.add_selection("s", {}, [], model_version="v")
    store.start_training_run(sel, "grpo", str(store.dir / "checkpoints"),
                             TrainConfig.profile("tiny", max_steps=11, seed=3).to_dict())
    printed = _printed(capsys, ["train", store.name, "--print-config", "--resume"])
    assert (printed["train"]["max_steps"], printed["train"]["seed"]) == (11, 3)
    assert printed["measure"]["rollouts"] == 7
    # without --resume a training starts from the run's config
    assert _printed(capsys, ["train", store.name, "--print-config"])["train"]["max_steps"] == 3


def test_train_config_is_built_like_every_section():
    from synthrl.config import _PROFILE_VALUES, build_section
    from synthrl.stages.train import TrainConfig, TrainError

    assert TrainConfig.profile("tiny") == RunConfig.from_profile("tiny").train
    assert TrainConfig.profile("paper") == RunConfig.from_profile("paper").train
    assert TrainConfig.profile("tiny").max_steps == _PROFILE_VALUES["tiny"]["train"]["max_steps"]
    assert build_section("train", {"learning_rate": "2e-6"}).learning_rate == 2e-6
    with pytest.raises(TrainError, match=r"unknown training setting\(s\) learnin_rate"):
        TrainConfig.from_dict({"learnin_rate": 1})
    with pytest.raises(TrainError, match="train.max_steps: expected an integer"):
        TrainConfig.from_dict({"max_steps": "many"})
