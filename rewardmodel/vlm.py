"""Vision-language (and text-only) reward models: a checkpoint with a scalar value head.

Any image-text-to-text checkpoint (``AutoModelForImageTextToText`` + ``AutoProcessor``: LLaVA,
LLaVA-NeXT, Qwen2-VL/2.5-VL, Idefics3/SmolVLM, ...) or causal LM (``AutoModelForCausalLM`` +
its tokenizer), by hub name (from the local cache) or local path. A sample is rendered with
the checkpoint's own chat template; the reward is a ``Linear(hidden, 1)`` read at the last
non-padding token of the backbone's final hidden state (the LM head is never run).

Training (as TRL's reward trainer or OpenRLHF would): LoRA (``peft``) on the language model's
attention and MLP projections, the vision tower frozen, the projector optionally trained;
Bradley-Terry + margin + centering (the head recipe's loss); bf16 weights with fp32 adapters
under autocast on CUDA; gradient checkpointing; SDPA attention, flash-attention 2 when it is
installed. It runs through the one training loop (``rewardmodel.training.training_loop``): a
checkpoint holds the adapter, head and projector only, resume is bit-identical, cancel and
progress as for the head recipe. Under ``torchrun`` (or ``accelerate launch``) with several
processes, each takes its share of every global batch and gradients are averaged: data
parallel, the same updates as one process with the same global batch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rewardmodel.configs import VLMTrainConfig
from rewardmodel.losses import bradley_terry_loss

ARTIFACT_KIND = "vlm"
LANGUAGE_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Family:
    """Where a family keeps its vision tower and projector (names inside the base model)."""

    vision: tuple[str, ...]
    projector: tuple[str, ...]


FAMILIES: dict[str, Family] = {
    "llava": Family(("vision_tower",), ("multi_modal_projector",)),
    "llava_next": Family(("vision_tower",), ("multi_modal_projector",)),
    "qwen2_vl": Family(("visual",), ("visual.merger",)),
    "qwen2_5_vl": Family(("visual",), ("visual.merger",)),
    "idefics3": Family(("vision_model",), ("connector",)),
    "smolvlm": Family(("vision_model",), ("connector",)),
}
# Anything else: the usual names (a text-only model has none of them).
GENERIC = Family(("vision_tower", "visual", "vision_model"), ("multi_modal_projector", "connector"))


@dataclass(frozen=True)
class Sample:
    """One conversation to score: (role, text) turns, roles "user"/"assistant"; the image (a
    PIL image or a file path) belongs to the first user turn."""

    turns: tuple[tuple[str, str], ...]
    image: Any = None


@dataclass(frozen=True)
class Pair:
    chosen: int  # indices into the samples
    rejected: int
    margin: float = 0.0


def attention_implementation() -> str:
    """flash-attention 2 on CUDA when installed, else PyTorch's SDPA."""
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def backbone_revision(name_or_path: str | os.PathLike[str]) -> str:
    """What identifies the backbone's weights: the hub commit of a cached checkpoint, else a
    digest of a local directory's config and weight files (names, sizes, first MiB)."""
    path = Path(name_or_path)
    if not path.is_dir():
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(name_or_path), local_files_only=True)
        commit = getattr(config, "_commit_hash", None)
        if commit:
            return str(commit)
        raise ValueError(f"cannot tell the revision of {name_or_path!r}")
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.name == "config.json" or file.suffix in (".safetensors", ".bin"):
            digest.update(f"{file.name}:{file.stat().st_size}\n".encode())
            with file.open("rb") as handle:
                digest.update(handle.read(1 << 20))
    return "sha256:" + digest.hexdigest()[:16]


def is_vision_config(config: Any) -> bool:
    return hasattr(config, "vision_config") and config.vision_config is not None


