"""Every prompt synthrl sends, in one place.

The student prompt is shared by measuring, training and evaluation, so the
pass rate, the reward and the benchmark score all see the same question format.

    msgs = student_messages(task, "What is 12 + 30?")
"""
from __future__ import annotations

from .task import TaskDefinition

DEFAULT_SYSTEM = "You are a helpful assistant."


def student_messages(task: TaskDefinition, question: str) -> list[dict]:
    """The conversation the student answers: the question, then the output format; with `task.fewshot`,
    the first that-many demos come first as earlier turns, asked and answered the same way."""
    def ask(q: str) -> dict:
        return {"role": "user", "content": f"{q.strip()}\n\n{task.output_format.strip()}"}

    msgs = [{"role": "system", "content": task.system_prompt or DEFAULT_SYSTEM}]
    for d in task.demos[:task.fewshot]:
        msgs += [ask(d.input), {"role": "assistant", "content": d.output.strip()}]
    return msgs + [ask(question)]


# ---------------------------------------------------------------------------------------------
# Teacher prompts (generation, verification, difficulty rewrites). Each returns chat messages;
# the structured ones go with a JSON schema (see the *_SCHEMA constants) so a backend that
# supports constrained decoding returns exactly that shape.
# ---------------------------------------------------------------------------------------------
TEACHER_SYSTEM = ("You are an expert teacher who writes high-quality training data for a task. "
                  "Follow the requested format exactly.")

KEYWORDS_SCHEMA = {
    "type": "object",
    "properties": {"domain": {"type": "string"}, "synonyms": {"type": "array", "items": {"type": "string"}}},
    "required": ["domain", "synonyms"],
}
SAMPLE_SCHEMA = {
    "type": "object",
    "properties": {"input": {"type": "string"}, "output": {"type": "string"}},
    "required": ["input", "output"],
}
PATTERN_SCHEMA = {
    "type": "object",
    "properties": {"pattern": {"type": "string"}},
    "required": ["pattern"],
}
# A rewrite has the shape of a generated sample.
REWRITE_SCHEMA = SAMPLE_SCHEMA


def _task_block(task: TaskDefinition) -> str:
    return (f"Task description:\n{task.description.strip()}\n\n"
            f"Input format:\n{task.input_format.strip()}\n\n"
            f"Output format:\n{task.output_format.strip()}")


def _demo_block(demos) -> str:
    """Real demo records as input/output blocks (never the string of a Python list)."""
    parts = []
    for i, d in enumerate(demos, 1):
        parts.append(f"Example {i}\n[input]\n{d.input.strip()}\n[output]\n{d.output.strip()}")
    return "\n\n".join(parts)


def _chat(user: str) -> list[dict]:
    return [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": user}]


def keywords_messages(task: TaskDefinition, demos=()) -> list[dict]:
    """Ask for the task's domain in one keyword plus a few synonyms (for retrieval).

    The demos go in too, as the paper's keyword prompt has them: a task description alone
    ("answer the question") often names no domain; its examples do.
    """
    parts = [_task_block(task)]
    if demos:
        parts.append(f"Examples of the task:\n\n{_demo_block(demos)}")
    parts.append(
        "Name the domain of this task in ONE keyword, then list up to 5 synonyms or closely related "
        "search terms that would find useful background documents for it.\n"
        'Reply with JSON only: {"domain": "<one keyword>", "synonyms": ["<term>", ...]}'
    )
    return _chat("\n\n".join(parts))


def pattern_messages(task: TaskDefinition, demos) -> list[dict]:
    """Ask the teacher to summarise what the demos have in common (the "sample pattern")."""
    return _chat(
        f"{_task_block(task)}\n\nHere are real examples of the task:\n\n{_demo_block(demos)}\n\n"
        "Summarise the pattern these examples follow, so that new examples can be written in the same "
        "style: what the input looks like (length, structure, what is asked) and how the output is "
        "written (reasoning steps, where the final answer goes). Be concise (at most 5 sentences).\n"
        'Reply with JSON only: {"pattern": "<the pattern>"}'
    )


def generation_messages(task: TaskDefinition, passage: str | None = None, pattern: str | None = None,
                        demos=()) -> list[dict]:
    """Ask for one new sample {input, output}, grounded in a passage, following the pattern and demos."""
    parts = [_task_block(task)]
    if pattern:
        parts.append(f"Sample pattern (follow it):\n{pattern.strip()}")
    if demos:
        parts.append(f"Examples of the task:\n\n{_demo_block(demos)}")
    if passage:
        parts.append("Background passage (base the new example on facts, names and numbers from it):\n"
                     f"<passage>\n{passage.strip()}\n</passage>")
    parts.append(
        "Write ONE new, self-contained example of this task. It must be distinct from the examples above "
        "(a different question, not a paraphrase) and of the same or higher difficulty. "
        "The input must follow the input format and "
        "must be answerable on its own (do not refer to 'the passage'). The output must solve it and "
        "follow the output format exactly, ending with the final answer in that format.\n"
        'Reply with JSON only: {"input": "<the new input>", "output": "<its output>"}'
    )
    return _chat("\n\n".join(parts))


def verify_answer_messages(task: TaskDefinition, question: str) -> list[dict]:
    """The teacher answers a generated question, in the task's output format (one vote)."""
    system = task.system_prompt or "You are an expert who solves problems carefully and accurately."
    user = (f"{question.strip()}\n\n{task.output_format.strip()}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# No example numbers: the bundled 135M teacher copies an example's numbers ("12 + 30") instead of the question's.
PROGRAM_AIDED_INSTRUCTION = ("Write the answer as an arithmetic expression using the numbers in the question. "
                             "Write only the expression, not its result.")


def program_aided_messages(task: TaskDefinition, question: str) -> list[dict]:
    """The teacher answers with an arithmetic expression (one vote); a safe evaluator computes it."""
    system = task.system_prompt or DEFAULT_SYSTEM
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"{question.strip()}\n\n{PROGRAM_AIDED_INSTRUCTION}"}]


