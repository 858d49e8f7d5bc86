"""A scripted chat model for tests about synthrl's own logic (prompts, parsing, voting, resume).

    fake = ScriptedChatModel(lambda conv, i: '{"input": "2+2?", "output": "4"}')
    fake.calls  # every conversation it was sent, with its params
"""
from __future__ import annotations

import threading
from typing import Callable

from synthrl.backends.base import ChatModel, GenerationParams
from synthrl.records import Completion


class ScriptedChatModel(ChatModel):
    """Answers with `script(conversation, k)` where k counts calls; may raise to simulate failures."""

    name = "scripted"

    def __init__(self, script: Callable[[list[dict], int], str], version: str = "scripted-1"):
        self.script = script
        self.version = version
        self.calls: list[tuple[list[dict], GenerationParams]] = []
        self._lock = threading.Lock()
        self._k = 0

    def chat(self, conversations, params: GenerationParams):
        out = []
        for conv in conversations:
            with self._lock:
                self.calls.append((conv, params))
            comps = []
            for _ in range(params.n):
                with self._lock:
                    k = self._k
                    self._k += 1
                text = self.script(conv, k)
                comps.append(Completion(text=text, prompt_tokens=10, completion_tokens=len(text.split())))
            out.append(comps)
        return out
