"""THE OLD READING, kept as the baseline for bench/checker.py: synthrl/scoring.py as it was before
issue 10 section 1 (git HEAD at the time), verbatim except this docstring and the import of TaskDefinition.
Its flexible mode ends in a blind scan of the prose for the last number / letter / label.
Never import this from synthrl; it is only here to be measured against."""
from __future__ import annotations

import functools
import logging
import re
import threading
from fractions import Fraction
from typing import Any, Callable

from synthrl.task import TaskDefinition

# Only the last part of a huge reply is read: answers stand at the end, and this
# keeps every regex linear and cheap on garbage input.
MAX_CHARS = 20_000
# Numbers are compared with this absolute tolerance (the paper: 1e-3).
NUMBER_TOLERANCE = 1e-3
# math-verify is only asked about answers up to this length (sympy can be slow).
_MATH_VERIFY_MAX = 300

__all__ = [
    "extract", "answers_equal", "is_correct", "make_reward", "completion_text", "reference_answer",
    "normalize_number", "normalize_choice", "normalize_label", "normalize_math", "normalize_answer",
]


# --------------------------------------------------------------------------------------
# Completion shapes
# --------------------------------------------------------------------------------------
def completion_text(completion: Any) -> str | None:
    """The reply text of a completion: a string, a chat message or a list of messages.

    For a conversation, only assistant turns count (the prompt never earns anything):
    the last assistant message's content.
    """
    if completion is None:
        return None
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        content = completion.get("content")
        if isinstance(content, list):  # multimodal content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content if isinstance(content, str) else None
    if isinstance(completion, (list, tuple)):
        msgs = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in msgs if m.get("role", "assistant") == "assistant"]
        if not assistant:
            return None
        return completion_text(assistant[-1])
    return None


# --------------------------------------------------------------------------------------
# Locating an answer in a reply
# --------------------------------------------------------------------------------------
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
# "the answer is X", "final answer: X", "answer = X" (the last one in the reply wins).
_ANSWER_IS_RE = re.compile(
    r"\b(?:final\s+answer|correct\s+answer|the\s+answer|answer)\s*(?:is|was|would\s+be|will\s+be|:|=)\s*:?\s*"
    r"([^\n]{1,200})",
    re.IGNORECASE,
)
_ANSWER_COLON_RE = re.compile(r"^\s*\**\s*answer\s*\**\s*:\s*\**\s*([^\n]{1,200})", re.IGNORECASE | re.MULTILINE)


