"""Benchmark contamination: which samples and documents repeat text of the evaluation benchmark.

A synthetic sample that restates a benchmark question (a teacher that memorised the benchmark,
or an expert's documents that contain it) makes the evaluation of the trained model look better
than it is. As GPT-3 and lm-evaluation-harness do, texts are normalised (lower case, punctuation
dropped, split on whitespace) and compared as word 13-grams: a sample or document that shares
one 13-gram with a benchmark question overlaps it. A question shorter than 13 words is matched
whole (its complete word sequence), unless it is shorter than `min_words`: such items are too
generic to tell contamination from coincidence and are counted as unchecked.

Overlapping samples get the flag "contaminated" (shown in Review; `select` keeps them out of
training unless select.exclude_contaminated is false). The report is stored in the run config
under "contamination" and printed by `synthrl contamination` and `synthrl eval`.

    report = check_run(store, "assets/benchmarks/demo_addition.jsonl")
    report.summary()    # "3 of 100 benchmark items overlap the run: ..."
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Hashable, Iterable

FLAG = "contaminated"
N = 13          # GPT-3 and lm-evaluation-harness decontamination use 13-grams
MIN_WORDS = 8   # shorter benchmark questions are not checked
CONFIG_KEY = "contamination"

_NON_WORD = re.compile(r"[^\w]+")


def words(text: str) -> list[str]:
    """Lower-cased words with punctuation dropped: 'Tom has 12, Ann 30!' -> ['tom', 'has', '12', 'ann', '30']."""
    return _NON_WORD.sub(" ", (text or "").lower()).split()


def _grams(ws: list[str], n: int) -> Iterable[str]:
    for i in range(len(ws) - n + 1):
        yield " ".join(ws[i:i + n])


class NgramIndex:
    """The n-grams of a set of texts (benchmark questions), each mapped to the keys that hold it.

        idx = NgramIndex([(1, "a question ...")], n=13)
        idx.matches("a sample that repeats a question ...")   # -> {1} or set()
    """

    def __init__(self, texts: Iterable[tuple[Hashable, str]], n: int = N, min_words: int = MIN_WORDS):
        if n < 1 or min_words < 1:
            raise ValueError(f"contamination: n and min_words must be >= 1, got n={n}, min_words={min_words}")
        self.n, self.min_words = n, min_words
        self.grams: dict[str, set] = {}
        # short questions, matched whole: their word count -> {joined words: keys}
        self.short: dict[int, dict[str, set]] = {}
        self.keys: list = []
        self.unchecked: list = []
        for key, text in texts:
            self.keys.append(key)
            ws = words(text)
            if len(ws) >= n:
                for g in _grams(ws, n):
                    self.grams.setdefault(g, set()).add(key)
            elif len(ws) >= min_words:
                self.short.setdefault(len(ws), {}).setdefault(" ".join(ws), set()).add(key)
            else:
                self.unchecked.append(key)

    def matches(self, text: str) -> set:
        """Keys of the indexed texts that share an n-gram with `text` (or appear in it whole, if short)."""
        ws = words(text)
        hit: set = set()
        if self.grams:
            for g in _grams(ws, self.n):
                keys = self.grams.get(g)
                if keys:
                    hit |= keys
        for length, table in self.short.items():
            for g in _grams(ws, length):
                keys = table.get(g)
                if keys:
                    hit |= keys
        return hit


@dataclass
class ContaminationReport:
    """What overlaps the benchmark. Benchmark items are named by their line in the file."""

    benchmark: str
    n: int
    benchmark_items: int
    unchecked_items: int = 0
    samples_checked: int = 0
    documents_checked: int = 0
    #: sample id -> benchmark lines it overlaps
    samples: dict[int, list[int]] = field(default_factory=dict)
    #: document id -> benchmark lines its passages overlap
    documents: dict[int, list[int]] = field(default_factory=dict)

    @property
    def items_in_samples(self) -> set[int]:
        return {line for lines in self.samples.values() for line in lines}

    @property
    def items_in_documents(self) -> set[int]:
        return {line for lines in self.documents.values() for line in lines}

    @property
    def items_overlapping(self) -> set[int]:
        return self.items_in_samples | self.items_in_documents

    def summary(self) -> str:
        name = Path(self.benchmark).name
        text = (f"{len(self.items_overlapping)} of {self.benchmark_items} benchmark items ({name}) overlap the run "
                f"({self.n}-gram match): {len(self.items_in_samples)} in {len(self.samples)} of "
                f"{self.samples_checked} samples (flagged '{FLAG}'), {len(self.items_in_documents)} in "
                f"{len(self.documents)} of {self.documents_checked} documents")
        if self.unchecked_items:
            text += f"; {self.unchecked_items} items shorter than {MIN_WORDS} words not checked"
        return text

    def to_dict(self) -> dict:
        d = asdict(self)
        # JSON object keys are strings; keep them readable as ids
        d["samples"] = {str(k): v for k, v in self.samples.items()}
        d["documents"] = {str(k): v for k, v in self.documents.items()}
        d["items_overlapping"] = len(self.items_overlapping)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ContaminationReport":
        return cls(benchmark=d["benchmark"], n=d["n"], benchmark_items=d["benchmark_items"],
                   unchecked_items=d.get("unchecked_items", 0), samples_checked=d.get("samples_checked", 0),
                   documents_checked=d.get("documents_checked", 0),
                   samples={int(k): list(v) for k, v in (d.get("samples") or {}).items()},
                   documents={int(k): list(v) for k, v in (d.get("documents") or {}).items()})


def check_run(store, benchmark: str | Path, n: int = N, min_words: int = MIN_WORDS, flag: bool = True,
              question_field: str = "question", answer_field: str = "answer") -> ContaminationReport:
    """Check every sample (question and answer) and every ingested passage against the benchmark's questions.

    With `flag`, samples that overlap get FLAG and samples that no longer do lose it; the report
    is stored in the run config (CONFIG_KEY) and logged. Raises EvalError for an unreadable benchmark.
    """
    from .stages.evaluate import EvalConfig, EvalError, load_benchmark

    config = EvalConfig(question_field=question_field, answer_field=answer_field, skip_bad_lines=True)
    items, problems = load_benchmark(benchmark, config)
    if not items:
        detail = ("; " + "; ".join(problems[:3])) if problems else ""
        raise EvalError(f"{benchmark}: no benchmark items with fields {question_field!r} and {answer_field!r} "
                        f"to check for contamination{detail}")
    index = NgramIndex(((it.line, it.question) for it in items), n=n, min_words=min_words)
    report = ContaminationReport(str(Path(benchmark).resolve()), n, len(items), len(index.unchecked))

    samples = store.samples()
    report.samples_checked = len(samples)
    for s in samples:
        hit = index.matches(s.question) | index.matches(s.answer or "")
        if hit:
            report.samples[s.id] = sorted(hit)
    docs: dict[int, set] = {}
    for ch in store.chunks():
        hit = index.matches(ch.text)
        if hit:
            docs.setdefault(ch.doc_id, set()).update(hit)
    report.documents = {d: sorted(v) for d, v in sorted(docs.items())}
    report.documents_checked = len(store.documents())

    if flag:
        for s in samples:
            has, should = FLAG in s.flags, s.id in report.samples
            if has != should:
                flags = tuple(f for f in s.flags if f != FLAG) + ((FLAG,) if should else ())
                store.update_sample(s.id, flags=flags)
        store.set_config(CONFIG_KEY, report.to_dict())
        store.log("contamination", report.summary(), **{
            "contamination/items_overlapping": len(report.items_overlapping),
            "contamination/samples_flagged": len(report.samples),
            "contamination/documents": len(report.documents)})
    return report


def stored_report(store) -> ContaminationReport | None:
    """The last check's report for this run (None if the run was never checked)."""
    d = store.get_config(CONFIG_KEY)
    return ContaminationReport.from_dict(d) if isinstance(d, dict) else None
