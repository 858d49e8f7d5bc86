"""Stage 6: RL training of the student on the selected synthetic samples (TRL GRPO or PPO).

The reward is the task's own answer checker (`scoring.make_reward`), applied to the
completion only, so text in the prompt can never earn reward. Everything the trainer
logs lands in the run store as `train/...` metrics, with a few sample rollouts and the
step progress. A model belongs to the selection it was trained on: checkpoints go to
`<run>/checkpoints/selection-<id>/checkpoint-N`, the final model to
`<run>/checkpoints/selection-<id>/final`, and the store records which selection each
model was trained on, so a different selection trains a new model instead of reusing
the old one. Samples rejected after the selection was made are left out. SIGTERM (the
UI's Stop) saves a checkpoint and returns; `resume=True` continues from the newest
complete checkpoint (by step number) of that selection's folder.

    report = train(RunStore.open("demo"), TrainConfig.profile("tiny"))
    report.final_model   # '<run>/checkpoints/selection-1/final'

The same function runs under `accelerate launch` (ddp / zero2 / zero3 configs in
assets/accelerate); only the main process writes to the store.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import random
import re
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..prompts import student_messages
from ..records import Sample
from ..stopping import AnswerStop
from ..store import RunStore
from .rewards import RewardRecorder, checker_reward_model, pick_completions

ALGOS = ("grpo", "ppo")
VLLM_MODES = ("colocate", "server")
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
FINAL_DIR = "final"
# How many completions (with rewards) are stored per training step: a bounded, reward-balanced sample of
# every completion the step scored, so every step can be browsed afterwards (not only the latest).
ROLLOUTS_PER_STEP = 16
ROLLOUTS_PER_LOG = ROLLOUTS_PER_STEP  # the former name
# Held-out greedy accuracy never uses more items than this (it runs inside training).
HELDOUT_MAX = 64
HELDOUT_FROM = ("selection", "unselected")


class TrainError(ValueError):
    """A training setting or precondition the user can fix; raised before any compute."""


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass
class TrainConfig:
    """RL training settings. Defaults are the paper's; `TrainConfig.profile("tiny")` is a CPU smoke run.

    per_device_batch counts completions (prompts x num_generations) per device per step,
    as TRL does: the paper's 4 prompts x 16 rollouts is per_device_batch=64, num_generations=16.
    Built, checked and coerced like every stage's config (synthrl.config.build_section); the
    profiles' values live in synthrl.config._PROFILE_VALUES.
    """

    #: how build_section names unknown keys of this section ("unknown training setting(s) x, y")
    SETTING_NOUN = "training setting"

    algo: str = _help("RL algorithm: grpo or ppo", "grpo")
    learning_rate: float = _help("optimizer learning rate", 1e-6)
    num_generations: int = _help("rollouts per prompt (GRPO group size; PPO repeats each prompt)", 16)
    temperature: float = _help("sampling temperature of the rollouts", 1.2)
    top_p: float = _help("nucleus sampling of the rollouts (GRPO only; TRL's PPO samples with top_p=1)", 0.8)
    beta: float = _help("KL coefficient (GRPO beta, PPO kl_coef)", 0.001)
    max_prompt_length: int = _help("longest prompt in tokens; longer ones are left out (and reported)", 2048)
    max_completion_length: int = _help("longest rollout in tokens", 2048)
    epochs: float = _help("passes over the selection (max_steps, when set, wins)", 5.0)
    max_steps: int | None = _help("stop after N optimizer steps (overrides epochs when set)", None)
    per_device_batch: int = _help("completions (prompts x num_generations) per device per step", 64)
    grad_accum: int = _help("gradient accumulation steps", 1)
    lora: bool = _help("train LoRA adapters (merged into the final model)", False)
    lora_r: int = _help("LoRA rank", 16)
    seed: int = _help("training seed", 0)
    save_steps: int = _help("save a checkpoint every N steps", 50)
    eval_every: int = _help("held-out greedy accuracy every N steps (0: only at the end)", 50)
    heldout_fraction: float = _help("of the selection, kept out of training for train/heldout_accuracy", 0.1)
    heldout_from: str = _help("where train/heldout_accuracy items come from: selection (heldout_fraction of it, "
                              "not trained on) or unselected (verified samples outside the selection; every "
                              "selected sample is trained on: the paper)", "selection")
    model: str | None = _help("student to train: 'bundled', a folder or an id; none: the run's student", None)
    use_vllm: bool = _help("generate rollouts with vLLM (GRPO, NVIDIA GPU)", False)
    vllm_mode: str = _help("vLLM in this process (colocate) or a `trl vllm-serve` (server); GRPO only", "colocate")
    ppo_epochs: int = _help("PPO optimisation epochs per batch of rollouts", 4)
    stop_at_answer: bool = _help("end each rollout once its answer is complete (synthrl/stopping.py)", True)
    report_to: str = _help("also send training metrics to these trackers (comma-separated: tensorboard, trackio, "
                           "wandb); the run store always gets them; none: nothing leaves the machine", "none")

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise TrainError("invalid training settings: " + "; ".join(problems))

    def trackers(self) -> list[str]:
        """The trackers named in report_to ([] for none)."""
        names = [t.strip().lower() for t in str(self.report_to or "none").split(",") if t.strip()]
        return [t for t in names if t != "none"]

    def problems(self) -> list[str]:
        p = []
        if self.algo not in ALGOS:
            p.append(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if not self.learning_rate > 0:
            p.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.algo == "grpo" and self.num_generations < 2:
            p.append(f"num_generations must be >= 2 for GRPO (advantages compare a group), got {self.num_generations}")
        if self.num_generations < 1:
            p.append(f"num_generations must be >= 1, got {self.num_generations}")
        if not self.temperature > 0:
            p.append(f"temperature must be > 0 (sampling), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            p.append(f"top_p must be in (0, 1], got {self.top_p}")
        if self.beta < 0:
            p.append(f"beta (KL coefficient) must be >= 0, got {self.beta}")
        for name in ("max_prompt_length", "max_completion_length", "per_device_batch", "grad_accum", "lora_r",
                     "save_steps", "ppo_epochs"):
            if int(getattr(self, name)) < 1:
                p.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.epochs > 0:
            p.append(f"epochs must be > 0, got {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            p.append(f"max_steps must be >= 1 (or unset), got {self.max_steps}")
        if self.eval_every < 0:
            p.append(f"eval_every must be >= 0, got {self.eval_every}")
        if not 0 <= self.heldout_fraction < 1:
            p.append(f"heldout_fraction must be in [0, 1), got {self.heldout_fraction}")
        if self.heldout_from not in HELDOUT_FROM:
            p.append(f"heldout_from must be one of {', '.join(HELDOUT_FROM)}, got {self.heldout_from!r}")
        if self.algo == "grpo" and self.num_generations >= 1 and \
                (self.per_device_batch * self.grad_accum) % self.num_generations:
            p.append(f"per_device_batch x grad_accum ({self.per_device_batch} x {self.grad_accum}) must be divisible "
                     f"by num_generations ({self.num_generations}): a GRPO batch holds whole groups of rollouts")
        if self.vllm_mode not in VLLM_MODES:
            p.append(f"vllm_mode must be one of {', '.join(VLLM_MODES)}, got {self.vllm_mode!r}")
        unknown = [t for t in self.trackers() if t not in REPORT_TO]
        if unknown:
            p.append(f"report_to: unknown tracker(s) {', '.join(unknown)}; use none or any of {', '.join(REPORT_TO)}")
        if self.use_vllm and self.algo == "ppo":
            p.append("use_vllm works with GRPO only (TRL's PPO generates with transformers)")
        return p

    # -- profiles and (de)serialisation ------------------------------------------
    @classmethod
    def profile(cls, name: str, **overrides: Any) -> "TrainConfig":
        """A profile's training settings (synthrl.config): 'paper', 'tiny' (a few steps on 2 CPU cores), 'demo'."""
        from ..config import _PROFILE_VALUES

        names = [p for p, sections in _PROFILE_VALUES.items() if isinstance(sections.get("train"), dict)]
        if name not in names:
            raise TrainError(f"unknown training profile {name!r}; choose one of {', '.join(names)}")
        values = {k: v for k, v in _PROFILE_VALUES[name]["train"].items() if not k.startswith("__")}
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "<train config>", base: "TrainConfig | None" = None
                  ) -> "TrainConfig":
        """Settings over `base` (else the defaults), checked and coerced as every section is."""
        from ..config import ConfigError, build_section

        try:
            return build_section("train", dict(d or {}), source, base=base)
        except ConfigError as e:
            raise TrainError(str(e)) from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, base: "TrainConfig | None" = None) -> "TrainConfig":
        """A YAML file of training settings, or a run config (its train section)."""
        p = Path(path)
        try:
            d = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainError(f"{p}: file not found") from None
        except (OSError, yaml.YAMLError) as e:
            raise TrainError(f"{p}: cannot read training settings: {e}") from None
        if d is not None and not isinstance(d, dict):
            raise TrainError(f"{p}: must be a YAML mapping of training settings")
        if d and isinstance(d.get("train"), dict):  # a full run config: take its train section
            d = d["train"]
        return cls.from_dict(d, source=str(p), base=base)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


