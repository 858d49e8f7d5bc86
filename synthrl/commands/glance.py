"""The data at a glance: the sample map and the coverage figures (synthrl/atlas.py).

    synthrl map demo --out map.html          # embeds new texts (cached), projects, writes a plotly page
    synthrl map demo --color origin --out map.html --no-update
    synthrl coverage demo --json             # passages used / total, samples per document, answers
"""
from __future__ import annotations

import argparse
import json
import sys

from .run_arg import add_run_argument, open_run, stage_guard


def register(sub: argparse._SubParsersAction) -> None:
    from ..atlas import COLOR_BY

    p = sub.add_parser(
        "map", help="a map of the samples (and passages) by meaning; clusters of near-identical questions",
        description="Embed every sample question and passage once (bundled MiniLM; cached in the run store by "
                    "text hash), project them to 2-D with PCA, find clusters of near-identical questions, and "
                    "store the projection for the app's Map tab. With --out, also write the map as a "
                    "self-contained plotly HTML page (no network needed to open it).")
    add_run_argument(p)
    p.add_argument("--out", default=None, metavar="FILE", help="write the map as an HTML page")
    p.add_argument("--color", choices=COLOR_BY, default="pass rate", help="colour samples by (default pass rate)")
    p.add_argument("--no-update", action="store_true", help="draw the stored projection; embed nothing")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_map)

    p = sub.add_parser("coverage", help="how much of the documents the samples use; how spread their answers are",
                       description="Passages used / total, samples per document, answer-value spread and "
                                   "repeated questions (near-identical ones once `synthrl map` has run).")
    add_run_argument(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_coverage)


def cmd_map(args: argparse.Namespace) -> int:
    from .. import atlas

    store = open_run(args, create=False)
    report = None
    if not args.no_update:
        with stage_guard(store, "map"):
            store.set_progress("map", 0, 1, "running", "embedding new texts")
            report = atlas.update_map(store, progress=lambda d, t: store.set_progress("map", d, t, "running",
                                                                                    "embedding new texts"))
            store.set_progress("map", 1, 1, "done", report.summary())
    if args.out:
        atlas.map_figure(store, args.color).write_html(args.out, include_plotlyjs=True, full_html=True)
    if args.json:
        print(json.dumps({"report": None if report is None else report.__dict__, "out": args.out}))
    else:
        if report is not None:
            print(report.summary())
        if args.out:
            print(f"wrote {args.out}")
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    from ..atlas import coverage

    cov = coverage(open_run(args, create=False))
    if args.json:
        print(json.dumps(cov.to_dict()))
        return 0
    share = f" ({cov.passages_used / cov.passages_total:.0%})" if cov.passages_total else ""
    out = [f"samples counted:      {cov.samples} (verified, accepted, pending)",
           f"passages used:        {cov.passages_used} / {cov.passages_total}{share}",
           f"answers:              {cov.answers_distinct} distinct; most common: "
           + (", ".join(f"{v!r} x{n}" for v, n in cov.answers_top) or "-")]
    if cov.answers_numeric:
        a = cov.answers_numeric
        out.append(f"numeric answers:      {a['min']:g} .. {a['max']:g} (median {a['median']:g}, n={a['n']})")
    out.append(f"repeated questions:   {cov.exact_duplicates} word for word; near-identical: "
               + (f"{cov.near_duplicate_samples} samples in {cov.near_duplicate_groups} clusters"
                  if cov.near_duplicate_samples is not None else "run `synthrl map` first"))
    if cov.per_document:
        out.append("")
        out.append(f"{'document':40} {'passages':>8} {'used':>6} {'samples':>8}")
        out += [f"{d['document'][:40]:40} {d['chunks']:>8} {d['chunks_used']:>6} {d['samples']:>8}"
                for d in cov.per_document]
    sys.stdout.write("\n".join(out) + "\n")
    return 0
