"""The answer checker: ONE verifier for pass rates, the RL reward and evaluation.

A task's `answer` spec fixes where the answer stands in a reply (`format`: "####",
"boxed", "tags" or "plain") and how two answers compare (`type`: number, math,
choice, label, yes_no, text). Measuring, training and evaluating all call these
functions, so measured difficulty and the training signal cannot drift apart.

Answer types are a registry: each is one `AnswerType` (how to normalise, compare and read
an answer of that kind), and the built-ins at the end of this module register with
`@answer_type` exactly as an extension would. Task validation and the app's type choices
read `answer_type_names()`.

    extract("... so 23 + 41 = 64.\\n#### 64", gsm8k)          # "64"
    is_correct("The answer is \\boxed{\\frac12}", "0.5", math_task)  # True
    reward = make_reward(task); reward(["#### 64"], answer=["64"])  # [1.0]

One reading, chosen once per task (`answer.reading`, stored with the task in the run):
- flexible (the default): the declared `answer.pattern` / `answer.format` first, then the
  other common ways real models state an answer: a \\boxed{}, `####`, `<answer>` tags,
  "The answer is (X)", "Answer: X", a bold answer in a concluding sentence, a bare answer.
- strict: only the declared pattern / format counts (the paper's reward).
A reply that states no answer earns nothing: there is no blind scan of prose for the last
number, letter or label (a reasoning chain cut short must not be credited).

Nothing here ever evaluates model output as code; inputs of any size or shape
are handled (the tail of a huge reply is what is read).
"""
from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

from .task import READINGS, TaskDefinition

# Only the last part of a huge reply is read: answers stand at the end, and this
# keeps every regex linear and cheap on garbage input.
MAX_CHARS = 20_000
# Numbers are compared with this absolute tolerance (the paper: 1e-3).
NUMBER_TOLERANCE = 1e-3
# math-verify is only asked about answers up to this length (sympy can be slow).
_MATH_VERIFY_MAX = 300

__all__ = [
    "extract", "reading_of", "pattern_problems", "READINGS", "answers_equal", "is_correct", "make_reward", "completion_text", "reference_answer",
    "normalize_number", "normalize_choice", "normalize_label", "normalize_math", "normalize_answer",
    "AnswerType", "answer_type", "register_answer_type", "answer_type_names", "get_answer_type",
]


# --------------------------------------------------------------------------------------
# Answer types: a registry
# --------------------------------------------------------------------------------------
Reader = Callable[[str, TaskDefinition], "str | None"]


