"""Stage 1: knowledge-guided generation over the expert's own documents.

1. Keywords: the teacher names the task's domain in one keyword plus synonyms
   (keywords pinned in the task, or given by the user, win). Stored in the run
   config as "keywords".
2. Pattern: with demos, the teacher first summarises a "sample pattern"
   (stored as "pattern"); generation prompts see it and up to 3 demos.
3. Passages: retrieved for the keywords and task description from the run's
   documents; one passage per sample, not reused while unused ones remain.
4. Samples: the teacher writes {input, output} as JSON; each sample is written
   as soon as it is made (pending), near-duplicates are dropped, then it is
   verified by majority vote (verify.py).

Requests run concurrently in a bounded thread pool. An interrupted run resumes:
a second call continues up to N pending-or-verified generated samples without
redoing finished ones. Unparseable replies and teacher failures are recorded in
the store's failures (with the raw text) and the run goes on, until
`max_failures_in_a_row` attempts in a row gave no sample: then it stops with a
GenerationError naming the cause (a dead teacher is not called for ever).

    report = generate(store, task, teacher, GenerateConfig(n=50), verify_config=VerifyConfig(votes=16))

How many votes, their agreement threshold and review flag are verify.* settings (VerifyConfig),
one place each; GenerateConfig has no copy of them.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..backends.base import BackendError, ChatModel, GenerationParams
from ..records import Passage, Sample
from .verify import VerifyConfig, verify_samples

STAGE = "generate"
# Generated samples that count towards N (what the expert later accepts counts too).
COUNTED_STATUSES = ("pending", "verified", "accepted")
MAX_KEYWORDS = 8
MAX_DEMOS = 3

Progress = Callable[[int, int], None]


class GenerationError(RuntimeError):
    """Generation cannot go on (teacher unreachable, bad retrieval set-up); the message says why."""


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass
class GenerateConfig:
    """How the teacher writes the initial samples (round 0)."""

    n: int = _help("samples to generate (pending or verified; paper: 500)", 50)
    concurrency: int = _help("teacher requests in flight at once", 8)
    temperature: float = _help("teacher temperature for generation (paper: 0.7; votes: verify.temperature)", 0.7)
    max_tokens: int = _help("longest teacher reply, in tokens", 1024)
    dedup_threshold: float | None = _help("drop a question whose MiniLM cosine similarity to an earlier one is "
                                          "above this (empty = keep near-duplicates)", 0.92)
    passage_chars: int = _help("characters of the passage shown to the teacher (paper: 2048)", 2048)
    seed: int | None = _help("base sampling seed (each request gets seed + its number)", None)
    keywords: list[str] | None = _help("retrieval keywords; overrides the teacher's and the task's", None)
    retrieval_mode: str = _help("passage retrieval: bm25, dense or hybrid (fusion of both)", "hybrid")
    junk_retries: int = _help("extra tries when the teacher's reply cannot be parsed", 2)
    max_attempts: int | None = _help("give up after this many generation requests (default 3*n + 10)", None)
    max_failures_in_a_row: int = _help("stop when this many generation attempts in a row give no usable sample "
                                       "(teacher errors or unreadable replies): the teacher is down or unfit", 10)
    json_schema: bool = _help("send a JSON schema so backends can constrain the teacher's output", True)
    questions: str = _help("where new questions come from: teacher (the teacher writes them, the paper) or demos "
                           "(the task's demos with numbers from the passages; for small teachers, see "
                           "stages/demo_questions.py); labels come from the teacher's votes either way", "teacher")

    def __post_init__(self):
        def pos_int(name, minimum=1):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                raise ValueError(f"generate.{name}: must be an integer >= {minimum}, got {v!r}")

        for name in ("n", "concurrency", "max_tokens", "passage_chars"):
            pos_int(name)
        pos_int("junk_retries", 0)
        pos_int("max_failures_in_a_row")
        if self.max_attempts is not None:
            pos_int("max_attempts")
        if not isinstance(self.temperature, (int, float)) or self.temperature < 0:
            raise ValueError(f"generate.temperature: must be >= 0, got {self.temperature!r}")
        if self.dedup_threshold is not None and not (isinstance(self.dedup_threshold, (int, float))
                                                     and 0 < self.dedup_threshold <= 1):
            raise ValueError(f"generate.dedup_threshold: must be in (0, 1] or empty, got {self.dedup_threshold!r}")
        if self.questions not in ("teacher", "demos"):
            raise ValueError(f"generate.questions: must be teacher or demos, got {self.questions!r}")
        if self.retrieval_mode not in ("bm25", "dense", "hybrid"):
            raise ValueError(f"generate.retrieval_mode: must be bm25, dense or hybrid, got {self.retrieval_mode!r}")
        if self.keywords is not None:
            if isinstance(self.keywords, str):
                self.keywords = [k for k in (x.strip() for x in self.keywords.split(",")) if k]
            if not isinstance(self.keywords, (list, tuple)) or not all(isinstance(k, str) for k in self.keywords):
                raise ValueError(f"generate.keywords: must be a list of strings, got {self.keywords!r}")
            self.keywords = [k.strip() for k in self.keywords if k.strip()] or None
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"generate.seed: must be an integer or empty, got {self.seed!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenerateReport:
    requested: int
    existing: int = 0
    written: int = 0
    verified: int = 0
    dropped: int = 0
    duplicates: int = 0
    parse_failures: int = 0
    teacher_failures: int = 0
    attempts: int = 0
    keywords: list[str] = field(default_factory=list)
    pattern: str | None = None
    passages: int = 0
    seconds: float = 0.0
    sample_ids: list[int] = field(default_factory=list)
    #: pending-or-verified generated samples the run holds at the end
    total: int = 0

    def summary(self) -> str:
        return (f"{self.total}/{self.requested} samples ({self.written} new: {self.verified} verified, "
                f"{self.dropped} dropped by voting); {self.duplicates} near-duplicates, {self.parse_failures} "
                f"unparseable replies, {self.teacher_failures} teacher failures; {self.seconds:.1f}s")


def bundled_teacher_note() -> str:
    try:
        from ..backends.spec import BUNDLED_TEACHER_NOTE

        return BUNDLED_TEACHER_NOTE
    except ImportError:
        return ("The bundled teacher (SmolLM2-135M-Instruct) only demonstrates the workflow; it is too small to "
                "write good training data. Point the teacher at a stronger model for real data.")


def is_bundled_teacher(teacher: ChatModel) -> bool:
    for obj in (teacher, getattr(teacher, "spec", None)):
        flag = getattr(obj, "is_bundled", None)
        if isinstance(flag, bool):
            return flag
    from ..models import BUNDLED_NAME

    where = f"{getattr(teacher, 'path', '')} {getattr(teacher, 'version', '')}".lower()
    return BUNDLED_NAME in where


# -- keywords and pattern ------------------------------------------------------------------------
def _ask_json(store, teacher, messages, schema, required, what: str, config: GenerateConfig) -> dict | None:
    """One structured teacher request with junk retries; failures recorded; unreachable -> GenerationError."""
    from ..parsing import parse_json_object

    params = GenerationParams(n=1, temperature=config.temperature, max_tokens=min(config.max_tokens, 512),
                              seed=config.seed, json_schema=schema if config.json_schema else None)
    for _ in range(1 + config.junk_retries):
        try:
            comps = teacher.chat([messages], params)[0]
            text = comps[0].text if comps else ""
        except BackendError as e:
            raise GenerationError(f"the teacher ({teacher.describe()}) could not be reached while asking for the "
                                  f"{what}: {e}") from e
        obj, reason = parse_json_object(text, required)
        if obj is not None:
            return obj
        store.add_failure(STAGE, "parse", f"{what}: {reason}", raw=text, round=0)
    return None


def _clean_keywords(words) -> list[str]:
    out, seen = [], set()
    for w in words:
        w = " ".join(str(w).split()).strip(" .,;:\"'")
        if w and w.casefold() not in seen:
            seen.add(w.casefold())
            out.append(w)
    return out[:MAX_KEYWORDS]


def resolve_keywords(store, task, teacher: ChatModel, config: GenerateConfig) -> tuple[list[str], str]:
    """User keywords > keywords pinned in the task > ones stored by an earlier run > the teacher's."""
    from ..prompts import KEYWORDS_SCHEMA, keywords_messages

    if config.keywords:
        kws, source = _clean_keywords(config.keywords), "user"
    elif task.retrieval.domain or task.retrieval.keywords:
        kws, source = _clean_keywords([task.retrieval.domain or "", *task.retrieval.keywords]), "task"
    elif store.get_config("keywords"):
        return list(store.get_config("keywords")), store.get_config("keywords_source", "stored")
    else:
        obj = _ask_json(store, teacher, keywords_messages(task, task.demos[:MAX_DEMOS]), KEYWORDS_SCHEMA,
                        ("domain",), "keywords", config)
        syn = obj.get("synonyms") if obj else None
        syn = syn if isinstance(syn, list) else [syn] if isinstance(syn, str) else []
        kws = _clean_keywords([obj.get("domain", ""), *syn]) if obj else []
        source = "teacher"
        if not kws:
            # The teacher gave nothing usable: search with the task's own name.
            kws, source = _clean_keywords([task.name.replace("_", " ").replace("-", " ")]), "task name"
    store.set_config("keywords", kws)
    store.set_config("keywords_source", source)
    return kws, source


