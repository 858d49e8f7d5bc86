"""Task definitions: a versioned YAML file <-> a TaskDefinition dataclass.

A task is everything synthrl is given: what the task is, what inputs look like,
what the answer looks like (which also fixes how it is checked), optional demos
and retrieval hints.

    task = load_task("assets/tasks/gsm8k.yaml")   # raises TaskError listing every problem
    problems = validate_file("my_task.yaml")       # [] when valid
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .paths import NAME_RULE, valid_run_name

_TOP_KEYS = {"name", "version", "description", "input_format", "output_format", "answer", "demos",
             "retrieval", "system_prompt", "fewshot"}
_ANSWER_KEYS = {"type", "choices", "labels", "format", "reading", "pattern"}
READINGS = ("flexible", "strict")
_RETRIEVAL_KEYS = {"domain", "keywords"}
_DEMO_KEYS = {"input", "output"}


class TaskError(ValueError):
    """Raised when a task file is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class AnswerSpec:
    """How an answer looks and is checked.

    type: a registered answer type (synthrl.scoring.answer_type_names(): number, math,
        choice, label, yes_no, text and any an extension registers)
    choices: for `choice`, the option letters (default A-D)
    labels: for `label`, the allowed labels
    format: where the answer stands in a completion: "####" (after `####`),
        "boxed" (`\\boxed{}`), "tags" (`<answer>...</answer>`) or "plain" (the whole reply).
    reading: how every stage reads a reply: "flexible" (the declared place first, then the
        other common ways models state an answer) or "strict" (the declared place only).
    pattern: optional regular expression whose capture group (named `answer`, else group 1)
        holds the answer; read before the format. Unsafe patterns are refused at validation.
    """

    type: str = "number"
    choices: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    format: str = "plain"
    reading: str = "flexible"
    pattern: str | None = None


@dataclass(frozen=True)
class Demo:
    """A worked example: an input and its full output in the task's format."""

    input: str
    output: str


@dataclass(frozen=True)
class RetrievalHints:
    """Pinned domain and keywords (they win over the teacher's)."""

    domain: str | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskDefinition:
    name: str
    description: str
    input_format: str
    output_format: str
    answer: AnswerSpec = field(default_factory=AnswerSpec)
    version: str = "1"
    demos: tuple[Demo, ...] = ()
    retrieval: RetrievalHints = field(default_factory=RetrievalHints)
    system_prompt: str | None = None
    # How many of the demos the student sees, as earlier chat turns, before every question it answers
    # (measuring, training, evaluating: one prompt everywhere). 0: the question alone.
    fewshot: int = 0
    source: str | None = field(default=None, compare=False)

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "name": self.name, "version": self.version, "description": self.description,
            "input_format": self.input_format, "output_format": self.output_format,
            "answer": {"type": self.answer.type, "format": self.answer.format, "reading": self.answer.reading},
        }
        if self.answer.pattern:
            d["answer"]["pattern"] = self.answer.pattern
        if self.answer.choices:
            d["answer"]["choices"] = list(self.answer.choices)
        if self.answer.labels:
            d["answer"]["labels"] = list(self.answer.labels)
        if self.demos:
            d["demos"] = [{"input": x.input, "output": x.output} for x in self.demos]
        if self.retrieval.domain or self.retrieval.keywords:
            r: dict[str, Any] = {}
            if self.retrieval.domain:
                r["domain"] = self.retrieval.domain
            if self.retrieval.keywords:
                r["keywords"] = list(self.retrieval.keywords)
            d["retrieval"] = r
        if self.system_prompt:
            d["system_prompt"] = self.system_prompt
        if self.fewshot:
            d["fewshot"] = self.fewshot
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    @classmethod
    def from_dict(cls, d: Any, source: str = "<task>", check_demos: bool = True) -> "TaskDefinition":
        task, problems = _parse(d, source)
        if task is not None and check_demos:
            problems += _check_demos(task, source)
        if problems:
            raise TaskError(problems)
        assert task is not None
        return task

    @classmethod
    def from_yaml(cls, text: str, source: str = "<task>") -> "TaskDefinition":
        try:
            d = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise TaskError([f"{source}: not valid YAML{where}: {getattr(e, 'problem', None) or e}"]) from e
        return cls.from_dict(d, source)

    def replace(self, **changes: Any) -> "TaskDefinition":
        return dataclasses.replace(self, **changes)