class VLMRewardModel(nn.Module):
    """The backbone's base model (vision tower, projector, language model; no LM head) and a
    scalar value head at the last non-padding token."""

    def __init__(self, base: nn.Module, config: Any, processor: Any, *, vision: bool) -> None:
        super().__init__()
        self.backbone = base
        self.config = config
        self.processor = processor
        self.vision = vision
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden = int(text_config.hidden_size)
        self.value_head = nn.Linear(hidden, 1)
        nn.init.normal_(self.value_head.weight, std=1.0 / (hidden + 1) ** 0.5)
        nn.init.zeros_(self.value_head.bias)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    def hidden_at_last_token(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        attention_mask = inputs["attention_mask"]
        out = self.backbone(**inputs, use_cache=False)
        hidden = out.last_hidden_state
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask.long() * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        final = self.hidden_at_last_token(inputs)
        return self.value_head(final.to(self.value_head.weight.dtype)).squeeze(-1)

    # -- what training changes: adapter, head, projector -------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k in names}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        own = dict(self.named_parameters())
        unknown = sorted(set(state) - set(own))
        if unknown:
            raise ValueError(f"state holds parameters this model lacks: {unknown[:5]}")
        with torch.no_grad():
            for name, value in state.items():
                own[name].copy_(value.to(own[name].device, own[name].dtype))


class TrainableView:
    """What the training loop sees of a VLM reward model: train/eval, and a state dict of the
    trainable parameters only (a checkpoint is the adapter + head, not the backbone)."""

    def __init__(self, model: VLMRewardModel) -> None:
        self.model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.trainable_state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_trainable_state_dict(state)

    def train(self) -> None:
        self.model.train()

    def eval(self) -> None:
        self.model.eval()


def vlm_reward_model_load(
    name_or_path: str | os.PathLike[str],
    *,
    config: VLMTrainConfig | None = None,
    device: str | torch.device | None = None,
    lora: bool = True,
) -> VLMRewardModel:
    """A reward model on ``name_or_path`` (offline: a local path or the hub cache), LoRA
    applied (``lora=False``: head only, e.g. to load an artifact's state into)."""
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoTokenizer,
    )

    from rewardmodel.vlm_processors import processor_load, torchvision_check

    torchvision_check()
    config = config or VLMTrainConfig()
    target = torch.device(device) if device is not None else _default_device()
    name = str(name_or_path)
    try:
        hf_config = AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load checkpoint {name!r} offline: {exc}") from exc
    vision = is_vision_config(hf_config)
    bf16 = config.bf16 and target.type == "cuda"
    kwargs = {
        "local_files_only": True,
        "attn_implementation": attention_implementation(),
        "dtype": torch.bfloat16 if bf16 else torch.float32,
    }
    try:
        if vision:
            full = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
            processor = processor_load(name, hf_config)
        else:
            full = AutoModelForCausalLM.from_pretrained(name, **kwargs)
            processor = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load checkpoint {name!r} offline: {exc}") from exc
    family = FAMILIES.get(str(getattr(hf_config, "model_type", "")), GENERIC)
    return vlm_reward_model_wrap(full, processor, config=config, device=target, lora=lora,
                                 family=family, vision=vision)  # fmt: skip


