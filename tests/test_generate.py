"""Stage 1 generation: prompts, passages, keywords, failures, resume (scripted teacher),
plus one real run with the bundled SmolLM2 teacher."""
from __future__ import annotations

import re
import threading

import pytest
from fakes import ScriptedChatModel

from synthrl.backends.base import BackendError
from synthrl.retrieval import ingest
from synthrl.stages.generate import GenerateConfig, GenerationError
from synthrl.stages.generate import generate as _generate
from synthrl.stages.verify import VerifyConfig
from synthrl.task import AnswerSpec, Demo, RetrievalHints, TaskDefinition

TASK = TaskDefinition(name="demo_addition", description="Two-digit addition word problems about everyday counts.",
                      input_format="A short word problem with two whole numbers below 100.",
                      output_format="Answer with just the number.", answer=AnswerSpec("number"))
DEMOS = (Demo("Ann has 12 pens and buys 30 more. How many pens does she have?", "42"),
         Demo("A shelf holds 25 books and another holds 14. How many books in all?", "39"))

PASSAGES = {
    "bakery.md": "The bakery sold 23 loaves of rye bread and 41 baguettes on Tuesday.",
    "farm.txt": "Brook Farm harvested 37 sacks of potatoes and 52 crates of onions in June.",
    "library.md": "The library counted 64 picture books and 18 atlases on its shelves.",
}


def kind(conv) -> str:
    user = conv[-1]["content"]
    if "ONE keyword" in user:
        return "keywords"
    if "Summarise the pattern" in user:
        return "pattern"
    if "Write ONE new" in user:
        return "generate"
    return "vote"


def passage_of(conv) -> str | None:
    m = re.search(r"<passage>\n(.*?)\n</passage>", conv[-1]["content"], re.S)
    return m.group(1) if m else None


def addition_teacher(conv, k, vote_answer=None):
    """A competent scripted teacher: builds a question from the passage's two numbers."""
    what = kind(conv)
    if what == "keywords":
        return '{"domain": "inventory", "synonyms": ["stock counts", "bakery", "farm harvest"]}'
    if what == "pattern":
        return '{"pattern": "A one-sentence story with two counts; the answer is their sum."}'
    if what == "generate":
        text = passage_of(conv) or f"Item {k} has 10 and 20."
        a, b = [int(x) for x in re.findall(r"\b\d+\b", text)[:2]]
        return '{"input": "Call %d: %s How many items are there altogether?", "output": "%d"}' % (k, text, a + b)
    nums = [int(x) for x in re.findall(r"\b\d+\b", conv[-1]["content"].split("How many")[0])[-2:]]
    return str(vote_answer if vote_answer is not None else sum(nums))