@dataclass(frozen=True)
class AnswerType:
    """One answer type (a task's `answer.type`): how its answers are read and compared.

    Only `name` and `normalize` are required; every other hook has a default that treats
    the type like plain text read through `normalize`.

    normalize(text, task): one located answer in canonical form; None when unreadable.
    equal(a, b, task): whether two answers are the same (default: the same text, or the same
        normalised form; extracted answers arrive already normalised).
    phrase(raw, task): the answer in the text after "the answer is" (may trail with prose).
    bare(text, task): a short one-line reply read as a bare answer.
    bare_reference(text, task): a reference given as a bare answer, not a full solution.
    after_hashes(located, lenient): the text after the last `####`, read this type's own way
        (GSM8K's number); None to read it as any other answer place.
    placed(located, task): the answer a worked statement at the answer's place ends in.
    bold_conclusion: a **bold** answer in a concluding paragraph counts.
    points_at_option: "corresponds to option (E)" counts.
    default_format / default_choices / default_labels: filled in by task validation.
    check(choices, labels): extra task validation, as [(field under answer, reason)].
    """

    name: str
    normalize: Reader
    help: str = ""
    default_format: str = "plain"
    equal: Callable[[str, str, TaskDefinition], bool] | None = None
    phrase: Reader | None = None
    bare: Reader | None = None
    bare_reference: Reader | None = None
    after_hashes: Callable[[str, bool], "str | None"] | None = None
    placed: Reader | None = None
    bold_conclusion: bool = False
    points_at_option: bool = False
    default_choices: tuple[str, ...] = ()
    default_labels: tuple[str, ...] = ()
    check: Callable[[tuple[str, ...], tuple[str, ...]], list[tuple[str, str]]] | None = None

    def same(self, a: str, b: str, task: TaskDefinition) -> bool:
        if self.equal is not None:
            return self.equal(a, b, task)
        # Extracted answers are already canonical, and a normaliser need not accept its own output.
        if a.strip() and a.strip() == b.strip():
            return True
        x = self.normalize(a, task)
        return x is not None and x == self.normalize(b, task)

    def read_phrase(self, raw: str, task: TaskDefinition) -> str | None:
        return (self.phrase or self.normalize)(raw[-MAX_CHARS:], task)

    def read_bare(self, text: str, task: TaskDefinition) -> str | None:
        return (self.bare or self.normalize)(text[-MAX_CHARS:], task)

    def read_bare_reference(self, text: str, task: TaskDefinition) -> str | None:
        if self.bare_reference is not None:
            return self.bare_reference(text, task)
        return self.normalize(text.strip()[-MAX_CHARS:], task)

    def problems(self, choices: tuple[str, ...], labels: tuple[str, ...]) -> list[tuple[str, str]]:
        return self.check(choices, labels) if self.check is not None else []


_ANSWER_TYPES: dict[str, AnswerType] = {}


def register_answer_type(kind: AnswerType) -> AnswerType:
    """Add (or replace) an answer type; tasks may name it from then on."""
    _ANSWER_TYPES[kind.name] = kind
    return kind


def answer_type(name: str, help: str = "", **hooks: Any):
    """Register the decorated `normalize(text, task)` as answer type `name` (hooks as in AnswerType).

        @answer_type("roman", "a Roman numeral: XIV == 14", default_format="tags")
        def _roman(text, task):
            return str(roman_to_int(text)) if is_roman(text) else None
    """

    def deco(fn: Reader) -> Reader:
        register_answer_type(AnswerType(name, fn, help, **hooks))
        return fn

    return deco


def answer_type_names() -> tuple[str, ...]:
    """The registered answer types, built-ins first (the task validator's and the app's choices)."""
    return tuple(_ANSWER_TYPES)


def get_answer_type(name: str) -> AnswerType:
    if name not in _ANSWER_TYPES:
        raise ValueError(f"answer.type: must be one of {', '.join(_ANSWER_TYPES)}, got {name!r}")
    return _ANSWER_TYPES[name]


def _type_of(task: TaskDefinition) -> AnswerType:
    # A TaskDefinition built in code may name an unregistered type: it reads as text.
    kind = task.answer.type
    return _ANSWER_TYPES.get(kind) if isinstance(kind, str) and kind in _ANSWER_TYPES else _ANSWER_TYPES["text"]


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
        # "\( B \).", "$5$.": a full stop after a closed math wrapper
        if s[-1:] in ".,;" and s[:-1].rstrip().endswith(("$", "\\)", "\\]")):
            s = s[:-1].rstrip()
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
    if "\n" in s:
        return None  # a reasoning chain that opens with "A. ..." is not an answer naming option A
    m = _CHOICE_RE.match(s)
    if not m:
        return None
    opened, letter, closed, after = m.groups()
    if after and (after.isalnum() or after in "([{_^'"):
        return None  # "B(50, 0.01)", "H(Y_n)", "A's": a symbol or word, not an option
    if after and after.isspace() and not (opened or closed) and m.end() < len(s):
        return None
    letter = letter.upper()
    return letter if letter in _choices(task) else None


def _labels(task: TaskDefinition) -> tuple[str, ...]:
    return task.answer.labels or _type_of(task).default_labels


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
    return _type_of(task).normalize(text[-MAX_CHARS:], task)


