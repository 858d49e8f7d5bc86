"""Stop generating where the answer is complete.

A student reply is graded by the answer checker; everything a model writes after its answer
is wasted compute (the bundled model rambles to max_tokens: an eval of 300 items at 512 tokens
ran for over 20 minutes). `AnswerStop.for_task(task)` says, from the task's answer spec, when a
reply's answer is complete, so measure, evaluate and training rollouts can stop there:

    stop = AnswerStop.for_task(task)
    stop.complete("Let me think... #### 64\n")   # True: the answer line is finished
    stop.strings                                   # plain stop strings, for engines that take only those

What is graded does not change: generation stops only once the text that the checker reads is
finished (the closing tag, the end of the `####` line, the closing brace of `\\boxed{}`, the end of
an "The answer is X" line, or the end of the first line for a bare answer). A reply that keeps
reasoning past a *first* "answer" line is cut there, so the answer the model stated first is the
one graded; that is the reading the task's output format asks for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Output formats that ask for nothing but the answer ("Answer with just the number.").
_BARE = re.compile(r"\b(just|only|nothing but|single)\b.*\b(answer|number|letter|label|word|value|integer)\b"
                   r"|\b(answer|number|letter|label|word)\s+only\b", re.I | re.S)
_ANSWER_LINE = re.compile(r"(?im)^[ \t>*_#]*(?:so,?\s+|therefore,?\s+|thus,?\s+)?(?:the\s+)?(?:final\s+)?"
                          r"answer\s*(?:is|:)[^\n]*\S[^\n]*\n")
_HASH_LINE = re.compile(r"####[^\n]*\S[^\n]*\n")
# A bare answer fits on a short first line.
_BARE_MAX = 60
# Only the tail of a reply is examined: an answer marker is found near where the model is writing.
_TAIL = 4000


def _boxed_closed(text: str) -> bool:
    i = text.rfind("\\boxed")
    if i < 0:
        return False
    j = text.find("{", i)
    if j < 0:
        return False
    depth = 0
    for ch in text[j:]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return True
    return False


@dataclass(frozen=True)
class AnswerStop:
    """When a reply's answer is complete, for one task's answer format.

    mode: "tags" | "hashes" | "boxed" | "answer_line" | "bare" | "pattern"
    strings: stop strings an engine that knows only strings may use (empty where a string cannot say it).
    task: for "bare" and "answer_line", the task whose checker decides whether a line states an answer.
    """

    mode: str
    strings: tuple[str, ...] = ()
    pattern: str | None = None
    task: object = field(default=None, compare=False, repr=False)
    # pattern mode under a flexible reading: the checker also reads the format's other ways of stating
    # an answer when the pattern does not match, so the format's own rule stops a reply too
    fallback: "AnswerStop | None" = field(default=None, compare=False, repr=False)

    @classmethod
    def for_task(cls, task) -> "AnswerStop":
        spec = task.answer
        pattern = getattr(spec, "pattern", None)
        if pattern:
            flexible = getattr(spec, "reading", "flexible") != "strict"
            # a plain-format pattern task asks for a one-line answer ("23 + 41 = 64"): a short first line
            # the checker reads is a complete reply
            fallback = (cls("bare", (), None, task) if spec.format == "plain" else cls._for_format(task)) \
                if flexible else None
            return cls("pattern", (), pattern, task, fallback)
        return cls._for_format(task)

    @classmethod
    def _for_format(cls, task) -> "AnswerStop":
        spec = task.answer
        fmt = spec.format
        if fmt == "tags":
            return cls("tags", ("</answer>",))
        if fmt == "####":
            return cls("hashes")
        if fmt == "boxed":
            return cls("boxed")
        if _BARE.search(task.output_format or ""):
            return cls("bare", (), None, task)
        return cls("answer_line", (), None, task)

    def triggers(self, piece: str) -> bool:
        """Whether a newly generated piece of text could have completed the answer (cheap pre-check)."""
        if self.fallback is not None and self.fallback.triggers(piece):
            return True
        if self.mode == "tags":
            return ">" in piece
        if self.mode == "boxed":
            return "}" in piece
        return "\n" in piece

    def complete(self, text: str) -> bool:
        """True once `text` (the reply so far) holds a finished answer in this format."""
        tail = text[-_TAIL:]
        if self.mode == "tags":
            return re.search(r"<answer>.*?</answer>", tail, re.S | re.I) is not None
        if self.mode == "hashes":
            return _HASH_LINE.search(tail) is not None
        if self.mode == "boxed":
            return _boxed_closed(tail)
        if self.mode == "pattern":
            try:
                m = re.search(self.pattern, tail)
            except re.error:
                return False
            if m is not None and "\n" in tail[m.end():]:
                return True
            return self.fallback is not None and self.fallback.complete(text)
        if self.mode == "bare":
            # a first line that is itself the answer ("64"); a model that ignores "just the number"
            # and reasons instead is read like any other reply: stop after its answer line
            body = text.lstrip()
            first, newline, _ = body.partition("\n")
            if newline and len(first) <= _BARE_MAX and self._reads(first):
                return True
        return self._answer_line(tail)

    def _answer_line(self, tail: str) -> bool:
        # a finished "The answer is X" line from which the checker reads an answer ("the answer is:" alone,
        # or "the answer is not obvious", does not end the reply)
        return any(self._reads(m.group(0)) for m in _ANSWER_LINE.finditer(tail))

    def _reads(self, line: str) -> bool:
        from .scoring import extract

        return self.task is not None and extract(line, self.task) is not None

    def restore(self, text: str) -> str:
        """Put back a stop string an OpenAI-style server cut off (they leave the matched string out)."""
        if self.mode == "tags":
            i = text.lower().rfind("<answer>")
            if i >= 0 and "</answer>" not in text[i:].lower():
                return text + "</answer>"
        return text