@dataclass
class TrainReport:
    """What a training run did."""

    algo: str
    steps: int
    max_steps: int
    stopped: bool = False                 # stopped by SIGTERM / stop_event (a checkpoint was saved)
    resumed_from: str | None = None
    final_model: str | None = None
    checkpoint: str | None = None         # the newest checkpoint
    train_samples: int = 0
    heldout_samples: int = 0
    skipped_too_long: int = 0
    last_metrics: dict = field(default_factory=dict)
    heldout_accuracy: float | None = None
    seconds: float = 0.0
    callback_seconds: float = 0.0         # time spent writing to the store (the callback)
    generated_tokens: int = 0
    selection_id: int | None = None       # the selection trained on
    train_run: int | None = None          # the training run (store.training_runs) metrics and rollouts carry
    left_out_rejected: int = 0            # selected samples rejected (or otherwise no longer candidates) since


# -- checkpoints ---------------------------------------------------------------------------
def checkpoints_dir(store: RunStore, selection_id: int | None = None) -> Path:
    """Where training on `selection_id` writes its checkpoints and final model (None: the root folder)."""
    root = store.dir / "checkpoints"
    return root if selection_id is None else root / f"selection-{selection_id}"


def resolve_selection(store: RunStore, selection_id: int | None = None) -> int:
    """The selection to train on: the given one (checked), else the run's latest."""
    if selection_id is None:
        latest = store.latest_selection()
        if latest is None:
            raise TrainError(f"run {store.name} has no selected samples to train on (no selection yet): "
                             f"run `synthrl select {store.name}` "
                             "(after generate, verify and measure) first")
        return latest["id"]
    if store.selection(selection_id) is None:
        ids = [d["id"] for d in store.selections()]
        raise TrainError(f"run {store.name} has no selection {selection_id} (selections: "
                         f"{', '.join(map(str, ids)) or 'none'})")
    return selection_id


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints (trainer_state.json is written last) sorted by step number."""
    d = Path(folder)
    found = []
    if d.is_dir():
        for p in d.iterdir():
            m = CHECKPOINT_RE.match(p.name)
            if m and p.is_dir() and (p / "trainer_state.json").exists():
                found.append((int(m.group(1)), p))
    return sorted(found, key=lambda t: t[0])


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint by step number (never by name: checkpoint-10 > checkpoint-9)."""
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def latest_model(store: RunStore) -> str | None:
    """The newest trained weights of a run: the final model, else the newest checkpoint."""
    p = store.get_config("latest_model")
    if p and Path(p).exists():
        return p
    folders = [checkpoints_dir(store, d["id"]) for d in reversed(store.selections())] + [checkpoints_dir(store)]
    for folder in folders:
        ck = latest_checkpoint(folder)
        if ck:
            return str(ck)
    return None


