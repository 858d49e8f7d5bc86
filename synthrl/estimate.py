"""Cost and time before launching a stage, and what it really took afterwards.

A stage's settings imply a number of teacher and student calls and tokens; at the throughput
measured on this machine (the latest real stage run of that backend, recorded in the run
store) they take a time, and at the user's prices per million tokens (API teachers) they cost
money. Before any run a stated default throughput is used, and the estimate says so.

Every model a stage loads (backends.spec.load_model) is metered: calls, tokens and busy seconds;
`stage_guard` (commands/run_arg.py) writes them to the store when the stage ends, and training
records its own. The estimate made before a launch is stored too, so the app and `--dry-run`
show it next to the actual.

    est = estimate(store, "generate", n=200, votes=16, teacher_backend="openai", price_in=0.15, price_out=0.6)
    print(est.text())      # calls, tokens, time, money, and where each throughput figure came from
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .backends.base import ChatModel
from .store import RunStore

STAGES = ("generate", "measure", "adapt", "train", "eval")
CHARS_PER_TOKEN = 4.0
# Stated assumptions (decode tokens per second) used until a real stage run measures this machine.
DEFAULT_TOKENS_PER_S = {
    "transformers": 40.0,     # the bundled 135M model on 2 CPU cores, batched generate
    "vllm": 2500.0,           # one recent NVIDIA GPU, a 7B model, many requests in flight
    "openai": 600.0,          # a remote server: 8 requests in flight at ~75 tokens/s each
    "trl-grpo": 30.0,         # GRPO rollouts + update on 2 CPU cores (bundled model)
    "trl-ppo": 20.0,
}
# Prompt sizes (tokens) when the run holds nothing to measure them on: instructions + one passage.
GENERATE_PROMPT = 800
ANSWER_PROMPT = 150


@dataclass(frozen=True)
class Estimate:
    """What a stage's settings imply."""

    stage: str
    teacher_calls: int = 0
    teacher_tokens_in: int = 0
    teacher_tokens_out: int = 0
    student_calls: int = 0
    student_tokens_in: int = 0
    student_tokens_out: int = 0
    seconds: float = 0.0
    money: float | None = None          # at the given prices (API teacher); None: no prices given
    basis: list[str] = field(default_factory=list)   # where each throughput and size came from

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        parts = []
        if self.teacher_calls:
            parts.append(f"teacher: {self.teacher_calls:,} calls, {self.teacher_tokens_in:,} tokens in / "
                         f"{self.teacher_tokens_out:,} out")
        if self.student_calls:
            parts.append(f"student: {self.student_calls:,} completions, {self.student_tokens_in:,} tokens in / "
                         f"{self.student_tokens_out:,} out")
        if not parts:
            parts.append("nothing to do with these settings")
        parts.append(f"time: about {format_seconds(self.seconds)}")
        if self.money is not None:
            parts.append(f"money: about ${self.money:,.2f}")
        return "; ".join(parts) + "\n(" + "; ".join(self.basis) + ")"


def format_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


# -- throughput ---------------------------------------------------------------------------------------------
def throughput(store: RunStore, backend: str) -> tuple[float, str]:
    """(decode tokens/s, where the figure comes from): the latest real run of `backend`, else the default."""
    rows = [r for r in store.throughput() if r["backend"] == backend and r["seconds"] and r["completion_tokens"]]
    if rows:
        r = rows[-1]
        return r["completion_tokens"] / r["seconds"], (
            f"{backend}: {r['completion_tokens'] / r['seconds']:.0f} tokens/s measured by {r['stage']} "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(r['at']))}")
    tps = DEFAULT_TOKENS_PER_S.get(backend, 40.0)
    return tps, f"{backend}: {tps:.0f} tokens/s assumed (no run measured it yet)"


def _mean_tokens(v: float | None, fallback: int, what: str, basis: list[str]) -> int:
    """Tokens of a text from the run's mean length in characters `v`, else `fallback` (said in `basis`)."""
    if v:
        basis.append(f"{what} ~{v / CHARS_PER_TOKEN:.0f} tokens (this run's mean)")
        return max(1, int(v / CHARS_PER_TOKEN))
    basis.append(f"{what} {fallback} tokens assumed")
    return fallback