# --------------------------------------------------------------------------------------
# Declared answer patterns (a task's own regex, as lm-evaluation-harness allows)
# --------------------------------------------------------------------------------------
try:  # the `regex` module (a dependency of transformers) can stop a match after a timeout
    import regex as _pattern_re
except ImportError:  # pragma: no cover - then bounded input is the only guard
    _pattern_re = None

PATTERN_MAX_LENGTH = 200      # characters in a declared pattern
PATTERN_MAX_INPUT = 4_000     # a declared pattern only reads the last this-many characters of a reply
PATTERN_TIMEOUT_S = 0.05      # one reply's pattern matching stops after this long (no answer then)
_log = logging.getLogger(__name__)


def _sre_parse(pattern: str):
    try:
        from re import _parser as parser  # Python >= 3.11
    except ImportError:  # pragma: no cover
        import sre_parse as parser  # type: ignore[no-redef]
    return parser, parser.parse(pattern)


def _nested_repeat(items, parser, inside_repeat: bool = False) -> bool:
    """Whether a parsed pattern repeats something that itself repeats: `(a+)+`, `(\\w*\\s?)*`."""
    c = parser._constants if hasattr(parser, "_constants") else parser
    repeats = {c.MAX_REPEAT, c.MIN_REPEAT} | ({c.POSSESSIVE_REPEAT} if hasattr(c, "POSSESSIVE_REPEAT") else set())
    for op, av in items:
        if op in repeats:
            _lo, hi, sub = av
            unbounded_or_many = hi is c.MAXREPEAT or hi > 1
            if unbounded_or_many and inside_repeat:
                return True
            if _nested_repeat(sub, parser, inside_repeat or unbounded_or_many):
                return True
        elif op == c.SUBPATTERN:
            if _nested_repeat(av[-1], parser, inside_repeat):
                return True
        elif op == c.BRANCH:
            if any(_nested_repeat(branch, parser, inside_repeat) for branch in av[1]):
                return True
        elif op in (c.ASSERT, c.ASSERT_NOT):
            if _nested_repeat(av[1], parser, inside_repeat):
                return True
        elif op == c.GROUPREF or (hasattr(c, "GROUPREF_EXISTS") and op == c.GROUPREF_EXISTS):
            return True  # backreferences make matching time unbounded; refuse them too
    return False


def pattern_problems(pattern: Any) -> list[str]:
    """Why a declared answer pattern is unsafe or unusable ([] when it is fine).

    A pattern must be a string of at most PATTERN_MAX_LENGTH characters that compiles, has a
    capture group (the answer: the group named `answer`, else group 1), and repeats nothing
    that itself repeats (nested quantifiers such as `(a+)+` backtrack exponentially), and
    uses no backreferences.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        return [f"must be a non-empty string (a regular expression), got {type(pattern).__name__}"]
    if len(pattern) > PATTERN_MAX_LENGTH:
        return [f"is {len(pattern)} characters long; at most {PATTERN_MAX_LENGTH} are allowed"]
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        return [f"is not a valid regular expression: {e}"]
    problems = []
    if compiled.groups < 1:
        problems.append("has no capture group: put the answer in ( ) or (?P<answer> )")
    try:
        parser, parsed = _sre_parse(pattern)
        if _nested_repeat(list(parsed), parser):
            problems.append("repeats a part that itself repeats (nested quantifiers such as (a+)+) "
                            "or uses a backreference: matching time could explode")
    except Exception as e:  # noqa: BLE001 - a parser we cannot walk means we cannot vouch for it
        problems.append(f"could not be checked for safety: {e}")
    return problems


@functools.lru_cache(maxsize=256)
def _compile_pattern(pattern: str):
    flags = re.IGNORECASE | re.MULTILINE
    if _pattern_re is not None:
        return _pattern_re.compile(pattern, flags)
    return re.compile(pattern, flags)


def _pattern_answer(text: str, pattern: str) -> str | None:
    """The capture of the LAST match of a declared pattern in the reply's tail; None on no match or timeout."""
    compiled = _compile_pattern(pattern)
    tail = text[-PATTERN_MAX_INPUT:]
    last = None
    try:
        if _pattern_re is not None:
            for m in compiled.finditer(tail, timeout=PATTERN_TIMEOUT_S):
                last = m
        else:  # pragma: no cover
            for m in compiled.finditer(tail):
                last = m
    except TimeoutError:
        _log.warning("answer pattern %r took over %ss on a reply; read as no answer", pattern, PATTERN_TIMEOUT_S)
        return None
    if last is None:
        return None
    if "answer" in compiled.groupindex:
        return last.group("answer")
    return last.group(1)


