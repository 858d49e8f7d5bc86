"""The records that flow between stages.

Small frozen dataclasses named as nouns. Stages take and return these; the run
store turns them into rows and back. Plain dicts do not cross module boundaries.

    s = Sample(id=0, question="What is 2+3?", answer="2+3=5. #### 5", reference="5")
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Where a sample came from (its lineage).
ORIGINS = ("generated", "harder", "easier", "edited", "imported")
# Sample life cycle: pending (written, not verified) -> verified | dropped;
# the expert may then accept or reject it.
STATUSES = ("pending", "verified", "dropped", "accepted", "rejected", "failed")


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage of an ingested document."""

    id: str
    doc_id: int
    text: str
    source: str
    page: int | None = None
    row: int | None = None
    position: int = 0


@dataclass(frozen=True)
class Passage:
    """A chunk as a retriever returns it, with its score."""

    chunk_id: str
    text: str
    source: str
    score: float
    page: int | None = None
    row: int | None = None


@dataclass(frozen=True)
class Sample:
    """One synthetic training sample: a question and its verified answer.

    `answer` is the full teacher solution in the task's output format;
    `reference` is the answer extracted from it by the task's checker.
    """

    id: int | None
    question: str
    answer: str = ""
    reference: str | None = None
    round: int = 0
    origin: str = "generated"
    parent_id: int | None = None
    passage_id: str | None = None
    status: str = "pending"
    agreement: float | None = None
    flags: tuple[str, ...] = ()
    error: str | None = None

    def replace(self, **changes: Any) -> "Sample":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Vote:
    """One teacher answer cast while verifying a sample."""

    sample_id: int
    idx: int
    completion: str
    extracted: str | None


@dataclass(frozen=True)
class Attempt:
    """One student answer to a sample (greedy or sampled)."""

    sample_id: int
    model_version: str
    kind: str  # "greedy" | "sample"
    completion: str
    extracted: str | None
    correct: bool
    temperature: float = 0.0


@dataclass(frozen=True)
class PassRate:
    """The student's measured pass rate on one sample."""

    sample_id: int
    model_version: str
    n: int
    n_correct: int
    greedy_correct: bool | None = None

    @property
    def rate(self) -> float:
        return self.n_correct / self.n if self.n else 0.0


@dataclass(frozen=True)
class Completion:
    """One completion returned by a chat backend."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


@dataclass(frozen=True)
class Event:
    """A line in the run's log: what happened, at which stage."""

    stage: str
    message: str
    level: str = "info"
    data: dict = field(default_factory=dict)
    at: float | None = None
    id: int | None = None