def vlm_reward_model_wrap(
    full: nn.Module,
    processor: Any,
    *,
    config: VLMTrainConfig,
    device: torch.device,
    lora: bool = True,
    family: Family | None = None,
    vision: bool | None = None,
) -> VLMRewardModel:
    """A reward model around a model already in memory (``*ForConditionalGeneration`` or
    ``*ForCausalLM``) and its processor or tokenizer: what ``vlm_reward_model_load`` does
    after loading (benchmarks build random-init models this way, without a checkpoint)."""
    if family is None:
        family = FAMILIES.get(str(getattr(full.config, "model_type", "")), GENERIC)
    if vision is None:
        vision = is_vision_config(full.config)
    target = device
    tokenizer = getattr(processor, "tokenizer", processor)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    # the reward is read at the last real token whatever the side; right padding keeps the
    # positions of a padded sequence the same as alone
    tokenizer.padding_side = "right"
    base = full.base_model
    if config.gradient_checkpointing:
        # non-reentrant: works with frozen inputs (no need to make embeddings require grad)
        kwargs_ = {"use_reentrant": False}
        if hasattr(full, "activation_checkpointing_enable"):  # transformers >= 5.2x
            full.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs_)
        else:
            full.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs_)
    torch.manual_seed(config.seed)  # the head's and the adapter's init follow the seed
    model = VLMRewardModel(base, full.config, processor, vision=vision)
    del full  # the LM head is not needed (it may share the embedding's storage: kept alive)
    for parameter in model.backbone.parameters():
        parameter.requires_grad_(False)
    if lora:
        _inject_lora(model.backbone, config, family)
    if config.train_projector:
        for name_, module in model.backbone.named_modules():
            if name_ in family.projector:
                for parameter in module.parameters():
                    parameter.requires_grad_(True)
    model.to(target)
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()  # fp32 adapters and head under autocast
    return model


def _inject_lora(base: nn.Module, config: VLMTrainConfig, family: Family) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    vision = "|".join(re.escape(v) for v in family.vision)
    targets = "|".join(LANGUAGE_TARGETS)
    # the language model's projections, never the vision tower's (CLIP also has q_proj, ...)
    pattern = rf"^(?!(?:{vision})\.).*\.(?:{targets})$" if vision else rf".*\.(?:{targets})$"
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=pattern,
    )
    inject_adapter_in_model(lora, base)
    found = [n for n, p in base.named_parameters() if "lora_" in n]
    if not found:
        raise ValueError("no language-model projection matched the LoRA targets")
    for name, parameter in base.named_parameters():
        if "lora_" in name:
            parameter.requires_grad_(True)


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# -- inputs ------------------------------------------------------------------------------------
def _messages(sample: Sample, vision: bool) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    image_pending = vision and sample.image is not None
    for role, text in sample.turns:
        content: list[dict[str, Any]] = []
        if image_pending and role == "user":
            content.append({"type": "image"})
            image_pending = False
        content.append({"type": "text", "text": text})
        messages.append({"role": role, "content": content})
    if image_pending:  # no user turn: the image opens the conversation
        messages.insert(0, {"role": "user", "content": [{"type": "image"}]})
    return messages


def sample_text(model: VLMRewardModel, sample: Sample) -> str:
    """The sample rendered with the checkpoint's chat template (a plain transcript when it
    has none)."""
    processor = model.processor
    messages = _messages(sample, model.vision)
    if getattr(processor, "chat_template", None) or getattr(model.tokenizer, "chat_template", None):
        if not model.vision:  # a tokenizer's template takes plain string contents
            messages = [
                {"role": m["role"], "content": " ".join(c["text"] for c in m["content"])}
                for m in messages
            ]
        return processor.apply_chat_template(messages, tokenize=False)
    return "\n".join(f"{role}: {text}" for role, text in sample.turns)


def _image(value: Any) -> Any:
    from PIL import Image

    if isinstance(value, str | os.PathLike):
        with Image.open(value) as image:
            return image.convert("RGB")
    return value.convert("RGB") if getattr(value, "mode", "RGB") != "RGB" else value