# --------------------------------------------------------------------------------------
# extract
# --------------------------------------------------------------------------------------
_ALPHA_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{4,}")
_TWO_WORDS_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}\s+[a-zA-Z]{2,}")
# A reply this short may be a bare answer ("B", "(c)", "64 apples", "12 apples, not 13").
_BARE_MAX = 120
# "the answer is", "final answer:", "answer =" (the text after the LAST one is read).
_ANSWER_KEY_RE = re.compile(
    r"\b(?:final\s+answer|correct\s+answer|correct\s+option|right\s+answer|the\s+answer|answer)\b\**"
    r"\s*(?:is|was|would\s+be|will\s+be|should\s+be|:|=)(?![A-Za-z])\s*:?",
    re.IGNORECASE,
)
# A concluding sentence that puts its answer in bold: "Thus, Ingrid was **165 minutes late**."
_CONCLUSION_RE = re.compile(
    r"^\W*(?:thus|therefore|so|hence|in\s+conclusion|in\s+total|in\s+summary|finally|overall|altogether)\b",
    re.IGNORECASE,
)
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,80})\*\*")
# "12 apples, not 13": what follows a negation is the answer the reply rejects.
_NEGATION_RE = re.compile(r",?\s+(?:not|rather\s+than|instead\s+of|but\s+not)\b", re.IGNORECASE)
# "12 apples" / "$12.50 per hour" / "-3" at the start of a short answer, then the end or a clause break.
_LEADING_NUMBER_RE = re.compile(
    r"^\W{0,3}?(?P<sign>[-−])?[" + _CURRENCY + r"]?(?P<num>" + _NUM_CORE + r")"
    r"(?:\s?/\s?(?P<den>\d+(?:\.\d+)?))?(?:\s*(?:%|[A-Za-z°µ][A-Za-z°µ./'-]*)){0,3}\W{0,3}?(?:$|[,;.!]\s)"
)


# A whole reply that is one worked equation: "12 + 30 = 42", "$3 x 5 = $15".
_EQUATION_RE = re.compile(r"^[\d\s.,+\-−*/×÷x()$€£%]+=[^=\n]{1,40}$")


def _bare_math(text: str) -> str | None:
    """The whole reply when it is a single short expression (no prose): '\\frac{1}{2}', 'x^2+1'."""
    s = text.strip()
    if not s or len(s) > 120:
        return None
    without_text = re.sub(r"\\(?:text|mathrm|mbox)\s*\{[^{}]*\}", "", s)
    if _ALPHA_WORD_RE.search(without_text) or _TWO_WORDS_RE.search(without_text):
        return None
    return normalize_math(s)


def _leading_number(text: str) -> str | None:
    """The number a short answer starts with, when only units and a clause break follow it."""
    s = text.strip()
    if re.match(r"^\d+[.)]\s+\S", s):
        return None  # "1. First, ..." is a list item, not the answer 1
    m = _LEADING_NUMBER_RE.match(s + " ")
    if not m:
        return None
    v = _to_fraction(m.group("num"), m.group("den"), m.group("sign"))
    return None if v is None else _canonical(v)