def _last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (nested braces allowed); None when there is none."""
    starts = [m.end() for m in _BOXED_RE.finditer(text)]
    # Only the last few: a reply of thousands of unclosed boxes must stay cheap.
    for start in reversed(starts[-4:]):
        depth, i = 1, start
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                i += 2  # skip escaped characters such as \{ and \}
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
            i += 1
    return None


def _last_tag(text: str, allow_unclosed: bool = False) -> str | None:
    """Content of the last <answer>...</answer> (found with rfind: linear on any input)."""
    low = text.lower()
    close = low.rfind("</answer>")
    if close >= 0:
        open_ = low.rfind("<answer>", 0, close)
        if open_ >= 0:
            return text[open_ + len("<answer>"):close].strip()
    if allow_unclosed:
        open_ = low.rfind("<answer>")
        if open_ >= 0 and open_ > close:
            rest = text[open_ + len("<answer>"):].strip()
            return rest[:200] or None
    return None


def _after_hashes(text: str) -> str | None:
    i = text.rfind("####")
    if i < 0:
        return None
    rest = text[i + 4:].strip()
    if not rest:
        return None
    return rest.splitlines()[0].strip()


def _locate(text: str, fmt: str, flexible: bool = False) -> str | None:
    """The raw answer text at the place `fmt` names."""
    if fmt == "####":
        return _after_hashes(text)
    if fmt == "boxed":
        return _last_boxed(text)
    if fmt == "tags":
        return _last_tag(text, allow_unclosed=flexible)
    if fmt == "plain":
        s = text.strip()
        return s or None
    return None


# --------------------------------------------------------------------------------------
# Normalising one answer per type
# --------------------------------------------------------------------------------------
_CURRENCY = "$€£¥₹"
_NUM_CORE = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
# A signed number, optionally a fraction a/b. The sign counts only where it cannot be
# a binary minus ("10-3" has no -3 in it).
_NUMBER_RE = re.compile(
    r"(?P<sign>(?<![\w.)\]}])[-−])?[" + _CURRENCY + r"]?(?P<num>" + _NUM_CORE + r")"
    r"(?:\s?/\s?(?P<den>\d+(?:\.\d+)?))?(?!\d)"
)
_FRAC_RE = re.compile(r"^(-?)\\[dt]?frac\s*\{\s*(-?[\d.]+)\s*\}\s*\{\s*(-?[\d.]+)\s*\}$")
_FRAC_SHORT_RE = re.compile(r"^(-?)\\[dt]?frac\s*(\d)\s*(\d)$")
_FULL_NUMBER_RE = re.compile(
    r"^(?P<sign>[-−+])?\s*[" + _CURRENCY + r"]?\s*(?P<num>" + _NUM_CORE + r")(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?"
    r"\s*(?P<tail>.*)$",
    re.DOTALL,
)
# What may follow a number and still leave it a bare number: %, units, "apples in total".
_UNIT_TAIL_RE = re.compile(
    r"^(?:%|percent|[A-Za-z°µ][A-Za-z°µ.,/'-]*(?:\s+[A-Za-z°µ.,/'-]+){0,2}(?:\^\{?[23]\}?|[²³])?)?\s*[.,!]?$"
)
_MAX_DIGITS = 60


def _strip_latex_wrappers(s: str) -> str:
    s = s.strip()
    for _ in range(3):
        before = s
        if len(s) >= 2 and s[0] == "$" and s[-1] == "$":
            s = s.strip("$").strip()
        if s.startswith("\\(") and s.endswith("\\)"):
            s = s[2:-2].strip()
        if s.startswith("\\[") and s.endswith("\\]"):
            s = s[2:-2].strip()
        inner = _last_boxed(s) if s.startswith(("\\boxed", "\\fbox")) else None
        if inner is not None:
            s = inner
        if s.startswith("**") and s.endswith("**") and len(s) > 4:
            s = s[2:-2].strip()
        if s == before:
            break
    return s


def _to_fraction(num: str, den: str | None = None, sign: str | None = None) -> Fraction | None:
    num = num.replace(",", "")
    if len(num) > _MAX_DIGITS or (den and len(den) > _MAX_DIGITS):
        return None
    try:
        value = Fraction(num)
        if den is not None:
            d = Fraction(den)
            if d == 0:
                return None
            value = value / d
    except (ValueError, ZeroDivisionError):
        return None
    return -value if sign in ("-", "−") else value


def _parse_number(text: str) -> Fraction | None:
    """A number written as a whole answer: '$1,234.50', '-3/4', '15%', '64 apples', '\\frac{1}{2}'."""
    s = _strip_latex_wrappers(text)
    s = s.replace("\\$", "$").replace("\\%", "%").replace("{,}", ",").replace("\\,", "").replace("\\!", "")
    s = s.replace("\\left", "").replace("\\right", "").replace("^\\circ", "").replace("^{\\circ}", "")
    s = re.sub(r"\\(?:text|mathrm|textbf|mbox)\s*\{([^{}]*)\}", r" \1", s).strip()
    s = re.sub(r"^[=:]\s*", "", s)
    s = s.rstrip(".").strip()
    if not s or len(s) > 200:
        return None
    m = _FRAC_RE.match(s) or _FRAC_SHORT_RE.match(s)
    if m:
        v = _to_fraction(m.group(2), m.group(3))
        return None if v is None else (-v if m.group(1) else v)
    m = _FULL_NUMBER_RE.match(s)
    if not m:
        return None
    tail = m.group("tail").strip()
    if tail and not _UNIT_TAIL_RE.match(tail):
        return None
    return _to_fraction(m.group("num"), m.group("den"), m.group("sign"))


def _canonical(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def normalize_number(text: str | None) -> str | None:
    """A number's canonical string ("1,234" -> "1234", "1/2" -> "0.5", "$5.00" -> "5"); None if not a number."""
    if not text:
        return None
    v = _parse_number(text)
    return None if v is None else _canonical(v)


def _last_number(text: str) -> str | None:
    last = None
    for m in _NUMBER_RE.finditer(text):
        last = m
    if last is None:
        return None
    v = _to_fraction(last.group("num"), last.group("den"), last.group("sign"))
    return None if v is None else _canonical(v)


def _choices(task: TaskDefinition) -> tuple[str, ...]:
    return tuple(c.upper() for c in (task.answer.choices or ("A", "B", "C", "D")))