def base_model(store: RunStore, override: str | None = None) -> str:
    """The student the run trains from: the override, else what the run recorded, else 'bundled'."""
    if override:
        return override
    for key in ("base_model", "student"):
        v = store.get_config(key)
        if isinstance(v, str) and v:
            from ..models import BUNDLED, BUNDLED_NAME

            # runs trained before the name was kept recorded the bundled model's folder on the machine that
            # trained them; elsewhere (another SYNTHRL_HOME, a copied run) that folder is this machine's
            if Path(v).name == BUNDLED_NAME and not Path(v).exists():
                return BUNDLED
            return v
        if isinstance(v, dict) and v.get("model"):
            if v.get("backend", "transformers") not in ("transformers", "vllm"):
                raise TrainError(f"run {store.name}'s student is served by the {v.get('backend')!r} backend "
                                 f"({v['model']}); training needs the weights: give --model FOLDER")
            return str(v["model"])
    rc = store.get_config("run_config")
    if isinstance(rc, dict) and isinstance(rc.get("student"), dict) and rc["student"].get("model"):
        return str(rc["student"]["model"])
    return "bundled"


# -- preparing the data ------------------------------------------------------------------------
@dataclass
class _Plan:
    task: Any
    model_path: str
    tokenizer: Any
    train: list[Sample]
    heldout: list[Sample]
    skipped_too_long: int
    world_size: int
    is_main: bool
    selection_id: int | None = None
    left_out_rejected: int = 0


def _reference(s: Sample) -> str:
    return s.reference if s.reference not in (None, "") else s.answer


def _student_loads(path: str) -> Any:
    from transformers import AutoConfig, AutoTokenizer

    try:
        AutoConfig.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path)
    except Exception as e:  # noqa: BLE001 - any failure here means "this student does not load"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrainError(f"the student model {path!r} does not load: {first}") from None
    if getattr(tok, "chat_template", None) is None:
        raise TrainError(f"the student model {path!r} has no chat template; synthrl prompts it as a chat model")
    return tok


