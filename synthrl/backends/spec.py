"""Which model to use, as plain data: a backend name plus its settings.

A `ModelSpec` is what a run's config stores for the teacher and the student.
It holds no secrets: the API key is read from the environment variable named
in `api_key_env` when the model is loaded, never written anywhere.

    spec = ModelSpec(backend="openai", model="gpt-4o-mini", api_key_env="OPENAI_API_KEY")
    teacher = load_model(spec, on_event=lambda level, msg: print(level, msg))
    teacher.chat([[{"role": "user", "content": "2+3?"}]], GenerationParams())
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlparse

from .base import BackendError, ChatModel, available_backends, get_backend, _REGISTRY

BUNDLED = "bundled"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

BUNDLED_TEACHER_NOTE = (
    "The bundled teacher (SmolLM2-135M-Instruct) only demonstrates the workflow: it is far too small "
    "to write good training data. For real data point the teacher at an OpenAI-compatible server: "
    "backend 'openai', base_url (e.g. https://api.openai.com/v1 or http://localhost:8000/v1 for vLLM), "
    "model (e.g. gpt-4o-mini or Qwen/Qwen2.5-72B-Instruct) and api_key_env, the name of the "
    "environment variable that holds the key (none needed for a local server)."
)

#: called as on_event(level, message), level in {"info", "warning", "error"}
EventCallback = Callable[[str, str], None]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DTYPES = ("auto", "float32", "float16", "bfloat16")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class ModelSpec:
    """A model to load: backend + model name/path + connection settings.

    backend: "transformers" (local folder or hub id, CPU/GPU), "openai" (any
        OpenAI-compatible server: OpenAI, vLLM, llama.cpp, Ollama) or "vllm".
    model: folder, hub id or server-side model name; "bundled" = the embedded 135M model.
    base_url: OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (openai backend).
    api_key_env: NAME of the environment variable holding the API key
        (default OPENAI_API_KEY; a local server needs none).
    max_concurrency: requests in flight at once (openai backend).
    timeout: seconds per request before it is retried (openai backend).
    max_retries: retries on 429 / 5xx / timeouts before giving up (openai backend).
    device: "auto" / "cpu" / "cuda" / "cuda:1" (transformers backend; None = auto).
    dtype: "auto" / "float32" / "bfloat16" / "float16" (local backends; None = auto).
    """

    backend: str = "transformers"
    model: str = BUNDLED
    base_url: str | None = None
    api_key_env: str | None = None
    max_concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 4
    device: str | None = None
    dtype: str | None = None

    def __post_init__(self):
        backends = available_backends()
        if self.backend not in backends:
            raise ValueError(f"model backend {self.backend!r} is unknown; choose one of: {', '.join(backends)}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a non-empty string (a folder, hub id, server model name or 'bundled')")
        if self.model == BUNDLED and self.backend == "openai":
            raise ValueError("model 'bundled' is a local model: use backend 'transformers' (or 'vllm'), "
                             "or give the name of a model the OpenAI-compatible server serves")
        if self.base_url is not None:
            from .openai_compat import credentials_problem

            # refused, not stripped: a key in the URL would be stored with the run config and events
            problem = credentials_problem(str(self.base_url))
            if problem:
                raise ValueError(problem)
            u = urlparse(self.base_url)
            if u.scheme not in ("http", "https") or not u.netloc:
                raise ValueError(f"base_url must look like http://host:port/v1, got {self.base_url!r}")
        if self.api_key_env is not None:
            if self.api_key_env.startswith(("sk-", "sk_")) or not _ENV_NAME.match(self.api_key_env):
                # Never echo the value: it may be a pasted key.
                raise ValueError("api_key_env must be the NAME of an environment variable that holds the key "
                                 "(e.g. OPENAI_API_KEY), not the key itself")
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be an integer >= 1, got {self.max_concurrency!r}")
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {self.timeout!r}")
        self.timeout = float(self.timeout)
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        if self.device is not None and not _DEVICE.match(str(self.device)):
            raise ValueError(f"device must be auto, cpu, mps, cuda or cuda:N, got {self.device!r}")
        if self.dtype is not None and self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {self.dtype!r}")

    @property
    def is_bundled(self) -> bool:
        """True for the embedded 135M model (fine for demos, weak as a teacher)."""
        return self.backend == "transformers" and self.model == BUNDLED

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "ModelSpec":
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def describe(self) -> str:
        where = f" at {self.base_url}" if self.base_url else ""
        return f"{self.backend}:{self.model}{where}"


def load_model(spec: ModelSpec, on_event: EventCallback | None = None) -> ChatModel:
    """Build the backend a spec names. Settings a backend does not take are not passed to it.

    `on_event(level, message)` receives things worth recording in the run's events
    (e.g. "server does not support json_schema response_format; falling back ...").
    """
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    settings: dict[str, Any] = {k: v for k, v in spec.to_dict().items() if k != "backend" and v is not None}
    settings["on_event"] = on_event
    available_backends()  # make sure the built-in backends are registered
    cls = _REGISTRY.get(spec.backend)
    if cls is None:
        raise BackendError(f"unknown backend {spec.backend!r}; available: {', '.join(available_backends())}")
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        settings = {k: v for k, v in settings.items() if k in params}
    from ..estimate import Metered

    # metered: the calls, tokens and busy time become the throughput estimates use (synthrl/estimate.py)
    return Metered(get_backend(spec.backend, **settings), spec.backend, spec.model)
