"""Local models through transformers: batched chat generation on CPU or GPU.

Conversations go through the model's chat template, are left-padded and
generated in micro-batches (`max_batch_size` rows at most, rows = prompts x n;
64 by default: on a CPU a decode step costs about the same for 16 rows as for
64, measured 0.25 s vs 0.45 s for the bundled model). The `n` completions of a
prompt share one reading of it: the prompt is prefilled once and its KV cache
copied n times (bench/rollouts.py times both). temperature 0 is greedy. With `json_schema` the
output is constrained by an xgrammar grammar compiled once per schema.

    model = get_backend("transformers", model="bundled")
    model.chat(convs, GenerationParams(n=4, temperature=0.7, seed=0))
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import os
import threading
from pathlib import Path

from ..records import Completion
from .base import BackendError, ChatModel, Conversation, GenerationParams, register

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def weights_version(model: str) -> str:
    """A stable id for a set of weights: folder name + short hash of config.json and of the
    weight files' names, sizes and mtimes. A hub id is returned as given.

    A trained checkpoint therefore gets a different version than its base model.
    """
    p = Path(model)
    if not p.is_dir():
        return model
    h = hashlib.sha256()
    cfg = p / "config.json"
    if cfg.exists():
        h.update(cfg.read_bytes())
    for f in sorted(p.iterdir()):
        if f.is_file() and f.name.endswith(_WEIGHT_SUFFIXES):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    name = p.resolve().name
    return f"{name}@{h.hexdigest()[:10]}"


def _pick_device(device: str | None) -> str:
    import torch

    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _pick_dtype(dtype: str | None, device: str):
    import torch

    if dtype and dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


@register("transformers")
class TransformersChatModel(ChatModel):
    """A causal LM from a local folder or hub id ("bundled" = the embedded SmolLM2-135M).

    Thread-safe: one generation at a time per model (a lock).
    """

    def __init__(self, model: str = "bundled", device: str | None = None, dtype: str | None = None,
                 max_batch_size: int = 64, on_event=None):
        from ..models import resolve_model

        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = resolve_model(model)
        local = Path(self.path).expanduser()
        if local.is_dir():
            self.path = str(local)
        elif self.path.startswith(("/", ".", "~")) or self.path.count("/") > 1:
            # a hub id is "name" or "org/name"; anything else was meant as a folder
            raise BackendError(f"model folder not found: {self.path}")
        self.device = _pick_device(device)
        self.max_batch_size = max_batch_size
        # sample n replies of a prompt from one reading of it (see _generate); False: num_return_sequences
        self.share_prefix = True
        self.on_event = on_event
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=_pick_dtype(dtype, self.device))
        except OSError as e:
            raise BackendError(f"cannot load model {model!r} ({self.path}): {e}. Give a local folder with "
                               "config.json + weights, or a hub id already in the local cache "
                               "(downloads are off: HF_HUB_OFFLINE=1)") from e
        self.model.to(self.device).eval()
        forward = inspect.signature(self.model.forward).parameters
        # `cache` in recent transformers, `past_key_values` before (both take a Cache object)
        self._cache_kwarg = "cache" if "cache" in forward else "past_key_values"
        self._logits_to_keep = "logits_to_keep" in forward
        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self.eos_ids = self._eos_ids()
        self.version = weights_version(self.path)
        self._lock = threading.Lock()
        self._grammars = None
        self._torch = torch

    # ------------------------------------------------------------------ helpers

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        for src in (getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if src is None:
                continue
            for i in (src if isinstance(src, (list, tuple)) else [src]):
                if i is not None and i not in ids:
                    ids.append(int(i))
        if not ids:
            raise BackendError(f"model {self.path} has no end-of-sequence token; cannot tell where answers stop")
        return ids

    def _render(self, conv: Conversation) -> str:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            return tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        # A model without a chat template (a base model): a plain transcript.
        lines = [f"{m['role']}: {m['content']}" for m in conv]
        return "\n".join(lines) + "\nassistant:"

    def _vocab_size(self) -> int:
        head = self.model.get_output_embeddings()
        return int(head.weight.shape[0]) if head is not None else int(self.model.config.vocab_size)

    def grammars(self):
        """The per-tokenizer grammar cache (created on first structured request)."""
        if self._grammars is None:
            from .structured import SchemaGrammars

            self._grammars = SchemaGrammars(self.tokenizer, self._vocab_size(), self.eos_ids)
        return self._grammars

    # ------------------------------------------------------------------ generation

    def chat(self, conversations: list[Conversation], params: GenerationParams) -> list[list[Completion]]:
        if not conversations:
            return []
        with self._lock:
            return self._chat(conversations, params)

    def _chat(self, conversations, params: GenerationParams) -> list[list[Completion]]:
        torch = self._torch
        tok = self.tokenizer
        texts = [self._render(c) for c in conversations]
        encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        limit = getattr(self.model.config, "max_position_embeddings", None)
        for i, ids in enumerate(encoded):
            if limit and len(ids) + params.max_tokens > limit:
                raise BackendError(f"conversation {i} has {len(ids)} prompt tokens; with max_tokens="
                                   f"{params.max_tokens} that exceeds the model's context of {limit} tokens")
        grammar = None
        if params.json_schema is not None:
            try:
                grammar = self.grammars().get(params.json_schema)
            except Exception as e:  # an unsupported schema feature: generate freely, say so
                if self.on_event:
                    self.on_event("warning", f"cannot compile the JSON schema for constrained decoding ({e}); "
                                             "generating without constraints")
        if params.seed is not None:
            torch.manual_seed(params.seed)

        # Greedy answers are all the same: compute one, repeat it n times.
        n = 1 if params.temperature == 0 else params.n
        per_call_n = min(n, self.max_batch_size)
        prompts_per_call = max(1, self.max_batch_size // per_call_n)
        # Longest first, so each micro-batch holds prompts of similar length (less padding).
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        results: list[list[Completion]] = [[] for _ in conversations]
        done = 0
        while done < n:
            k = min(per_call_n, n - done)
            for start in range(0, len(order), prompts_per_call):
                idx = order[start:start + prompts_per_call]
                outs = self._generate([encoded[i] for i in idx], k, params, grammar)
                for j, i in enumerate(idx):
                    results[i].extend(outs[j * k:(j + 1) * k])
            done += k
        if n != params.n:
            results = [r * params.n for r in results]
        return results

    def _generate(self, batch: list[list[int]], k: int, params: GenerationParams, grammar) -> list[Completion]:
        torch = self._torch
        pad = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in batch)
        shared = 0
        if self.share_prefix and grammar is None and len(batch) > 1:
            shared = _common_prefix(batch)
            shared = shared if shared >= MIN_SHARED_PREFIX else 0
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for r, ids in enumerate(batch):
            # the tokens all prompts start with (few-shot demos, a long instruction) first, then the padding,
            # then the rest: the shared part is read once for the whole batch (_prefill); positions count
            # real tokens only, so every row reads as its own unpadded prompt
            input_ids[r, :shared] = torch.tensor(ids[:shared], dtype=torch.long)
            attention[r, :shared] = 1
            input_ids[r, width - len(ids) + shared:] = torch.tensor(ids[shared:], dtype=torch.long)
            attention[r, width - len(ids) + shared:] = 1
        kwargs = dict(max_new_tokens=params.max_tokens, num_return_sequences=k, pad_token_id=pad,
                      eos_token_id=self.eos_ids)
        if params.temperature == 0:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        if grammar is not None:
            from .structured import JsonLogitsProcessor, closing_reserve

            g = self.grammars()
            kwargs["logits_processor"] = [JsonLogitsProcessor(
                grammar, rows=len(batch) * k, prompt_len=width, max_new_tokens=params.max_tokens,
                closing_bonus=g.closing_bonus, reserve=closing_reserve(params.json_schema, params.max_tokens))]
        answer_stop = None
        if params.stop is not None:
            answer_stop = _answer_stopping(params.stop, self.tokenizer, prompt_len=width)
            from transformers import StoppingCriteriaList

            kwargs["stopping_criteria"] = StoppingCriteriaList([answer_stop])
        input_ids, attention = input_ids.to(self.device), attention.to(self.device)
        with torch.inference_mode():
            if (k > 1 or shared) and grammar is None and self.share_prefix:
                # n samples of one prompt share its prefix: read each prompt once, copy its cache k times
                # (num_return_sequences would read every prompt k times; on a CPU the prompt is most of the cost)
                cache = self._prefill(input_ids, attention, shared)
                if cache is not None:
                    if k > 1:
                        cache.batch_repeat_interleave(k)
                        input_ids = input_ids.repeat_interleave(k, dim=0)
                        attention = attention.repeat_interleave(k, dim=0)
                    kwargs.update({"num_return_sequences": 1, self._cache_kwarg: cache})
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        gen = out[:, width:].tolist()
        eos = set(self.eos_ids)
        comps = []
        for r, row in enumerate(gen):
            if answer_stop is not None and r in answer_stop.stopped_at:
                # the answer was complete here; the rest of the row is padding
                row = row[:answer_stop.stopped_at[r]] + [self.eos_ids[0]]
            stop = next((t for t, tid in enumerate(row) if tid in eos), None)
            toks = row if stop is None else row[:stop]
            comps.append(Completion(
                text=self.tokenizer.decode(toks, skip_special_tokens=True),
                prompt_tokens=len(batch[r // k]),
                completion_tokens=len(toks) + (0 if stop is None else 1),
                finish_reason="length" if stop is None else "stop",
            ))
        return comps

    def _prefill(self, input_ids, attention, shared: int = 0):
        """The KV cache of every prompt but its last token (generate reads that one), or None when the
        model's cache cannot be copied per row. The first `shared` columns (the same tokens in every row)
        are read once and their cache copied to every row."""
        try:
            from transformers import DynamicCache
        except ImportError:
            return None
        if input_ids.shape[1] < 2:
            return None
        cache = DynamicCache(config=self.model.config)
        if not hasattr(cache, "batch_repeat_interleave"):
            return None
        ids, mask = input_ids[:, :-1], attention[:, :-1]
        # padding (left, or between the shared part and the rest): positions count real tokens only, as
        # generate() counts them
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        extra = {self._cache_kwarg: cache}
        if self._logits_to_keep:
            extra["logits_to_keep"] = 1  # only the cache is wanted, not logits at every prompt position
        shared = min(shared, ids.shape[1])
        if shared:
            self.model(input_ids=ids[:1, :shared], attention_mask=mask[:1, :shared],
                       position_ids=positions[:1, :shared], use_cache=True, **extra)
            cache.batch_repeat_interleave(ids.shape[0])
        if shared < ids.shape[1]:
            self.model(input_ids=ids[:, shared:], attention_mask=mask, position_ids=positions[:, shared:],
                       use_cache=True, **extra)
        return cache

    def close(self) -> None:
        self.model = None


# Prompts of one micro-batch that start with this many tokens in common (few-shot demos) read them once.
MIN_SHARED_PREFIX = 8  # a system prompt and the chat template's opening already pass this


def _common_prefix(batch: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least its last token (generate reads that one)."""
    first, n = batch[0], min(len(ids) for ids in batch) - 1
    for ids in batch[1:]:
        i = 0
        while i < n and ids[i] == first[i]:
            i += 1
        n = i
        if not n:
            break
    return max(n, 0)