def prepare(store: RunStore, config: TrainConfig, selection_id: int | None = None) -> _Plan:
    """Every check that can fail, before any compute: settings, task, selection, student, vllm."""
    from .select import CANDIDATE_STATUSES

    config.__post_init__()
    task = store.load_task()
    selection_id = resolve_selection(store, selection_id)
    selected = store.selection_samples(selection_id)
    # the expert may reject a sample after it was selected: it is never trained on
    samples = [s for s in selected if s.status in CANDIDATE_STATUSES and s.question and _reference(s)]
    rejected = sum(1 for s in selected if s.status not in CANDIDATE_STATUSES)
    if not samples:
        raise TrainError(f"run {store.name} has no selected samples to train on in selection {selection_id}"
                         + (f" ({rejected} were rejected after selection)" if rejected else "")
                         + f": run `synthrl select {store.name}` (after generate, verify and measure) first")
    if config.use_vllm:
        if importlib.util.find_spec("vllm") is None:
            raise TrainError("use_vllm is set but vllm is not installed: pip install 'synthrl[vllm]' on a machine "
                             "with an NVIDIA GPU, or train without --use-vllm")
        import torch

        if not torch.cuda.is_available():
            raise TrainError("use_vllm needs an NVIDIA GPU; none is visible")
    if config.lora and importlib.util.find_spec("peft") is None:
        raise TrainError("lora is set but peft is not installed: pip install peft")
    for tracker in config.trackers():
        if importlib.util.find_spec(tracker) is None:  # each tracker's module has its name
            raise TrainError(f"report_to names {tracker}, which is not installed: pip install {tracker} "
                             "(or train with report_to none; the app's curves come from the run store)")
    from ..models import resolve_model

    try:
        model_path = resolve_model(base_model(store, config.model))
    except RuntimeError as e:
        raise TrainError(str(e)) from None
    tok = _student_loads(model_path)

    # Prompts longer than max_prompt_length are left out (TRL 1.x no longer truncates prompts).
    kept, too_long = [], 0
    for s in samples:
        ids = tok.apply_chat_template(student_messages(task, s.question), add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
        if len(ids) > config.max_prompt_length:
            too_long += 1
        else:
            kept.append(s)
    if not kept:
        raise TrainError(f"all {len(samples)} selected prompts are longer than max_prompt_length="
                         f"{config.max_prompt_length} tokens; raise max_prompt_length")

    # The held-out slice: a deterministic (seeded) part of the selection, never trained on;
    # or (heldout_from="unselected", the paper) verified samples outside the selection, so all M train.
    order = sorted(kept, key=lambda s: s.id or 0)
    random.Random(config.seed).shuffle(order)
    if config.heldout_from == "unselected":
        from ..contamination import FLAG as CONTAMINATED

        chosen = {s.id for s in selected}
        outside = sorted((s for s in store.samples(status=CANDIDATE_STATUSES)
                          if s.id not in chosen and s.question and _reference(s)
                          and CONTAMINATED not in s.flags), key=lambda s: s.id or 0)
        random.Random(config.seed).shuffle(outside)
        heldout, train_set = outside[:HELDOUT_MAX], order
    else:
        n_held = min(int(round(len(order) * config.heldout_fraction)), HELDOUT_MAX, len(order) - 1)
        heldout, train_set = order[:n_held], order[n_held:]

    from accelerate import PartialState

    import torch

    state = PartialState(cpu=not torch.cuda.is_available())
    per_step = config.per_device_batch * config.grad_accum * state.num_processes
    if config.algo == "grpo" and (per_step % config.num_generations):
        raise TrainError(f"the global batch ({per_step}) must be divisible by num_generations "
                         f"({config.num_generations})")
    # a step needs per_step rollouts = per_step / num_generations distinct prompts (else the loader is empty)
    if len(train_set) * config.num_generations < per_step:
        raise TrainError(f"one training step takes {per_step // config.num_generations} prompts "
                         f"(per_device_batch {config.per_device_batch} x grad_accum {config.grad_accum} x "
                         f"{state.num_processes} process(es) / num_generations {config.num_generations}) but only "
                         f"{len(train_set)} selected prompts are left for training ({len(heldout)} held out): "
                         "select more samples or lower per_device_batch")
    return _Plan(task, model_path, tok, train_set, heldout, too_long, state.num_processes, state.is_main_process,
                 selection_id, rejected)


# -- held-out greedy accuracy --------------------------------------------------------------------
def greedy_accuracy(model, tokenizer, task, samples: list[Sample], max_new_tokens: int, batch_size: int = 16
                    ) -> float:
    """Greedy answers of `model` to `samples`, scored by the task's checker."""
    import torch

    from ..scoring import is_correct

    if not samples:
        return float("nan")
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    correct = 0
    device = next(model.parameters()).device
    try:
        for i in range(0, len(samples), batch_size):
            chunk = samples[i:i + batch_size]
            texts = [tokenizer.apply_chat_template(student_messages(task, s.question), add_generation_prompt=True,
                                                   tokenize=False) for s in chunk]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad,
                                     temperature=None, top_p=None, top_k=None)
            for s, row in zip(chunk, out[:, enc["input_ids"].shape[1]:]):
                if is_correct(tokenizer.decode(row, skip_special_tokens=True), _reference(s), task):
                    correct += 1
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
    return correct / len(samples)


# -- the store callback ------------------------------------------------------------------------------
# TRL's log names -> ours (anything else becomes train/<name with / as _>).
GRPO_KEYS = {
    "reward": "train/reward", "reward_std": "train/reward_std", "kl": "train/kl", "loss": "train/loss",
    "completions/mean_length": "train/completion_length", "learning_rate": "train/learning_rate",
    "grad_norm": "train/grad_norm", "entropy": "train/entropy", "frac_reward_zero_std": "train/frac_reward_zero_std",
    "completions/clipped_ratio": "train/clipped_ratio", "epoch": "train/epoch",
}
PPO_KEYS = {
    "objective/scores": "train/reward", "objective/kl": "train/kl", "loss/policy_avg": "train/loss",
    "loss/value_avg": "train/value_loss", "objective/entropy": "train/entropy", "lr": "train/learning_rate",
    "objective/rlhf_reward": "train/rlhf_reward", "objective/non_score_reward": "train/non_score_reward",
    "policy/approxkl_avg": "train/approx_kl", "policy/clipfrac_avg": "train/clip_fraction", "epoch": "train/epoch",
    "episode": "train/episode",
}
# not plotted: counters, and rewards/<fn>/mean|std (the same as reward and reward_std with one reward function)
SKIP_KEYS = {"step", "total_flos", "num_tokens", "eps"}


def metric_name(key: str, algo: str) -> str:
    table = GRPO_KEYS if algo == "grpo" else PPO_KEYS
    if key in table:
        return table[key]
    if key.startswith("train_"):  # the end-of-training summary (train_runtime, train_loss, ...)
        return "train/summary_" + key[len("train_"):]
    return "train/" + re.sub(r"[^A-Za-z0-9_]+", "_", key).strip("_")


class _StopRequested(Exception):
    """Raised after the stop checkpoint is saved, where the trainer has no stop flag (TRL's PPO)."""


