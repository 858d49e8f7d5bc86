"""Shared set-up for the training and evaluation tests: a tiny Llama student and a run with a selection."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthrl.records import Sample
from synthrl.task import AnswerSpec, TaskDefinition

ADDITION = TaskDefinition(
    name="addition", description="Add two whole numbers.", input_format="A question asking for a sum.",
    output_format="Answer with just the number.", answer=AnswerSpec(type="number", format="plain"),
)


def make_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 64-wide Llama with the bundled tokenizer and chat template (random weights)."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    from synthrl.models import resolve_model

    bundled = Path(resolve_model("bundled"))
    tok = AutoTokenizer.from_pretrained(bundled)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id).save_pretrained(folder)
    for extra in ("chat_template.jinja",):
        if (bundled / extra).exists() and not (folder / extra).exists():
            shutil.copy(bundled / extra, folder / extra)
    return folder


def add_selection(store, n: int = 6, task: TaskDefinition = ADDITION) -> list[int]:
    store.save_task(task)
    ids = []
    for i in range(n):
        a, b = 11 + 7 * i, 20 + 3 * i
        ids.append(store.add_sample(Sample(None, f"What is {a} + {b}?", str(a + b), str(a + b), status="verified")))
    store.add_selection("test", {"rule": "all"}, ids)
    return ids


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny Llama, built once per test session."""
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama")
