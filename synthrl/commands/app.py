"""`synthrl app`: the Gradio workbench.

    synthrl app                                   # http://127.0.0.1:7860
    synthrl app --host 0.0.0.0 --auth ann:s3cret  # reachable from other machines, behind a login

Binding to anything but loopback needs --auth USER:PASSWORD (or SYNTHRL_AUTH) unless
--insecure-no-auth is given. The app itself lives in ui/ (Gradio is imported only there).
"""
from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=os.environ.get("SYNTHRL_HOST", "127.0.0.1"),
                   help="address to bind (default 127.0.0.1; anything else needs --auth)")
    p.add_argument("--port", type=int, default=int(os.environ.get("SYNTHRL_PORT", "7860")),
                   help="port (default 7860)")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                   help="require this login (default: $SYNTHRL_AUTH, which other users cannot see in `ps`); "
                        "needed for a non-loopback --host")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="allow a non-loopback --host without a login (anyone who can reach it can use it)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="the Gradio workbench (127.0.0.1:7860)",
                       description="Start the synthrl workbench in the browser: author a task, add documents, "
                                   "generate, review, select, train and evaluate.")
    add_arguments(p)
    p.set_defaults(func=cmd_app)


def cmd_app(args: argparse.Namespace) -> int:
    from ..cli import UserError

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    try:
        from ui.security import SecurityError, resolve_auth
    except ImportError as e:  # an installed wheel without the ui package
        raise UserError(f"the app needs the ui package from a source checkout of synthrl: {e}") from e
    try:
        auth = resolve_auth(args.host, args.auth, insecure=args.insecure_no_auth)
    except SecurityError as e:
        raise UserError(str(e)) from None
    from ui.app import launch

    launch(host=args.host, port=args.port, auth=auth)
    return 0