# -- the estimate ---------------------------------------------------------------------------------------------
def estimate(store: RunStore, stage: str, *, n: int | None = None, votes: int | None = None,
             rollouts: int | None = None, max_tokens: int | None = None, rounds: int = 1, samples: int | None = None,
             steps: int | None = None, batch: int | None = None, num_generations: int | None = None,
             items: int | None = None, models: int = 1, teacher_backend: str = "transformers",
             student_backend: str = "transformers", algo: str = "grpo", price_in: float | None = None,
             price_out: float | None = None) -> Estimate:
    """The calls, tokens, time and money a stage's settings imply (see the module doc)."""
    if stage not in STAGES:
        raise ValueError(f"no estimate for stage {stage!r}; stages: {', '.join(STAGES)}")
    basis: list[str] = []
    t_out = _mean_tokens(store.mean_chars("vote"), min(max_tokens or 256, 256), "a teacher reply", basis) \
        if stage in ("generate", "adapt") else 0
    s_out = _mean_tokens(store.mean_chars("answer"), min(max_tokens or 128, 128), "a student answer", basis) \
        if stage in ("measure", "adapt", "eval") else 0
    q_in = _mean_tokens(store.mean_chars("question"), 60, "a question", basis) + ANSWER_PROMPT
    tc = ti = to = sc = si = so = 0
    if stage == "generate":
        have = store.n_with_status(("verified", "accepted", "pending"))
        new = max(0, (n or 50) - have)
        v = votes if votes is not None else 16
        tc = new * (1 + v)
        ti, to = new * GENERATE_PROMPT + new * v * q_in, tc * t_out
        basis.append(f"{new} new samples (the run holds {have}) x (1 generation + {v} votes)")
    elif stage == "measure":
        todo = samples if samples is not None else store.n_unmeasured(("verified", "accepted"))
        L = rollouts or 8
        sc, si, so = todo * (L + 1), todo * (L + 1) * q_in, todo * (L + 1) * s_out
        basis.append(f"{todo} samples x (1 greedy + {L} sampled answers)")
    elif stage == "adapt":
        measured = store.n_measured_in_last_round()
        v, L = (votes if votes is not None else 16), rollouts or 8
        rewrites = measured * max(1, rounds)
        tc, ti, to = rewrites * (1 + v), rewrites * (1 + v) * (q_in + 200), rewrites * (1 + v) * t_out
        sc, si, so = rewrites * (L + 1), rewrites * (L + 1) * q_in, rewrites * (L + 1) * s_out
        basis.append(f"{rewrites} rewrites x (1 + {v} votes) and {L + 1} student answers each")
    elif stage == "train":
        st, b, g = steps or 2, batch or 8, num_generations or 4
        out = max_tokens or 64
        sc, si, so = st * b, st * b * q_in, st * b * out
        basis.append(f"{st} steps x {b} completions ({g} per prompt), up to {out} tokens each")
    elif stage == "eval":
        k = items or 0
        sc, si, so = k * models, k * models * q_in, k * models * s_out
        basis.append(f"{k} benchmark items x {models} model(s), greedy")
    seconds = 0.0
    if tc:
        tps, note = throughput(store, teacher_backend)
        seconds += to / tps
        basis.append("teacher " + note)
    if sc:
        backend = f"trl-{algo}" if stage == "train" else student_backend
        tps, note = throughput(store, backend)
        seconds += so / tps
        basis.append("student " + note)
    money = None
    if price_in is not None or price_out is not None:
        money = (ti * (price_in or 0) + to * (price_out or 0)) / 1e6
        if student_backend == "openai":
            money += (si * (price_in or 0) + so * (price_out or 0)) / 1e6
        basis.append(f"prices per million tokens: ${price_in or 0:g} in, ${price_out or 0:g} out")
    return Estimate(stage, tc, ti, to, sc, si, so, seconds, money, basis)


def record(store: RunStore, est: Estimate, dry_run: bool = False) -> None:
    """Keep the estimate made before a launch (a dry run's too), to show it beside the actual afterwards."""
    store.add_estimate(est.stage, {**est.to_dict(), "dry_run": dry_run})


def estimate_vs_actual(store: RunStore, stage: str) -> str:
    """The latest launched (not dry-run) estimate of `stage` next to what the run that followed measured."""
    ests = [e for e in store.estimates(stage) if not e["data"].get("dry_run")]
    if not ests:
        return ""
    e = ests[-1]
    d = e["data"]
    after = [r for r in store.throughput() if r["stage"] == stage and r["at"] >= e["at"]]
    est_line = (f"estimated {format_seconds(d['seconds'])}, {d['teacher_calls'] + d['student_calls']:,} calls, "
                f"{d['teacher_tokens_out'] + d['student_tokens_out']:,} tokens out")
    if not after:
        return f"last {stage}: {est_line}; no finished run measured yet"
    calls = sum(r["calls"] or 0 for r in after)
    toks = sum(r["completion_tokens"] or 0 for r in after)
    wall = max(r["seconds"] or 0 for r in after)
    return f"last {stage}: {est_line} → actual {format_seconds(wall)}, {calls:,} calls, {toks:,} tokens out"


# -- metering: every loaded model counts its calls, tokens and busy time ------------------------------------------
_USAGE: dict[tuple[str, str, str], dict] = {}
_USAGE_LOCK = threading.Lock()


class Metered(ChatModel):
    """A ChatModel that counts what passes through it (for throughput measured on this machine)."""

    def __init__(self, inner: ChatModel, backend: str, model: str, role: str = ""):
        self.inner, self.key = inner, (role, backend, str(model))
        self.name, self.version = inner.name, inner.version
        self._active, self._since = 0, 0.0

    def __getattr__(self, item: str) -> Any:
        return getattr(self.__dict__["inner"], item)

    def chat(self, conversations, params):
        with _USAGE_LOCK:
            if self._active == 0:
                self._since = time.perf_counter()
            self._active += 1
        out = None
        try:
            out = self.inner.chat(conversations, params)
            return out
        finally:
            with _USAGE_LOCK:
                self._active -= 1
                u = _USAGE.setdefault(self.key, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0})
                if self._active == 0:  # busy time: overlapping concurrent calls count once
                    u["seconds"] += time.perf_counter() - self._since
                for group in out or []:
                    for c in group:
                        u["calls"] += 1
                        u["prompt_tokens"] += int(getattr(c, "prompt_tokens", 0) or 0)
                        u["completion_tokens"] += int(getattr(c, "completion_tokens", 0) or 0)

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()


def flush_usage(store: RunStore, stage: str, wall_seconds: float | None = None) -> int:
    """Write what the metered models did since the last flush to the store; returns rows written."""
    with _USAGE_LOCK:
        rows = {k: dict(v) for k, v in _USAGE.items() if v["calls"]}
        _USAGE.clear()
    for (role, backend, model), u in rows.items():
        store.add_throughput(stage, role, backend, model, u["calls"], u["prompt_tokens"], u["completion_tokens"],
                             u["seconds"] or (wall_seconds or 0.0))
    return len(rows)