def resolve_pattern(store, task, teacher: ChatModel, config: GenerateConfig) -> str | None:
    """With demos: the teacher's summary of the sample pattern (asked once per run, then stored)."""
    from ..prompts import PATTERN_SCHEMA, pattern_messages

    if not task.demos:
        return None
    stored = store.get_config("pattern")
    if stored:
        return stored
    obj = _ask_json(store, teacher, pattern_messages(task, task.demos[:MAX_DEMOS]), PATTERN_SCHEMA, ("pattern",),
                    "sample pattern", config)
    pattern = str(obj.get("pattern") or "").strip() if obj else ""
    if not pattern:
        store.log(STAGE, "no usable sample pattern from the teacher; generating with the demos alone",
                  level="warning")
        return None
    store.set_config("pattern", pattern)
    return pattern


# -- passages --------------------------------------------------------------------------------------
def retrieve_passages(store, task, keywords: list[str], k: int, mode: str) -> list[Passage]:
    """Passages for the keywords and the task description, interleaved by rank, without repeats."""
    from ..retrieval import RetrievalError, get_retriever

    if not store.n_chunks():
        return []
    try:
        retriever = get_retriever(store, mode=mode)
    except RetrievalError as e:
        raise GenerationError(str(e)) from e
    queries = [*keywords, " ".join(keywords) + " " + task.description[:500]]
    lists = [retriever.retrieve(q, k=k) for q in queries if q.strip()]
    out, seen = [], set()
    for rank in range(max((len(x) for x in lists), default=0)):
        for lst in lists:
            if rank < len(lst) and lst[rank].chunk_id not in seen:
                seen.add(lst[rank].chunk_id)
                out.append(lst[rank])
    return out


