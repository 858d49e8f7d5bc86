"""Stage: verify samples by majority vote of the teacher.

The teacher answers each question `votes` more times (one request with n=votes);
with the generator's own answer that makes votes + 1 candidates. The answer
extracted most often (answers grouped with the task's own checker) wins; the
sample's label becomes an agreeing teacher solution and `reference` the
extracted answer. Votes and the agreement ratio are stored. A sample with no
extractable answer is dropped with the reason; below `min_agreement` it is
dropped; below `review_below` it is kept and flagged "low_agreement" for review.

    done = verify_samples(store, task, teacher, [sid], VerifyConfig(votes=16))
    done[0].status, done[0].reference, done[0].agreement

Vote idx 0 is the generator's own answer (sample.answer before verification);
idx 1..votes are the teacher's answers.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..backends.base import BackendError, ChatModel, GenerationParams
from ..records import Sample, Vote


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass
class VerifyConfig:
    """How generated samples are checked by majority vote."""

    votes: int = _help("extra teacher answers per question (paper: 16); 0 = trust the generator's answer", 16)
    temperature: float = _help("teacher temperature for the votes (paper: 0.7)", 0.7)
    max_tokens: int = _help("longest teacher answer, in tokens; at least generate.max_tokens, or a truncated "
                            "solution counts as no answer and skews the vote", 1024)
    min_agreement: float | None = _help("drop samples whose winning answer has a smaller share of the votes "
                                        "(paper: none, keep the mode)", None)
    review_below: float | None = _help("flag samples below this agreement as 'low_agreement' for review", 0.5)
    concurrency: int = _help("questions verified at once (one teacher request each)", 8)
    program_aided: bool | None = _help(
        "number answers: the teacher states each vote as an arithmetic expression that a safe evaluator "
        "computes (never eval), and the vote is over computed values; empty = on where it was measured to "
        "help: a task whose answer is just a number (answer.type number, format plain) with the bundled "
        "teacher; off otherwise (the paper's vote)", None)

    def __post_init__(self):
        if isinstance(self.votes, bool) or not isinstance(self.votes, int) or self.votes < 0:
            raise ValueError(f"verify.votes: must be an integer >= 0, got {self.votes!r}")
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ValueError(f"verify.temperature: must be >= 0, got {self.temperature!r}")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"verify.max_tokens: must be a positive integer, got {self.max_tokens!r}")
        for name in ("min_agreement", "review_below"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or not 0 <= v <= 1):
                raise ValueError(f"verify.{name}: must be a share between 0 and 1 (or empty), got {v!r}")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ValueError(f"verify.concurrency: must be an integer >= 1, got {self.concurrency!r}")
        if self.program_aided is not None and not isinstance(self.program_aided, bool):
            raise ValueError(f"verify.program_aided: must be true, false or empty, got {self.program_aided!r}")


# Samples whose label is a computed expression carry this flag (Review shows expression and value).
PROGRAM_AIDED_FLAG = "program_aided"


def uses_program_aided(task, config: "VerifyConfig", teacher=None) -> bool:
    """Whether votes on this task are expressions computed by the safe evaluator (see VerifyConfig).

    Auto (program_aided empty): plain-number tasks verified by the bundled 135M teacher, which
    sets up the arithmetic far more often than it computes it (measured: docs/results.md).
    """
    if config.program_aided is not None:
        return config.program_aided
    if task.answer.type != "number" or task.answer.format != "plain" or teacher is None:
        return False
    from ..models import BUNDLED_NAME

    for obj in (teacher, getattr(teacher, "spec", None)):
        flag = getattr(obj, "is_bundled", None)
        if isinstance(flag, bool):
            return flag
    where = f"{getattr(teacher, 'path', '')} {getattr(teacher, 'version', '')}".lower()
    return BUNDLED_NAME.lower() in where


def program_value(text: str | None, need_operator: bool = False, question: str | None = None) -> str | None:
    """The computed value of the expression a reply states (None: none). With `need_operator`,
    a bare number does not count (the generator's own head-computed answer). With `question`,
    the expression must be built from the question's numbers (see `grounded_in`)."""
    from ..arith import expression_value
    from ..scoring import normalize_number

    found = expression_value(text or "")
    if found is None:
        return None
    expr, value = found
    if need_operator and not any(op in expr.lstrip("-−") for op in "+-*/×÷−%("):
        return None
    if question is not None and not grounded_in(expr, question):
        return None
    return normalize_number(value)


# Constants an expression may use without the question stating them (counts, per cent, thousands).
_FREE_CONSTANTS = {str(i) for i in range(11)} | {"100", "1000"}


def grounded_in(expression: str, question: str) -> bool:
    """Whether every number in the expression is stated in the question (small constants aside).

    A small teacher copies an instruction's example ("12 + 30") or invents operands; such a vote
    computes the wrong sum with great confidence, so it does not count.
    """
    import re

    def numbers(t: str) -> set[str]:
        return {n.replace(",", "").rstrip(".") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", t)}

    used = numbers(expression) - _FREE_CONSTANTS
    return bool(used) and used <= numbers(question)


def program_label(task, expression: str, value: str) -> str:
    """A label in the task's output format for a computed answer."""
    fmt = task.answer.format
    if fmt == "####":
        return f"{expression} = {value}\n#### {value}"
    if fmt == "boxed":
        return f"{expression} = \\boxed{{{value}}}"
    if fmt == "tags":
        return f"{expression} = {value}\n<answer>{value}</answer>"
    return value


@dataclass(frozen=True)
class Tally:
    """The outcome of one vote: the winning answer, its supporters and the agreement."""

    winner: str | None
    members: tuple[int, ...]  # candidate indices that agree with the winner
    agreement: float
    extracted: tuple[str | None, ...]


def tally(candidates: list[str], task, extracted: tuple[str | None, ...] | None = None) -> Tally:
    """Majority vote over candidate completions; ties go to the group seen first (the generator's).
    `extracted`: the answers already read from the candidates (program-aided: computed values)."""
    from ..scoring import answers_equal, extract

    if extracted is None:
        extracted = tuple(extract(c, task) for c in candidates)
    groups: list[list[int]] = []
    for i, a in enumerate(extracted):
        if a is None:
            continue
        for g in groups:
            if answers_equal(extracted[g[0]], a, task):
                g.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return Tally(None, (), 0.0, extracted)
    best = max(groups, key=len)  # max keeps the first of equals
    return Tally(extracted[best[0]], tuple(best), len(best) / len(candidates), extracted)


def verify_samples(store, task, teacher: ChatModel, sample_ids: list[int], config: VerifyConfig | None = None,
                   stage: str = "verify") -> list[Sample]:
    """Verify the given samples (any status; votes are replaced); returns them as stored afterwards.

    A teacher failure leaves that sample pending (with the error) and is recorded in failures,
    so running verification again picks it up.
    """
    config = config or VerifyConfig()
    samples = [s for s in (store.sample(i) for i in sample_ids) if s is not None]
    if not samples:
        return []
    if config.votes and len(samples) > 1 and getattr(teacher, "max_batch_size", None):
        # an in-process model (transformers) generates for many questions in one batch, far faster on a CPU
        # than one request per question; a failed batch falls back to one request each
        try:
            batch = teacher.chat([_vote_messages(task, s, config, teacher) for s in samples], _vote_params(config))
        except BackendError:
            batch = None
        if batch is not None and len(batch) == len(samples):
            return [_verify_one(store, task, teacher, s, config, stage, comps=c) for s, c in zip(samples, batch)]
    if config.concurrency == 1 or len(samples) == 1:
        return [_verify_one(store, task, teacher, s, config, stage) for s in samples]
    with ThreadPoolExecutor(max_workers=min(config.concurrency, len(samples))) as pool:
        return list(pool.map(lambda s: _verify_one(store, task, teacher, s, config, stage), samples))


def _vote_messages(task, s: Sample, config: VerifyConfig, teacher) -> list[dict]:
    from ..prompts import program_aided_messages, verify_answer_messages

    if uses_program_aided(task, config, teacher):
        return program_aided_messages(task, s.question)
    return verify_answer_messages(task, s.question)


def _vote_params(config: VerifyConfig) -> GenerationParams:
    return GenerationParams(n=config.votes, temperature=config.temperature, max_tokens=config.max_tokens)


def _verify_one(store, task, teacher: ChatModel, s: Sample, config: VerifyConfig, stage: str,
                comps=None) -> Sample:
    """Vote on one sample; `comps`: its teacher answers when they were generated in a batch."""
    answers: list[str] = []
    aided = uses_program_aided(task, config, teacher)
    if config.votes and comps is not None:
        answers = [c.text for c in comps]
    elif config.votes:
        try:
            comps = teacher.chat([_vote_messages(task, s, config, teacher)], _vote_params(config))[0]
        except BackendError as e:
            reason = f"teacher failed while verifying sample {s.id}: {e}"
            store.add_failure(stage, "teacher", reason, round=s.round, sample_id=s.id)
            store.update_sample(s.id, error=reason)
            return store.sample(s.id)
        answers = [c.text for c in comps]
    candidates = [s.answer or ""] + answers
    if aided:
        # votes are computed values; the generator's own answer counts only when it is an expression
        t = tally(candidates, task, tuple(program_value(c, need_operator=(i == 0), question=s.question)
                                          for i, c in enumerate(candidates)))
    else:
        t = tally(candidates, task)
    store.clear_votes(s.id)
    store.add_votes([Vote(s.id, i, c, t.extracted[i]) for i, c in enumerate(candidates)])
    if t.winner is None:
        reason = f"no extractable answer in {len(candidates)} candidate(s)"
        store.update_sample(s.id, status="dropped", agreement=0.0, error=reason)
        return store.sample(s.id)
    # The label: an agreeing teacher solution when there is one, else the generator's own.
    label_idx = next((i for i in t.members if i > 0), t.members[0])
    flags = [f for f in s.flags if f not in ("low_agreement", PROGRAM_AIDED_FLAG)]
    label = candidates[label_idx]
    if aided:
        from ..arith import find_expression

        flags.append(PROGRAM_AIDED_FLAG)
        label = program_label(task, find_expression(label) or t.winner, t.winner)
    status, error = "verified", None
    sizes = sorted((sum(1 for x in t.extracted if x is not None and x == v) for v in set(t.extracted) - {None}),
                   reverse=True)
    if aided and len(sizes) > 1 and sizes[0] == sizes[1]:
        # program-aided votes of a small teacher: a tie is no label (ties otherwise go to the first seen)
        status, error = "dropped", f"tie between computed values ({sizes[0]} votes each)"
    elif config.min_agreement is not None and t.agreement < config.min_agreement:
        status = "dropped"
        error = f"agreement {t.agreement:.2f} below min_agreement {config.min_agreement:.2f}"
    elif config.review_below is not None and t.agreement < config.review_below:
        flags.append("low_agreement")
    store.update_sample(s.id, status=status, answer=label, reference=t.winner,
                        agreement=t.agreement, flags=flags, error=error)
    return store.sample(s.id)