def _bare_answer(text: str, task: TaskDefinition) -> str | None:
    """The whole reply read as a bare answer ('B', '(c)', '64 apples', '12 apples, not 13'); None if it is prose."""
    s = text.strip()
    if not s or len(s) > _BARE_MAX or "\n" in s:
        return None
    return _type_of(task).read_bare(s, task)


def _phrase_number(raw: str) -> str | None:
    clause = re.split(r"[\n;]|(?<!\d)\.(?!\d)", raw, maxsplit=1)[0]
    clause = _NEGATION_RE.split(clause, maxsplit=1)[0]
    if "=" in clause:
        clause = clause.rsplit("=", 1)[1]
    return _last_number(clause) if clause.strip() else None


def _from_phrase(raw: str, task: TaskDefinition) -> str | None:
    """Read the answer out of the text that follows 'the answer is' (it may trail with prose)."""
    raw = raw.strip()
    if not raw:
        return None
    return _type_of(task).read_phrase(raw, task)


def _phrase_answer(text: str, task: TaskDefinition) -> str | None:
    """The answer after the last 'the answer is' / 'Answer:' in the reply (the next line when the rest of its line is empty)."""
    last = None
    for m in _ANSWER_KEY_RE.finditer(text):
        last = m
    if last is None:
        return None
    rest = text[last.end():last.end() + 400]
    lines = [ln for ln in rest.split("\n")[:4]]
    first = next((ln for ln in lines if ln.strip()), "")
    return _from_phrase(first, task)


def _bold_conclusion(text: str, task: TaskDefinition) -> str | None:
    """The bold answer in a concluding last paragraph ('Thus, Tim and Donna met in the year **2000**.')."""
    if not _type_of(task).bold_conclusion:
        return None
    paragraph = text.strip().rsplit("\n\n", 1)[-1].strip()
    if not _CONCLUSION_RE.match(paragraph) or len(paragraph) > 400:
        return None
    found = [normalize_answer(m.group(1), task) for m in _BOLD_RE.finditer(paragraph)]
    found = [v for v in found if v is not None]
    return found[-1] if found else None


# "This corresponds to option (E).", "Option B is the correct answer": a sentence that points
# at one option. Only these phrasings count; an option merely discussed ("Option B: ...") does not.
_OPTION_POINTER_RE = re.compile(
    r"\bcorrespond(?:s|ing)?\s+to\s+(?:option|choice|answer)\s*\(?([A-Za-z])\)?(?![\w(])"
    r"|\b(?:option|choice)\s*\(?([A-Za-z])\)?\s+is\s+(?:the\s+)?(?:correct|right|best)\b",
    re.IGNORECASE,
)
# The last sentence of a reply that concludes with an option in parentheses:
# "Based on the given properties, the substance most likely contains covalent network bonding (C)."
_CONCLUDING_OPTION_RE = re.compile(
    r"(?:^|[.!?]\s+|\n)\W*(?:thus|therefore|so|hence|in\s+conclusion|overall|based\s+on|given)\b"
    r"[^\n.!?]{0,300}?\(([A-Za-z])\)[.!]?\s*$",
    re.IGNORECASE,
)

# A concluding sentence that rejects the option it names.
_REJECTING_RE = re.compile(r"\b(?:not|no|never|eliminat\w*|rul\w*\s+out|exclud\w*|incorrect|wrong|false|except)\b", re.IGNORECASE)


def _pointed_option(text: str, task: TaskDefinition) -> str | None:
    """The option a reply points at in words ('corresponds to option (E)'), or ends its conclusion with ('... (C).')."""
    if not _type_of(task).points_at_option:
        return None
    m = _CONCLUDING_OPTION_RE.search(text.strip()[-400:])
    if m and _REJECTING_RE.search(m.group(0)):
        m = None  # "Therefore, we can eliminate (B)." names an option it rejects
    letters = [m.group(1)] if m else []
    if not letters:
        pointers = list(_OPTION_POINTER_RE.finditer(text))
        if pointers:
            last = pointers[-1]
            letters = [last.group(1) or last.group(2)]
    for letter in letters:
        value = normalize_choice(letter, task)
        if value is not None:
            return value
    return None