def _store_callback_class():
    from transformers import TrainerCallback

    class StoreCallback(TrainerCallback):
        """Writes what the trainer logs to the run store (main process only); handles Stop.

        Time spent here is summed in `seconds` (the store-writing overhead, for bench/train.py).
        """

        def __init__(self, store: RunStore, algo: str, recorder: RewardRecorder, stop: threading.Event,
                     heldout_fn: Callable[[Any], float] | None, eval_every: int, step_offset: int = 0,
                     max_steps_total: int | None = None, train_run: int | None = None):
            self.store, self.algo, self.recorder, self.stop = store, algo, recorder, stop
            self.train_run = train_run
            self.heldout_fn, self.eval_every = heldout_fn, eval_every
            self.step_offset, self.max_steps_total = step_offset, max_steps_total
            self.seconds = 0.0
            self.stopped = False
            self.last_metrics: dict[str, float] = {}
            self.heldout_accuracy: float | None = None
            self._evaluated_at: int | None = None

        def _timed(self, fn, *a):
            t = time.perf_counter()
            try:
                return fn(*a)
            finally:
                self.seconds += time.perf_counter() - t

        # PPO restarts its step counter at 0: continue a resumed run's numbering.
        def on_train_begin(self, args, state, control, **kw):
            if self.algo == "ppo" and self.step_offset:
                state.global_step = self.step_offset
                state.max_steps = self.max_steps_total or (self.step_offset + state.max_steps)
            if state.is_world_process_zero:
                self._timed(self.store.set_progress, "train", state.global_step, state.max_steps, "running",
                            f"{self.algo} training")
                self._timed(self.store.log, "train", f"{self.algo} training from step {state.global_step} "
                                                     f"of {state.max_steps}")

        def on_log(self, args, state, control, logs=None, **kw):
            if not state.is_world_process_zero or not logs:
                return
            self._timed(self._write_log, state, logs)

        def _write_log(self, state, logs):
            values = {}
            summary = "train_runtime" in logs  # the end-of-training log repeats epoch: keep one per step
            for k, v in logs.items():
                if summary and k == "epoch":
                    continue
                if k in SKIP_KEYS or k.startswith("rewards/") or isinstance(v, bool) or not isinstance(v, (int, float)) or \
                        (isinstance(v, float) and math.isnan(v)):
                    continue
                values[metric_name(k, self.algo)] = float(v)
            rec = self.recorder
            if self.algo == "ppo" and rec.completion_lengths and "train/completion_length" not in values \
                    and "objective/scores" in logs:
                values["train/completion_length"] = sum(rec.completion_lengths) / len(rec.completion_lengths)
                r = rec.rewards
                mean = sum(r) / len(r)
                values["train/reward_std"] = (sum((x - mean) ** 2 for x in r) / max(len(r) - 1, 1)) ** 0.5
            step = state.global_step
            if values:
                self.store.add_metrics(step, values, train_run=self.train_run)
                self.last_metrics.update(values)
            self._store_completions(step)
            self.store.set_progress("train", step, state.max_steps, "running")

        def _store_completions(self, step: int) -> None:
            """Every completion scored since the last call, bounded per step, under this step."""
            rows = self.recorder.drain()
            if rows:
                self.store.add_rollouts(step, pick_completions(rows, ROLLOUTS_PER_STEP), train_run=self.train_run)

        def on_step_end(self, args, state, control, **kw):
            if self._stop_agreed(args):
                control.should_save = True
                control.should_training_stop = True
                self.stopped = True
            if state.is_world_process_zero:
                self._timed(self._store_completions, state.global_step)
            if self.heldout_fn and self.eval_every and state.global_step % self.eval_every == 0:
                self._heldout(state, kw.get("model"))

        def on_save(self, args, state, control, **kw):
            if state.is_world_process_zero:
                self._timed(self.store.log, "train", f"saved checkpoint-{state.global_step}")
            if self.algo == "ppo" and self.stopped:
                raise _StopRequested()

        def on_train_end(self, args, state, control, **kw):
            if self.heldout_fn and not self.stopped and self._evaluated_at != state.global_step:
                self._heldout(state, kw.get("model"))

        def _heldout(self, state, model):
            self._evaluated_at = state.global_step
            if not state.is_world_process_zero or model is None:
                return
            if os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3":
                return  # parameters are sharded: one process cannot generate alone (run `synthrl eval` after)
            model = getattr(model, "policy", model)  # PPO wraps policy and value model
            acc = self.heldout_fn(model)
            if not math.isnan(acc):
                self.heldout_accuracy = acc
                self._timed(self.store.add_metrics, state.global_step, {"train/heldout_accuracy": acc}, "",
                            self.train_run)

        def _stop_agreed(self, args) -> bool:
            """Every process must stop at the same step, or the others wait forever in the next all-reduce."""
            flag = self.stop.is_set()
            import torch
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                t = torch.tensor([1 if flag else 0], device=args.device)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                flag = bool(t.item())
            return flag

    return StoreCallback


# -- training ----------------------------------------------------------------------------------------------
def _device_kwargs() -> dict:
    """bf16 on a GPU that has it; on the CPU fp32 and no gradient checkpointing (it only costs time there)."""
    import torch

    if torch.cuda.is_available():
        return {"use_cpu": False, "bf16": torch.cuda.is_bf16_supported(), "gradient_checkpointing": True}
    return {"use_cpu": True, "bf16": False, "gradient_checkpointing": False}


def _dtype():
    """The dtype of models that are not trained (the reference model): bf16 on a GPU that has it."""
    import torch

    return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32


def _trained_dtype(config=None):
    """The dtype of weights the optimizer updates: always fp32 (bf16 on a GPU is autocast compute, `bf16=True`).

    Weights stored in bf16 keep 8 bits of mantissa: at a weight of 0.05 the nearest other bf16 value is
    ~2e-4 away, so the ~5e-6 steps AdamW takes at the learning rates RL fine-tuning uses round back to the
    same weight and the model barely moves. LoRA trains fp32 adapters over a frozen base, which may stay bf16.
    """
    import torch

    return _dtype() if config is not None and getattr(config, "lora", False) else torch.float32


