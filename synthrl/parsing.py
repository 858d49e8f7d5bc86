"""Read JSON objects out of teacher replies, tolerantly and safely.

Teachers wrap JSON in code fences, add a sentence before or after it, use
single quotes, leave trailing commas, forget to quote keys or stop mid-object
when they hit the token limit. This module repairs what it reasonably can with
a small lenient parser (never `eval`) and otherwise says why it gave up, so the
caller can record the raw text as a failure instead of dropping it silently.

    obj, reason = parse_sample_json('```json\\n{"input": "2+3?", "output": "5",}\\n```')
    obj == {"input": "2+3?", "output": "5"}; reason == "repaired"
"""
from __future__ import annotations

import json
import re
from typing import Any

# Keys a teacher sometimes uses instead of input/output; mapped onto ours.
_INPUT_ALIASES = ("input", "question", "problem", "prompt", "query", "instruction")
_OUTPUT_ALIASES = ("output", "answer", "solution", "response", "completion")

_FENCE_RE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```|$)", re.DOTALL)
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


class _Lenient:
    """A forgiving JSON reader: single quotes, unquoted keys, trailing commas,
    comments, raw newlines in strings, Python literals, and missing closers at
    the end of the text (a reply cut off by max_tokens)."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def parse(self) -> Any:
        self._ws()
        return self._value()

    def _ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif s.startswith("//", self.i):
                j = s.find("\n", self.i)
                self.i = n if j < 0 else j + 1
            elif s.startswith("/*", self.i):
                j = s.find("*/", self.i + 2)
                self.i = n if j < 0 else j + 2
            else:
                break

    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _value(self) -> Any:
        self._ws()
        c = self._peek()
        if c == "{":
            return self._object()
        if c == "[":
            return self._array()
        if c in "\"'":
            return self._string(c)
        if c == "":
            raise ValueError("text ends where a value was expected")
        return self._bare()

    def _object(self) -> dict:
        self.i += 1
        out: dict = {}
        while True:
            self._ws()
            c = self._peek()
            if c == "":
                return out  # cut off: close it
            if c == "}":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                continue
            key = self._string(c) if c in "\"'" else self._bare_key()
            self._ws()
            if self._peek() in (":", "="):
                self.i += 1
            elif self._peek() == "":
                return out
            else:
                raise ValueError(f"expected ':' after key {key!r} at character {self.i}")
            self._ws()
            if self._peek() in ("", "}"):
                out[str(key)] = None
                continue
            out[str(key)] = self._value()

    def _array(self) -> list:
        self.i += 1
        out: list = []
        while True:
            self._ws()
            c = self._peek()
            if c == "":
                return out
            if c == "]":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                continue
            out.append(self._value())

    def _string(self, quote: str) -> str:
        s, n = self.s, len(self.s)
        self.i += 1
        buf: list[str] = []
        while self.i < n:
            c = s[self.i]
            if c == "\\" and self.i + 1 < n:
                e = s[self.i + 1]
                if e == "u" and re.match(r"[0-9a-fA-F]{4}", s[self.i + 2:self.i + 6]):
                    buf.append(chr(int(s[self.i + 2:self.i + 6], 16)))
                    self.i += 6
                    continue
                buf.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(e, e))
                self.i += 2
                continue
            if c == quote:
                # A quote followed by something that cannot follow a string is an unescaped
                # quote inside the text (e.g. 'the farmer's cows'): keep it as text.
                j = self.i + 1
                while j < n and s[j] in " \t":
                    j += 1
                if j >= n or s[j] in ",:}]\r\n":
                    self.i += 1
                    return "".join(buf)
            buf.append(c)
            self.i += 1
        return "".join(buf)  # cut off inside a string

    def _bare_key(self) -> str:
        m = re.compile(r"[A-Za-z_$][\w$-]*").match(self.s, self.i)
        if not m:
            raise ValueError(f"unexpected character {self._peek()!r} at character {self.i}")
        self.i = m.end()
        return m.group(0)

    def _bare(self) -> Any:
        m = re.compile(r"[^,}\]\n]+").match(self.s, self.i)
        if not m:
            raise ValueError(f"unexpected character {self._peek()!r} at character {self.i}")
        self.i = m.end()
        word = m.group(0).strip()
        low = word.lower()
        if low in ("true", "false"):
            return low == "true"
        if low in ("null", "none"):
            return None
        try:
            return int(word)
        except ValueError:
            pass
        try:
            return float(word)
        except ValueError:
            return word  # an unquoted string value: keep the text


def _candidates(text: str) -> list[str]:
    """Pieces of the reply that may hold the object: fenced blocks first, then from the first '{'."""
    out = [m.group(1) for m in _FENCE_RE.finditer(text) if "{" in m.group(1)]
    start = text.find("{")
    if start >= 0:
        out.append(text[start:])
    return out


def _balanced_end(s: str) -> int | None:
    """Index just past the '}' closing the object that starts at s[0], or None when cut off."""
    depth, quote, esc = 0, None, False
    for i, c in enumerate(s):
        if quote:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == quote:
                quote = None
        elif c == '"':
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def parse_json_object(text: str | None, required_keys: tuple[str, ...] | list[str] = ()) -> tuple[dict | None, str]:
    """The first JSON object in `text` that has `required_keys`, or (None, why not).

    The reason is "ok" for clean JSON, "repaired" when the lenient reader was needed.
    """
    if text is None or not str(text).strip():
        return None, "empty reply"
    text = str(text).translate(_SMART_QUOTES)
    pieces = _candidates(text)
    if not pieces:
        return None, "no JSON object in the reply (no '{' found)"
    last = "no JSON object in the reply"
    for piece in pieces:
        piece = piece[piece.find("{"):] if "{" in piece else piece
        end = _balanced_end(piece)
        exact = piece[:end] if end else piece
        try:
            obj, how = json.loads(exact), "ok"
        except (json.JSONDecodeError, RecursionError):
            try:
                obj, how = _Lenient(exact).parse(), "repaired"
            except (ValueError, RecursionError) as e:
                last = f"broken JSON that could not be repaired: {e}"
                continue
        if not isinstance(obj, dict):
            last = f"expected a JSON object, got {type(obj).__name__}"
            continue
        missing = [k for k in required_keys if k not in obj]
        if missing:
            last = f"JSON object lacks key(s) {', '.join(missing)} (has: {', '.join(map(str, obj)) or 'none'})"
            continue
        return obj, how
    return None, last


def _text_of(v: Any) -> str | None:
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return str(v)
    return str(v).strip()


def parse_sample_json(text: str | None) -> tuple[dict | None, str]:
    """A generated sample {"input": str, "output": str} out of a teacher reply, or (None, why not).

    Accepts common aliases (question/answer, problem/solution) and numbers as outputs.
    """
    obj, reason = parse_json_object(text)
    if obj is None:
        return None, reason
    lower = {str(k).strip().lower(): v for k, v in obj.items()}
    inp = next((lower[k] for k in _INPUT_ALIASES if k in lower), None)
    out = next((lower[k] for k in _OUTPUT_ALIASES if k in lower), None)
    inp, out = _text_of(inp), _text_of(out)
    if not inp:
        return None, f"sample has no non-empty 'input' (keys: {', '.join(map(str, obj)) or 'none'})"
    if not out:
        return None, f"sample has no non-empty 'output' (keys: {', '.join(map(str, obj)) or 'none'})"
    return {"input": inp, "output": out}, reason
