"""`synthrl ...`: one subcommand per stage, calling the same functions the UI calls.

Each module in synthrl/commands/ adds its subcommands through `register(sub)`;
a handler returns the process exit code. Errors meant for the user are raised
as `UserError` (or a known library error) and printed as one clear line.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Command modules, in the order their subcommands are listed in --help.
COMMAND_MODULES = ("core", "data", "review", "stages", "training", "experiment", "glance", "costs", "app", "serve")


class UserError(RuntimeError):
    """An error the user can fix; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="synthrl", description="Turn a task definition into a better model, with no labelled data."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMAND_MODULES:
        try:
            m = importlib.import_module(f"synthrl.commands.{mod}")
        except ModuleNotFoundError as e:
            if e.name == f"synthrl.commands.{mod}":
                continue
            raise
        m.register(sub)
    return parser


def _prepare_for_app(args: argparse.Namespace) -> None:
    """After a command on a big run, leave the snapshots the app starts from up to date (synthrl.frame.prepare:
    nothing to do on a small run or when nothing changed), so the run's first showing reads no table in full."""
    if getattr(args, "run", None) is None and getattr(args, "run_dir", None) is None:
        return
    try:
        from .commands.run_arg import run_location
        from .frame import prepare
        from .store import RunStore

        store = RunStore.open(run_location(args), create=False)
        try:
            prepare(store)
        finally:
            store.close()
    except Exception:  # noqa: BLE001 - a head start for the app only: the command itself succeeded
        pass


def main(argv: list[str] | None = None) -> int:
    from .backends.base import BackendError
    from .store import StoreError
    from .task import TaskError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = int(args.func(args) or 0)
        _prepare_for_app(args)
        return rc
    except (UserError, TaskError, StoreError, BackendError) as e:
        print(f"synthrl {args.command}: error: {e}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as e:
        # a run.db damaged past its header: one line, not a traceback
        print(f"synthrl {args.command}: error: the run store cannot be read ({e}); if run.db is damaged, move it "
              "away and start the run again", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `synthrl status RUN --json | head`: the reader went away; not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        print(f"synthrl {args.command}: interrupted; what was finished is saved, run it again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the importable module's main, so `python -m synthrl.cli` and the command modules
    # share one UserError class (otherwise __main__.UserError != synthrl.cli.UserError).
    from synthrl.cli import main as _main

    sys.exit(_main())