def load_task(path: str | Path) -> TaskDefinition:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskError([f"{p}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError([f"{p}: cannot read file: {e}"]) from None
    t = TaskDefinition.from_yaml(text, source=str(p))
    return dataclasses.replace(t, source=str(p))


def validate_file(path: str | Path) -> list[str]:
    """Every problem in a task file, each naming file, field and reason; [] when valid."""
    try:
        load_task(path)
    except TaskError as e:
        return e.problems
    return []


def bundled_tasks_dir() -> Path:
    """assets/tasks next to the package (a source checkout or an editable install)."""
    return Path(__file__).resolve().parent.parent / "assets" / "tasks"


def bundled_tasks() -> dict[str, Path]:
    d = bundled_tasks_dir()
    return {p.stem: p for p in sorted(d.glob("*.yaml"))} if d.exists() else {}


# -- parsing with precise messages ---------------------------------------------------
def _str_field(d: dict, key: str, source: str, problems: list[str], required: bool = True) -> str | None:
    if key not in d or d[key] is None:
        if required:
            problems.append(f"{source}: field '{key}': required but missing")
        return None
    v = d[key]
    if isinstance(v, (int, float)) and not isinstance(v, bool) and key == "version":
        return str(v)
    if not isinstance(v, str):
        problems.append(f"{source}: field '{key}': must be a string, got {type(v).__name__}")
        return None
    if required and not v.strip():
        problems.append(f"{source}: field '{key}': must not be empty")
        return None
    return v


def _str_list(v: Any, where: str, source: str, problems: list[str]) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v):
        hint = " (quote Yes/No/On/Off: YAML reads them as true/false)" if isinstance(v, list) and any(
            isinstance(x, bool) for x in v) else ""
        problems.append(f"{source}: field '{where}': must be a list of strings{hint}")
        return ()
    return tuple(str(x).strip() for x in v)


def _parse(d: Any, source: str) -> tuple[TaskDefinition | None, list[str]]:
    problems: list[str] = []
    if not isinstance(d, dict):
        kind = "empty" if d is None else f"a {type(d).__name__}"
        return None, [f"{source}: a task file must be a YAML mapping of fields, but it is {kind}"]
    for k in sorted(set(d) - _TOP_KEYS, key=str):
        problems.append(f"{source}: field '{k}': unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})")
    name = _str_field(d, "name", source, problems)
    if name is not None and not valid_run_name(name):
        # the name also names the run folder: '..', '.' or 'a/b' would put the run outside the runs folder
        problems.append(f"{source}: field 'name': must be a plain name: {NAME_RULE}; got {name!r}")
    version = _str_field(d, "version", source, problems, required=False) or "1"
    description = _str_field(d, "description", source, problems)
    input_format = _str_field(d, "input_format", source, problems)
    output_format = _str_field(d, "output_format", source, problems)
    system_prompt = _str_field(d, "system_prompt", source, problems, required=False)

    # The answer types are a registry in the checker (scoring imports this module, hence here).
    from .scoring import answer_type_names, get_answer_type

    type_names = answer_type_names()
    answer = AnswerSpec()
    a = d.get("answer")
    if a is None:
        problems.append(f"{source}: field 'answer': required (at least 'type', one of {', '.join(type_names)})")
    elif not isinstance(a, dict):
        problems.append(f"{source}: field 'answer': must be a mapping with 'type'")
    else:
        for k in sorted(set(a) - _ANSWER_KEYS, key=str):
            problems.append(f"{source}: field 'answer.{k}': unknown key (allowed: {', '.join(sorted(_ANSWER_KEYS))})")
        atype = a.get("type")
        if not isinstance(atype, str) or atype not in type_names:
            problems.append(f"{source}: field 'answer.type': must be one of {', '.join(type_names)}, got {atype!r}")
            atype = "text"
        kind = get_answer_type(atype)
        choices = _str_list(a.get("choices"), "answer.choices", source, problems) or kind.default_choices
        labels = _str_list(a.get("labels"), "answer.labels", source, problems) or kind.default_labels
        for where, why in kind.problems(choices, labels):
            problems.append(f"{source}: field 'answer.{where}': {why}")
        fmt = a.get("format", None)
        fmt = kind.default_format if fmt is None else fmt
        if fmt not in ("plain", "####", "boxed", "tags"):
            problems.append(f"{source}: field 'answer.format': must be one of plain, ####, boxed, tags, got {fmt!r}")
            fmt = "plain"
        reading = a.get("reading", None)
        reading = "flexible" if reading is None else reading
        if reading not in READINGS:
            problems.append(f"{source}: field 'answer.reading': must be one of {', '.join(READINGS)}, got {reading!r}")
            reading = "flexible"
        pattern = a.get("pattern", None)
        if pattern is not None:
            from .scoring import pattern_problems

            for why in pattern_problems(pattern):
                problems.append(f"{source}: field 'answer.pattern': {why}")
        answer = AnswerSpec(atype, choices, labels, fmt, reading, pattern if isinstance(pattern, str) else None)

    demos: list[Demo] = []
    raw_demos = d.get("demos")
    if raw_demos is not None:
        if not isinstance(raw_demos, list):
            problems.append(f"{source}: field 'demos': must be a list of {{input, output}} mappings")
        else:
            for i, x in enumerate(raw_demos):
                if not isinstance(x, dict):
                    problems.append(f"{source}: field 'demos[{i}]': must be a mapping with 'input' and 'output'")
                    continue
                for k in sorted(set(x) - _DEMO_KEYS, key=str):
                    problems.append(f"{source}: field 'demos[{i}].{k}': unknown key (allowed: input, output)")
                ok = True
                for k in ("input", "output"):
                    v = x.get(k)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        v = str(v)
                    if not isinstance(v, str) or not v.strip():
                        hint = " (quote Yes/No: YAML reads them as true/false)" if isinstance(v, bool) else ""
                        problems.append(f"{source}: field 'demos[{i}].{k}': required non-empty string{hint}")
                        ok = False
                if ok:
                    demos.append(Demo(str(x["input"]), str(x["output"])))

    retrieval = RetrievalHints()
    r = d.get("retrieval")
    if r is not None:
        if not isinstance(r, dict):
            problems.append(f"{source}: field 'retrieval': must be a mapping with 'domain' and/or 'keywords'")
        else:
            for k in sorted(set(r) - _RETRIEVAL_KEYS, key=str):
                problems.append(f"{source}: field 'retrieval.{k}': unknown key (allowed: domain, keywords)")
            dom = r.get("domain")
            if dom is not None and not isinstance(dom, str):
                problems.append(f"{source}: field 'retrieval.domain': must be a string")
                dom = None
            retrieval = RetrievalHints(dom, _str_list(r.get("keywords"), "retrieval.keywords", source, problems))

    fewshot = d.get("fewshot", 0)
    if fewshot is None:
        fewshot = 0
    if isinstance(fewshot, bool) or not isinstance(fewshot, int) or fewshot < 0:
        problems.append(f"{source}: field 'fewshot': must be a whole number >= 0 (how many demos the student "
                        f"sees before each question), got {fewshot!r}")
        fewshot = 0
    elif fewshot > len(demos) and not problems:
        problems.append(f"{source}: field 'fewshot': asks for {fewshot} demos before each question, but the task "
                        f"has {len(demos)} demo(s)")

    if problems:
        return None, problems
    return TaskDefinition(
        name=name, description=description, input_format=input_format, output_format=output_format,
        answer=answer, version=version, demos=tuple(demos), retrieval=retrieval, system_prompt=system_prompt,
        fewshot=fewshot, source=source,
    ), []


def _check_demos(task: TaskDefinition, source: str) -> list[str]:
    """A demo whose output the task's own checker cannot read is a broken demo."""
    from .scoring import extract

    problems = []
    for i, demo in enumerate(task.demos):
        if extract(demo.output, task) is None:
            problems.append(
                f"{source}: field 'demos[{i}].output': the answer checker cannot read an answer from it "
                f"(answer type {task.answer.type}, format {task.answer.format}): {demo.output[-80:]!r}"
            )
    return problems
