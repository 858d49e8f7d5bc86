"""vLLM in-process (GPU machines): fast batched sampling for student rollouts.

vllm is optional and imported only when this backend is built, so a CPU
machine without it still imports synthrl; building it there raises
BackendUnavailable with the install line.

    student = get_backend("vllm", model="/path/to/checkpoint")
    student.chat(convs, GenerationParams(n=64, temperature=1.2, top_p=0.8))
"""
from __future__ import annotations

import threading

from ..records import Completion
from .base import BackendUnavailable, ChatModel, Conversation, GenerationParams, register

INSTALL_HINT = ("vllm is not installed; on a GPU machine: pip install 'synthrl[vllm]' "
                "(make install does this when an NVIDIA GPU is present)")


def _structured(schema: dict):
    """The sampling-params keyword for JSON-schema decoding, for old and new vllm versions."""
    try:
        from vllm.sampling_params import StructuredOutputsParams  # vllm >= 0.10.2

        return {"structured_outputs": StructuredOutputsParams(json=schema)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams  # older vllm

        return {"guided_decoding": GuidedDecodingParams(json=schema)}


@register("vllm")
class VLLMChatModel(ChatModel):
    """A local model served by vllm.LLM in this process (needs an NVIDIA GPU)."""

    def __init__(self, model: str = "bundled", dtype: str | None = None, gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None, on_event=None, engine_kwargs: dict | None = None):
        try:
            import vllm
        except ImportError as e:
            raise BackendUnavailable(INSTALL_HINT) from e
        from ..models import resolve_model
        from .transformers_backend import weights_version

        self._vllm = vllm
        self.path = resolve_model(model)
        self.on_event = on_event
        kwargs = dict(model=self.path, gpu_memory_utilization=gpu_memory_utilization, **(engine_kwargs or {}))
        if dtype and dtype != "auto":
            kwargs["dtype"] = dtype
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = vllm.LLM(**kwargs)
        self.version = weights_version(self.path)
        self._lock = threading.Lock()

    def chat(self, conversations: list[Conversation], params: GenerationParams) -> list[list[Completion]]:
        if not conversations:
            return []
        extra = _structured(params.json_schema) if params.json_schema is not None else {}
        if params.stop is not None and params.stop.strings:
            # stop where the answer is complete; keep the closing string, the checker reads it
            extra.update(stop=list(params.stop.strings), include_stop_str_in_output=True)
        sp = self._vllm.SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                       max_tokens=params.max_tokens, seed=params.seed, **extra)
        with self._lock:
            outs = self.llm.chat(conversations, sp, use_tqdm=False)
        result = []
        for o in outs:
            prompt_tokens = len(o.prompt_token_ids or [])
            result.append([Completion(text=c.text, prompt_tokens=prompt_tokens, completion_tokens=len(c.token_ids),
                                      finish_reason=c.finish_reason) for c in o.outputs])
        return result

    def close(self) -> None:
        self.llm = None
