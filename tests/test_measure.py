"""Measuring pass rates: sequential stopping on synthetic pass rates, the stage with a scripted
student (batching, storage, resume, re-measure) and with the bundled model."""
import random

import pytest

from fakes import ScriptedChatModel
from synthrl.records import Sample
from synthrl.stages import sequential as seq
from synthrl.stages.measure import MeasureConfig, measure
from synthrl.stages.select import SelectConfig
from synthrl.task import AnswerSpec, TaskDefinition

TASK = TaskDefinition(name="add", description="Two-digit addition.", input_format="A question.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number", format="plain"))


# -- sequential stopping (pure) ----------------------------------------------------------
def test_wilson_and_clopper_pearson_match_known_values():
    lo, hi = seq.interval(5, 10, 0.95, "wilson")
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = seq.interval(5, 10, 0.95, "clopper-pearson")
    assert lo == pytest.approx(0.1871, abs=1e-4) and hi == pytest.approx(0.8129, abs=1e-4)
    assert seq.interval(0, 8, 0.95, "clopper-pearson") == (0.0, pytest.approx(0.3694, abs=1e-4))
    assert seq.interval(8, 8)[1] == 1.0 and seq.interval(0, 8)[0] == 0.0


def test_settled_when_interval_clears_every_cut():
    cut = seq.Boundaries((0.5,))
    assert seq.settled(8, 8, 64, cut)            # 8/8: clearly above 0.5
    assert not seq.settled(4, 8, 64, cut)        # 4/8: could be either side
    assert seq.settled(4, 64, 64, cut)           # budget spent
    paper = seq.Boundaries((0.5,), zero_special=True)
    assert not seq.settled(0, 32, 64, paper)     # never-solved vs rarely-solved needs the budget
    assert seq.settled(0, 32, 64, paper, zero_floor=0.15)  # ...unless rare counts as never


def test_boundaries_follow_the_rule():
    est = {1: 0.0, 2: 0.1, 3: 0.3, 4: 0.6, 5: 0.9}
    b = seq.decision_boundaries(est, SelectConfig(rule="paper", m=2))
    assert b.cuts == (0.3,) and b.zero_special
    assert seq.decision_boundaries(est, SelectConfig(rule="paper", m=10)).cuts == ()
    assert seq.decision_boundaries(est, SelectConfig(rule="band", lo=0.2, hi=0.8, m=None)).cuts == (0.2, 0.8)
    assert seq.decision_boundaries(est, SelectConfig(rule="easy", m=2)).cuts == (0.6,)
    assert seq.decision_boundaries(est, SelectConfig(rule="all")).cuts == seq.DECILES


def _bernoulli_draw(true_p, rng):
    # one fixed stream per sample, so fixed-L and sequential see the same rollouts
    streams = {i: [rng.random() < p for _ in range(64)] for i, p in true_p.items()}
    used = {i: 0 for i in true_p}

    def draw(want):
        got = {}
        for i, n in want.items():
            got[i] = sum(streams[i][used[i]:used[i] + n])
            used[i] += n
        return got
    return draw, streams


def test_sequential_spends_less_on_clear_cases_and_keeps_decisions():
    rng = random.Random(7)
    true_p = {i: p for i, p in enumerate([0.0] * 5 + [1.0] * 10 + [0.95] * 10 + [0.05] * 5 + [0.5] * 5)}
    config = SelectConfig(rule="band", lo=0.2, hi=0.6, m=None)
    draw, streams = _bernoulli_draw(true_p, rng)
    counts = seq.run_sequential(list(true_p), draw, max_n=64, chunk=8,
                                boundaries=lambda est: seq.decision_boundaries(est, config))
    used = sum(c.n for c in counts.values())
    assert used < 0.6 * 64 * len(true_p)
    assert all(counts[i].n == 8 for i in range(5, 15))  # always solved: settled after one chunk
    fixed = {i: sum(s) / 64 for i, s in streams.items()}
    seq_rates = {i: c.rate for i, c in counts.items()}
    assert select_ids_same(fixed, seq_rates, config) >= 0.95


