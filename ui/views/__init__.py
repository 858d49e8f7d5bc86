"""What the workbench shows: pure functions of the run store (and of the user's inputs).

Nothing here imports Gradio, so every view is testable on a temporary store and
benchmarkable without a browser. Tables come back as pandas DataFrames, plots as
plotly figures, prose as Markdown strings; the tab modules in ui/tabs only wire them to
components. One module per tab; this package re-exports them all.

    df = review_table(store, ReviewFilter(status="verified", lo=0.1, hi=0.9))
    fig = pass_rate_histogram(store)
"""
from __future__ import annotations

import pandas as pd  # noqa: F401 - re-exported: callers build empty frames as views.pd.DataFrame()

from .common import (  # noqa: F401
    BINS, MAX_TABLE_ROWS, _ANSI, _LEGEND, _MD_SPECIAL, _ago, _block, _clip, _code, _empty_figure, _md_escape,
    job_line, model_label, readable_log,
)
from .runs import (  # noqa: F401
    RUN_COLUMNS, _fmt_acc, compare_runs, next_step, run_summary, runs_table,
)
from .task import (  # noqa: F401
    TASK_FORM_FIELDS, _PROBLEM_RE, check_answer, form_to_yaml, task_problems, task_to_form, validate_task_text,
)
from .knowledge import (  # noqa: F401
    documents_table, knowledge_summary, passages_table,
)
from synthrl import frame  # noqa: F401 - the sample frame every view starts from
from synthrl.frame import _FRAME_CACHE, _frame, _load_frame, has_snapshot, student_versions  # noqa: F401
from .samples import (  # noqa: F401
    REVIEW_COLUMNS, REVIEW_ORDERS, REVIEW_REASONS, ReviewFilter, _QUEUE_CACHE, _in_order, clear_cache,
    filter_samples, judge_summary, next_in_queue, ordered_ids, review_filter, review_queue, review_table, warm,
)
from .review import (  # noqa: F401
    _contamination_note, _triage_notes, fix_batches_table, fix_preview, sample_detail,
)
from .generate import (  # noqa: F401
    events_text, progress_fraction, progress_html, recent_samples_table,
)
from .difficulty import (  # noqa: F401
    _Bins, _band_row, _bin_counts, before_after_figure, difficulty_summary, parent_child_shifts,
    pass_rate_histogram, shifts_figure,
)
from .map import (  # noqa: F401
    MAP_COLOR_BY, coverage_view, map_view,
)
from .select import (  # noqa: F401
    _rule_help, preview_selection, rule_uses_band, select_config, select_rules, selection_figure, selection_summary,
    selections_table,
)
from .train import (  # noqa: F401
    COMPLETION_COLUMNS, SERIES_COLORS, TRAIN_KEYS, TrainingSeries, _series_filter, _series_metrics,
    completions_table, rollouts_table, training_figure, training_series, training_summary,
)
from .evaluate import (  # noqa: F401
    EXPERIMENT_COLUMNS, eval_comparison, evaluations_table, experiment_diff_frame, experiment_figure,
    experiment_frame, experiment_names,
)
