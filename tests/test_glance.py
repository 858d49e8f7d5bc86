"""The data at a glance (synthrl/atlas.py): embedding cache, projection, near-duplicates, coverage, the map."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from synthrl import atlas
from synthrl.records import Chunk, PassRate, Sample


def bag_of_words(texts):
    """A deterministic stand-in for MiniLM: word counts hashed into 64 dims, unit length."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class CountingEmbed:
    def __init__(self):
        self.seen: list[str] = []

    def __call__(self, texts):
        self.seen += list(texts)
        return bag_of_words(texts)


@pytest.fixture
def run(store):
    doc = store.upsert_document("docs/ledger.txt", "0" * 64, "ok")
    store.replace_chunks(doc, [Chunk(f"c{i}", doc, f"Ledger page {i}: sold {i} apples and {i + 3} pears.",
                                     "ledger.txt", position=i) for i in range(4)])
    qs = ["How many apples were sold on page one?", "how many apples were sold on page one?",
          "What is the total of pears and apples?", "Which page lists the most pears?"]
    for i, q in enumerate(qs):
        sid = store.add_sample(Sample(None, q, "7", "7" if i < 3 else "12", passage_id="c0" if i < 2 else "c1",
                                      status="verified"))
        store.set_pass_rate(PassRate(sid, "student@base", 4, i, None))
    store.add_sample(Sample(None, "A dropped question", "1", "1", status="dropped"))
    return store


def test_texts_are_embedded_once_and_cached_by_hash(run):
    embed = CountingEmbed()
    first = atlas.update_map(run, embed=embed)
    assert first.embedded == 5 + 4 and len(embed.seen) == 9
    second = atlas.update_map(run, embed=embed)
    assert second.embedded == 0 and len(embed.seen) == 9   # everything came from the cache
    run.add_sample(Sample(None, "A brand new question about pears", "3", "3", status="verified"))
    assert atlas.update_map(run, embed=embed).embedded == 1
    assert embed.seen[-1] == "A brand new question about pears"


def test_near_identical_questions_form_one_cluster(run):
    report = atlas.update_map(run, embed=bag_of_words)
    # the two "apples on page one" questions differ only in case: the same words, one cluster
    assert report.duplicate_groups == 1 and report.duplicate_samples == 2


def test_pca_is_deterministic_and_two_dimensional():
    x = bag_of_words(["a b c", "a b d", "x y z", "x y w", "m n o"])
    a, b = atlas.pca_2d(x), atlas.pca_2d(x.copy())
    assert a.shape == (5, 2) and np.allclose(a, b)


def test_near_duplicate_groups_work_block_by_block():
    x = bag_of_words(["one two", "one two", "three four", "five six", "five six", "five six"])
    g = atlas.near_duplicate_groups(x, block=2)
    assert g[0] == g[1] != -1 and g[2] == -1 and g[3] == g[4] == g[5] != -1 and g[0] != g[3]


def test_coverage_figures(run):
    cov = atlas.coverage(run)
    assert (cov.passages_used, cov.passages_total, cov.samples) == (2, 4, 4)
    assert cov.per_document == [{"document": "ledger.txt", "chunks": 4, "chunks_used": 2, "samples": 4}]
    assert cov.answers_distinct == 2 and cov.answers_top[0] == ("7", 3)
    assert cov.answers_numeric == {"n": 4, "min": 7.0, "median": 7.0, "max": 12.0}
    assert cov.near_duplicate_samples is None          # no map yet
    atlas.update_map(run, embed=bag_of_words)
    md = atlas.coverage_markdown(atlas.coverage(run))
    assert "Passages used: 2 / 4" in md and "2 samples in 1 clusters" in md


def test_map_figure_carries_sample_ids_for_click_through(run):
    fig = atlas.map_figure(run)
    assert "Update map" in fig.layout.annotations[0].text   # nothing embedded yet: says what to do
    atlas.update_map(run, embed=bag_of_words)
    fig = atlas.map_figure(run, "pass rate")
    names = [t.name for t in fig.data]
    assert any(n.startswith("passage no sample uses (2)") for n in names)
    assert any(n.startswith("passage used (2)") for n in names)
    ids = sorted(int(i) for t in fig.data if t.name.startswith("samples") for i in t.customdata)
    assert ids == [s.id for s in run.samples() if run.pass_rates().get(s.id)]
    by_status = atlas.map_figure(run, "status")
    assert {t.name.split(" (")[0] for t in by_status.data} >= {"status verified", "status dropped"}


def test_model_text_in_coverage_is_plain_text(store):
    store.add_sample(Sample(None, "q", "![x](http://evil/p.png)", "![x](http://evil/p.png)", status="verified"))
    md = atlas.coverage_markdown(atlas.coverage(store))
    assert "![x](http" not in md and "\\!\\[x\\]" in md


def test_cli_map_writes_html_and_coverage_prints(run, monkeypatch, tmp_path, capsys):
    import synthrl.retrieval.embed as embed_mod
    from synthrl.cli import main

    monkeypatch.setattr(embed_mod, "embed_texts", bag_of_words)
    out = tmp_path / "map.html"
    assert main(["map", "t", "--out", str(out)]) == 0
    assert out.stat().st_size > 100_000 and "plotly" in out.read_text()[:5000].lower()
    assert "clusters of near-identical" in capsys.readouterr().out
    assert main(["coverage", "t"]) == 0
    text = capsys.readouterr().out
    assert "passages used:        2 / 4 (50%)" in text and "ledger.txt" in text