def _rewrite(task: TaskDefinition, sample, instruction: str) -> list[dict]:
    answer = (getattr(sample, "answer", "") or getattr(sample, "reference", "") or "").strip()
    return _chat(
        f"{_task_block(task)}\n\nAn existing example of the task:\n[input]\n{sample.question.strip()}\n"
        f"[output]\n{answer}\n\n{instruction}\n"
        "The new input must follow the input format; the new output must solve it and follow the output "
        "format exactly, ending with the final answer in that format.\n"
        'Reply with JSON only: {"input": "<the new input>", "output": "<its output>"}'
    )


def rewrite_harder_messages(task: TaskDefinition, sample) -> list[dict]:
    """Rewrite a sample the student solved into a harder, task-similar one."""
    return _rewrite(task, sample,
                    "Write a new example of the same task that is HARDER: it requires multi-step reasoning, "
                    "creative problem-solving and deeper analytical thought, while staying realistic and "
                    "similar in topic and format.")


def rewrite_easier_messages(task: TaskDefinition, sample) -> list[dict]:
    """Rewrite a sample the student failed into an easier one, or one of its sub-problems."""
    return _rewrite(task, sample,
                    "Write a new example of the same task that is EASIER: a simpler version of it, or one "
                    "of the sub-problems needed to solve it, with fewer steps, while staying similar in "
                    "topic and format.")


# A judge verdict (synthrl.judge): three 1-5 ratings, each with a one-line reason.
JUDGE_CRITERIA = ("grounding", "clarity", "correctness")
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {k: {"type": "object",
                       "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                      "reason": {"type": "string"}},
                       "required": ["score", "reason"]} for k in JUDGE_CRITERIA},
    "required": list(JUDGE_CRITERIA),
}


def judge_messages(task: TaskDefinition, question: str, answer: str, reference: str | None,
                   passage: str | None) -> list[dict]:
    """Ask the teacher to rate one sample: grounding in its passage, clarity, answer correctness (1-5 each)."""
    parts = [_task_block(task)]
    parts.append("Source passage the sample was written from:\n"
                 + (f"<passage>\n{passage.strip()}\n</passage>" if passage else "(none: the sample has no passage)"))
    parts.append(f"The sample:\n[input]\n{question.strip()}\n[output]\n{(answer or '').strip()}\n"
                 f"[final answer]\n{reference if reference is not None else '(none)'}")
    parts.append(
        "Rate the sample from 1 (bad) to 5 (excellent) on each criterion, with a one-line reason each:\n"
        "- grounding: its facts, names and numbers come from the passage (1: contradicts or ignores it);\n"
        "- clarity: the input is self-contained, unambiguous and answerable as written;\n"
        "- correctness: the output solves the input correctly and the final answer is right.\n"
        'Reply with JSON only: {"grounding": {"score": 1-5, "reason": "..."}, '
        '"clarity": {"score": 1-5, "reason": "..."}, "correctness": {"score": 1-5, "reason": "..."}}')
    return _chat("\n\n".join(parts))