@pytest.fixture
def docs(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for name, text in PASSAGES.items():
        (d / name).write_text(text)
    return d


def cfg(**kw) -> GenerateConfig:
    base = dict(n=3, concurrency=2, dedup_threshold=None, retrieval_mode="bm25")
    return GenerateConfig(**{**base, **kw})


def generate(store, task, teacher, config, votes=2, **kw):
    """The stage with `votes` teacher votes per sample (a verify setting, not a generate one)."""
    return _generate(store, task, teacher, config, verify_config=VerifyConfig(votes=votes, concurrency=2), **kw)


def test_generation_grounds_each_sample_in_its_own_passage(store, docs):
    ingest(store, [docs])
    teacher = ScriptedChatModel(addition_teacher)
    task = TASK.replace(demos=DEMOS)
    report = generate(store, task, teacher, cfg(n=3))
    samples = store.samples(round=0)
    assert report.total == 3 and len(samples) == 3
    assert all(s.status == "verified" and s.agreement == 1.0 for s in samples)
    # one passage per sample, none reused while unused ones remain
    assert len({s.passage_id for s in samples}) == 3
    for s in samples:
        assert store.chunk(s.passage_id).text in s.question
        assert s.reference == str(sum(int(x) for x in re.findall(r"\b\d+\b", store.chunk(s.passage_id).text)[:2]))
    # the generation prompt shows the pattern and the demos as input/output blocks, and the passage
    gen = [c for c, _ in teacher.calls if kind(c) == "generate"][0][-1]["content"]
    assert "A one-sentence story with two counts" in gen
    assert "[input]\nAnn has 12 pens and buys 30 more." in gen and "[output]\n42" in gen
    assert "Demo(" not in gen and "{'input'" not in gen
    assert passage_of([{"content": gen}]) in PASSAGES.values()
    # every structured request carried its JSON schema
    for conv, params in teacher.calls:
        if kind(conv) == "generate":
            assert set(params.json_schema["required"]) == {"input", "output"}
        elif kind(conv) == "keywords":
            assert params.json_schema["properties"]["synonyms"]["type"] == "array"
        elif kind(conv) == "pattern":
            assert params.json_schema["required"] == ["pattern"]
        else:
            assert params.json_schema is None and params.n == 2
    # keywords and pattern are stored in the run config
    assert store.get_config("keywords") == ["inventory", "stock counts", "bakery", "farm harvest"]
    assert store.get_config("pattern").startswith("A one-sentence story")
    assert store.progress("generate")["state"] == "done"


def test_pinned_and_user_keywords_win_over_the_teacher(store):
    teacher = ScriptedChatModel(addition_teacher)
    pinned = TASK.replace(retrieval=RetrievalHints(domain="retail", keywords=("shop stock",)))
    generate(store, pinned, teacher, cfg(n=1), votes=0)
    assert store.get_config("keywords") == ["retail", "shop stock"]
    assert not [c for c, _ in teacher.calls if kind(c) == "keywords"]
    generate(store, pinned, teacher, cfg(n=2, keywords=["market ledger", "stall"]), votes=0)
    assert store.get_config("keywords") == ["market ledger", "stall"]
    assert store.get_config("keywords_source") == "user"


def test_unparseable_replies_are_recorded_with_raw_text_and_retried(store):
    junk = {"n": 0}

    def script(conv, k):
        if kind(conv) == "generate" and junk["n"] < 3:
            junk["n"] += 1
            return "Sorry, here is a question: what is 2+2" if junk["n"] % 2 else "```json\n{\"input\": \n```"
        return addition_teacher(conv, k)

    report = generate(store, TASK, ScriptedChatModel(script), cfg(n=2, concurrency=1, junk_retries=1))
    assert report.total == 2
    fails = store.failures("generate")
    parse = [f for f in fails if f["kind"] == "parse"]
    assert len(parse) == 3 and store.status()["parse_failures"] == 3
    assert parse[0]["raw"].startswith("Sorry, here is a question")
    assert all(f["reason"] for f in parse)
    assert report.parse_failures == 1  # one request used up its retry; the others recovered


def test_teacher_errors_mid_run_are_recorded_and_the_run_goes_on(store):
    def script(conv, k):
        if kind(conv) == "generate" and k in (1, 2):
            raise BackendError("HTTP 429: rate limited (after 4 retries)")
        return addition_teacher(conv, k)

    report = generate(store, TASK, ScriptedChatModel(script), cfg(n=3, concurrency=1))
    assert report.total == 3
    assert report.teacher_failures == 2
    assert [f["kind"] for f in store.failures()].count("teacher") == 2


def test_unreachable_teacher_stops_with_one_clear_error(store):
    def script(conv, k):
        raise BackendError("cannot connect to http://localhost:9/v1 (connection refused)")

    with pytest.raises(GenerationError, match="could not be reached.*connection refused"):
        generate(store, TASK, ScriptedChatModel(script), cfg(n=4))
    pinned = TASK.replace(retrieval=RetrievalHints(domain="retail"))
    teacher = ScriptedChatModel(script)
    with pytest.raises(GenerationError, match="every request of the first batch failed"):
        generate(store, pinned, teacher, cfg(n=20, concurrency=4))
    assert len(teacher.calls) <= 8  # stopped after the first batch, not after 3n attempts
    assert store.progress("generate")["state"] == "failed"


def test_interrupted_generation_resumes_without_redoing_finished_samples(store, docs):
    ingest(store, [docs])
    generated = []
    lock = threading.Lock()

    def script(conv, k):
        if kind(conv) == "generate":
            with lock:
                generated.append(k)
                if len(generated) == 3:
                    raise KeyboardInterrupt
        return addition_teacher(conv, k)

    with pytest.raises(KeyboardInterrupt):
        generate(store, TASK, ScriptedChatModel(script), cfg(n=5, concurrency=1))
    first = {s.id: s.question for s in store.samples()}
    assert len(first) == 2
    assert store.progress("generate")["state"] == "cancelled"

    teacher = ScriptedChatModel(addition_teacher)
    report = generate(store, TASK, teacher, cfg(n=5, concurrency=2))
    samples = store.samples(round=0)
    assert report.existing == 2 and report.total == 5 and len(samples) == 5
    assert {s.id: s.question for s in samples if s.id in first} == first  # finished ones untouched
    assert len([c for c, _ in teacher.calls if kind(c) == "generate"]) == 3
    assert not [c for c, _ in teacher.calls if kind(c) == "keywords"]  # stored keywords reused
    # passages: the 3 documents were used before any was reused
    assert len({s.passage_id for s in samples[:3]}) == 3

    again = ScriptedChatModel(addition_teacher)
    assert generate(store, TASK, again, cfg(n=5)).total == 5 and again.calls == []


def test_samples_left_pending_by_a_crash_are_verified_on_resume(store):
    from synthrl.records import Sample

    sid = store.add_sample(Sample(None, "A crate has 10 pears and 5 more arrive. How many?", "15", status="pending"))
    teacher = ScriptedChatModel(addition_teacher)
    generate(store, TASK, teacher, cfg(n=1))
    s = store.sample(sid)
    assert s.status == "verified" and s.reference == "15"
    assert not [c for c, _ in teacher.calls if kind(c) == "generate"]


def test_near_duplicate_questions_are_dropped_and_counted(store):
    def script(conv, k):
        if kind(conv) == "generate":
            if k % 2:
                return '{"input": "Tom has 12 apples and gets 30 more. How many apples does Tom have?", "output": "42"}'
            return ('{"input": "A library shelf holds %d history books and %d atlases; how many books are on '
                    'the shelf?", "output": "%d"}' % (10 + k, 20 + k, 30 + 2 * k))
        return addition_teacher(conv, k)

    report = generate(store, TASK, ScriptedChatModel(script), cfg(n=3, concurrency=1, dedup_threshold=0.92),
                      votes=0)
    questions = [s.question for s in store.samples()]
    assert sum("Tom has 12 apples" in q for q in questions) == 1
    assert report.duplicates >= 1
    assert len([f for f in store.failures() if f["kind"] == "duplicate"]) == report.duplicates


def test_generate_config_validates_with_clear_messages():
    with pytest.raises(ValueError, match="generate.n"):
        GenerateConfig(n=0)
    with pytest.raises(ValueError, match="dedup_threshold"):
        GenerateConfig(dedup_threshold=1.5)
    with pytest.raises(ValueError, match="retrieval_mode"):
        GenerateConfig(retrieval_mode="fuzzy")
    assert GenerateConfig(keywords="shop, market ,").keywords == ["shop", "market"]


@pytest.mark.slow
def test_real_generation_with_the_bundled_teacher(store, docs):
    """The bundled 135M teacher writes near-nonsense; we check the mechanics, never quality."""
    from synthrl.backends.spec import ModelSpec, load_model

    ingest(store, [docs])
    teacher = load_model(ModelSpec())
    task = TASK.replace(demos=DEMOS[:1])
    report = generate(store, task, teacher, GenerateConfig(n=2, max_tokens=64, concurrency=2,
                                                           max_attempts=4, junk_retries=0, seed=0,
                                                           retrieval_mode="bm25"))
    # every request ended as a sample or a recorded failure; nothing vanished
    samples = store.samples()
    fails = store.failures("generate")
    assert report.attempts == report.written + report.parse_failures + report.duplicates + report.teacher_failures
    assert len(samples) == report.written
    assert all(s.status in ("verified", "dropped", "pending") for s in samples)
    assert store.get_config("keywords")
    assert any("bundled teacher" in e.message for e in store.events("generate"))
    assert all(f["raw"] is not None for f in fails if f["kind"] == "parse")