def _equation_result(text: str) -> str | None:
    """The number the last equation in a stated answer ends in ('28 ÷ 2 = 14 bags. Therefore ...' -> 14)."""
    i = text.rfind("=")
    if i < 0:
        return None
    clause = re.split(r"[\n;]|(?<!\d)\.(?!\d)", text[i + 1:], maxsplit=1)[0]
    clause = _NEGATION_RE.split(clause, maxsplit=1)[0]
    return _last_number(clause) if clause.strip() else None


def _placed_answer(located: str, task: TaskDefinition) -> str | None:
    """The answer in the text at an answer's place (<answer> tags, a box) when that text is a statement, not a bare answer.

    "<answer>The answer is B</answer>" reads B; a number stated as a worked sentence reads the
    result of its last equation ("... So, 28 ÷ 2 = 14 bags. Therefore, Jean can fill 14 bags
    with 2 lollipops in each bag." -> 14), else the number its first clause ends in.
    """
    value = _phrase_answer(located, task)
    placed = _type_of(task).placed
    if value is None and placed is not None:
        value = placed(located, task)
    return value if value is not None else _from_phrase(located, task)


def _declared(text: str, task: TaskDefinition, lenient: bool) -> str | None:
    """The answer at the place the task declares: its own pattern, then its format."""
    pattern = getattr(task.answer, "pattern", None)
    if pattern:
        raw = _pattern_answer(text, pattern)
        if raw is not None:
            value = normalize_answer(raw, task) or (_from_phrase(raw, task) if lenient else None)
            if value is not None:
                return value
    fmt, kind = task.answer.format, _type_of(task)
    if fmt == "plain":
        # The whole reply is the answer; a reasoning chain, or a reply that states its answer
        # ("A. is wrong ... The answer is (F)."), is not a bare answer.
        if not lenient:
            return normalize_answer(text.strip() or None, task)
        return None if _ANSWER_KEY_RE.search(text) else _bare_answer(text, task)
    located = _locate(text, fmt, flexible=lenient)
    if located is None:
        return None
    if fmt == "####" and kind.after_hashes is not None:
        return kind.after_hashes(located, lenient)
    value = normalize_answer(located, task)
    if value is None and lenient:
        # "<answer>The answer is B</answer>": a statement inside the declared place.
        value = _placed_answer(located, task)
    return value


def _stated(text: str, task: TaskDefinition) -> str | None:
    """An answer the reply states in another common way; never a blind scan of its prose."""
    fmt = task.answer.format
    for other in ("boxed", "####", "tags"):
        if other != fmt:
            found = _locate(text, other, flexible=True)
            if found is not None:
                value = normalize_answer(found, task) or (
                    _placed_answer(found, task) if other == "tags" else _from_phrase(found, task))
                if value is not None:
                    return value
    value = _phrase_answer(text, task)
    if value is not None:
        return value
    value = _bold_conclusion(text, task)
    if value is not None:
        return value
    value = _pointed_option(text, task)
    if value is not None:
        return value
    return _bare_answer(text, task) if fmt != "plain" else None


def reading_of(task: TaskDefinition) -> str:
    """The task's answer reading, 'flexible' or 'strict' (the one setting every stage uses)."""
    return getattr(task.answer, "reading", "flexible") or "flexible"