def select_ids_same(a, b, config):
    from synthrl.stages.select import select_ids

    sa, sb = set(select_ids(a, config)), set(select_ids(b, config))
    return sum((i in sa) == (i in sb) for i in a) / len(a)


def test_sequential_rejects_impossible_draws():
    with pytest.raises(ValueError, match="successes"):
        seq.run_sequential([1], lambda want: {1: 99}, max_n=8, chunk=4, boundaries=lambda e: seq.Boundaries())


# -- the stage, with a scripted student ----------------------------------------------------
def _student(correct_every=None):
    """Answers 'a + b' questions; correct on every `correct_every[question]`-th answer."""
    def script(conv, k):
        q = conv[-1]["content"].split("\n")[0]
        a, b = [int(x) for x in q.replace("?", "").split()[-3::2]]
        period = (correct_every or {}).get(q, 1)
        return str(a + b) if k % period == 0 else str(a + b + 1)
    return ScriptedChatModel(script, version="student-v1")


def _samples(store, n=3):
    return [store.add_sample(Sample(None, f"What is {10 + i} + {20 + i}?", str(30 + 2 * i), str(30 + 2 * i),
                                    status="verified")) for i in range(n)]


def test_measure_stores_attempts_and_pass_rates_in_batched_calls(store):
    ids = _samples(store, 3)
    student = _student()
    rep = measure(store, TASK, student, MeasureConfig(rollouts=4, batch_size=8, max_tokens=8))
    assert rep.measured == 3 and rep.rollouts == 12
    rates = store.pass_rates("student-v1")
    assert all(rates[i].rate == 1.0 and rates[i].greedy_correct for i in ids)
    attempts = store.attempts(ids[0], "student-v1")
    assert [a.kind for a in attempts].count("sample") == 4 and [a.kind for a in attempts].count("greedy") == 1
    assert attempts[1].extracted == "30"
    # many conversations per call, n rollouts per conversation (the prompt is encoded once)
    sampled_calls = [p for _, p in student.calls if p.temperature > 0]
    assert {p.n for p in sampled_calls} == {4}
    assert len(sampled_calls) == 3 and len(set(id(p) for p in sampled_calls)) <= 2
    assert any(m.key == "measure/pass_rate" for m in [type("M", (), r) for r in store.metrics("measure/")])


def test_measure_resumes_and_remeasure_replaces(store):
    ids = _samples(store, 3)
    measure(store, TASK, _student(), MeasureConfig(rollouts=4), sample_ids=None)
    again = measure(store, TASK, _student(), MeasureConfig(rollouts=4))
    assert again.measured == 0 and again.skipped == 3
    # re-measuring named samples replaces their attempts (no duplicates)
    measure(store, TASK, _student(), MeasureConfig(rollouts=4), sample_ids=[ids[0]])
    assert len(store.attempts(ids[0], "student-v1")) == 5
    # a trained checkpoint keeps its own record
    other = _student(); other.version = "student-v2"
    measure(store, TASK, other, MeasureConfig(rollouts=2))
    assert len(store.attempts(ids[0], "student-v2")) == 3 and len(store.attempts(ids[0], "student-v1")) == 5


def test_measure_counts_wrong_answers(store):
    [sid] = _samples(store, 1)
    student = _student({"What is 10 + 20?": 4})
    measure(store, TASK, student, MeasureConfig(rollouts=8, greedy=False))
    pr = store.pass_rates("student-v1")[sid]
    assert pr.n == 8 and pr.n_correct == 2 and pr.greedy_correct is None


def test_sequential_measure_stops_settled_samples_early(store):
    _samples(store, 4)
    rep = measure(store, TASK, _student(), MeasureConfig(rollouts=32, sequential=True, chunk=8),
                  select_config=SelectConfig(rule="band", lo=0.2, hi=0.6))
    assert rep.measured == 4 and rep.rollouts == 4 * 8 < rep.budget
    assert all(pr.n == 8 for pr in store.pass_rates("student-v1").values())