def load_model(path: str, cls=None, **kw):
    """from_pretrained, minus a stale GGUF `quantization_config` in a folder of plain safetensors weights.

    (A folder converted from GGUF can keep that entry; transformers then treats the model as
    quantized and refuses to train it, although its weights are ordinary float tensors.)
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    cls = cls or AutoModelForCausalLM
    cfg = AutoConfig.from_pretrained(path, **({"num_labels": kw.pop("num_labels")} if "num_labels" in kw else {}))
    q = getattr(cfg, "quantization_config", None)
    method = q.get("quant_method") if isinstance(q, dict) else getattr(q, "quant_method", None)
    if method == "gguf" and Path(path).is_dir() and any(Path(path).glob("*.safetensors")):
        delattr(cfg, "quantization_config")
    return cls.from_pretrained(path, config=cfg, **kw)


def _lora_config(config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=2 * config.lora_r, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")


def train(store: RunStore, config: TrainConfig, stop_event: threading.Event | None = None, resume: bool = False,
          reward_fn: Callable | None = None, selection_id: int | None = None,
          variant: str | None = None) -> TrainReport:
    """Train the run's student on a selection (default: the latest); returns when done or stopped.

    stop_event: set it (or send SIGTERM) to save a checkpoint and return early.
    resume: continue from the newest complete checkpoint in <run>/checkpoints/selection-<id>.
    reward_fn: the reward to use instead of `scoring.make_reward(task)` (tests).
    variant: a name for this training run in the Train tab's legend (e.g. an experiment's variant).
    """
    t0 = time.time()
    plan = prepare(store, config, selection_id)
    out_dir = checkpoints_dir(store, plan.selection_id)
    resume_from = latest_checkpoint(out_dir) if resume else None
    train_run = None
    if plan.is_main:
        _make_room(store, out_dir, resume_from)
        out_dir.mkdir(parents=True, exist_ok=True)
        # a resume continues the training run that wrote the checkpoint; anything else starts a new one
        train_run = store.start_training_run(plan.selection_id, config.algo, str(out_dir), config.to_dict(),
                                             variant=variant, resume=resume_from is not None)
        # the name as given ("bundled" stays a name): a run copied to another machine finds its own copy
        store.set_config("base_model", base_model(store, config.model))
        store.set_config("train_heldout_ids", [s.id for s in plan.heldout])
        store.set_config("train_selection", plan.selection_id)
        if plan.left_out_rejected:
            store.log("train", f"left out {plan.left_out_rejected} samples of selection {plan.selection_id} that "
                               "were rejected after it was made", "warning")
        if resume and resume_from is None:
            store.log("train", "--resume: no complete checkpoint yet, starting from the base model", "warning")
        if plan.skipped_too_long:
            store.log("train", f"left out {plan.skipped_too_long} selected samples whose prompt is longer than "
                               f"max_prompt_length={config.max_prompt_length}", "warning")
        store.log("train", f"{config.algo} on selection {plan.selection_id}: {len(plan.train)} training prompts, "
                           f"{len(plan.heldout)} held out, "
                           f"student {plan.model_path}, {plan.world_size} process(es)"
                           + (f", resuming from {resume_from.name}" if resume_from else ""))
    recorder = RewardRecorder(plan.task, reward_fn)
    stop = stop_event or threading.Event()

    # SIGTERM (the UI's Stop, or the launcher forwarding it) -> checkpoint and return.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        if config.algo == "grpo":
            trainer, callback = _grpo_trainer(store, config, plan, recorder, stop, out_dir)
            callback.train_run = train_run
            try:
                trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
            except _StopRequested:
                pass
            policy = trainer.model
        else:
            trainer, callback = _ppo_trainer(store, config, plan, recorder, stop, out_dir, resume_from)
            callback.train_run = train_run
            try:
                trainer.train()
            except _StopRequested:
                pass
            policy = trainer.model.policy if hasattr(trainer.model, "policy") else trainer.model
    except Exception as e:
        if plan.is_main:
            if train_run is not None:
                store.update_training_run(train_run, state="failed")
            p = store.progress("train") or {}
            store.set_progress("train", p.get("done") or 0, p.get("total") or 0, "failed", str(e)[:500])
            store.log("train", f"{config.algo} training failed: {type(e).__name__}: {e}", "error")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

    step = trainer.state.global_step
    max_steps = trainer.state.max_steps
    final = None
    if not callback.stopped:
        final = _save_final(trainer, policy, plan, config, out_dir / FINAL_DIR)
    ck = latest_checkpoint(out_dir)
    if plan.is_main:
        if final:
            store.set_config("latest_model", str(final))
            store.add_trained_model(str(final), plan.selection_id, algo=config.algo, steps=step)
        state = "stopped" if callback.stopped else "done"
        store.update_training_run(train_run, state=state, steps=step, final_model=str(final) if final else None)
        if recorder.generated_tokens:
            store.add_throughput("train", "student", "trl-" + config.algo, plan.model_path, recorder.calls,
                                 recorder.prompt_tokens, recorder.generated_tokens, time.time() - t0)
        store.set_progress("train", step, max_steps, state,
                           f"stopped at step {step}; resume with --resume" if callback.stopped else "finished")
        store.log("train", f"{config.algo} {state} at step {step}/{max_steps}"
                  + (f"; final model {final}" if final else f"; checkpoint {ck}"))
    return TrainReport(
        algo=config.algo, steps=step, max_steps=max_steps, stopped=callback.stopped,
        resumed_from=str(resume_from) if resume_from else None, final_model=str(final) if final else None,
        checkpoint=str(ck) if ck else None, train_samples=len(plan.train), heldout_samples=len(plan.heldout),
        skipped_too_long=plan.skipped_too_long, last_metrics=dict(callback.last_metrics),
        heldout_accuracy=callback.heldout_accuracy, seconds=time.time() - t0, callback_seconds=callback.seconds,
        generated_tokens=recorder.generated_tokens, selection_id=plan.selection_id,
        left_out_rejected=plan.left_out_rejected, train_run=train_run,
    )


def _make_room(store: RunStore, out_dir: Path, resume_from: Path | None) -> None:
    """Keep "one value per step" and "newest checkpoint" true across trainings of one run.

    Resuming: metrics and rollouts logged after the checkpoint's step (a run killed later)
    are dropped; those steps run again. A fresh start in a run that already trained: the old
    checkpoints move to checkpoints/previous-<time>/ and the old metrics/rollouts get that tag,
    so nothing is lost and nothing is mixed up with the new training.
    """
    if resume_from is not None:
        step = _checkpoint_step(resume_from)
        store.drop_training_after(step, str(out_dir))  # those steps run again in the same training run
        return
    old = [p for p in out_dir.iterdir() if CHECKPOINT_RE.match(p.name) or p.name == FINAL_DIR] \
        if out_dir.is_dir() else []
    had_metrics = store.has_current_training_metrics()
    if not old and not had_metrics:
        return
    tag = "previous-" + time.strftime("%Y%m%d-%H%M%S")
    if old:
        dest = out_dir / tag
        dest.mkdir(parents=True, exist_ok=True)
        for p in old:
            p.rename(dest / p.name)
        latest = store.get_config("latest_model")
        if latest and Path(latest).parent == out_dir:
            store.set_config("latest_model", str(dest / Path(latest).name))
        # the recorded models follow their folders
        moved = {str(out_dir / p.name): str(dest / p.name) for p in old}
        models = store.trained_models()
        if any(m.get("path") in moved for m in models):
            store.set_config("trained_models", [{**m, "path": moved.get(m.get("path"), m.get("path"))}
                                                for m in models])
    store.tag_current_training(tag)
    store.log("train", f"a new training starts: the previous one's checkpoints and metrics are kept as {tag}")


def _heldout_fn(plan: _Plan, config: TrainConfig):
    if not plan.heldout:
        return None
    tok = plan.tokenizer
    return lambda model: greedy_accuracy(model, tok, plan.task, plan.heldout, config.max_completion_length)


REPORT_TO = ("tensorboard", "trackio", "wandb")


def _vllm_stop_kwargs(task, config: TrainConfig) -> dict | None:
    """TRL's vLLM generation: stop strings where the answer format has one (the closing tag)."""
    if not (config.use_vllm and config.stop_at_answer):
        return None
    strings = AnswerStop.for_task(task).strings
    return {"stop": list(strings), "include_stop_str_in_output": True} if strings else None