def extract(completion: Any, task: TaskDefinition, strict: bool | None = None) -> str | None:
    """The answer a reply states, normalised for the task's answer type; None when it states none.

    The reading is the task's `answer.reading` ("flexible" by default; "strict" reads only the
    declared pattern/format, the paper's reward). `strict` overrides it for one call (tests,
    reading references); the stages never pass it, so they all read alike.
    """
    if strict is None:
        strict = reading_of(task) == "strict"
    text = completion_text(completion)
    if not text or not text.strip():
        return None
    text = text[-MAX_CHARS:]
    value = _declared(text, task, lenient=not strict)
    if value is not None or strict:
        return value
    return _stated(text, task)


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
    return _type_of(task).same(a, b, task)


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
    bare = _type_of(task).read_bare_reference(ref, task)
    if bare is not None:
        return bare
    found = extract(ref, task, strict=False)
    if found is not None:
        return found
    return ref.strip()


def is_correct(completion: Any, reference: str | None, task: TaskDefinition, strict: bool | None = None) -> bool:
    """Whether a reply's answer equals the reference's. The reference may be bare or a full solution.

    The reply is read in the task's `answer.reading` unless `strict` overrides it.
    """
    pred = extract(completion, task, strict=strict)
    if pred is None:
        return False
    return answers_equal(pred, reference_answer(reference, task), task)