def test_bad_measure_config_names_the_field():
    with pytest.raises(ValueError, match="measure.rollouts"):
        MeasureConfig(rollouts=0)
    with pytest.raises(ValueError, match="measure.interval"):
        MeasureConfig(interval="bayes")


def test_measure_unknown_sample_is_a_clear_error(store):
    with pytest.raises(ValueError, match="no sample"):
        measure(store, TASK, _student(), MeasureConfig(rollouts=2), sample_ids=[42])


# -- the stage, with the bundled model ------------------------------------------------------
def test_measure_with_the_bundled_model(store):
    from synthrl.backends.spec import ModelSpec, load_model
    from synthrl.scoring import is_correct

    ids = [store.add_sample(Sample(None, f"What is {a} + {b}?", str(a + b), str(a + b), status="verified"))
           for a, b in ((23, 41), (12, 30), (35, 18))]
    student = load_model(ModelSpec())
    try:
        rep = measure(store, TASK, student, MeasureConfig(rollouts=4, max_tokens=16, batch_size=12))
    finally:
        student.close()
    assert rep.measured == 3 and rep.rollouts == 12 and rep.model_version == student.version
    rates = store.pass_rates(student.version)
    for sid in ids:
        attempts = store.attempts(sid, student.version)
        sampled = [a for a in attempts if a.kind == "sample"]
        [greedy] = [a for a in attempts if a.kind == "greedy"]
        assert len(sampled) == 4 and all(a.completion for a in attempts)
        # the stored verdicts are the task checker's, and the pass rate is their mean
        ref = store.sample(sid).reference
        assert [a.correct for a in sampled] == [is_correct(a.completion, ref, TASK) for a in sampled]
        assert rates[sid].n_correct == sum(a.correct for a in sampled)
        assert rates[sid].greedy_correct == greedy.correct


# -- edits invalidate, measure redoes exactly them, the base student is recorded ---------------
def test_an_edit_drops_pass_rates_of_every_version_and_measure_redoes_exactly_it(store):
    from synthrl.review import edit_sample
    from synthrl.store import NEEDS_REMEASURE

    store.save_task(TASK)
    ids = _samples(store, 3)
    measure(store, TASK, _student(), MeasureConfig(rollouts=2))
    trained = _student(); trained.version = "student-v2"
    measure(store, TASK, trained, MeasureConfig(rollouts=2))
    result = edit_sample(store, ids[1], question="What is 50 + 7?", answer="57", author="test")
    assert result.invalidated == 2 and result.needs_remeasure
    # no version keeps the old rate or attempts; the sample is marked
    assert all(ids[1] not in store.pass_rates(v) for v in ("student-v1", "student-v2"))
    assert store.attempts(ids[1]) == []
    assert store.stale_sample_ids() == [ids[1]] and NEEDS_REMEASURE in store.sample(ids[1]).flags
    assert store.sample(ids[1]).reference == "57"
    # `synthrl measure RUN` (no ids): only the invalidated sample is measured, on its new text
    student = _student()
    rep = measure(store, TASK, student, MeasureConfig(rollouts=2))
    assert rep.measured == 1 and rep.skipped == 2
    assert {c[0][-1]["content"].split("\n")[0] for c in student.calls} == {"What is 50 + 7?"}
    assert store.pass_rates("student-v1")[ids[1]].rate == 1.0
    assert store.stale_sample_ids() == [] and NEEDS_REMEASURE not in store.sample(ids[1]).flags


def test_the_first_measured_student_is_recorded_as_the_base(store):
    _samples(store, 2)
    measure(store, TASK, _student(), MeasureConfig(rollouts=2))
    later = _student(); later.version = "trained-ckpt"
    measure(store, TASK, later, MeasureConfig(rollouts=2))
    assert store.base_student_version() == "student-v1"
    assert store.meta("base_student_version") == "student-v1"
