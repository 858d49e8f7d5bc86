"""Program-aided labels: a safe evaluator for the arithmetic a teacher writes.

A small teacher often sets up a sum correctly ("23 + 41") and then gets the addition
wrong ("= 65"). For tasks whose answer is a number, the teacher may state its answer as
an arithmetic expression instead; this module computes it, so the vote is taken over
computed values. It is a hand-written parser over numbers, `+ - * / ( )`, `%` after a
number (per cent) and a few named functions. Nothing is ever passed to `eval`: any other
character, name or construct is refused, and sizes are bounded (no power operator, so a
short expression cannot build a huge number).

    compute("23 + 41")                 # Fraction(64)
    expression_value("It is (12 + 30) * 2 = 80.")   # ('(12 + 30) * 2', '84')
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

MAX_EXPRESSION_CHARS = 200
MAX_DEPTH = 20
MAX_DIGITS = 30


class ExpressionError(ValueError):
    """Not an expression this evaluator accepts (the message says why)."""


def _round(x: Fraction, digits: Fraction = Fraction(0)) -> Fraction:
    if digits.denominator != 1 or not 0 <= digits <= 10:
        raise ExpressionError("round() takes a whole number of digits between 0 and 10")
    q = Fraction(10) ** int(digits)
    return Fraction(round(x * q)) / q


def _sqrt(x: Fraction) -> Fraction:
    if x < 0:
        raise ExpressionError("sqrt of a negative number")
    r = math.isqrt(x.numerator) if x.denominator == 1 else None
    if r is not None and r * r == x.numerator:
        return Fraction(r)
    return Fraction(math.sqrt(float(x))).limit_denominator(10**9)


# name -> (function over Fractions, smallest and largest number of arguments)
FUNCTIONS = {
    "round": (_round, 1, 2),
    "abs": (lambda x: abs(x), 1, 1),
    "min": (lambda *xs: min(xs), 1, 20),
    "max": (lambda *xs: max(xs), 1, 20),
    "sum": (lambda *xs: sum(xs, Fraction(0)), 1, 20),
    "floor": (lambda x: Fraction(math.floor(x)), 1, 1),
    "ceil": (lambda x: Fraction(math.ceil(x)), 1, 1),
    "sqrt": (_sqrt, 1, 1),
}

_TOKEN_RE = re.compile(r"\s*(?:(?P<num>\d[\d,]*(?:\.\d+)?|\.\d+)|(?P<name>[A-Za-z_]+)|(?P<op>[-+*/×÷−()%,]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].lstrip()[:1]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "num":
            # a thousands separator only between groups of three digits ("1,234"); else "," separates arguments
            if "," in value and not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", value):
                head, _, rest = value.partition(",")
                pos = m.start(kind) + len(head)
                value = head
            value = value.replace(",", "")
            if len(value) > MAX_DIGITS:
                raise ExpressionError("a number with too many digits")
        elif kind == "op":
            value = {"×": "*", "÷": "/", "−": "-"}.get(value, value)
        out.append((kind, value))
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*;
    unary := '-' unary | '+' unary | atom '%'?; atom := number | name '(' args ')' | '(' expr ')'."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.toks, self.i, self.depth = tokens, 0, 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        t = self.peek()
        if t is None or (value is not None and t[1] != value):
            raise ExpressionError(f"expected {value or 'more'}, got {t[1] if t else 'the end'}")
        self.i += 1
        return t

    def parse(self) -> Fraction:
        v = self.expr()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r}")
        return v

    def expr(self) -> Fraction:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("nested too deeply")
        v = self.term()
        while self.peek() and self.peek()[1] in "+-":
            op = self.take()[1]
            w = self.term()
            v = v + w if op == "+" else v - w
        self.depth -= 1
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while self.peek() and self.peek()[1] in "*/":
            op = self.take()[1]
            w = self.unary()
            if op == "*":
                v = v * w
            elif w == 0:
                raise ExpressionError("division by zero")
            else:
                v = v / w
            if abs(v.numerator) > 10**60 or v.denominator > 10**60:
                raise ExpressionError("a number too large")
        return v

    def unary(self) -> Fraction:
        t = self.peek()
        if t and t[1] in "+-":
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError("nested too deeply")
            v = self.unary()
            self.depth -= 1
            return -v if t[1] == "-" else v
        v = self.atom()
        if self.peek() and self.peek()[1] == "%":
            self.take()
            v = v / 100
        return v

    def atom(self) -> Fraction:
        kind, value = self.take()
        if kind == "num":
            return Fraction(value)
        if kind == "name":
            fn = FUNCTIONS.get(value.lower())
            if fn is None:
                raise ExpressionError(f"unknown name {value!r} (functions: {', '.join(FUNCTIONS)})")
            self.take("(")
            args = [self.expr()]
            while self.peek() and self.peek()[1] == ",":
                self.take()
                args.append(self.expr())
            self.take(")")
            f, lo, hi = fn
            if not lo <= len(args) <= hi:
                raise ExpressionError(f"{value}() takes {lo}-{hi} arguments, got {len(args)}")
            return Fraction(f(*args))
        if value == "(":
            v = self.expr()
            self.take(")")
            return v
        raise ExpressionError(f"unexpected {value!r}")


def compute(expression: str) -> Fraction:
    """The exact value of an arithmetic expression; ExpressionError when it is not one."""
    text = (expression or "").strip()
    if not text:
        raise ExpressionError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"longer than {MAX_EXPRESSION_CHARS} characters")
    return _Parser(_tokens(text)).parse()


def format_value(value: Fraction) -> str:
    """A value as the checker writes numbers: '64', '0.5', '3.333333'."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# An expression-like span: numbers, operators, brackets, function names, spaces.
_SPAN_RE = re.compile(r"(?:[A-Za-z_]+\s*\()?[-−(]*\s*\d[\d,.\s]*(?:%?\s*[-+*/×÷−()%,]\s*(?:[A-Za-z_]+\s*\()?[(\s]*"
                      r"\d*[\d,.\s]*\)*)*")


def find_expression(text: str) -> str | None:
    """The expression a reply states: the left side of its first '=' (else the first line), or the
    longest expression-like span in it that holds an operator. None when there is none."""
    if not text or not text.strip():
        return None
    line = next((ln for ln in text.strip().splitlines() if ln.strip()), "")[:1000]
    head = line.split("=")[0].strip().strip("`$").strip()
    head = re.sub(r"^(?:answer|expression|calculation)\s*:\s*", "", head, flags=re.I)
    try:
        compute(head)
        return head
    except ExpressionError:
        pass
    best = None
    for m in _SPAN_RE.finditer(line.split("=")[0]):
        span = m.group(0).strip().rstrip(",.").strip()
        if not re.search(r"[-+*/×÷−%]", span.lstrip("-−")):
            continue
        try:
            compute(span)
        except ExpressionError:
            continue
        if best is None or len(span) > len(best):
            best = span
    return best


def expression_value(text: str) -> tuple[str, str] | None:
    """(expression, its value as text) for a reply that states an expression; else None."""
    expr = find_expression(text)
    if expr is None:
        return None
    try:
        return expr, format_value(compute(expr))
    except ExpressionError:
        return None