# A short answer naming an option: "B", "(b)", "B.", "B) 42 N", "Option C". A letter followed
# by a space and prose ("A patient ...") is not an option.
_CHOICE_RE = re.compile(r"^(?:(?:option|choice|answer)\s*[:=]?\s*)?([\[(])?\s*([A-Za-z])\s*([\])])?(.?)", re.IGNORECASE)


def normalize_choice(text: str | None, task: TaskDefinition) -> str | None:
    """The uppercase option letter a short answer names ('(b)', 'B. Paris', 'Option C'), among the task's choices."""
    if not text:
        return None
    s = _strip_latex_wrappers(text).strip().strip("*_`'\"").strip()
    s = re.sub(r"^\\text\{([^{}]*)\}", r"\1", s)
    m = _CHOICE_RE.match(s)
    if not m:
        return None
    opened, letter, closed, after = m.groups()
    if after and after.isalnum():
        return None
    if after and after.isspace() and not (opened or closed) and m.end() < len(s):
        return None
    letter = letter.upper()
    return letter if letter in _choices(task) else None


def _labels(task: TaskDefinition) -> tuple[str, ...]:
    if task.answer.labels:
        return task.answer.labels
    return ("Yes", "No") if task.answer.type == "yes_no" else ()


def normalize_label(text: str | None, task: TaskDefinition) -> str | None:
    """The canonical label (as the task spells it) a short answer names, case-insensitively."""
    if not text:
        return None
    s = _strip_latex_wrappers(text).strip().strip("*_`'\"()[]").strip()
    low = s.casefold()
    # Longest label first, so a label that extends another ("not sure" vs "not") wins.
    for label in sorted(_labels(task), key=len, reverse=True):
        lab = label.casefold()
        if low == lab or low.rstrip(".!") == lab:
            return label
        if low.startswith(lab) and not low[len(lab):len(lab) + 1].isalnum():
            return label
    return None


def normalize_math(text: str | None) -> str | None:
    """A LaTeX answer tidied for comparison: no $ or \\( \\), no \\left/\\right, spacing commands or trailing dot."""
    if not text:
        return None
    s = _strip_latex_wrappers(text)
    s = s.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("\\,", "")
    s = s.replace("\\;", "").replace("\\ ", " ").replace("dfrac", "frac").replace("tfrac", "frac")
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    return s or None


def _normalize_text(text: str | None) -> str | None:
    if not text:
        return None
    s = re.sub(r"\s+", " ", _strip_latex_wrappers(text)).strip().rstrip(".").strip()
    return s or None


def normalize_answer(text: str | None, task: TaskDefinition) -> str | None:
    """One answer (already located) in its canonical form for the task's answer type; None if unreadable."""
    if text is None:
        return None
    text = text[-MAX_CHARS:]
    t = task.answer.type
    if t == "number":
        return normalize_number(text)
    if t == "choice":
        return normalize_choice(text, task)
    if t in ("label", "yes_no"):
        return normalize_label(text, task)
    if t == "math":
        return normalize_math(text)
    return _normalize_text(text)


# --------------------------------------------------------------------------------------
# extract
# --------------------------------------------------------------------------------------
_ALPHA_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{4,}")
_TWO_WORDS_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}\s+[a-zA-Z]{2,}")


def _bare_math(text: str) -> str | None:
    """The whole reply when it is a single short expression (no prose): '\\frac{1}{2}', 'x^2+1'."""
    s = text.strip()
    if not s or len(s) > 120:
        return None
    without_text = re.sub(r"\\(?:text|mathrm|mbox)\s*\{[^{}]*\}", "", s)
    if _ALPHA_WORD_RE.search(without_text) or _TWO_WORDS_RE.search(without_text):
        return None
    return normalize_math(s)


def _scan(text: str, task: TaskDefinition) -> str | None:
    """Last resort: the last number / standalone choice letter / label word in the reply."""
    t = task.answer.type
    if t in ("number", "math"):
        return _last_number(text)
    if t == "choice":
        letters = "".join(_choices(task))
        last = None
        for m in re.finditer(r"(?<![A-Za-z0-9'])([" + re.escape(letters) + r"])(?![A-Za-z0-9'])", text):
            last = m
        return last.group(1) if last else None
    if t in ("label", "yes_no"):
        labels = sorted(_labels(task), key=len, reverse=True)
        if not labels:
            return None
        pattern = r"(?<![A-Za-z])(" + "|".join(re.escape(x) for x in labels) + r")(?![A-Za-z])"
        last = None
        for m in re.finditer(pattern, text, re.IGNORECASE):
            last = m
        return normalize_label(last.group(1), task) if last else None
    return None