# --------------------------------------------------------------------------------------
# The RL reward
# --------------------------------------------------------------------------------------
def make_reward(task: TaskDefinition, strict: bool | None = None,
                format_reward: float = 0.0) -> Callable[..., list[float]]:
    """A TRL reward function `(completions, answer, **kw) -> list[float]`: 1.0 correct, else 0.0.

    Replies are read in the task's `answer.reading` (so the reward agrees with the pass rates
    and the evaluation); `strict` overrides it only for callers outside the pipeline.

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

    if strict is None:
        strict = reading_of(task) == "strict"
    correct.__name__ = "correct_strict" if strict else "correct"
    correct.__qualname__ = correct.__name__
    return correct


# --------------------------------------------------------------------------------------
# The built-in answer types (registered as an extension would register its own)
# --------------------------------------------------------------------------------------
def _number_equal(a: str, b: str, task: TaskDefinition) -> bool:
    close = _numbers_close(a, b)
    if close is not None:
        return close
    return _normalize_text(a) == _normalize_text(b) and _normalize_text(a) is not None


def _number_phrase(raw: str, task: TaskDefinition) -> str | None:
    value = normalize_number(raw)
    return value if value is not None else _phrase_number(raw)


def _number_bare(text: str, task: TaskDefinition) -> str | None:
    value = normalize_number(text)
    if value is None:
        value = _leading_number(text)
        if value is None and _EQUATION_RE.match(text):
            value = normalize_number(text.rsplit("=", 1)[1])  # "12 + 30 = 42": the result it states
    return value


def _gsm8k_number(located: str, lenient: bool) -> str | None:
    # As GSM8K reads it: the number right after the last ####.
    value = normalize_number(located)
    if value is None:
        value = _leading_number(located) if lenient else _last_number(re.split(r"\s", located, maxsplit=1)[0])
    return value


@answer_type("number", "a number (64, 1,234.5, 3/4, $5, 15%), equal within NUMBER_TOLERANCE",
             equal=_number_equal, phrase=_number_phrase, bare=_number_bare, after_hashes=_gsm8k_number,
             placed=lambda located, task: _equation_result(located), bold_conclusion=True)
def _number(text: str, task: TaskDefinition) -> str | None:
    return normalize_number(text)


def _math_equal(a: str, b: str, task: TaskDefinition) -> bool:
    x, y = normalize_math(a), normalize_math(b)
    if x is None or y is None:
        return False
    if x == y or x.replace(" ", "") == y.replace(" ", ""):
        return True
    close = _numbers_close(x, y)
    if close is not None:
        return close
    return bool(_math_verify_equal(x, y))


def _math_phrase(raw: str, task: TaskDefinition) -> str | None:
    boxed = _last_boxed(raw)
    if boxed is not None:
        return normalize_math(boxed)
    dollars = re.search(r"\$([^$]{1,200})\$", raw)
    if dollars:
        return normalize_math(dollars.group(1))
    return normalize_math(re.split(r"\.(?:\s|$)|;|\s(?:since|because|so|as)\s", raw, maxsplit=1)[0])


@answer_type("math", "a LaTeX expression, compared as text, as a number, then by math-verify",
             default_format="boxed", equal=_math_equal, phrase=_math_phrase,
             bare=lambda text, task: _bare_math(text), bare_reference=lambda text, task: _bare_math(text))
def _math(text: str, task: TaskDefinition) -> str | None:
    return normalize_math(text)


def _first_clause(raw: str) -> str:
    return re.split(r"[\n;]|(?<!\d)\.(?!\d)", raw, maxsplit=1)[0]


def _choice_phrase(raw: str, task: TaskDefinition) -> str | None:
    value = normalize_choice(raw, task)
    if value is not None:
        return value
    # "C because ...", "(B). Paris", "**D**", "option (b)": the letter the phrase starts with.
    m = re.match(r"^[*_`\s]*(?:option|choice)?\s*[\[(]?\s*([A-Za-z])(?![A-Za-z0-9(])", raw, re.IGNORECASE)
    if m and (m.group(1).isupper() or re.match(r"^\W*[a-z]\W*$", _first_clause(raw))):
        letter = m.group(1).upper()
        if letter in _choices(task):
            return letter
    return None


def _choice_equal(a: str, b: str, task: TaskDefinition) -> bool:
    x, y = normalize_choice(a, task), normalize_choice(b, task)
    return x is not None and x == y


def _check_choices(choices: tuple[str, ...], labels: tuple[str, ...]) -> list[tuple[str, str]]:
    if any(len(c) != 1 or not c.isalpha() for c in choices):
        return [("choices", f"choices must be single letters, got {list(choices)}")]
    return []


@answer_type("choice", "an option letter among answer.choices (default A-D)", default_format="tags",
             equal=_choice_equal, phrase=_choice_phrase, bold_conclusion=True, points_at_option=True,
             default_choices=("A", "B", "C", "D"), check=_check_choices)
def _choice(text: str, task: TaskDefinition) -> str | None:
    return normalize_choice(text, task)


def _label_equal(a: str, b: str, task: TaskDefinition) -> bool:
    x, y = normalize_label(a, task), normalize_label(b, task)
    if x is not None and y is not None:
        return x == y
    return a.strip().casefold() == b.strip().casefold() and bool(a.strip())


def _label_phrase(raw: str, task: TaskDefinition) -> str | None:
    value = normalize_label(raw, task)
    # The label the phrase starts with.
    return value if value is not None else normalize_label(_first_clause(raw), task)


def _require_labels(choices: tuple[str, ...], labels: tuple[str, ...]) -> list[tuple[str, str]]:
    return [] if labels else [("labels", "required for answer type 'label'")]


@answer_type("label", "one of answer.labels, case-insensitive", default_format="tags",
             equal=_label_equal, phrase=_label_phrase, bold_conclusion=True, check=_require_labels)
def _label(text: str, task: TaskDefinition) -> str | None:
    return normalize_label(text, task)


@answer_type("yes_no", "Yes or No (or answer.labels), case-insensitive", default_format="tags",
             equal=_label_equal, phrase=_label_phrase, bold_conclusion=True, default_labels=("Yes", "No"))
def _yes_no(text: str, task: TaskDefinition) -> str | None:
    return normalize_label(text, task)


def _text_equal(a: str, b: str, task: TaskDefinition) -> bool:
    x, y = _normalize_text(a), _normalize_text(b)
    return x is not None and x.casefold() == (y or "").casefold()


@answer_type("text", "free text, compared case-insensitively after tidying spaces", equal=_text_equal)
def _text(text: str, task: TaskDefinition) -> str | None:
    return _normalize_text(text)