class PassagePool:
    """Hands out one passage per sample: unused ones first (in rank order), then the least used."""

    def __init__(self, passages: list[Passage], used_ids):
        self.passages = passages
        self.uses = Counter(pid for pid in used_ids if pid)
        self.in_flight: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.passages)

    def take(self) -> Passage | None:
        with self._lock:
            if not self.passages:
                return None
            best = min(range(len(self.passages)),
                       key=lambda i: (self.uses[self.passages[i].chunk_id],
                                      self.passages[i].chunk_id in self.in_flight, i))
            p = self.passages[best]
            self.in_flight.add(p.chunk_id)
            return p

    def give_back(self, p: Passage | None, used: bool) -> None:
        if p is None:
            return
        with self._lock:
            self.in_flight.discard(p.chunk_id)
            if used:
                self.uses[p.chunk_id] += 1

    @property
    def unused(self) -> int:
        return sum(1 for p in self.passages if not self.uses[p.chunk_id])


# -- near-duplicates -----------------------------------------------------------------------------------
class DedupIndex:
    """MiniLM embeddings of the questions seen so far; `claim` admits a question unless it is a near-duplicate."""

    def __init__(self, threshold: float | None, questions: list[str]):
        self.threshold = threshold
        self._lock = threading.Lock()
        self.vecs = np.zeros((0, 384), dtype=np.float32)
        self.texts: list[str] = []
        if threshold is not None and questions:
            from ..retrieval.embed import embed_texts

            self.vecs = embed_texts(questions)
            self.texts = list(questions)

    def claim(self, question: str) -> tuple[bool, float, str | None]:
        """(admitted, best similarity, the closest earlier question)."""
        if self.threshold is None:
            return True, 0.0, None
        from ..retrieval.embed import embed_texts

        v = embed_texts([question])
        with self._lock:
            best, near = 0.0, None
            if len(self.texts):
                sims = self.vecs @ v[0]
                j = int(np.argmax(sims))
                best, near = float(sims[j]), self.texts[j]
            if best > self.threshold:
                return False, best, near
            self.vecs = np.vstack([self.vecs, v])
            self.texts.append(question)
            return True, best, near


