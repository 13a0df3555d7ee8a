"""A causal LM loaded offline by path or cached hub name, and its chat prompt: what the style
rewriter and the safety judge's helper LLM share.

The chat template of the tokenizer is used when it has one, a plain "System/User/Assistant"
layout otherwise (small test models ship none).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


@dataclass
class CausalLM:
    model: Any
    tokenizer: Any
    name: str

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def causal_lm_load(
    name_or_path: str | os.PathLike[str],
    *,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    name: str | None = None,
) -> CausalLM:
    """Load a causal LM and its tokenizer offline; left padding for batched generation."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(name_or_path), local_files_only=True, torch_dtype=dtype
        )
    except OSError as exc:
        raise ValueError(f"cannot load causal LM {str(name_or_path)!r} offline: {exc}") from exc
    return causal_lm_wrap(model, tokenizer, name=name or str(name_or_path), device=device)


def causal_lm_wrap(model: Any, tokenizer: Any, *, name: str, device: str | None = None) -> CausalLM:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "left"
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.eval().to(device)
    return CausalLM(model=model, tokenizer=tokenizer, name=name)


def chat_prompt(
    lm: CausalLM, system: str, user: str, history: Sequence[tuple[str, str]] = ()
) -> str:
    """The text that makes the model answer ``user`` as the assistant (generation prompt);
    ``history`` is earlier (user, assistant) turns, e.g. worked examples."""
    messages = [{"role": "system", "content": system}]
    for asked, answered in history:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    messages.append({"role": "user", "content": user})
    if getattr(lm.tokenizer, "chat_template", None):
        return lm.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    earlier = "".join(f"User: {a}\nAssistant: {b}\n" for a, b in history)
    return f"System: {system}\n{earlier}User: {user}\nAssistant: "
