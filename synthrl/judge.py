"""The judge pass (optional): the teacher rates each sample, so an expert reviews the worst first.

Reviewing every pair by hand does not scale. The teacher rates each sample 1-5 for grounding in
its passage, clarity and answer correctness, each with a one-line reason, as structured output
(GenerationParams(json_schema=JUDGE_SCHEMA)); the ratings are stored per sample with their cost
(calls, tokens) and feed the Review queue (synthrl.triage: "low judge score").

Off by default with the bundled teacher: a 135M model's ratings are noise, so `synthrl judge`
refuses it unless told `--allow-bundled` (to try the workflow).

    report = judge(store, task, teacher, JudgeConfig(concurrency=8))
    report.summary()          # "judged 480 samples (12 unreadable replies); 492 calls, 310k tokens; 9.1s"
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Callable

from .backends.base import BackendError, ChatModel, GenerationParams
from .prompts import JUDGE_CRITERIA, JUDGE_SCHEMA, judge_messages
from .store import RunStore

STAGE = "judge"
BUNDLED_JUDGE_NOTE = ("The bundled teacher (135M parameters) cannot judge samples: its ratings would be noise. "
                      "The judge pass is off with it; point the teacher at a strong model "
                      "(--teacher-backend openai --teacher-url ... --teacher-model ...), or pass --allow-bundled "
                      "only to try the workflow.")


class JudgeError(RuntimeError):
    """The judge pass cannot go on (the teacher is unreachable); the message says what to do."""


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass
class JudgeConfig:
    """Settings of the judge pass."""

    concurrency: int = _help("teacher requests in flight at once", 8)
    temperature: float = _help("teacher temperature (0: the same verdict every time)", 0.0)
    max_tokens: int = _help("longest verdict in tokens", 384)
    passage_chars: int = _help("characters of the sample's passage shown to the judge", 2048)
    statuses: tuple[str, ...] = _help("which samples to judge, by status", ("pending", "verified", "accepted"))
    rejudge: bool = _help("judge samples that already have a verdict from this teacher again", False)
    limit: int | None = _help("judge at most this many samples (None: all)", None)
    retries: int = _help("extra requests when a reply is not a readable verdict", 1)

    def __post_init__(self):
        if self.concurrency < 1 or self.max_tokens < 16 or self.passage_chars < 0 or self.retries < 0:
            raise ValueError("judge: concurrency >= 1, max_tokens >= 16, passage_chars >= 0, retries >= 0")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"judge: limit must be >= 1, got {self.limit}")
        self.statuses = tuple(self.statuses)


@dataclass(frozen=True)
class Verdict:
    """One judged sample: ratings {criterion: 1-5} and a one-line reason each."""

    sample_id: int
    ratings: dict
    reasons: dict

    @property
    def lowest(self) -> int:
        return min(self.ratings.values())


@dataclass
class JudgeReport:
    judged: int = 0
    unreadable: int = 0
    skipped: int = 0                 # judged before by the same teacher (and not edited since)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"judged {self.judged} samples ({self.unreadable} unreadable replies, {self.skipped} already judged); "
                f"{self.calls} calls, {self.prompt_tokens + self.completion_tokens} tokens "
                f"({self.prompt_tokens} prompt + {self.completion_tokens} completion); {self.seconds:.1f}s")


def parse_verdict(sample_id: int, text: str) -> Verdict | None:
    """A verdict out of a reply; None when a rating is missing or not 1-5 (scores are read, never evaluated)."""
    from .parsing import parse_json_object

    obj, _ = parse_json_object(text, JUDGE_CRITERIA)
    if obj is None:
        return None
    ratings, reasons = {}, {}
    for k in JUDGE_CRITERIA:
        v = obj[k]
        score, reason = (v.get("score"), v.get("reason", "")) if isinstance(v, dict) else (v, "")
        try:
            score = int(str(score).strip().split("/")[0])
        except ValueError:
            return None
        if not 1 <= score <= 5:
            return None
        ratings[k] = score
        reasons[k] = " ".join(str(reason or "").split())[:300]
    return Verdict(sample_id, ratings, reasons)


def to_judge(store: RunStore, model: str, config: JudgeConfig) -> tuple[list[int], int]:
    """(sample ids to judge, ids skipped as judged already by `model` and not edited since)."""
    ids = [s.id for s in store.samples(status=list(config.statuses))]
    done: dict[int, float] = {}
    if not config.rejudge:
        edited = store.last_text_edits()
        done = {i: t for i, t in store.latest_judged(model).items() if edited.get(i, 0) <= t}
    todo = [i for i in ids if i not in done]
    skipped = len(ids) - len(todo)
    if config.limit is not None:
        todo = todo[:config.limit]
    return todo, skipped


def judge(store: RunStore, task, teacher: ChatModel, config: JudgeConfig | None = None,
          progress: Callable[[int, int], None] | None = None, sample_ids: list[int] | None = None) -> JudgeReport:
    """Rate samples with the teacher and store each verdict; resumable (judged samples are skipped)."""
    config = config or JudgeConfig()
    t0 = time.time()
    model = teacher.describe()
    report = JudgeReport()
    if sample_ids is None:
        todo, report.skipped = to_judge(store, model, config)
    else:
        todo = [int(i) for i in sample_ids]
    params = GenerationParams(n=1, temperature=config.temperature, max_tokens=config.max_tokens,
                              json_schema=JUDGE_SCHEMA)
    store.set_progress(STAGE, 0, len(todo), "running", f"judging with {model}")

    def one(sid: int) -> tuple[int, Verdict | None, int, int, int, str]:
        s = store.sample(sid)
        chunk = store.chunk(s.passage_id) if s is not None and s.passage_id else None
        msgs = judge_messages(task, s.question, s.answer, s.reference,
                              chunk.text[:config.passage_chars] if chunk else None)
        calls = ptok = ctok = 0
        text = ""
        for _ in range(1 + config.retries):
            comps = teacher.chat([msgs], params)[0]
            calls += 1
            c = comps[0] if comps else None
            text = c.text if c else ""
            ptok += c.prompt_tokens if c else 0
            ctok += c.completion_tokens if c else 0
            v = parse_verdict(sid, text)
            if v is not None:
                return sid, v, calls, ptok, ctok, text
        return sid, None, calls, ptok, ctok, text

    done = 0
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="synthrl-judge") as ex:
        futures = [ex.submit(one, sid) for sid in todo]
        try:
            for fut in as_completed(futures):
                try:
                    sid, v, calls, ptok, ctok, raw = fut.result()
                except BackendError as e:
                    for f in futures:
                        f.cancel()
                    store.set_progress(STAGE, done, len(todo), "failed", str(e))
                    raise JudgeError(f"the teacher ({model}) could not be reached: {e}; the {done} verdicts made "
                                     "so far are kept, run judge again to continue") from e
                report.calls += calls
                report.prompt_tokens += ptok
                report.completion_tokens += ctok
                if v is None:
                    report.unreadable += 1
                    store.add_failure(STAGE, "parse", "judge: no readable 1-5 ratings in the reply", raw=raw,
                                      sample_id=sid)
                else:
                    store.add_judgement(sid, model, v.ratings, v.reasons, ptok, ctok, calls)
                    report.judged += 1
                done += 1
                if progress:
                    progress(done, len(todo))
                if done % 10 == 0 or done == len(todo):
                    store.set_progress(STAGE, done, len(todo), "running", f"judging with {model}")
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            store.set_progress(STAGE, done, len(todo), "cancelled", "stopped; run judge again to continue")
            raise
    report.seconds = time.time() - t0
    store.set_progress(STAGE, done, len(todo), "done", report.summary())
    store.log(STAGE, f"{model}: {report.summary()}", **asdict(report))
    return report