def _from_phrase(raw: str, task: TaskDefinition) -> str | None:
    """Read an answer out of the text after 'the answer is' (may trail with prose)."""
    raw = raw.strip()
    v = normalize_answer(raw, task)
    if v is not None and task.answer.type not in ("math", "text"):
        return v
    t = task.answer.type
    if t == "math":
        boxed = _last_boxed(raw)
        if boxed is not None:
            return normalize_math(boxed)
        dollars = re.search(r"\$([^$]{1,200})\$", raw)
        if dollars:
            return normalize_math(dollars.group(1))
        return normalize_math(re.split(r"\.(?:\s|$)|;|\s(?:since|because|so|as)\s", raw, maxsplit=1)[0])
    if t == "text":
        return _normalize_text(raw)
    first_clause = re.split(r"[\n;]|(?<!\d)\.(?!\d)", raw, maxsplit=1)[0]
    if t == "choice":
        # "C because ..." / "option (b)": the letter the phrase starts with.
        m = re.match(r"^\**\s*(?:option|choice)?\s*[\[(]?\s*([A-Z])(?![A-Za-z0-9])", raw, re.IGNORECASE)
        if m and (m.group(1).isupper() or re.match(r"^\W*[a-z]\W*$", first_clause)):
            letter = m.group(1).upper()
            if letter in _choices(task):
                return letter
    if t == "number":
        return _last_number(first_clause) if first_clause else None
    return _scan(first_clause, task) if first_clause else None


def extract(completion: Any, task: TaskDefinition, strict: bool = False) -> str | None:
    """The answer a reply gives, normalised for the task's answer type; None when there is none.

    strict=True reads only the declared output format (e.g. only text after the last `####`);
    the default also tries other common places (see the module docstring).
    """
    text = completion_text(completion)
    if not text or not text.strip():
        return None
    text = text[-MAX_CHARS:]
    fmt = task.answer.format
    t = task.answer.type

    located = _locate(text, fmt, flexible=not strict)
    if located is not None:
        if fmt == "####" and t == "number":
            # As GSM8K reads it: the first number after the last ####.
            value = normalize_number(located) or (_last_number(re.split(r"\s", located, maxsplit=1)[0])
                                                  if strict else _from_phrase(located, task))
        else:
            value = normalize_answer(located, task)
            if value is None and not strict and fmt != "plain":
                value = _from_phrase(located, task) or _scan(located, task)
        if value is not None or strict:
            return value
    elif strict:
        return None

    # Flexible fallbacks, most explicit first.
    for other in ("boxed", "####", "tags"):
        if other != fmt:
            found = _locate(text, other, flexible=True)
            if found is not None:
                value = normalize_answer(found, task) or _from_phrase(found, task)
                if value is not None:
                    return value
    for regex in (_ANSWER_IS_RE, _ANSWER_COLON_RE):
        last = None
        for m in regex.finditer(text):
            last = m
        if last is not None:
            value = _from_phrase(last.group(1), task)
            if value is not None:
                return value
    if fmt != "plain":
        bare = _bare_math(text) if t == "math" else normalize_answer(text.strip(), task) if len(text) < 300 else None
        if bare is not None:
            return bare
    elif t == "math":
        bare = _bare_math(text)
        if bare is not None:
            return bare
    return _scan(text, task)


# --------------------------------------------------------------------------------------
# Comparing two answers
# --------------------------------------------------------------------------------------
def _numbers_close(a: str, b: str) -> bool | None:
    x, y = _parse_number(a), _parse_number(b)
    if x is None or y is None:
        return None
    return abs(float(x - y)) <= NUMBER_TOLERANCE


# Exponent towers, huge powers and factorials can stall sympy: such answers are compared
# as text only (off the main thread math-verify has no timeout at all).
_RISKY_MATH_RE = re.compile(r"\*\*|\^\s*\{?[^}]*\^|(?:[)}]|\d{4,})\s*!|\d{4,}\s*\^|\^\s*\{?\s*\(?\d{4,}")