def collate(
    model: VLMRewardModel, samples: Sequence[Sample], *, max_length: int
) -> dict[str, torch.Tensor]:
    """Model inputs for ``samples`` (padded; right-truncated to ``max_length`` tokens, which
    keeps the image, always in the first user turn)."""
    texts = [sample_text(model, s) for s in samples]
    if not model.vision:
        return dict(model.processor(texts, padding=True, truncation=True,
                                    max_length=max_length, return_tensors="pt",
                                    add_special_tokens=False))  # fmt: skip
    images = [_image(s.image) for s in samples if s.image is not None]
    kwargs = {"text": texts, "images": images or None, "padding": True, "return_tensors": "pt"}
    try:
        encoded = model.processor(**kwargs, truncation=True, max_length=max_length)
    except (ValueError, TypeError) as exc:
        # Truncation that cuts an image's tokens fails inside the processor (a token-count
        # mismatch; Idefics3 a TypeError): say which setting to change.
        longest = int(model.processor(**kwargs)["attention_mask"].sum(dim=1).max())
        if longest <= max_length:
            raise
        raise ValueError(
            f"a sample takes {longest} tokens with its image, more than max_length={max_length}"
            " and truncating would cut the image's tokens: raise max_length (LLaVA-NeXT's "
            "anyres images take up to ~2,900 tokens, Qwen2-VL's up to max_pixels / 784)"
        ) from exc
    encoded.pop("token_type_ids", None)
    return dict(encoded)


def samples_over_length(
    model: Any, samples: Sequence[Sample], *, max_length: int, batch_size: int = 16
) -> list[int]:
    """Indices of the samples longer than ``max_length`` tokens with their image: training
    and scoring cut their ends, so their rewards never see the last turns. ``model`` needs
    only ``processor``, ``tokenizer`` and ``vision`` (a loaded reward model has them)."""
    over: list[int] = []
    for start in range(0, len(samples), batch_size):
        part = samples[start : start + batch_size]
        texts = [sample_text(model, s) for s in part]
        if model.vision:
            images = [_image(s.image) for s in part if s.image is not None]
            encoded = model.processor(text=texts, images=images or None, padding=True,
                                      return_tensors="pt")  # fmt: skip
        else:
            encoded = model.processor(texts, padding=True, return_tensors="pt",
                                      add_special_tokens=False)  # fmt: skip
        lengths = encoded["attention_mask"].sum(dim=1).tolist()
        over += [start + k for k, n in enumerate(lengths) if n > max_length]
    return over


def _to(inputs: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype):
    out = {}
    for key, value in inputs.items():
        value = value.to(device)
        out[key] = value.to(dtype) if value.is_floating_point() else value
    return out


def _device_dtype(model: VLMRewardModel) -> tuple[torch.device, torch.dtype]:
    weight = next(model.backbone.parameters())
    return weight.device, weight.dtype


def rewards_of(
    model: VLMRewardModel, samples: Sequence[Sample], *, max_length: int, bf16: bool = True
) -> torch.Tensor:
    """Rewards of ``samples`` in one forward pass (autocast bf16 on CUDA), float32."""
    device, dtype = _device_dtype(model)
    inputs = _to(collate(model, samples, max_length=max_length), device, dtype)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
        return model(inputs).float()


# -- distributed -------------------------------------------------------------------------------
def _world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce_mean(tensors: Sequence[torch.Tensor]) -> None:
    import torch.distributed as dist

    rank, world = _world()
    if world == 1:
        return
    for tensor in tensors:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(world)


