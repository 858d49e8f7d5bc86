"""The RL reward, shared by GRPO and PPO: the task's answer checker, on the completion only.

GRPO calls a Python reward function; TRL's PPO calls a reward *model* on prompt+completion
token ids. Both end in `RewardRecorder.score`, which hands the checker the completions and
the reference answers and nothing else, so text in a prompt can never earn reward.

    rec = RewardRecorder(task)                       # scoring.make_reward(task) inside
    rec(prompts=..., completions=[[{"role": "assistant", "content": "64"}]], answer=["64"])  # [1.0]
    rm = checker_reward_model(tokenizer, {tuple(prompt_ids): ("64", question)}, rec)
"""
from __future__ import annotations

import threading
from typing import Any, Callable


class RewardRecorder:
    """Wraps the task's checker reward; remembers the latest scored batch for the store.

    Called with TRL's reward signature; it only ever passes the completions (and the
    reference answers) to the checker, never the prompts.
    """

    __name__ = "checker"

    def __init__(self, task: Any, reward_fn: Callable | None = None):
        if reward_fn is None:
            from ..scoring import make_reward

            reward_fn = make_reward(task)
        self.reward_fn = reward_fn
        self.last: list[tuple[str, str, float]] = []
        self.pending: list[tuple[str, str, float]] = []   # scored since the last drain() (bounded)
        self.calls = 0
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self.completion_lengths: list[int] = []
        self.rewards: list[float] = []
        self._lock = threading.Lock()

    def score(self, completions: list, answers: list[str]) -> list[float]:
        """The checker's rewards: the reward function sees the completions and references, nothing else."""
        return [float(r) if r is not None else 0.0 for r in self.reward_fn(completions=completions, answer=answers)]

    def __call__(self, prompts=None, completions=None, answer=None, completion_ids=None, **kw) -> list[float]:
        rewards = self.score(completions, answer)
        lengths = [len(c) for c in completion_ids] if completion_ids is not None else []
        shown = kw.get("question") or prompts or [""] * len(rewards)  # the dataset's question column
        self.note(shown, completions, rewards, lengths)
        return rewards

    def note(self, prompts, completions, rewards, lengths) -> None:
        with self._lock:
            self.last = [(_as_text(p), _as_text(c), float(r)) for p, c, r in zip(prompts, completions, rewards)]
            self.pending = (self.pending + self.last)[-PENDING_MAX:]
            self.calls += len(self.last)
            self.generated_tokens += int(sum(lengths))
            self.completion_lengths = list(lengths)
            self.rewards = list(rewards)


    def drain(self) -> list[tuple[str, str, float]]:
        """Every (prompt, completion, reward) scored since the last drain; the buffer starts empty again."""
        with self._lock:
            rows, self.pending = self.pending, []
        return rows


# Scored completions kept between two drains (a step of the paper's 64 rollouts fits many times over).
PENDING_MAX = 1024


def pick_completions(rows: list[tuple[str, str, float]], k: int) -> list[tuple[str, str, float]]:
    """At most `k` of a step's completions, rewarded and unrewarded ones alike, spread over its prompts.

    Keeping only the first k would show one prompt's group; keeping only the best would hide what
    the model gets wrong. Rows alternate between the highest- and lowest-reward halves, each in the
    order the prompts came.
    """
    if len(rows) <= k:
        return list(rows)
    ranked = sorted(range(len(rows)), key=lambda i: -rows[i][2])
    hi, lo = sorted(ranked[: len(rows) // 2]), sorted(ranked[len(rows) // 2:])
    half = max(1, (k + 1) // 2)
    hi, lo = hi[:: max(1, len(hi) // half)], lo[:: max(1, len(lo) // half)]
    picked: list[int] = []
    for pair in zip(hi, lo):
        picked.extend(pair)
    picked.extend(hi[len(lo):] + lo[len(hi):])
    return [rows[i] for i in sorted(picked[:k])]


def _as_text(x: Any) -> str:
    """A prompt (chat messages -> the last user turn) or a completion (messages -> their text) as text."""
    if isinstance(x, str):
        return x
    if isinstance(x, list):
        msgs = [m for m in x if isinstance(m, dict)]
        users = [m for m in msgs if m.get("role") == "user"]
        if users:
            return str(users[-1].get("content", ""))
        return "".join(str(m.get("content", "")) for m in msgs)
    return str(x)


def checker_reward_model(tokenizer, prompt_refs: dict[tuple, tuple[str, str]], recorder: RewardRecorder):
    """TRL PPO's reward model, made from the task's checker.

    prompt_refs maps each training prompt's token ids to (reference answer, question).

    TRL calls `getattr(model, model.base_model_prefix)(input_ids=..., attention_mask=...)`
    and then `model.score(hidden_states[-1])`, reading the value at the last completion
    token. Our backbone finds each row's prompt (the known prompt token ids it starts
    with), decodes only the tokens after it, and returns the checker's 1/0 (the same
    reward function GRPO uses) at every position.
    """
    import torch
    from torch import nn

    lengths = sorted({len(k) for k in prompt_refs}, reverse=True)

    class _Output:
        def __init__(self, hidden):
            self.hidden_states = (hidden,)

    class CheckerBackbone(nn.Module):
        def forward(self, input_ids=None, attention_mask=None, **_):
            refs, prompts, texts, lens = [], [], [], []
            for row, mask in zip(input_ids.tolist(), attention_mask.tolist()):
                tokens = [t for t, m in zip(row, mask) if m]
                found, cut = None, None
                for n in lengths:
                    found = prompt_refs.get(tuple(tokens[:n]))
                    if found is not None:
                        cut = n
                        break
                if found is None:
                    raise RuntimeError("PPO reward: a rollout does not start with any training prompt")
                ref, question = found
                refs.append(ref)
                prompts.append(question)
                texts.append(tokenizer.decode(tokens[cut:], skip_special_tokens=True))
                lens.append(len(tokens) - cut)
            scores = recorder.score(texts, refs)
            recorder.note(prompts, texts, scores, lens)
            s = torch.tensor(scores, dtype=torch.float32, device=input_ids.device)
            return _Output(s[:, None, None].expand(-1, input_ids.shape[1], 1))

    class CheckerRewardModel(nn.Module):
        base_model_prefix = "backbone"

        def __init__(self):
            super().__init__()
            self.backbone = CheckerBackbone()
            self.score = nn.Identity()

    return CheckerRewardModel()
