"""The embedding model (all-MiniLM-L6-v2), loaded once per process from the installed package.

LlamaIndex would otherwise fall back to OpenAI for both the LLM and the
embeddings; we set `Settings.llm = None` (no LLM: retrieval needs none) and an
explicit local embedding model, so nothing is downloaded at run time.

    vecs = embed_texts(["How many apples?", "apple count"])   # (2, 384), unit length
"""
from __future__ import annotations

import contextlib
import io
import os
import threading

import numpy as np

_LOCK = threading.Lock()
_MODEL = None


def configure_llama_settings() -> None:
    """No LLM for LlamaIndex (it prints a note when told so; keep stdout clean for --json)."""
    from llama_index.core import Settings

    with contextlib.redirect_stdout(io.StringIO()):
        Settings.llm = None


def get_embed_model():
    """The shared HuggingFaceEmbedding over the bundled MiniLM folder (never a hub download)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from llama_index.core import Settings
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            from ..models import embedding_model_path

            configure_llama_settings()
            _MODEL = HuggingFaceEmbedding(model_name=embedding_model_path(), embed_batch_size=64,
                                          device="cpu" if not _cuda() else None)
            Settings.embed_model = _MODEL
        return _MODEL


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch means no GPU
        return False


def embed_texts(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    m = get_embed_model()
    with _LOCK:  # one forward pass at a time; the model is shared by threads
        vecs = np.asarray(m.get_text_embedding_batch(list(texts)), dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-12)