class _AnswerStoppingLogic:
    """A transformers StoppingCriteria: a row is finished once its reply holds a complete answer.

    Each step decodes only the newest token; the whole reply is decoded and checked only when that
    token could have completed the answer (a newline, `}` or `>`), so the check stays cheap.
    """

    def __init__(self, stop, tokenizer, prompt_len: int):
        self.stop, self.tokenizer, self.prompt_len = stop, tokenizer, prompt_len
        self.stopped_at: dict[int, int] = {}

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        n_new = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if n_new <= 0:
            return done
        last = input_ids[:, -1].tolist()
        for r, tid in enumerate(last):
            if r in self.stopped_at:
                done[r] = True
                continue
            if not self.stop.triggers(self.tokenizer.decode([tid])):
                continue
            text = self.tokenizer.decode(input_ids[r, self.prompt_len:].tolist(), skip_special_tokens=True)
            if self.stop.complete(text):
                self.stopped_at[r] = n_new
                done[r] = True
        return done


@functools.cache
def _answer_stopping_class():
    """`_AnswerStoppingLogic` as a transformers StoppingCriteria (transformers imported lazily, once)."""
    from transformers import StoppingCriteria

    return type("AnswerStopping", (_AnswerStoppingLogic, StoppingCriteria), {})


def _answer_stopping(stop, tokenizer, prompt_len: int):
    return _answer_stopping_class()(stop, tokenizer, prompt_len)