# -- the stage ----------------------------------------------------------------------------------------
def _streak_message(teacher: ChatModel, streak: Counter, last: str, have: int, config: GenerateConfig) -> str:
    """Why generation stopped after failures in a row, and what to do about it."""
    names = {"teacher": "teacher errors", "parse": "unusable replies", "verify": "failed verifications"}
    counts = ", ".join(f"{n} {names[k]}" for k, n in streak.most_common())
    if streak["parse"] >= max(streak["teacher"], streak["verify"]):
        fix = ("the teacher's replies could not be read as an {input, output} JSON sample (the raw replies are "
               "kept in the run's failures): use a stronger teacher or a larger max_tokens")
    else:
        fix = f"check that the teacher ({teacher.describe()}) is running and reachable"
    return (f"generation stopped: {sum(streak.values())} generation attempts in a row gave no usable sample "
            f"({counts}); last: {last[:300]}. The run holds {have} of {config.n} samples; {fix}, then run "
            "generate again to continue.")


def _counted(store) -> list[Sample]:
    return store.samples(round=0, origin="generated", status=COUNTED_STATUSES)


def generate(store, task, teacher: ChatModel, config: GenerateConfig | None = None,
             progress: Progress | None = None, verify_config: VerifyConfig | None = None,
             bundled: bool | None = None) -> GenerateReport:
    """Generate and verify round-0 samples until the run holds `config.n` of them (see module doc).

    progress(done, total) is called after each sample; `bundled` (default: detected from the
    teacher) adds the honest note that the bundled teacher only demonstrates the workflow.
    The stage's progress record always ends in done, failed (target not met, teacher down; the
    message says why) or cancelled (Ctrl-C / stop). GenerationError when it cannot go on.
    """
    config = config or GenerateConfig()
    try:
        return _generate(store, task, teacher, config, progress, verify_config, bundled)
    except BaseException as e:
        _record_end(store, config, e)
        raise


def _record_end(store, config: GenerateConfig, e: BaseException) -> None:
    """Progress and an event for a generation that stopped early; finished samples stay."""
    state = "cancelled" if isinstance(e, KeyboardInterrupt) else "failed"
    why = str(e) or type(e).__name__
    if not isinstance(e, (GenerationError, KeyboardInterrupt)):
        why = f"{type(e).__name__}: {why}"
    try:
        have = len(_counted(store))
        store.set_progress(STAGE, min(have, config.n), config.n, state, why[:300])
        store.log(STAGE, f"generation {state}: {why}; finished samples are kept",
                  level="error" if state == "failed" else "warning")
    except Exception:  # noqa: BLE001 - the store itself may be what failed; the original error matters
        pass


