"""The paper profile is the paper: every row of docs/method.md's table against what the profile builds,
and the settings that moved to verify.* (a config that still names them loads with a clear warning)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from synthrl.config import _PROFILE_VALUES, SECTIONS, ConfigWarning, RunConfig, build_section

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "method.md"
HEADER = ["setting", "paper value", "synthrl default", "source"]


def _cell(text: str):
    return yaml.safe_load(text.strip().strip("`"))


def table() -> dict[str, tuple]:
    """setting -> (paper value, synthrl default, source) from the Markdown table in docs/method.md."""
    rows, inside = {}, False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells == HEADER:
            inside = True
            continue
        if not inside:
            continue
        if cells is None:
            break
        if set("".join(cells)) <= set("-: "):
            continue
        assert len(cells) == 4, f"docs/method.md: row {line!r} does not have 4 cells"
        setting = cells[0].strip("`")
        assert setting not in rows, f"docs/method.md: {setting} is in the table twice"
        rows[setting] = (_cell(cells[1]), _cell(cells[2]), cells[3])
    assert rows, "docs/method.md has no 'setting | paper value | synthrl default | source' table"
    return rows


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)))
    return a == b


def test_every_paper_profile_value_matches_the_documented_table():
    paper = RunConfig.from_profile("paper")
    wrong = []
    for setting, (want, _, _) in table().items():
        section, key = setting.split(".")
        obj = getattr(paper, section)
        assert obj is not None and hasattr(obj, key), f"docs/method.md names {setting}, which is not a setting"
        if not _same(getattr(obj, key), want):
            wrong.append(f"{setting}: profile {getattr(obj, key)!r}, docs/method.md {want!r}")
    assert not wrong, "\n".join(wrong)


def test_every_synthrl_default_matches_the_documented_table():
    wrong = []
    for setting, (_, want, _) in table().items():
        section, key = setting.split(".")
        default = getattr(build_section(section, {}), key)
        if not _same(default, want):
            wrong.append(f"{setting}: class default {default!r}, docs/method.md {want!r}")
    assert not wrong, "\n".join(wrong)


def test_every_setting_the_paper_profile_sets_is_in_the_table():
    """A value the profile changes, or names explicitly, cannot be missing from the documentation."""
    rows, paper = table(), RunConfig.from_profile("paper")
    missing = []
    for section in SECTIONS:
        if section in ("teacher", "student"):
            continue
        obj, default = getattr(paper, section), build_section(section, {})
        named = {k for k in (_PROFILE_VALUES["paper"].get(section) or {}) if not k.startswith("__")}
        changed = {f.name for f in dataclasses.fields(obj) if getattr(obj, f.name) != getattr(default, f.name)}
        missing += [f"{section}.{k}" for k in sorted(named | changed) if f"{section}.{k}" not in rows]
    assert not missing, f"paper-profile settings missing from docs/method.md: {', '.join(missing)}"


def test_paper_token_limits_and_the_settings_the_issue_names():
    p = RunConfig.from_profile("paper")
    # votes are never cut shorter than the generation they check
    assert p.verify.max_tokens >= p.generate.max_tokens
    assert (p.measure.max_tokens, p.evaluate.max_tokens) == (1500, 600)
    assert p.generate.retrieval_mode == "bm25" and RunConfig.from_profile("tiny").generate.retrieval_mode != "bm25"
    assert p.train.beta == 0.01
    # trains on all M selected samples; held-out monitoring comes from outside the selection
    assert p.train.heldout_from == "unselected"


def test_the_docs_stand_alone_and_the_readme_links_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/method.md" in readme and "../shared" not in readme
    assert "../shared" not in DOC.read_text(encoding="utf-8")


# -- settings that moved --------------------------------------------------------------------------
@pytest.mark.parametrize("old,new,value", [("votes", "votes", 4), ("min_agreement", "min_agreement", 0.6),
                                           ("review_below", "review_below", 0.3)])
def test_a_config_naming_a_moved_generate_setting_loads_and_says_what_replaced_it(tmp_path, old, new, value):
    f = tmp_path / "run.yaml"
    f.write_text(f"profile: tiny\ngenerate: {{n: 3, {old}: {value}}}\n")
    with pytest.warns(ConfigWarning, match=rf"generate\.{old} is no longer a setting: verify\.{new} replaced it"):
        cfg = RunConfig.from_yaml(f)
    assert getattr(cfg.verify, new) == value and cfg.generate.n == 3
    assert old not in cfg.to_dict()["generate"]


def test_the_verify_setting_wins_when_both_are_named(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("generate: {votes: 4}\nverify: {votes: 8}\n")
    with pytest.warns(ConfigWarning, match=r"verify\.votes is set too, so generate\.votes=4 is ignored"):
        cfg = RunConfig.from_yaml(f)
    assert cfg.verify.votes == 8


def test_an_override_of_a_moved_setting_sets_its_replacement():
    with pytest.warns(ConfigWarning, match="verify.votes replaced it"):
        cfg = RunConfig.from_profile("tiny").with_overrides(["generate.votes=5"])
    assert cfg.verify.votes == 5


def test_the_generate_section_alone_names_the_replacement():
    from synthrl.config import ConfigError

    with pytest.raises(ConfigError, match=r"generate\.votes: no longer a setting; verify\.votes replaced it"):
        build_section("generate", {"votes": 3}, "run.yaml")


def test_keyword_prompt_has_the_demos_and_generation_asks_for_distinct_same_or_harder_samples():
    from synthrl.prompts import generation_messages, keywords_messages
    from synthrl.task import AnswerSpec, Demo, TaskDefinition

    task = TaskDefinition(name="t", description="Answer the question.", input_format="A question.",
                          output_format="Answer with just the number.", answer=AnswerSpec("number"))
    demos = (Demo("A clinic saw 12 patients and 30 more. How many?", "42"),)
    kw = keywords_messages(task, demos)[-1]["content"]
    assert "A clinic saw 12 patients" in kw and "ONE keyword" in kw
    gen = generation_messages(task, "passage", None, demos)[-1]["content"]
    assert re.search(r"distinct", gen) and "same or higher difficulty" in gen
