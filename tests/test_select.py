"""Selection rules on synthetic pass rates, and the select stage on a store."""
import pytest

from synthrl.records import PassRate, Sample
from synthrl.stages.select import SUSPECT_FLAG, SelectConfig, select, select_ids, select_report, suspect_ids

RATES = {1: 0.0, 2: 0.25, 3: 0.75, 4: 1.0, 5: 0.5, 6: 0.0, 7: 0.125}


def test_paper_rule_keeps_hardest_solvable_first_and_unsolved_last():
    assert select_ids(RATES, SelectConfig(rule="paper", m=3)) == [7, 2, 5]
    # never-solved rank last (score 1), tied with always-solved; ties break by id
    assert select_ids(RATES, SelectConfig(rule="paper", m=None)) == [7, 2, 5, 3, 1, 4, 6]


def test_paper_rule_can_drop_unsolved_like_the_papers_code():
    got = select_ids(RATES, SelectConfig(rule="paper", m=None, drop_unsolved=True))
    assert got == [7, 2, 5, 3, 4]
    assert 1 not in got and 6 not in got


def test_band_rule_is_inclusive_and_open_band_by_default():
    assert select_ids(RATES, SelectConfig(rule="band", lo=0.25, hi=0.75, m=None)) == [2, 5, 3]
    # default band: solved sometimes but not always
    assert select_ids(RATES, SelectConfig(rule="band", m=None)) == [7, 2, 5, 3]
    assert select_ids(RATES, SelectConfig(rule="band", lo=0.25, hi=0.75, m=2)) == [2, 5]


def test_top_rule_prefers_most_reward_variance():
    assert select_ids(RATES, SelectConfig(rule="top", m=3)) == [5, 2, 3]


def test_easy_hard_all_ablations():
    assert select_ids(RATES, SelectConfig(rule="easy", m=2)) == [4, 3]
    assert select_ids(RATES, SelectConfig(rule="hard", m=3)) == [1, 6, 7]
    assert select_ids(RATES, SelectConfig(rule="all", m=2)) == sorted(RATES)


@pytest.mark.parametrize("kw, words", [
    ({"rule": "best"}, "select.rule"), ({"m": 0}, "select.m"), ({"lo": 1.5}, "select.lo"),
    ({"lo": 0.8, "hi": 0.2}, "must not exceed"),
])
def test_bad_config_names_the_field(kw, words):
    with pytest.raises(ValueError, match=words):
        SelectConfig(**kw)


def test_suspects_need_low_agreement_and_zero_pass_rate():
    agree = {1: 0.3, 2: 0.3, 6: 0.9}
    assert suspect_ids(RATES, agree, 0.5) == [1]


def _pool(store, version="v1"):
    ids = {}
    for name, status, p, agree in [("a", "verified", 0.5, 1.0), ("b", "verified", 0.0, 0.2),
                                   ("c", "accepted", 0.25, 0.9), ("d", "rejected", 0.25, 0.9),
                                   ("e", "dropped", 0.25, None), ("f", "verified", 1.0, 1.0)]:
        sid = store.add_sample(Sample(None, name, "1", "1", status=status, agreement=agree))
        store.set_pass_rate(PassRate(sid, version, 8, int(p * 8), True))
        ids[name] = sid
    return ids


def test_select_stores_only_candidates_and_flags_suspect_labels(store):
    ids = _pool(store)
    sel = select(store, SelectConfig(rule="paper", m=10))
    chosen = [s.id for s in store.selection_samples(sel)]
    assert chosen == [ids["c"], ids["a"], ids["b"], ids["f"]]  # rejected and dropped never
    assert store.selections()[-1]["rule"]["rule"] == "paper"
    assert SUSPECT_FLAG in store.sample(ids["b"]).flags
    assert SUSPECT_FLAG not in store.sample(ids["a"]).flags
    # the expert fixes the label; the flag goes away on the next selection
    store.update_sample(ids["b"], agreement=0.9)
    select(store, SelectConfig(rule="paper", m=10))
    assert SUSPECT_FLAG not in store.sample(ids["b"]).flags


def test_reselecting_the_same_pool_can_reuse_the_selection(store):
    ids = _pool(store)
    first = select_report(store, SelectConfig(m=2), reuse=True)
    again = select_report(store, SelectConfig(m=2), reuse=True)
    assert again.reused and again.selection_id == first.selection_id
    store.set_pass_rate(PassRate(ids["f"], "v1", 8, 1, True))  # the pool changed
    third = select_report(store, SelectConfig(m=2), reuse=True)
    assert not third.reused and third.selection_id != first.selection_id


def test_select_without_pass_rates_says_what_to_run(store):
    store.add_sample(Sample(None, "q", "1", "1", status="verified"))
    with pytest.raises(ValueError, match="synthrl measure"):
        select(store, SelectConfig())


def test_selection_ranks_by_the_base_student_not_the_most_measured_version(store):
    ids = _pool(store, version="base")
    store.record_base_student_version("base")
    # a trained checkpoint measured on every sample plus more: it must not take over the ranking
    extra = store.add_sample(Sample(None, "g", "1", "1", status="verified"))
    for sid in [*ids.values(), extra]:
        store.set_pass_rate(PassRate(sid, "trained", 8, 8, True))
    rep = select_report(store, SelectConfig(rule="paper", m=10))
    assert rep.model_version == "base"
    assert store.selections()[-1]["rule"]["model_version"] == "base"
    assert [s.id for s in store.selection_samples(rep.selection_id)] == [ids["c"], ids["a"], ids["b"], ids["f"]]
    # told otherwise, it uses the other version
    assert select_report(store, SelectConfig(rule="all", model_version="trained")).model_version == "trained"


def test_an_edited_sample_is_not_selected_on_its_old_pass_rate(store):
    from synthrl.review import edit_sample
    from synthrl.task import AnswerSpec, TaskDefinition

    store.save_task(TaskDefinition(name="t", description="d", input_format="i", output_format="o",
                                   answer=AnswerSpec("number", format="plain")))
    ids = _pool(store)
    edit_sample(store, ids["c"], answer="2", author="test")
    rep = select_report(store, SelectConfig(rule="paper", m=10))
    chosen = [s.id for s in store.selection_samples(rep.selection_id)]
    assert ids["c"] not in chosen and rep.unmeasured == 1


def test_a_new_selection_rule_is_one_registered_function_seen_by_cli_and_app(runs_dir, capsys):
    """Adding a rule: one decorated function. `synthrl select --help` and the Select tab offer it."""
    from synthrl.cli import main
    from synthrl.stages import select as sel

    @sel.selection_rule("median", "closest to p = 0.5 first")
    def _median(items, config):
        return [(abs(p - 0.5), i) for i, p in items]

    try:
        assert select_ids(RATES, SelectConfig(rule="median", m=2)) == sorted(
            RATES, key=lambda i: (abs(RATES[i] - 0.5), i))[:2]
        with pytest.raises(SystemExit):
            main(["select", "--help"])
        help_text = capsys.readouterr().out
        assert "median" in help_text and "closest to p = 0.5 first" in help_text

        import gradio as gr

        from ui import app

        demo = app.build_app()
        radios = [b for b in demo.blocks.values() if isinstance(b, gr.Radio) and b.elem_id == "s-rule"]
        assert radios and "median" in [c[0] if isinstance(c, tuple) else c for c in radios[0].choices]
    finally:
        sel._RULES.pop("median", None)