def _generate(store, task, teacher: ChatModel, config: GenerateConfig, progress: Progress | None,
              verify_config: VerifyConfig | None, bundled: bool | None) -> GenerateReport:
    from ..parsing import parse_sample_json
    from ..prompts import SAMPLE_SCHEMA, generation_messages

    t0 = time.time()
    if store.get_config("task") is None:
        store.save_task(task)
    vcfg = verify_config or VerifyConfig(concurrency=config.concurrency)
    report = GenerateReport(requested=config.n)
    if bundled if bundled is not None else is_bundled_teacher(teacher):
        store.log(STAGE, bundled_teacher_note(), level="warning")

    # Samples an interrupted run wrote but did not verify are verified first.
    leftover = [s.id for s in store.samples(round=0, origin="generated", status="pending")]
    if leftover:
        store.log(STAGE, f"resuming: verifying {len(leftover)} sample(s) left pending by an earlier run")
        for s in verify_samples(store, task, teacher, leftover, vcfg, stage=STAGE):
            report.dropped += s.status == "dropped"
    have = len(_counted(store))
    report.existing = report.total = have
    need = config.n - have
    store.set_progress(STAGE, min(have, config.n), config.n, "running" if need > 0 else "done",
                       f"{have} of {config.n} samples")
    if progress:
        progress(min(have, config.n), config.n)
    if need <= 0:
        report.keywords = list(store.get_config("keywords") or [])
        report.pattern = store.get_config("pattern")
        report.seconds = time.time() - t0
        store.log(STAGE, f"nothing to do: the run already holds {have} of {config.n} samples")
        return report

    kws, source = resolve_keywords(store, task, teacher, config)
    report.keywords = kws
    store.log(STAGE, f"keywords ({source}): {', '.join(kws)}", keywords=kws, source=source)
    pattern = resolve_pattern(store, task, teacher, config)
    report.pattern = pattern
    if pattern:
        store.log(STAGE, f"sample pattern: {pattern[:300]}")
    demos = task.demos[:MAX_DEMOS]

    all_samples = store.samples()
    n_chunks = store.n_chunks()
    passages = retrieve_passages(store, task, kws, k=min(n_chunks, max(3 * need, 50)),
                                 mode=config.retrieval_mode) if n_chunks else []
    pool = PassagePool(passages, [s.passage_id for s in all_samples])
    report.passages = len(pool)
    if not passages:
        store.log(STAGE, "no documents ingested: generating from the task definition alone (add documents with "
                  "`synthrl ingest` to ground samples in your own material)", level="warning")
    else:
        store.log(STAGE, f"{len(pool)} passages retrieved ({pool.unused} not used yet) for {need} samples",
                  mode=config.retrieval_mode)
    dedup = DedupIndex(config.dedup_threshold, [s.question for s in all_samples])

    max_attempts = config.max_attempts or 3 * config.n + 10
    lock = threading.Lock()
    state = {"replies": 0, "unreachable": 0, "first_error": None}

    def attempt(idx: int) -> tuple[str, Sample | None, str | None]:
        """(kind, the sample written, why no sample); kind: ok, parse, duplicate or teacher."""
        passage = pool.take()
        text_passage = passage.text[:config.passage_chars] if passage else None
        msgs = generation_messages(task, text_passage, pattern, demos)
        obj = None
        for retry in range(1 + config.junk_retries):
            seed = None if config.seed is None else config.seed + idx * 101 + retry
            params = GenerationParams(n=1, temperature=config.temperature, max_tokens=config.max_tokens, seed=seed,
                                      json_schema=SAMPLE_SCHEMA if config.json_schema else None)
            try:
                comps = teacher.chat([msgs], params)[0]
            except BackendError as e:
                pool.give_back(passage, used=False)
                with lock:
                    state["unreachable"] += 1
                    state["first_error"] = state["first_error"] or e
                store.add_failure(STAGE, "teacher", f"generation request {idx}: {e}", round=0)
                return "teacher", None, str(e)
            with lock:
                state["replies"] += 1
            text = comps[0].text if comps else ""
            obj, reason = parse_sample_json(text)
            if obj is not None:
                break
            store.add_failure(STAGE, "parse", f"generation request {idx} (try {retry + 1}): {reason}",
                              raw=text, round=0)
        if obj is None:
            pool.give_back(passage, used=False)
            return "parse", None, reason
        ok, sim, near = dedup.claim(obj["input"])
        if not ok:
            pool.give_back(passage, used=True)
            store.add_failure(STAGE, "duplicate", f"near-duplicate (cosine {sim:.3f} > {config.dedup_threshold}) "
                              f"of: {near[:200]}", raw=obj["input"], round=0)
            return "duplicate", None, None
        sid = store.add_sample(Sample(None, question=obj["input"], answer=obj["output"], round=0,
                                      origin="generated", passage_id=passage.chunk_id if passage else None,
                                      status="pending"))
        pool.give_back(passage, used=True)
        done = verify_samples(store, task, teacher, [sid], VerifyConfig(**{**asdict(vcfg), "concurrency": 1}),
                              stage=STAGE)
        return "ok", done[0] if done else store.sample(sid), None

    # "Unreachable" = every request of the first batch failed (at least 3, so one unlucky error is not fatal).
    first_batch = min(max(config.concurrency, 3), max_attempts)
    submitted = 0
    running: set[Future] = set()
    # Attempts in a row that gave no usable sample: a dead or unfit teacher stops the stage.
    streak: Counter = Counter()
    last_failure = ""
    ex = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="synthrl-generate")
    try:
        while True:
            # Keep the pool full while the run still needs samples (counting those in flight).
            while (len(running) < config.concurrency and submitted < max_attempts
                   and have + len(running) < config.n):
                running.add(ex.submit(attempt, submitted))
                submitted += 1
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                kind, sample, why = fut.result()  # re-raises KeyboardInterrupt and bugs
                report.attempts += 1
                if kind == "ok" and sample.status == "pending" and sample.error:
                    streak["verify"] += 1  # written, but the teacher failed its votes
                    last_failure = sample.error
                elif kind in ("parse", "teacher"):
                    streak[kind] += 1
                    last_failure = f"{'unusable reply' if kind == 'parse' else 'teacher error'}: {why}"
                else:
                    streak.clear()  # a sample (or a duplicate): the teacher works
                if kind == "ok":
                    report.written += 1
                    report.sample_ids.append(sample.id)
                    if sample.status == "dropped":
                        report.dropped += 1
                    else:
                        have += 1
                        report.verified += sample.status == "verified"
                elif kind == "parse":
                    report.parse_failures += 1
                elif kind == "duplicate":
                    report.duplicates += 1
                else:
                    report.teacher_failures += 1
            if state["replies"] == 0 and state["unreachable"] >= first_batch:
                raise GenerationError(f"the teacher ({teacher.describe()}) could not be reached: every request "
                                      f"of the first batch failed ({state['first_error']}). Check the teacher's "
                                      "URL, model name and API key, then run generate again to resume.")
            if sum(streak.values()) >= config.max_failures_in_a_row and have < config.n:
                raise GenerationError(_streak_message(teacher, streak, last_failure, have, config))
            store.set_progress(STAGE, min(have, config.n), config.n, "running", f"{have} of {config.n} samples")
            if progress:
                progress(min(have, config.n), config.n)
    except BaseException:
        for f in running:
            f.cancel()
        ex.shutdown(wait=True, cancel_futures=True)
        raise  # generate() records the end (failed / cancelled)
    ex.shutdown(wait=True)
    report.seconds = time.time() - t0
    report.total = have
    final = "done" if have >= config.n else "failed"
    msg = report.summary()
    if final == "failed":
        msg += f" (target not met: stopped after {submitted} requests, the limit; run again to continue)"
    store.set_progress(STAGE, min(have, config.n), config.n, final, msg)
    store.log(STAGE, msg, level="info" if final == "done" else "warning", **{
        k: v for k, v in asdict(report).items() if k not in ("sample_ids", "pattern")})
    return report