def stop_rollouts_at_answer(model, tokenizer, answer_stop: AnswerStop) -> None:
    """Make `model.generate` (as TRL's trainers call it) end each row once its answer is complete.

    The rows that stopped early get an end-of-sequence token where they stopped, so the trainer masks
    what follows exactly as after a natural end.
    """
    from ..backends.transformers_backend import _answer_stopping

    inner = model.generate
    eos = tokenizer.eos_token_id

    def generate(*args, **kwargs):
        from transformers import StoppingCriteriaList

        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None or eos is None:
            return inner(*args, **kwargs)
        width = ids.shape[1]
        crit = _answer_stopping(answer_stop, tokenizer, prompt_len=width)
        kwargs["stopping_criteria"] = StoppingCriteriaList([*(kwargs.get("stopping_criteria") or []), crit])
        out = inner(*args, **kwargs)
        seqs = out if hasattr(out, "shape") else out.sequences
        for row, n in crit.stopped_at.items():
            if width + n < seqs.shape[1]:
                seqs[row, width + n] = eos
        return out

    model.generate = generate


def _grpo_trainer(store, config, plan, recorder, stop, out_dir):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    ds = Dataset.from_list([{"prompt": student_messages(plan.task, s.question), "answer": _reference(s),
                             "question": s.question} for s in plan.train])
    dev = _device_kwargs()
    args = GRPOConfig(
        output_dir=str(out_dir), learning_rate=config.learning_rate, num_generations=config.num_generations,
        temperature=config.temperature, top_p=config.top_p, beta=config.beta,
        max_completion_length=config.max_completion_length, num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1, per_device_train_batch_size=config.per_device_batch,
        gradient_accumulation_steps=config.grad_accum, seed=config.seed, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=3, logging_steps=1, report_to=config.trackers() or "none",
        use_vllm=config.use_vllm, vllm_mode=config.vllm_mode, log_completions=False,
        generation_kwargs=_vllm_stop_kwargs(plan.task, config),
        model_init_kwargs={"dtype": _dtype()}, disable_tqdm=not plan.is_main, **dev,
    )
    StoreCallback = _store_callback_class()
    callback = StoreCallback(store if plan.is_main else None, "grpo", recorder, stop, _heldout_fn(plan, config),
                             config.eval_every if plan.heldout else 0)
    model = load_model(plan.model_path, dtype=_trained_dtype(config))
    if config.stop_at_answer and not config.use_vllm:
        stop_rollouts_at_answer(model, plan.tokenizer, AnswerStop.for_task(plan.task))
    trainer = GRPOTrainer(
        model=model, reward_funcs=[recorder], args=args, train_dataset=ds,
        processing_class=plan.tokenizer, callbacks=[callback],
        peft_config=_lora_config(config) if config.lora else None,
    )
    return trainer, callback


