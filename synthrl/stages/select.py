"""Stage: select the training set by the student's pass rates.

The paper's rule keeps the hardest samples the student can still sometimes
solve: score = p if p > 0 else 1, sort ascending, keep the first M. Ablations
keep the easiest, the hardest (unsolved included) or everything. Only verified
or expert-accepted samples are candidates; rejected ones never are.

    ids = select_ids({1: 0.0, 2: 0.25, 3: 0.75}, SelectConfig(m=2))   # -> [2, 3]
    sel_id = select(store, SelectConfig(rule="band", lo=0.1, hi=0.6, m=200))
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

from ..store import NEEDS_REMEASURE

CANDIDATE_STATUSES = ("verified", "accepted")
SUSPECT_FLAG = "suspect_label"


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


# -- selection rules: a registry ------------------------------------------------------------
@dataclass(frozen=True)
class SelectionRule:
    """A way to rank measured samples. `rank(items, config)` returns (sort key, sample id) pairs.

    `items` is [(sample id, pass rate)] sorted by id; lower keys are kept first; ties break by id.
    `uses_band`: the rule reads config.lo/config.hi (the Select tab shows the band sliders).
    """

    name: str
    help: str
    rank: Callable[[list[tuple[int, float]], "SelectConfig"], list[tuple[Any, int]]]
    uses_band: bool = False
    keeps_all: bool = False


_RULES: dict[str, SelectionRule] = {}


def selection_rule(name: str, help: str, uses_band: bool = False, keeps_all: bool = False):
    """Register a selection rule; the CLI's --rule choices and the Select tab's choices read the registry.

        @selection_rule("median", "closest to p = 0.5 first")
        def _median(items, config):
            return [(abs(p - 0.5), i) for i, p in items]
    """

    def deco(fn):
        _RULES[name] = SelectionRule(name, help, fn, uses_band, keeps_all)
        return fn

    return deco


def rule_names() -> tuple[str, ...]:
    return tuple(_RULES)


def get_rule(name: str) -> SelectionRule:
    if name not in _RULES:
        raise ValueError(f"select.rule: must be one of {', '.join(_RULES)}, got {name!r}")
    return _RULES[name]


def rules_help() -> str:
    return "; ".join(f"{r.name}: {r.help}" for r in _RULES.values())


def paper_score(p: float) -> float:
    """The paper's selection score: p if the student ever solves it, else 1 (last)."""
    return p if p > 0 else 1.0


def _in_band(p: float, lo: float | None, hi: float | None) -> bool:
    return (p > 0 if lo is None else p >= lo) and (p < 1 if hi is None else p <= hi)


@selection_rule("paper", "hardest the student still solves sometimes first (score = p if p > 0 else 1, "
                         "ascending); never-solved last (or dropped with drop_unsolved)")
def _paper(items, config):
    return [(paper_score(p), i) for i, p in items if not (config.drop_unsolved and p == 0)]


@selection_rule("band", "only lo <= p <= hi, hardest first", uses_band=True)
def _band(items, config):
    return [(p, i) for i, p in items if _in_band(p, config.lo, config.hi)]


@selection_rule("top", "most reward variance p(1-p) first (the most GRPO signal), within [lo, hi]", uses_band=True)
def _top(items, config):
    keep = [(i, p) for i, p in items if config.lo is None and config.hi is None or _in_band(p, config.lo, config.hi)]
    return [((-p * (1 - p), p), i) for i, p in keep]


@selection_rule("easy", "highest pass rate first")
def _easy(items, config):
    return [(-p, i) for i, p in items]


@selection_rule("hard", "lowest pass rate first, never-solved included")
def _hard(items, config):
    return [(p, i) for i, p in items]


@selection_rule("all", "every measured candidate (m is ignored)", keeps_all=True)
def _all(items, config):
    return [(0, i) for i, _ in items]




@dataclass
class SelectConfig:
    """Which pooled samples go to training."""

    rule: str = _help("how to rank the measured candidates (see `synthrl select --help` for the registered "
                      "rules)", "paper")
    m: int | None = _help("how many samples to keep (paper: 500); ignored by rule 'all'; None keeps all", 500)
    lo: float | None = _help("band/top: lowest pass rate kept (inclusive); None means p > 0", None)
    hi: float | None = _help("band/top: highest pass rate kept (inclusive); None means p < 1", None)
    drop_unsolved: bool = _help("paper: drop never-solved samples instead of putting them last "
                                "(what the paper's code does)", False)
    suspect_agreement: float = _help("flag 'suspect_label' on samples the student never solves whose "
                                     "teacher agreement is below this (too hard, or a wrong label?)", 0.5)
    model_version: str | None = _help("whose pass rates to use; default: the run's base student (the "
                                      "version it measured first)", None)
    exclude_contaminated: bool = _help("leave out samples flagged 'contaminated' (they repeat a benchmark "
                                       "question; see synthrl contamination)", True)

    def __post_init__(self):
        get_rule(self.rule)
        if self.m is not None and (isinstance(self.m, bool) or not isinstance(self.m, int) or self.m < 1):
            raise ValueError(f"select.m: must be a positive integer (or null for all), got {self.m!r}")
        for name in ("lo", "hi"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise ValueError(f"select.{name}: must be a pass rate in [0, 1], got {v!r}")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"select: lo ({self.lo}) must not exceed hi ({self.hi})")
        if not 0 <= self.suspect_agreement <= 1:
            raise ValueError(f"select.suspect_agreement: must be in [0, 1], got {self.suspect_agreement!r}")

    def describe(self) -> str:
        parts = [self.rule]
        rule = get_rule(self.rule)
        if not rule.keeps_all and self.m is not None:
            parts.append(f"m={self.m}")
        if rule.uses_band and (self.lo is not None or self.hi is not None):
            parts.append(f"[{'>0' if self.lo is None else self.lo}, {'<1' if self.hi is None else self.hi}]")
        if self.rule == "paper" and self.drop_unsolved:
            parts.append("drop-unsolved")
        return " ".join(parts)


