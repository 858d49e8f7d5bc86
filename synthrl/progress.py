"""One progress type: where a stage says how far it is.

Stages report progress in one of three shapes: a line of text (measure, adapt, select, the
pipeline), counts (generate: `(done, total)`), or counts with a name (ingest: `(i, n, name)`).
`Progress` is the one the pipeline hands its stages; it is itself a text callback, and it
turns into the other two shapes, so every stage function keeps its own signature:

    p = Progress.of(print)                      # or a Progress, a str callback, or None (silent)
    p("measure: 3/8 samples")                   # a line
    generate(..., progress=p.counts("generate", "samples"))      # -> "generate: 3/8 samples"
    ingest(..., progress=p.items("ingest"))                       # -> "ingest: 2/5 notes.md"
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union


def _silent(msg: str) -> None:
    return None


@dataclass(frozen=True)
class Progress:
    """A progress report: `say` gets one line of text per report."""

    say: Callable[[str], None] = _silent

    def __call__(self, msg: str) -> None:
        self.say(msg)

    @classmethod
    def of(cls, callback: "ProgressLike") -> "Progress":
        """A Progress from a Progress, a text callback, or None (reports nothing)."""
        if isinstance(callback, Progress):
            return callback
        return cls(callback if callback is not None else _silent)

    def counts(self, stage: str, unit: str = "") -> Callable[[int, int], None]:
        """A (done, total) callback reporting "stage: done/total unit" (generate's shape)."""
        tail = f" {unit}" if unit else ""
        return lambda done, total: self.say(f"{stage}: {done}/{total}{tail}")

    def items(self, stage: str) -> Callable[[int, int, str], None]:
        """An (i, n, name) callback reporting "stage: i/n name" (ingest's shape)."""
        return lambda i, n, name: self.say(f"{stage}: {i}/{n} {name}")


ProgressLike = Union[Progress, Callable[[str], None], None]