def _ppo_pad_token(tokenizer) -> bool:
    """PPO masks every pad-token id as padding, so pad must differ from eos (which prompts contain)."""
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return False
    vocab = tokenizer.get_vocab()
    for cand in ("<|endoftext|>", "<pad>", "[PAD]", "<|pad|>"):
        if cand in vocab and vocab[cand] != tokenizer.eos_token_id:
            tokenizer.pad_token = cand
            return False
    tokenizer.add_special_tokens({"pad_token": "[PAD]"})
    return True  # the embeddings must grow


def _ppo_trainer(store, config, plan, recorder, stop, out_dir, resume_from: Path | None):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    tok = plan.tokenizer
    grew = _ppo_pad_token(tok)
    tok.padding_side = "left"
    dtype = _dtype()
    policy_path = str(resume_from) if resume_from else plan.model_path
    policy = load_model(policy_path, dtype=_trained_dtype())
    ref = load_model(plan.model_path, dtype=dtype)
    value_path = resume_from / "value_model" if resume_from and (resume_from / "value_model").exists() \
        else plan.model_path
    value = load_model(str(value_path), AutoModelForSequenceClassification, num_labels=1, dtype=_trained_dtype())
    if grew:
        for m in (policy, ref, value):
            m.resize_token_embeddings(len(tok))
    for m in (policy, ref, value):
        m.config.pad_token_id = tok.pad_token_id
    if config.stop_at_answer:
        stop_rollouts_at_answer(policy, tok, AnswerStop.for_task(plan.task))

    def encode(s: Sample) -> list[int]:
        ids = tok.apply_chat_template(student_messages(plan.task, s.question), add_generation_prompt=True,
                                      tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    prompt_refs = {}
    rows = []
    for s in plan.train:
        ids = encode(s)
        prompt_refs[tuple(ids)] = (_reference(s), s.question)
        rows.extend([ids] * config.num_generations)  # each prompt is rolled out num_generations times per epoch
    train_ds = Dataset.from_dict({"input_ids": rows})
    eval_ds = Dataset.from_dict({"input_ids": rows[:1]})
    reward_model = checker_reward_model(tok, prompt_refs, recorder)

    world = plan.world_size
    batch = config.per_device_batch * config.grad_accum * world
    total = config.max_steps or math.ceil(config.epochs * len(rows) / batch)
    offset = _checkpoint_step(resume_from) if resume_from else 0
    remaining = max(total - offset, 0)
    args = PPOConfig(
        output_dir=str(out_dir), learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_batch, gradient_accumulation_steps=config.grad_accum,
        total_episodes=max(remaining, 1) * batch, response_length=config.max_completion_length,
        temperature=config.temperature, kl_coef=config.beta, stop_token="eos", missing_eos_penalty=None,
        num_sample_generations=0, local_rollout_forward_batch_size=config.per_device_batch * config.grad_accum,
        num_ppo_epochs=config.ppo_epochs, seed=config.seed + offset, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=3, logging_steps=1, report_to="none",
        disable_tqdm=not plan.is_main, **_device_kwargs(),
    )
    StoreCallback = _store_callback_class()
    callback = StoreCallback(store if plan.is_main else None, "ppo", recorder, stop, _heldout_fn(plan, config),
                             config.eval_every if plan.heldout else 0, step_offset=offset, max_steps_total=total)
    value_saver = _value_saver_class()(tok)
    trainer = PPOTrainer(
        args=args, processing_class=tok, model=policy, ref_model=ref, reward_model=reward_model,
        train_dataset=train_ds, value_model=value, eval_dataset=eval_ds, callbacks=[value_saver, callback],
        peft_config=_lora_config(config) if config.lora else None,
    )
    value_saver.trainer = trainer
    if resume_from is not None and (resume_from / "optimizer.pt").exists():
        try:
            trainer.optimizer.load_state_dict(torch.load(resume_from / "optimizer.pt", map_location="cpu",
                                                         weights_only=True))
        except (RuntimeError, ValueError, KeyError) as e:
            if plan.is_main:
                store.log("train", f"could not restore the PPO optimizer state ({e}); continuing without it",
                          "warning")
    if remaining == 0:
        raise TrainError(f"nothing left to train: the newest checkpoint is at step {offset} of {total}")
    return trainer, callback


def _value_saver_class():
    from transformers import TrainerCallback

    class ValueSaver(TrainerCallback):
        """TRL's PPO checkpoints only the policy; keep the value model (and tokenizer) beside it to resume."""

        def __init__(self, tokenizer):
            self.tokenizer = tokenizer
            self.trainer = None

        def on_save(self, args, state, control, **kw):
            if self.trainer is None or not state.is_world_process_zero:
                return
            d = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            value = self.trainer.accelerator.unwrap_model(self.trainer.model).value_model
            value.save_pretrained(str(d / "value_model"))
            self.tokenizer.save_pretrained(str(d))

    return ValueSaver


def _checkpoint_step(path: Path) -> int:
    m = CHECKPOINT_RE.match(path.name)
    return int(m.group(1)) if m else 0


def _save_final(trainer, policy, plan: _Plan, config: TrainConfig, final: Path) -> Path:
    """The trained model (LoRA merged) with its tokenizer, written atomically-ish via a temp folder."""
    tmp = final.with_name(final.name + ".tmp")
    if plan.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
    model = trainer.accelerator.unwrap_model(policy)
    if config.lora and hasattr(model, "merge_and_unload"):
        if plan.is_main:
            model.merge_and_unload().save_pretrained(str(tmp), safe_serialization=True)
    else:
        # handles ZeRO-3 gathering and writes on the main process; TRL's PPO saves the policy only
        trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if plan.is_main:
        plan.tokenizer.save_pretrained(str(tmp))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    trainer.accelerator.wait_for_everyone()
    return final
