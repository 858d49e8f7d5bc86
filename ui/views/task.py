"""The Task tab: validate task YAML, map it to and from the form, try the answer checker.

    task, verdict_md = validate_task_text(text)
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from .common import _code, _md_escape


# -- task ------------------------------------------------------------------------------------
_PROBLEM_RE = re.compile(r"^(?P<src>.*?): field '(?P<field>[^']+)': (?P<reason>.*)$", re.S)


def task_problems(problems: Iterable[str]) -> list[tuple[str, str]]:
    """Split TaskError lines into (field, reason) pairs ("(file)" when no field is named)."""
    out = []
    for p in problems:
        m = _PROBLEM_RE.match(p)
        if m:
            out.append((m["field"], m["reason"].strip()))
        else:
            out.append(("(file)", p.split(": ", 1)[-1] if ": " in p else p))
    return out


def validate_task_text(text: str) -> tuple[Any, str]:
    """(TaskDefinition or None, Markdown verdict) for YAML typed in the editor."""
    from synthrl.task import TaskDefinition, TaskError

    if not (text or "").strip():
        return None, "Write a task in YAML (or pick a template): name, description, input_format, output_format, answer."
    try:
        task = TaskDefinition.from_yaml(text, source="task.yaml")
    except TaskError as e:
        rows = "\n".join(f"| {_code(f)} | {_md_escape(r)} |" for f, r in task_problems(e.problems))
        n = len(e.problems)
        return None, f"**✗ {n} problem{'s' if n != 1 else ''}** — fix {'them' if n != 1 else 'it'} to save:\n\n| field | reason |\n|---|---|\n{rows}"
    extra = f", {len(task.demos)} demo{'s' if len(task.demos) != 1 else ''}" if task.demos else ""
    return task, (f"**✓ valid** — `{task.name}` v{task.version}, answer type `{task.answer.type}` "
                  f"(format `{task.answer.format}`){extra}.")


TASK_FORM_FIELDS = ("name", "version", "description", "input_format", "output_format", "answer_type",
                    "answer_format", "choices", "labels", "domain", "keywords", "system_prompt")


def task_to_form(text: str) -> dict[str, str] | None:
    """The form's field values for YAML text (None when the YAML is not a mapping)."""
    import yaml

    try:
        d = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return None
    if not isinstance(d, dict):
        return None
    a = d.get("answer") if isinstance(d.get("answer"), dict) else {}
    r = d.get("retrieval") if isinstance(d.get("retrieval"), dict) else {}

    def s(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, list):
            return ", ".join(str(x) for x in v)
        return str(v)

    return {"name": s(d.get("name")), "version": s(d.get("version")), "description": s(d.get("description")),
            "input_format": s(d.get("input_format")), "output_format": s(d.get("output_format")),
            "answer_type": s(a.get("type")) or "number", "answer_format": s(a.get("format")) or "",
            "choices": s(a.get("choices")), "labels": s(a.get("labels")), "domain": s(r.get("domain")),
            "keywords": s(r.get("keywords")), "system_prompt": s(d.get("system_prompt"))}


def form_to_yaml(values: dict[str, str], current_yaml: str = "") -> str:
    """YAML for the form's values; demos (and anything the form has no field for) come from current_yaml."""
    import yaml

    try:
        base = yaml.safe_load(current_yaml or "")
    except yaml.YAMLError:
        base = None
    base = base if isinstance(base, dict) else {}

    def lst(v: str) -> list[str]:
        return [x.strip() for x in (v or "").split(",") if x.strip()]

    d: dict[str, Any] = {}
    for k in ("name", "version", "description", "input_format", "output_format"):
        if (values.get(k) or "").strip():
            d[k] = values[k]
    ans: dict[str, Any] = {"type": values.get("answer_type") or "number"}
    if (values.get("answer_format") or "").strip():
        ans["format"] = values["answer_format"]
    if lst(values.get("choices", "")):
        ans["choices"] = lst(values["choices"])
    if lst(values.get("labels", "")):
        ans["labels"] = lst(values["labels"])
    base_answer = base.get("answer") if isinstance(base.get("answer"), dict) else {}
    for k in ("reading", "pattern"):  # answer keys the form has no field for
        if k in base_answer:
            ans[k] = base_answer[k]
    d["answer"] = ans
    for k in ("demos", "fewshot"):
        if k in base:
            d[k] = base[k]
    ret: dict[str, Any] = {}
    if (values.get("domain") or "").strip():
        ret["domain"] = values["domain"].strip()
    if lst(values.get("keywords", "")):
        ret["keywords"] = lst(values["keywords"])
    if ret:
        d["retrieval"] = ret
    if (values.get("system_prompt") or "").strip():
        d["system_prompt"] = values["system_prompt"]
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100)


def check_answer(task: Any, completion: str, reference: str) -> str:
    """Run THE answer checker on a pasted completion and reference; say what it extracted."""
    if task is None:
        return "Fix the task first: the checker depends on its answer type and format."
    if not (completion or "").strip():
        return "Paste a completion (a model's full reply) to see what the checker extracts from it."
    from synthrl import scoring

    got = scoring.extract(completion, task)
    lines = [f"- extracted answer: {_code(got)}" if got is not None else
             f"- **no answer found** — the checker looks for a `{task.answer.type}` answer in format "
             f"`{task.answer.format}`; check the output format"]
    if (reference or "").strip():
        ref = scoring.extract(reference, task) or reference.strip()
        ok = scoring.is_correct(completion, reference, task)
        lines.append(f"- reference answer: {_code(ref)}")
        lines.append("- verdict: **✓ correct** (reward 1)" if ok else "- verdict: **✗ wrong** (reward 0)")
    return "\n".join(lines)
