"""One chat interface for teacher and student models.

A backend takes a batch of chat conversations and returns `n` completions for
each. Every backend registers itself by name, exactly as an extension would:

    @register("echo")
    class Echo(ChatModel): ...

    model = get_backend("transformers", model="path/or/id")
    outs = model.chat([[{"role": "user", "content": "2+3?"}]], GenerationParams(n=4))
    outs[0][0].text
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..records import Completion

if TYPE_CHECKING:
    from ..stopping import AnswerStop

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}
Conversation = list[Message]


class BackendError(RuntimeError):
    """A backend failure with a message meant for the user (wrong URL, key, model...)."""


class BackendUnavailable(BackendError):
    """The backend cannot be used on this machine (e.g. vllm not installed)."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one request. temperature 0 means greedy.

    `json_schema`: when given, the backend constrains (or at least asks) the
    output to be JSON matching this schema.
    `stop`: an `AnswerStop` (synthrl.stopping): generation of a reply ends once its
    answer is complete, so nothing past the graded answer is generated.
    """

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    json_schema: dict | None = None
    stop: "AnswerStop | None" = None

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")


class ChatModel:
    """Base class. Subclasses implement `chat`."""

    name: str = "base"
    #: a string that identifies the weights (stored with every student attempt)
    version: str = ""

    def chat(self, conversations: list[Conversation], params: GenerationParams) -> list[list[Completion]]:
        raise NotImplementedError

    def chat_one(self, conversation: Conversation, params: GenerationParams) -> list[Completion]:
        return self.chat([conversation], params)[0]

    def describe(self) -> str:
        return f"{self.name}:{self.version}"

    def close(self) -> None:
        pass


_REGISTRY: dict[str, Callable[..., ChatModel]] = {}


def register(name: str):
    """Class decorator: make a backend available to `get_backend(name, ...)`."""

    def deco(cls):
        _REGISTRY[name] = cls
        cls.name = name
        return cls

    return deco


def available_backends() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_backend(name: str, **kwargs) -> ChatModel:
    _load_builtins()
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)


def _load_builtins() -> None:
    # Importing the modules runs their @register decorators; heavy imports
    # (torch, vllm) happen inside the backends, lazily.
    from . import openai_compat, transformers_backend, vllm_backend  # noqa: F401
