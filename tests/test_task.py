"""Task definitions: the bundled files, YAML <-> dataclass, and precise validation messages."""
import textwrap

import pytest
import yaml

from conftest import TASKS
from synthrl.task import TaskDefinition, TaskError, bundled_tasks, load_task, validate_file

PAPER_TASKS = {"gsm8k", "math", "gpqa", "logiqa", "medqa", "mednli", "cqa_law", "cfa_finance"}

VALID = """\
name: adder
description: Add two numbers.
input_format: A question.
output_format: Answer with just the number.
answer:
  type: number
  format: plain
demos:
  - input: What is 2 + 3?
    output: "5"
"""


def write(tmp_path, text, name="task.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_the_paper_tasks_and_the_demo_task_are_bundled():
    assert PAPER_TASKS | {"demo_addition"} <= set(bundled_tasks())


@pytest.mark.parametrize("path", sorted(TASKS.glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_task_valid_and_round_trips(path):
    assert validate_file(path) == []
    task = load_task(path)
    assert task.name == path.stem
    assert len(task.description) > 150 and task.output_format.strip()
    assert 1 <= len(task.demos) <= 3
    assert task.retrieval.domain and task.retrieval.keywords
    again = TaskDefinition.from_yaml(task.to_yaml(), source="roundtrip")
    assert again == task
    assert yaml.safe_load(task.to_yaml()) == task.to_dict()


def test_demo_addition_is_the_easy_number_task():
    task = load_task(TASKS / "demo_addition.yaml")
    assert (task.answer.type, task.answer.format) == ("number", "plain")
    assert task.retrieval.domain == "shop inventory"
    from synthrl.scoring import extract, is_correct
    for demo in task.demos:
        a, b = (int(x) for x in demo.input.split() if x.isdigit())
        assert demo.output == f"{a} + {b} = {a + b}" and a + b < 200
        assert extract(demo.output, task) == str(a + b)
    # the answer is the number after "="; a copied demo's sum is wrong, a bare right number is right
    assert is_correct("70 + 66 = 136", "136", task) and is_correct("136", "136", task)
    assert not is_correct("23 + 41 = 64", "136", task) and not is_correct("70 + 66", "136", task)


def test_fewshot_puts_demos_before_the_question_everywhere_the_student_is_asked():
    from synthrl.prompts import student_messages

    task = load_task(TASKS / "demo_addition.yaml").replace(fewshot=3)
    msgs = student_messages(task, "A farm had 12 eggs and 30 more. How many eggs?")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"].startswith(task.demos[0].input) and msgs[2]["content"] == task.demos[0].output
    assert msgs[-1]["content"].startswith("A farm had 12 eggs") and task.output_format in msgs[-1]["content"]
    cold = student_messages(task.replace(fewshot=0), "Q?")
    assert [m["role"] for m in cold] == ["system", "user"]
    # a round trip keeps it; a count above the demos is refused with the field named
    assert TaskDefinition.from_yaml(task.to_yaml()).fewshot == 3
    with pytest.raises(TaskError, match="fewshot.*4 demos.*has 3"):
        TaskDefinition.from_yaml(task.to_yaml().replace("fewshot: 3", "fewshot: 4"))
    with pytest.raises(TaskError, match="'fewshot': must be a whole number"):
        TaskDefinition.from_yaml(task.to_yaml().replace("fewshot: 3", "fewshot: two"))


def test_answer_types_match_the_paper():
    types = {name: (load_task(TASKS / f"{name}.yaml").answer.type, load_task(TASKS / f"{name}.yaml").answer.format)
             for name in PAPER_TASKS}
    assert types["gsm8k"] == ("number", "####")
    assert types["math"] == ("math", "boxed")
    assert types["mednli"] == ("label", "tags")
    assert types["cqa_law"] == ("yes_no", "tags")
    assert all(types[n] == ("choice", "tags") for n in ("gpqa", "logiqa", "medqa", "cfa_finance"))
    assert load_task(TASKS / "cfa_finance.yaml").answer.choices == ("A", "B", "C")


def test_valid_minimal_file(tmp_path):
    assert validate_file(write(tmp_path, VALID)) == []


@pytest.mark.parametrize("change, field, reason", [
    (lambda t: t + "colour: blue\n", "'colour'", "unknown key"),
    (lambda t: t.replace("name: adder", "name: [1, 2]"), "'name'", "must be a string"),
    (lambda t: t.replace("description: Add two numbers.", "description: '  '"), "'description'", "must not be empty"),
    (lambda t: t.replace("type: number", "type: integer"), "'answer.type'", "must be one of"),
    (lambda t: t.replace("format: plain", "format: xml"), "'answer.format'", "must be one of"),
    (lambda t: t.replace("input_format: A question.\n", ""), "'input_format'", "required"),
    (lambda t: t.replace('output: "5"', "output: five"), "'demos[0].output'", "cannot read an answer"),
    (lambda t: t.replace("  format: plain\n", "  format: plain\n  sizes: 3\n"), "'answer.sizes'", "unknown key"),
])
def test_validation_names_file_field_and_reason(tmp_path, change, field, reason):
    p = write(tmp_path, change(VALID))
    problems = validate_file(p)
    assert problems, "expected a problem"
    hit = [line for line in problems if field in line]
    assert hit, problems
    assert str(p) in hit[0] and reason in hit[0]


def test_every_problem_is_reported_at_once(tmp_path):
    text = VALID.replace("type: number", "type: integer") + "extra: 1\n"
    problems = validate_file(write(tmp_path, text))
    assert len(problems) >= 2


def test_broken_yaml_reports_the_line(tmp_path):
    p = write(tmp_path, "name: x\ndescription: ok\nanswer: [unclosed\n  type: number\n")
    (problem,) = validate_file(p)
    assert str(p) in problem and "not valid YAML" in problem and "line " in problem


@pytest.mark.parametrize("text, word", [("- a\n- b\n", "list"), ("", "empty"), ("just a string\n", "str")])
def test_non_mapping_file(tmp_path, text, word):
    (problem,) = validate_file(write(tmp_path, text))
    assert "mapping" in problem and word in problem


def test_missing_file(tmp_path):
    (problem,) = validate_file(tmp_path / "nope.yaml")
    assert "file not found" in problem
    with pytest.raises(TaskError):
        load_task(tmp_path / "nope.yaml")


def test_choice_demo_must_use_declared_letters(tmp_path):
    text = VALID.replace("type: number\n  format: plain", "type: choice\n  choices: [A, B]\n  format: tags")
    text = text.replace('output: "5"', "output: <answer>C</answer>")
    problems = validate_file(write(tmp_path, text))
    assert any("demos[0].output" in line for line in problems)


def test_unquoted_yes_no_gets_a_hint(tmp_path):
    text = VALID.replace("type: number\n  format: plain", "type: yes_no\n  labels: [Yes, No]\n  format: plain")
    text = text.replace('output: "5"', "output: No")
    problems = validate_file(write(tmp_path, text))
    assert any("'answer.labels'" in line and "quote Yes/No" in line for line in problems)
    assert any("'demos[0].output'" in line and "quote Yes/No" in line for line in problems)


def test_the_app_records_the_demo_settings_for_a_new_run_of_the_demo_task(runs_dir):
    """Saved from the Task tab, the bundled demo task starts a run with the settings it was measured with (the
    demo profile: questions from its examples, program-aided votes); any other task keeps the paper default."""
    from synthrl.config import resolve_config
    from synthrl.store import RunStore
    from synthrl.task import bundled_tasks
    from ui.common import _forget_store
    from ui.tabs.task import save_task

    demo = bundled_tasks()["demo_addition"].read_text()
    other = bundled_tasks()["gsm8k"].read_text()
    try:
        _, said = save_task("d", demo)
        _, said_other = save_task("g", other)
        assert "demo" in said and "demo" not in said_other
        assert resolve_config(RunStore.open("d"), fallback="paper").profile == "demo"
        assert resolve_config(RunStore.open("d"), fallback="paper").generate.questions == "demos"
        assert resolve_config(RunStore.open("g"), fallback="paper").profile == "paper"
    finally:
        _forget_store("d")
        _forget_store("g")


def test_the_train_tab_trains_with_the_runs_settings_unless_told_otherwise(runs_dir):
    """The Train tab's default is the run's own settings, as `synthrl train RUN`: a demo run trains with the demo's
    22 steps at lr 3e-5 (the settings it was measured to learn with), not the tiny profile's; a named profile or
    a step cap is passed on."""
    from synthrl.cli import build_parser
    from synthrl.commands.training import train_run_config
    from synthrl.store import RunStore
    from synthrl.task import bundled_tasks
    from ui.common import _forget_store
    from ui.tabs.task import save_task
    from ui.tabs.train import RUN_SETTINGS, train_args

    def train_cfg(*choices):
        args = build_parser().parse_args(train_args("d", *choices))
        return train_run_config(args, RunStore.open("d")).train

    try:
        save_task("d", bundled_tasks()["demo_addition"].read_text())
        own = train_cfg("grpo", RUN_SETTINGS, 0, False)
        assert (own.max_steps, own.learning_rate, own.beta) == (22, 3e-5, 0.0)
        tiny = train_cfg("grpo", "tiny", 0, False)
        assert (tiny.max_steps, tiny.learning_rate) == (3, 5e-6)
        capped = train_cfg("ppo", RUN_SETTINGS, 2, True)
        assert (capped.max_steps, capped.learning_rate, capped.algo, capped.lora) == (2, 3e-5, "ppo", True)
    finally:
        _forget_store("d")
