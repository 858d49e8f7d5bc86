"""Every prompt synthrl sends, in one place.

The student prompt is shared by measuring, training and evaluation, so the
pass rate, the reward and the benchmark score all see the same question format.

    msgs = student_messages(task, "What is 12 + 30?")
"""
from __future__ import annotations

from .task import TaskDefinition

DEFAULT_SYSTEM = "You are a helpful assistant."


def student_messages(task: TaskDefinition, question: str) -> list[dict]:
    """The conversation the student answers: the question, then the output format."""
    system = task.system_prompt or DEFAULT_SYSTEM
    user = f"{question.strip()}\n\n{task.output_format.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
