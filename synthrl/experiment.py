"""Experiments: the paper's comparison of selection rules, on the user's own run.

From one run's verified, measured pool, each variant builds its selection at equal M,
trains with identical settings into its own model folder (training is keyed by selection),
and is evaluated on the benchmark next to the base student, with 95% intervals:

    paper     the paper's rule (hardest the student can still solve first)
    random    seeded uniform choice over the candidates
    easy      highest pass rate first
    hard      lowest pass rate first, never-solved included
    all       every candidate (M is the pool size)
    no-adapt  the paper's rule over round 0 only (no difficulty adaptation)

Each (variant, seed) is one cell with its own selection, model and evaluation; the
experiment's record in the run (config key "experiment:<name>") says which, so running it
again skips finished cells and resumes a cell's training from its newest checkpoint.
Training curves are kept per cell under the metrics tag "exp:<name>:<variant>:s<seed>".

    exp = run_experiment(store, ExperimentConfig(variants=("paper", "random"), seeds=3))
    rows = experiment_table(store, "default")      # variant, M, accuracy, interval, change vs base
    write_reports(store, "default", "results/")    # HTML (plotly) + Markdown
"""
from __future__ import annotations

import dataclasses
import hashlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

VARIANTS = ("paper", "random", "easy", "hard", "all", "no-adapt")
CONFIG_PREFIX = "experiment:"
Progress = Callable[[str], None]


class ExperimentError(ValueError):
    """An experiment that cannot run as asked; the message says what to fix."""