def select_ids(pass_rates: Mapping[int, float], config: SelectConfig) -> list[int]:
    """The selected sample ids, best first, for pass rates {sample_id: p}. Ties break by id."""
    items = sorted(pass_rates.items())
    rule = get_rule(config.rule)
    pool = rule.rank(items, config)
    if rule.keeps_all:
        return [i for _, i in sorted(pool)]
    ranked = [i for _, i in sorted(pool)]
    return ranked if config.m is None else ranked[: config.m]


def suspect_ids(pass_rates: Mapping[int, float], agreements: Mapping[int, float | None],
                threshold: float) -> list[int]:
    """Samples the student never solves AND the teacher barely agreed on: too hard, or a wrong label?"""
    return sorted(i for i, p in pass_rates.items()
                  if p == 0 and agreements.get(i) is not None and agreements[i] < threshold)


# -- the stage ------------------------------------------------------------------------------
def default_model_version(store) -> str | None:
    """The run's base student version: the one it measured first (recorded by measure).

    Never "the version measured on the most samples": after a trained checkpoint is measured
    on every sample, that would rank the pool by the trained model instead of the student.
    """
    return store.base_student_version()


@dataclass(frozen=True)
class SelectReport:
    selection_id: int
    rule: str
    model_version: str | None
    candidates: int
    selected: int
    unmeasured: int
    suspects: int
    mean_pass_rate: float
    reused: bool = False


def select(store, config: SelectConfig, progress=None, reuse: bool = False) -> int:
    """Select from the run's candidates, store the selection and return its id. See `select_report`."""
    return select_report(store, config, progress=progress, reuse=reuse).selection_id


def select_report(store, config: SelectConfig, progress=None, reuse: bool = False) -> SelectReport:
    """Select and store; with `reuse`, an identical latest selection over the same pool is returned instead."""
    version = config.model_version or default_model_version(store)
    if version is None:
        raise ValueError(f"run {store.name} has no measured pass rates yet: run `synthrl measure {store.name}` first")
    rates = store.pass_rates(version)
    if not rates:
        known = sorted(store.pass_rate_versions())
        raise ValueError(f"run {store.name} has no pass rates for student version {version!r}; measured "
                         f"versions: {', '.join(known) or 'none'} (choose one with --model-version)")
    candidates = store.samples(status=CANDIDATE_STATUSES)
    if config.exclude_contaminated:
        from ..contamination import FLAG as CONTAMINATED

        candidates = [s for s in candidates if CONTAMINATED not in s.flags]
    measured = {s.id: rates[s.id].rate for s in candidates if s.id in rates}
    unmeasured = len(candidates) - len(measured)
    # edited samples lost their old pass rates: they wait for `synthrl measure`, never reuse the old rate
    stale = sum(1 for s in candidates if s.id not in rates and NEEDS_REMEASURE in s.flags)

    # flag (and unflag) suspect labels, so the expert sees them in the sample table
    agreements = {s.id: s.agreement for s in candidates}
    suspects = set(suspect_ids(measured, agreements, config.suspect_agreement))
    for s in candidates:
        has = SUSPECT_FLAG in s.flags
        if (s.id in suspects) != has:
            flags = tuple(f for f in s.flags if f != SUSPECT_FLAG) + ((SUSPECT_FLAG,) if not has else ())
            store.update_sample(s.id, flags=flags)

    ids = select_ids(measured, config)
    rule = asdict(config)
    rule["model_version"] = version
    # a fingerprint of the measured pool, so an identical re-run is recognised
    pool = ",".join(f"{i}:{rates[i].n}:{rates[i].n_correct}" for i in sorted(measured))
    rule["pool"] = f"{len(measured)} samples sha1:{hashlib.sha1(pool.encode()).hexdigest()[:12]}"
    name = config.describe()
    latest = store.latest_selection()
    if reuse and latest is not None and latest["rule"] == rule:
        sel_id, reused = latest["id"], True
    else:
        sel_id, reused = store.add_selection(name, rule, ids, model_version=version), False
    chosen = [measured[i] for i in ids]
    report = SelectReport(sel_id, config.rule, version, len(candidates), len(ids), unmeasured, len(suspects),
                          sum(chosen) / len(chosen) if chosen else 0.0, reused)
    if not reused:
        store.log("select", f"selection {sel_id} ({name}): {len(ids)} of {len(measured)} measured candidates",
                  **{"select/selected": len(ids), "select/candidates": len(candidates),
                     "select/unmeasured": unmeasured, "select/suspect_labels": len(suspects),
                     "select/mean_pass_rate": report.mean_pass_rate, "selection_id": sel_id})
    if progress:
        note = f" ({unmeasured} candidates not measured yet)" if unmeasured else ""
        if stale:
            note += f"; {stale} edited samples need re-measuring: `synthrl measure {store.name}`"
        progress(f"select: {'kept' if reused else 'stored'} selection {sel_id} ({name}): {len(ids)} of "
                 f"{len(measured)} samples, mean pass rate {report.mean_pass_rate:.2f}, "
                 f"{len(suspects)} suspect labels{note}")
    return report