# -- training ----------------------------------------------------------------------------------
class VLMPairsProblem:
    """Pairs of samples as the training loop's problem: each step draws a global batch of
    pairs (its own generator, saved in checkpoints), runs it in micro-batches (backward per
    micro-batch: activations of one micro-batch at a time) and, under data parallelism, on
    this process's share, averaging gradients across processes."""

    def __init__(
        self,
        model: VLMRewardModel,
        samples: Sequence[Sample],
        train: Sequence[Pair],
        held_out: Sequence[Pair],
        config: VLMTrainConfig,
    ) -> None:
        if not train:
            raise ValueError("no pairs to train on")
        self.model, self.samples, self.config = model, samples, config
        self.train_pairs, self.eval_pairs = list(train), list(held_out)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.order = torch.randperm(len(self.train_pairs), generator=self.generator)
        self.cursor = 0
        self.rank, self.world = _world()
        if config.batch_size % (config.micro_batch_size * self.world):
            raise ValueError(
                f"batch_size ({config.batch_size}) must be a multiple of micro_batch_size x "
                f"processes ({config.micro_batch_size} x {self.world})"
            )

    def _draw(self) -> list[Pair]:
        size = self.config.batch_size
        out: list[Pair] = []
        while len(out) < size:
            if self.cursor >= len(self.order):
                self.order = torch.randperm(len(self.train_pairs), generator=self.generator)
                self.cursor = 0
            take = min(size - len(out), len(self.order) - self.cursor)
            out += [self.train_pairs[int(i)] for i in self.order[self.cursor : self.cursor + take]]
            self.cursor += take
        return out

    def step_loss(self, step: int) -> torch.Tensor:
        batch = self._draw()
        share = len(batch) // self.world
        mine = batch[self.rank * share : (self.rank + 1) * share]
        micro = self.config.micro_batch_size
        total = torch.zeros(())
        for start in range(0, len(mine), micro):
            part = mine[start : start + micro]
            samples = [self.samples[p.chosen] for p in part] + [
                self.samples[p.rejected] for p in part
            ]
            rewards = rewards_of(self.model, samples, max_length=self.config.max_length,
                                 bf16=self.config.bf16)  # fmt: skip
            margin = torch.tensor([p.margin * self.config.margin_scale for p in part],
                                  device=rewards.device)  # fmt: skip
            n = len(part)
            loss = bradley_terry_loss(rewards[:n], rewards[n:], margin, self.config.center_coef)
            (loss * (n / len(mine))).backward()
            total += loss.detach().cpu() * (n / len(mine))
        _all_reduce_mean(
            [p.grad for p in self.model.parameters() if p.requires_grad and p.grad is not None]
        )
        _all_reduce_mean([total])
        return total  # the gradients are in place: the loop does not backward a detached loss

    def validate(self) -> float | None:
        if not self.eval_pairs:
            return None
        scores = score_samples(
            self.model,
            self.samples,
            indices=sorted({i for p in self.eval_pairs for i in (p.chosen, p.rejected)}),
            batch_size=self.config.micro_batch_size * 2,
            max_length=self.config.max_length,
            bf16=self.config.bf16,
        )
        right = sum(scores[p.chosen] > scores[p.rejected] for p in self.eval_pairs)
        return right / len(self.eval_pairs)

    def sampler_state(self) -> dict[str, Any]:
        return {
            "sampler_generator": self.generator.get_state(),
            "sampler_order": self.order.clone(),
            "sampler_cursor": self.cursor,
        }

    def load_sampler_state(self, checkpoint: dict[str, Any]) -> None:
        self.generator.set_state(checkpoint["sampler_generator"])
        self.order = checkpoint["sampler_order"].clone()
        self.cursor = int(checkpoint["sampler_cursor"])


@dataclass
class VLMTrainResult:
    steps: int
    cancelled: bool
    best_step: int
    history: list[dict[str, float]] = field(default_factory=list)
    eval_accuracy: float | None = None