@functools.lru_cache(maxsize=65536)
def _math_verify_equal(a: str, b: str) -> bool | None:
    """math-verify's judgement (None when it cannot tell), bounded in time."""
    if len(a) > _MATH_VERIFY_MAX or len(b) > _MATH_VERIFY_MAX:
        return None
    if _RISKY_MATH_RE.search(a) or _RISKY_MATH_RE.search(b):
        return None
    try:
        from math_verify import parse, verify
    except ImportError:  # pragma: no cover - a dependency, but keep the checker usable
        return None
    # Its timeout is a SIGALRM, which only the main thread may use; it warns on every miss.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    main = threading.current_thread() is threading.main_thread()
    timeout = 2 if main else None
    try:
        gold = parse(f"${b}$", parsing_timeout=timeout)
        pred = parse(f"${a}$", parsing_timeout=timeout)
        if not gold or not pred:
            return None
        return bool(verify(gold, pred, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - math-verify raises many kinds; any of them means "cannot tell"
        return None


def answers_equal(a: str | None, b: str | None, task: TaskDefinition) -> bool:
    """Whether two extracted answers are the same answer for this task (symmetric in intent)."""
    if a is None or b is None:
        return False
    a, b = str(a)[-MAX_CHARS:], str(b)[-MAX_CHARS:]
    t = task.answer.type
    if t == "number":
        close = _numbers_close(a, b)
        if close is not None:
            return close
        return _normalize_text(a) == _normalize_text(b) and _normalize_text(a) is not None
    if t == "choice":
        x, y = normalize_choice(a, task), normalize_choice(b, task)
        return x is not None and x == y
    if t in ("label", "yes_no"):
        x, y = normalize_label(a, task), normalize_label(b, task)
        if x is not None and y is not None:
            return x == y
        return a.strip().casefold() == b.strip().casefold() and bool(a.strip())
    if t == "math":
        x, y = normalize_math(a), normalize_math(b)
        if x is None or y is None:
            return False
        if x == y or x.replace(" ", "") == y.replace(" ", ""):
            return True
        close = _numbers_close(x, y)
        if close is not None:
            return close
        verdict = _math_verify_equal(x, y)
        return bool(verdict)
    x, y = _normalize_text(a), _normalize_text(b)
    return x is not None and x.casefold() == (y or "").casefold()


def reference_answer(reference: str | None, task: TaskDefinition) -> str | None:
    """The answer a reference gives: a bare answer ('42', 'B', '\\frac{1}{2}') or a full solution."""
    if reference is None:
        return None
    ref = str(reference)
    if not ref.strip():
        return None
    # A full solution in the task's own format.
    declared = extract(ref, task, strict=True)
    if declared is not None and task.answer.format != "plain":
        return declared
    # A bare answer.
    bare = _bare_math(ref) if task.answer.type == "math" else normalize_answer(ref.strip(), task)
    if bare is not None:
        return bare
    found = extract(ref, task)
    if found is not None:
        return found
    return ref.strip()


def is_correct(completion: Any, reference: str | None, task: TaskDefinition, strict: bool = False) -> bool:
    """Whether a reply's answer equals the reference's. The reference may be bare or a full solution."""
    pred = extract(completion, task, strict=strict)
    if pred is None:
        return False
    return answers_equal(pred, reference_answer(reference, task), task)


# --------------------------------------------------------------------------------------
# The RL reward
# --------------------------------------------------------------------------------------
def make_reward(task: TaskDefinition, strict: bool = False, format_reward: float = 0.0) -> Callable[..., list[float]]:
    """A TRL reward function `(completions, answer, **kw) -> list[float]`: 1.0 correct, else 0.0.

    Only the completion is scored, never the prompt (TRL passes `prompts` too; it is ignored),
    so a prompt that happens to contain the answer earns nothing. `format_reward` (default 0)
    is given to a wrong answer that still follows the declared format, as the paper's code does.

        reward = make_reward(task)
        reward(completions=["#### 64", "#### 63"], answer=["64", "64"])   # [1.0, 0.0]
    """

    def correct(completions: list[Any], answer: list[str] | str | None = None, **kwargs: Any) -> list[float]:
        refs = answer if answer is not None else kwargs.get("reference")
        if refs is None:
            raise ValueError("the reward needs the reference answers: a dataset column named 'answer'")
        if isinstance(refs, str):
            refs = [refs] * len(completions)
        if len(refs) != len(completions):
            raise ValueError(f"{len(completions)} completions but {len(refs)} reference answers")
        scores = []
        for completion, ref in zip(completions, refs):
            if is_correct(completion, ref, task, strict=strict):
                scores.append(1.0)
            elif format_reward and extract(completion, task, strict=True) is not None:
                scores.append(float(format_reward))
            else:
                scores.append(0.0)
        return scores

    correct.__name__ = "correct_strict" if strict else "correct"
    correct.__qualname__ = correct.__name__
    return correct
