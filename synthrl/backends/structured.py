"""Structured (JSON-schema) output, shared by the backends.

- `response_format(schema)`: the OpenAI `response_format` body for a schema.
- `SchemaGrammars`: compiles a schema into an xgrammar grammar once per
  (schema, tokenizer) and caches it.
- `JsonLogitsProcessor`: a transformers logits processor that masks, at every
  step and for every sequence of a batch, the tokens the grammar forbids. Near
  the end of the token budget it steers still-open sequences towards closing
  their strings/objects, so a small model that rambles still returns valid JSON.

    grammars = SchemaGrammars(tokenizer, vocab_size, stop_ids)
    proc = JsonLogitsProcessor(grammars.get(schema), rows=4, prompt_len=L, max_new_tokens=128,
                               closing_bonus=grammars.closing_bonus, reserve=closing_reserve(schema, 128))
    model.generate(..., logits_processor=[proc])
"""
from __future__ import annotations

import json
import re
import threading
from typing import Any


def schema_key(schema: dict) -> str:
    """A canonical text for a schema (cache key)."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------- OpenAI-compatible servers

def _strict_ready(schema: Any) -> dict | None:
    """The schema with additionalProperties=false added to objects, or None when it cannot be
    strict (OpenAI strict mode also needs every property to be required)."""
    if isinstance(schema, list):
        out = [_strict_ready(s) for s in schema]
        return None if any(o is None for o in out) else out
    if not isinstance(schema, dict):
        return schema
    s = {}
    for k, v in schema.items():
        if isinstance(v, (dict, list)) and k not in ("enum", "const", "required", "examples", "default"):
            if k == "properties":
                props = {}
                for name, sub in v.items():
                    r = _strict_ready(sub)
                    if r is None:
                        return None
                    props[name] = r
                s[k] = props
                continue
            r = _strict_ready(v)
            if r is None:
                return None
            s[k] = r
        else:
            s[k] = v
    if s.get("type") == "object" or "properties" in s:
        if set(s.get("properties", {})) != set(s.get("required", [])):
            return None
        if s.get("additionalProperties", False) is not False:
            return None
        s["additionalProperties"] = False
    return s


def response_format(schema: dict) -> dict:
    """OpenAI `response_format` for a JSON schema; strict when the schema allows it."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "output"))[:64] or "output"
    strict = _strict_ready(schema)
    return {"type": "json_schema",
            "json_schema": {"name": name, "schema": strict if strict is not None else schema,
                            "strict": strict is not None}}


# ---------------------------------------------------------------- local decoding (xgrammar)

def closing_reserve(schema: dict, max_new_tokens: int) -> int:
    """Tokens kept at the end of the budget to close an open JSON value: a few per property name."""
    names: list[str] = []

    def walk(s: Any):
        if isinstance(s, dict):
            for name, sub in (s.get("properties") or {}).items():
                names.append(name)
                walk(sub)
            for k in ("items", "additionalProperties"):
                walk(s.get(k))
            for k in ("anyOf", "oneOf", "allOf"):
                for sub in s.get(k) or []:
                    walk(sub)

    walk(schema)
    need = 8 + sum(6 + len(n) // 2 for n in names)
    return max(1, min(need, max_new_tokens // 2))


class SchemaGrammars:
    """xgrammar grammars for one tokenizer, compiled once per schema."""

    def __init__(self, tokenizer, vocab_size: int, stop_token_ids: list[int]):
        import xgrammar as xgr

        self._xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size,
                                                       stop_token_ids=list(stop_token_ids))
        self.vocab_size = vocab_size
        self._compiler = xgr.GrammarCompiler(self.info, max_threads=2)
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.compiles = 0
        self.closing_bonus = self._closing_bonus(stop_token_ids)

    def _closing_bonus(self, stop_token_ids):
        """Per-token logit bonus used near the end of the budget: the stop token first, then
        tokens that close a string (`"`, `"}`, ...), then tokens that close objects/arrays (`}`, `]}`).
        Inside a string `}` is plain text, so string-closing tokens must outrank it."""
        import torch

        bonus = torch.zeros(self.vocab_size)
        for i, b in enumerate(self.info.decoded_vocab[: self.vocab_size]):
            if b and all(c in b'"}]' for c in b):
                bonus[i] = 2e4 if b[:1] == b'"' else 1e4
        for i in stop_token_ids:
            if i < self.vocab_size:
                bonus[i] = 3e4
        return bonus

    def get(self, schema: dict):
        key = schema_key(schema)
        with self._lock:
            g = self._cache.get(key)
            if g is None:
                g = self._compiler.compile_json_schema(schema, any_whitespace=False)
                self._cache[key] = g
                self.compiles += 1
            return g


class JsonLogitsProcessor:
    """Masks forbidden tokens for each row of a batch (one grammar matcher per sequence).

    Rows are the expanded batch (prompts x num_return_sequences). Once fewer than
    `reserve` tokens are left, tokens that close strings/objects get a large bonus.
    """

    def __init__(self, grammar, rows: int, prompt_len: int, max_new_tokens: int,
                 closing_bonus, reserve: int):
        import xgrammar as xgr

        self._xgr = xgr
        self.matchers = [xgr.GrammarMatcher(grammar) for _ in range(rows)]
        self.vocab_size = grammar.tokenizer_info.vocab_size
        self.bitmask = xgr.allocate_token_bitmask(rows, self.vocab_size)
        self.prompt_len = prompt_len
        self.max_new_tokens = max_new_tokens
        self.reserve = reserve
        self.closing_bonus = closing_bonus
        self.rejected = 0

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.prompt_len
        if input_ids.shape[0] != len(self.matchers):
            raise RuntimeError(f"structured decoding expected {len(self.matchers)} rows, got {input_ids.shape[0]}")
        if step > 0:
            last = input_ids[:, -1].tolist()
            for m, tok in zip(self.matchers, last):
                if not m.is_terminated() and not m.accept_token(tok):
                    # Cannot happen when the mask was applied; keep going rather than crash.
                    self.rejected += 1
        active = [i for i, m in enumerate(self.matchers) if not m.is_terminated()]
        if not active:
            return scores
        for i in active:
            self.matchers[i].fill_next_token_bitmask(self.bitmask, i)
        device = scores.device
        work = scores if device.type in ("cpu", "cuda") else scores.to("cpu")
        self._xgr.apply_token_bitmask_inplace(work, self.bitmask.to(work.device), vocab_size=self.vocab_size,
                                              indices=active)
        if self.max_new_tokens - step <= self.reserve:
            # masked logits stay -inf; among allowed tokens the closing ones win
            if self.closing_bonus.device != work.device:
                self.closing_bonus = self.closing_bonus.to(work.device)
            width = min(work.shape[1], self.closing_bonus.shape[0])
            work[active, :width] += self.closing_bonus[:width].to(work.dtype)
        return work if work is scores else work.to(device)
