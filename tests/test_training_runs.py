"""Each training run is its own series (store.training_runs, views), every step's completions, readable logs."""
from __future__ import annotations

from synthrl.stages.rewards import RewardRecorder, pick_completions
from ui import views


def _train(store, run_id, steps, reward0):
    for s in range(1, steps + 1):
        store.add_metrics(s, {"train/reward": reward0 + 0.1 * s, "train/kl": 0.01 * s}, train_run=run_id)
        store.add_rollouts(s, [(f"prompt {run_id}-{s}", "42", 1.0), (f"prompt {run_id}-{s}", "41", 0.0)],
                           train_run=run_id)


def test_a_resume_continues_its_run_and_a_new_training_starts_one(store):
    a = store.start_training_run(1, "grpo", "/ck/selection-1", {"lr": 1})
    assert store.start_training_run(1, "grpo", "/ck/selection-1", resume=True) == a
    b = store.start_training_run(1, "ppo", "/ck/selection-1")
    c = store.start_training_run(2, "grpo", "/ck/selection-2", resume=True)  # nothing to resume: a new run
    assert len({a, b, c}) == 3
    assert [r["resumes"] for r in store.training_runs()] == [1, 0, 0]


def test_grpo_then_ppo_are_two_series_with_a_legend(store):
    """The browser report: GRPO for 3 steps, then PPO for 2, drew one zig-zag line and a 'Step 3' header."""
    g = store.start_training_run(1, "grpo", "/ck/selection-1")
    _train(store, g, 3, 0.2)
    store.update_training_run(g, state="done", steps=3)
    p = store.start_training_run(1, "ppo", "/ck/selection-1")
    _train(store, p, 2, 0.5)
    series = views.training_series(store)
    assert [s.label for s in series] == [f"#{g} GRPO · selection 1", f"#{p} PPO · selection 1"]
    fig = views.training_figure(store)
    reward = [t for t in fig.data if t.xaxis == "x"]           # the first panel: train/reward
    assert [list(t.x) for t in reward] == [[1, 2, 3], [1, 2]]  # two lines, never 1,2,3,1,2
    assert [t.name for t in fig.data if t.showlegend] == [s.label for s in series]
    only = views.training_figure(store, runs=[f"run:{g}"])
    assert {t.name for t in only.data} == {series[0].label}
    head = views.training_summary(store)
    assert head.startswith(f"**#{p} PPO · selection 1**") and "step 2" in head and "1 other training run" in head


def test_older_metrics_without_a_run_id_are_their_own_series(store):
    store.add_metrics(1, {"train/reward": 0.1}, tag="previous-20260101")
    store.add_metrics(1, {"train/reward": 0.3}, tag="exp:default:paper:s0", train_run=None)
    labels = [s.label for s in views.training_series(store)]
    assert labels == ["earlier training (previous-20260101)", "earlier training (exp:default:paper:s0)"]


def test_completions_are_browsable_by_run_step_prompt_and_reward(store):
    g = store.start_training_run(1, "grpo", "/ck/selection-1")
    _train(store, g, 3, 0.2)
    p = store.start_training_run(1, "ppo", "/ck/selection-1")
    _train(store, p, 2, 0.5)
    every = views.completions_table(store, f"run:{g}")
    assert sorted(set(every["step"])) == [1, 2, 3] and len(every) == 6
    assert views.completions_table(store, f"run:{g}", step=2)["prompt"].tolist() == [f"prompt {g}-2"] * 2
    assert views.completions_table(store, None, text=f"{p}-1")["step"].tolist() == [1, 1]
    assert views.completions_table(store, f"run:{p}", reward="rewarded")["reward"].tolist() == [1.0, 1.0]
    assert views.rollouts_table(store)["run"].unique().tolist() == [f"#{p} PPO"]


def test_recorder_keeps_every_scored_completion_until_drained():
    rec = RewardRecorder(None, reward_fn=lambda completions, answer, **kw: [1.0 if c == a else 0.0
                                                                             for c, a in zip(completions, answer)])
    rec(prompts=["p1", "p1"], completions=["4", "5"], answer=["4", "4"])
    rec(prompts=["p2", "p2"], completions=["7", "7"], answer=["7", "7"])   # a second batch of the same step
    rows = rec.drain()
    assert [r[0] for r in rows] == ["p1", "p1", "p2", "p2"] and rec.drain() == []
    assert rec.calls == 4


def test_a_step_keeps_a_bounded_mix_of_rewarded_and_unrewarded():
    rows = [(f"p{i // 8}", f"c{i}", float(i % 4 == 0)) for i in range(64)]
    kept = pick_completions(rows, 16)
    assert len(kept) == 16 and 0 < sum(r[2] for r in kept) < 16
    assert len({r[0] for r in kept}) == 8                       # every prompt of the step is represented
    assert pick_completions(rows[:5], 16) == rows[:5]


def test_training_log_is_readable_text():
    raw = ("step 1\n\x1b[A\r  0%|          | 0/3 [00:00<?, ?it/s]\r 33%|###       | 1/3 [00:01<00:02]\r"
           "100%|##########| 3/3 [00:03<00:00]\n\x1b[32mgrpo done at step 3\x1b[0m\n")
    assert views.readable_log(raw) == "step 1\n100%|##########| 3/3 [00:03<00:00]\ngrpo done at step 3"