def vlm_train(
    model: VLMRewardModel,
    samples: Sequence[Sample],
    train: Sequence[Pair],
    held_out: Sequence[Pair] = (),
    *,
    config: VLMTrainConfig | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: Callable[[int, int, float, float | None], bool | None] | None = None,
    log_every: int = 10,
    run_key: dict[str, Any] | None = None,
) -> VLMTrainResult:
    """Train the adapter, head (and projector) through the one training loop."""
    from rewardmodel.training import LoopSettings, training_loop

    config = config or VLMTrainConfig()
    torch.manual_seed(config.seed)
    problem = VLMPairsProblem(model, samples, train, held_out, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    settings = LoopSettings(
        total_steps=config.steps,
        eval_every=config.eval_every,
        log_every=log_every,
        checkpoint_every=config.checkpoint_every,
        patience=config.patience,
    )
    key = {
        "recipe": ARTIFACT_KIND,
        "config": json.dumps(config.__dict__, sort_keys=True, default=str),
        "pairs": _pairs_digest(train, held_out),
        **(run_key or {}),
    }
    outcome = training_loop(
        TrainableView(model),  # type: ignore[arg-type]
        optimizer,
        problem,
        settings,
        run_key=key,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    accuracy = next(
        (
            h["val_acc"]
            for h in outcome.history
            if h["step"] == outcome.best_step and "val_acc" in h
        ),
        None,
    )
    return VLMTrainResult(outcome.steps, outcome.cancelled, outcome.best_step,
                          outcome.history, accuracy)  # fmt: skip


def _pairs_digest(train: Sequence[Pair], held_out: Sequence[Pair]) -> str:
    digest = hashlib.sha256()
    for tag, pairs in (("t", train), ("e", held_out)):
        for p in pairs:
            digest.update(f"{tag}{p.chosen}>{p.rejected}:{p.margin}\n".encode())
    return digest.hexdigest()


# -- scoring -----------------------------------------------------------------------------------
@torch.no_grad()
def score_samples(
    model: VLMRewardModel,
    samples: Sequence[Sample],
    *,
    indices: Sequence[int] | None = None,
    batch_size: int = 16,
    max_length: int = 1024,
    bf16: bool = True,
) -> dict[int, float]:
    """Rewards of ``samples`` (those at ``indices``), batched by sequence length (similar
    lengths together: little padding), bf16 autocast on CUDA. Index -> reward."""
    chosen = list(range(len(samples)) if indices is None else indices)
    was_training = model.training
    model.eval()
    try:
        lengths = {i: len(sample_text(model, samples[i])) for i in chosen}
        ordered = sorted(chosen, key=lambda i: (lengths[i], i))
        out: dict[int, float] = {}
        for start in range(0, len(ordered), batch_size):
            part = ordered[start : start + batch_size]
            values = rewards_of(model, [samples[i] for i in part], max_length=max_length,
                                bf16=bf16)  # fmt: skip
            out.update(zip(part, values.cpu().tolist(), strict=True))
        return out
    finally:
        model.train(was_training)


# -- artifacts ---------------------------------------------------------------------------------
def vlm_state_save(
    directory: str | os.PathLike[str],
    model: VLMRewardModel,
    *,
    backbone: str,
    revision: str,
    config: VLMTrainConfig,
) -> None:
    """The trained part (adapter, head, projector) and what it needs to be rebuilt."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.trainable_state_dict().items()}
    save_file(state, str(directory / "adapter.safetensors"))
    meta = {
        "backbone": backbone,
        "backbone_revision": revision,
        "config": {k: v for k, v in config.__dict__.items()},
    }
    (directory / "vlm.json").write_text(json.dumps(meta, indent=2, sort_keys=True))


def vlm_state_load(
    directory: str | os.PathLike[str],
    *,
    backbone: str | None = None,
    device: str | torch.device | None = None,
) -> tuple[VLMRewardModel, VLMTrainConfig]:
    """Rebuild a saved VLM reward model on its backbone. Refuses a backbone whose name or
    revision differs from the one it was trained on (``backbone`` overrides the location, not
    the identity: the revision must still match)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    meta = json.loads((directory / "vlm.json").read_text())
    location = backbone or meta["backbone"]
    revision = backbone_revision(location)
    if revision != meta["backbone_revision"]:
        raise ValueError(
            f"backbone {location!r} has revision {revision}, but this reward model was trained "
            f"on {meta['backbone']!r} at revision {meta['backbone_revision']}"
        )
    config = VLMTrainConfig(**{**meta["config"], "gradient_checkpointing": False})
    model = vlm_reward_model_load(location, config=config, device=device)
    model.load_trainable_state_dict(load_file(str(directory / "adapter.safetensors")))
    model.eval()
    return model, config
