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