@dataclass
class ExperimentConfig:
    """What to compare and how."""

    variants: tuple[str, ...] = ("paper", "random")
    m: int | None = None               # samples per selection; default: the run's select.m, at most the pool
    seeds: int = 1                     # each variant is trained (and, for random, drawn) once per seed
    benchmark: str | None = None       # default: the run config's benchmark
    name: str = "default"
    train_overrides: dict = field(default_factory=dict)   # e.g. {"max_steps": 2}
    eval_overrides: dict = field(default_factory=dict)    # e.g. {"limit": 20}

    def __post_init__(self):
        if isinstance(self.variants, str):
            self.variants = tuple(v.strip() for v in self.variants.split(",") if v.strip())
        self.variants = tuple(dict.fromkeys(self.variants))
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad or not self.variants:
            raise ExperimentError(f"unknown variant(s) {', '.join(bad) or '(none given)'}: choose from "
                                  f"{', '.join(VARIANTS)}")
        if self.m is not None and (isinstance(self.m, bool) or self.m < 1):
            raise ExperimentError(f"m must be a positive integer, got {self.m!r}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ExperimentError(f"seeds must be an integer >= 1, got {self.seeds!r}")
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ExperimentError(f"name must be a plain name (letters, digits, - _ .), got {self.name!r}")


# -- selections ----------------------------------------------------------------------------------
def variant_ids(variant: str, rates: dict[int, float], rounds: dict[int, int], m: int, seed: int) -> list[int]:
    """The sample ids a variant trains on, from pass rates {id: p} and rounds {id: round}."""
    from .stages.select import SelectConfig, select_ids

    if variant == "random":
        ids = sorted(rates)
        return sorted(random.Random(seed).sample(ids, min(m, len(ids))))
    if variant == "all":
        return sorted(rates)
    if variant == "no-adapt":
        return select_ids({i: p for i, p in rates.items() if rounds.get(i, 0) == 0}, SelectConfig(rule="paper", m=m))
    return select_ids(rates, SelectConfig(rule=variant, m=m))


def _cell_key(variant: str, seed: int) -> str:
    return f"{variant}/s{seed}"


def metrics_tag(name: str, variant: str, seed: int) -> str:
    return f"exp:{name}:{variant}:s{seed}"


def load_record(store, name: str = "default") -> dict | None:
    return store.get_config(CONFIG_PREFIX + name)


def experiment_names(store) -> list[str]:
    return [k[len(CONFIG_PREFIX):] for k in store.config_keys(CONFIG_PREFIX)]


def _pool(store, version: str) -> tuple[dict[int, float], dict[int, int]]:
    from .contamination import FLAG as CONTAMINATED
    from .stages.select import CANDIDATE_STATUSES

    rates = store.pass_rates(version)
    cands = [s for s in store.samples(status=CANDIDATE_STATUSES) if CONTAMINATED not in s.flags and s.id in rates]
    return {s.id: rates[s.id].rate for s in cands}, {s.id: s.round for s in cands}


def experiment_run_config(store, file=None, profile: str | None = None, overrides=None):
    """The run config an experiment trains and evaluates with: synthrl.config.resolve_config (a run with
    nothing recorded starts from the tiny profile); a config with training or evaluation off
    (train/evaluate: null) uses tiny training and the default evaluation settings for the cells."""
    from .config import resolve_config

    return _cell_settings(resolve_config(store, file, profile, overrides, fallback="tiny"))


def _cell_settings(cfg):
    """`cfg` (a copy) with train/evaluate filled in where the config has them off."""
    from .stages.evaluate import EvalConfig
    from .stages.train import TrainConfig

    if cfg.train is not None and cfg.evaluate is not None:
        return cfg
    return dataclasses.replace(cfg, train=cfg.train if cfg.train is not None else TrainConfig.profile("tiny"),
                               evaluate=cfg.evaluate if cfg.evaluate is not None else EvalConfig())


# -- running -----------------------------------------------------------------------------------
def run_experiment(store, config: ExperimentConfig, progress: Progress | None = print,
                   run_config=None) -> dict:
    """Build, train and evaluate every cell not finished yet; returns the experiment record.

    run_config: the resolved RunConfig (default: experiment_run_config(store), the run's own settings).
    """
    from .stages.evaluate import evaluate
    from .stages.select import default_model_version
    from .stages.train import checkpoints_dir, latest_checkpoint, train

    say = progress or (lambda msg: None)
    cfg = _cell_settings(run_config) if run_config is not None else experiment_run_config(store)
    task = store.load_task()
    version = default_model_version(store)
    if version is None:
        raise ExperimentError(f"run {store.name} has no measured pass rates: run `synthrl measure {store.name}` first")
    rates, rounds = _pool(store, version)
    if not rates:
        raise ExperimentError(f"run {store.name} has no measured candidates (verified or accepted samples with "
                              f"pass rates): run generate and measure first")
    bench = config.benchmark or cfg.benchmark
    if not bench:
        raise ExperimentError("no benchmark: give --benchmark FILE (or set benchmark: in the run config)")
    bench = str(Path(bench).expanduser().resolve())
    if not Path(bench).exists():
        raise ExperimentError(f"{bench}: benchmark file not found")
    m = min(config.m or (cfg.select.m if cfg.select and cfg.select.m else len(rates)), len(rates))
    try:
        tcfg = dataclasses.replace(cfg.train, **config.train_overrides)
        ecfg = dataclasses.replace(cfg.evaluate, **config.eval_overrides)
    except TypeError as e:
        raise ExperimentError(f"unknown setting in the overrides: {e}") from None

    pool_print = ",".join(f"{i}:{rates[i]:.4f}" for i in sorted(rates))
    fingerprint = f"{len(rates)} samples sha1:{hashlib.sha1(pool_print.encode()).hexdigest()[:12]}"
    key = CONFIG_PREFIX + config.name
    rec = store.get_config(key) or {}
    settings = {"m": m, "benchmark": bench, "model_version": version, "pool": fingerprint,
                "train": tcfg.to_dict(), "evaluate": dataclasses.asdict(ecfg)}
    if rec and {k: rec.get(k) for k in settings} != settings:
        changed = [k for k in settings if rec.get(k) != settings[k]]
        raise ExperimentError(f"experiment {config.name!r} of run {store.name} was run with other settings "
                              f"({', '.join(changed)} differ): give another --name to start a new one")
    rec = {**settings, "name": config.name, "cells": rec.get("cells", {}), "base_eval": rec.get("base_eval"),
           "variants": list(dict.fromkeys([*rec.get("variants", []), *config.variants])),
           "seeds": max(rec.get("seeds", 0), config.seeds), "created_at": rec.get("created_at", time.time())}
    store.set_config(key, rec)
    store.log("experiment", f"experiment {config.name}: {', '.join(config.variants)} x {config.seeds} seed(s) at "
                            f"M={m} on {Path(bench).name}")

    def save():
        store.set_config(key, rec)

    # the base student, once
    evaluated = {e["id"]: e for e in store.evaluations()}
    if rec["base_eval"] not in evaluated:
        say(f"experiment {config.name}: evaluating the base student on {Path(bench).name}")
        rec["base_eval"] = evaluate(store, task, "base", bench, ecfg)
        save()

    for seed in range(config.seeds):
        for variant in config.variants:
            ck = _cell_key(variant, seed)
            cell = rec["cells"].get(ck) or {"variant": variant, "seed": seed}
            rec["cells"][ck] = cell
            if cell.get("eval_id") in evaluated and cell.get("model"):
                say(f"experiment {config.name}: {ck} already done")
                continue
            # 1. the selection
            if cell.get("selection_id") is None or store.selection(cell["selection_id"]) is None:
                ids = variant_ids(variant, rates, rounds, m, seed)
                if not ids:
                    raise ExperimentError(f"variant {variant} selects nothing from this pool (no-adapt needs "
                                          f"round-0 samples; paper needs measured ones)")
                rule = {"experiment": config.name, "variant": variant, "seed": seed, "m": m,
                        "model_version": version, "pool": fingerprint}
                cell["selection_id"] = store.add_selection(f"experiment {config.name}: {variant} seed {seed}", rule,
                                                           ids, model_version=version)
                cell["m"] = len(ids)
                cell["mean_pass_rate"] = sum(rates[i] for i in ids) / len(ids)
                save()
            sel = cell["selection_id"]
            # 2. training, keyed by the cell's selection
            model = store.trained_model(sel)
            if model is None:
                resume = latest_checkpoint(checkpoints_dir(store, sel)) is not None
                say(f"experiment {config.name}: training {ck} on selection {sel} ({cell['m']} samples)"
                    + (" (resuming)" if resume else ""))
                t0 = time.time()
                rep = train(store, dataclasses.replace(tcfg, seed=tcfg.seed + seed), resume=resume, selection_id=sel)
                tag = metrics_tag(config.name, variant, seed)
                store.tag_current_training(tag)
                if rep.final_model is None:
                    raise ExperimentError(f"training {ck} stopped at step {rep.steps}; run the experiment again "
                                          "to resume")
                cell.update(steps=rep.steps, train_seconds=cell.get("train_seconds", 0) + (time.time() - t0),
                            heldout_accuracy=rep.heldout_accuracy, reward=rep.last_metrics.get("train/reward"))
                model = rep.final_model
            cell["model"] = model
            save()
            # 3. evaluation
            t0 = time.time()
            cell["eval_id"] = evaluate(store, task, model, bench, ecfg)
            cell["eval_seconds"] = time.time() - t0
            evaluated = {e["id"]: e for e in store.evaluations()}
            e = evaluated[cell["eval_id"]]
            say(f"experiment {config.name}: {ck}: accuracy {e['n_correct']}/{e['n']} = {e['accuracy']:.3f}")
            save()
    store.log("experiment", f"experiment {config.name} finished", name=config.name)
    return rec


# -- reading ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VariantRow:
    """One line of the comparison: a variant over its seeds (or the base student)."""

    variant: str
    m: int | None
    seeds: int
    n: int                      # benchmark items per evaluation
    accuracy: float             # mean over seeds
    ci_low: float               # 95% Wilson interval over all seeds' items pooled
    ci_high: float
    change: float | None        # accuracy - base accuracy (points as a fraction)
    steps: int | None
    seconds: float | None       # training + evaluation wall time, summed over seeds
    per_seed: tuple[float, ...] = ()


def experiment_table(store, name: str = "default") -> list[VariantRow]:
    """Base first, then each variant in the order given (finished cells only)."""
    from .stages.evaluate import wilson_interval

    rec = load_record(store, name)
    if not rec:
        return []
    evals = {e["id"]: e for e in store.evaluations()}
    base = evals.get(rec.get("base_eval"))
    rows = []
    if base:
        rows.append(VariantRow("base", None, 1, base["n"], base["accuracy"], base["ci_low"], base["ci_high"], 0.0,
                               None, None, (base["accuracy"],)))
    for v in rec.get("variants", []):
        cells = [c for c in rec["cells"].values() if c["variant"] == v and c.get("eval_id") in evals]
        if not cells:
            continue
        es = [evals[c["eval_id"]] for c in cells]
        k, n = sum(e["n_correct"] for e in es), sum(e["n"] for e in es)
        lo, hi = wilson_interval(k, n)
        acc = sum(e["accuracy"] for e in es) / len(es)
        rows.append(VariantRow(
            v, cells[0].get("m"), len(cells), es[0]["n"], acc, lo, hi,
            acc - base["accuracy"] if base else None, cells[0].get("steps"),
            sum((c.get("train_seconds") or 0) + (c.get("eval_seconds") or 0) for c in cells),
            tuple(e["accuracy"] for e in es)))
    return rows


def differing_items(store, name: str = "default", limit: int = 200) -> list[dict]:
    """Benchmark items on which the base and the variants (first seed) do not all agree."""
    rec = load_record(store, name)
    if not rec or rec.get("base_eval") is None:
        return []
    columns = [("base", rec["base_eval"])]
    for v in rec.get("variants", []):
        cell = rec["cells"].get(_cell_key(v, 0))
        if cell and cell.get("eval_id") is not None:
            columns.append((v, cell["eval_id"]))
    items = {name_: {r["idx"]: r for r in store.eval_items(eid)} for name_, eid in columns}
    base_items = items["base"]
    out = []
    for idx in sorted(base_items):
        verdicts = {c: bool(items[c][idx]["correct"]) for c, _ in columns if idx in items[c]}
        if len(set(verdicts.values())) > 1:
            row = {"idx": idx, "question": base_items[idx]["question"], "reference": base_items[idx]["reference"]}
            for c, _ in columns:
                it = items[c].get(idx)
                row[c] = None if it is None else ("✓ " if it["correct"] else "✗ ") + str(it["extracted"])
            out.append(row)
            if len(out) >= limit:
                break
    return out


def curves(store, name: str = "default", key: str = "train/reward") -> dict[str, list[tuple[int, float]]]:
    """{variant/seed: [(step, value), ...]} for one metric of every trained cell."""
    rec = load_record(store, name)
    out: dict[str, list[tuple[int, float]]] = {}
    if not rec:
        return out
    for ck, cell in rec["cells"].items():
        pts = [(m["step"], m["value"]) for m in store.metrics(key, tag=metrics_tag(name, cell["variant"], cell["seed"]))
               if m["key"] == key]
        if pts:
            out[ck] = pts
    return out


def curves_figure(store, name: str = "default"):
    """Reward and held-out accuracy of every cell, overlaid (plotly)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("train/reward", "train/heldout_accuracy"))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    rec = load_record(store, name) or {}
    colour = {v: palette[i % len(palette)] for i, v in enumerate(rec.get("variants", []))}
    for col, key in ((1, "train/reward"), (2, "train/heldout_accuracy")):
        for ck, pts in sorted(curves(store, name, key).items()):
            variant = ck.split("/")[0]
            fig.add_scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=ck,
                            line={"color": colour.get(variant)}, legendgroup=ck, showlegend=col == 1,
                            row=1, col=col)
    fig.update_layout(height=380, margin={"t": 40, "l": 40, "r": 10, "b": 40}, xaxis_title="step")
    return fig


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def markdown_summary(store, name: str = "default") -> str:
    """The comparison as a Markdown table, with the settings it was run with."""
    rec = load_record(store, name)
    if not rec:
        return f"No experiment {name!r} in run {store.name}."
    rows = experiment_table(store, name)
    t = rec.get("train", {})
    lines = [f"## Experiment `{name}` on run `{store.name}`", "",
             f"Benchmark `{Path(rec['benchmark']).name}`, greedy, 95% Wilson intervals (seeds pooled). "
             f"Pool {rec['pool']}, M = {rec['m']}; training {t.get('algo')} {t.get('max_steps') or t.get('epochs')} "
             f"{'steps' if t.get('max_steps') else 'epochs'}, lr {t.get('learning_rate')}, "
             f"{t.get('num_generations')} generations, T={t.get('temperature')}.", "",
             "| variant | M | seeds | accuracy % | 95% interval | change vs base (points) | steps | wall time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        seeds = f"{r.seeds}" + (f" ({', '.join(_pct(a) for a in r.per_seed)})" if r.seeds > 1 else "")
        lines.append(f"| {r.variant} | {r.m if r.m is not None else '–'} | {seeds} | {_pct(r.accuracy)} | "
                     f"{_pct(r.ci_low)}–{_pct(r.ci_high)} | {_pct(r.change, True) if r.variant != 'base' else '–'} | "
                     f"{r.steps if r.steps is not None else '–'} | "
                     f"{f'{r.seconds:.0f}' if r.seconds is not None else '–'} |")
    diff = differing_items(store, name)
    lines += ["", f"{len(diff)} benchmark items on which the variants (first seed) and the base disagree."]
    return "\n".join(lines) + "\n"


def html_report(store, name: str = "default") -> str:
    """A self-contained HTML page: the table, the overlaid curves (plotly inline), the differing items."""
    import html

    import plotly.io as pio

    rows = experiment_table(store, name)
    head = ("<tr><th>variant</th><th>M</th><th>seeds</th><th>accuracy %</th><th>95% interval</th>"
            "<th>change vs base</th><th>steps</th><th>wall time (s)</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(r.variant)}</td><td>{r.m if r.m is not None else '–'}</td><td>{r.seeds}</td>"
        f"<td>{_pct(r.accuracy)}</td><td>{_pct(r.ci_low)}–{_pct(r.ci_high)}</td>"
        f"<td>{_pct(r.change, True) if r.variant != 'base' else '–'}</td>"
        f"<td>{r.steps if r.steps is not None else '–'}</td>"
        f"<td>{f'{r.seconds:.0f}' if r.seconds is not None else '–'}</td></tr>" for r in rows)
    diff = differing_items(store, name)
    cols = list(diff[0]) if diff else []
    dhead = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    dbody = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in diff)
    fig = pio.to_html(curves_figure(store, name), include_plotlyjs=True, full_html=False)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>synthrl experiment {html.escape(name)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
            f"<h1>Experiment {html.escape(name)} · run {html.escape(store.name)}</h1>"
            f"<pre>{html.escape(markdown_summary(store, name).split(chr(10) + '|')[0])}</pre>"
            f"<table>{head}{body}</table><h2>Training curves</h2>{fig}"
            f"<h2>Items on which they differ ({len(diff)})</h2><table><tr>{dhead}</tr>{dbody}</table>"
            "</body></html>")


def write_reports(store, name: str, folder: str | Path) -> tuple[Path, Path]:
    """experiment-<name>.html and experiment-<name>.md in `folder` (created)."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    h, m = d / f"experiment-{name}.html", d / f"experiment-{name}.md"
    h.write_text(html_report(store, name), encoding="utf-8")
    m.write_text(markdown_summary(store, name), encoding="utf-8")
    return h, m
