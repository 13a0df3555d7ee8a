"""What the rewriter asks of its causal LM (``rewardmodel.causal_lm``): the answer prefix,
batched generation, per-token likelihood and a two-letter choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rewardmodel.causal_lm import CausalLM


def chat_answer_prefix(lm: CausalLM, user: str) -> str:
    """The conversation up to the assistant's turn, for scoring an answer to ``user``."""
    messages = [{"role": "user", "content": user}]
    if getattr(lm.tokenizer, "chat_template", None):
        return lm.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
    return f"User: {user}\nAssistant: "


@torch.inference_mode()
def generate(
    lm: CausalLM,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float = 1.0,
    seed: int = 0,
    max_prompt_tokens: int = 1024,
) -> list[str]:
    """One completion per prompt, batched (left padded). Temperature 0 is greedy.

    The generator is seeded with ``seed`` before the batch, so the same batch with the same
    settings gives the same texts (greedy decoding does not depend on the seed at all).
    """
    if not prompts:
        return []
    tok = lm.tokenizer
    encoded = tok(
        list(prompts),
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=max_prompt_tokens,
        add_special_tokens=False,
    ).to(lm.device)
    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": tok.pad_token_id}
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    out = lm.model.generate(
        input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], **kwargs
    )
    new = out[:, encoded["input_ids"].shape[1] :]
    return [text.strip() for text in tok.batch_decode(new, skip_special_tokens=True)]


@torch.inference_mode()
def answer_nll(
    lm: CausalLM,
    prefixes: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 16,
    max_tokens: int = 1024,
) -> list[float]:
    """Mean negative log-likelihood per answer token of each answer after its prefix.

    Only the answer's tokens count; the prefix (the chat turn that asks) conditions them.
    An empty answer has no tokens and gets NaN.
    """
    if len(prefixes) != len(answers):
        raise ValueError("prefixes and answers differ in length")
    tok = lm.tokenizer
    eos = tok.eos_token or ""
    out: list[float] = []
    for start in range(0, len(answers), batch_size):
        rows: list[tuple[list[int], int]] = []
        for prefix, answer in zip(
            prefixes[start : start + batch_size], answers[start : start + batch_size], strict=True
        ):
            p_ids = tok(prefix, add_special_tokens=False)["input_ids"]
            a_ids = tok(answer + eos if answer else "", add_special_tokens=False)["input_ids"]
            ids = (p_ids + a_ids)[-max_tokens:]
            rows.append((ids, min(len(a_ids), len(ids) - 1)))
        width = max(len(ids) for ids, _ in rows)
        pad = tok.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (ids, _) in enumerate(rows):  # left padding, as for generation
            input_ids[r, width - len(ids) :] = torch.tensor(ids)
            mask[r, width - len(ids) :] = 1
        logits = lm.model(
            input_ids=input_ids.to(lm.device), attention_mask=mask.to(lm.device)
        ).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = input_ids[:, 1:].to(lm.device)
        token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1).cpu()
        for r, (_, n_answer) in enumerate(rows):
            if n_answer <= 0:
                out.append(float("nan"))
                continue
            out.append(float(-token_lp[r, width - 1 - n_answer :].mean()))
    return out


def _letter_ids(lm: CausalLM, letter: str) -> list[int]:
    """Token ids that start an answer ``letter`` (with and without a leading space)."""
    ids: set[int] = set()
    for variant in (letter, " " + letter):
        encoded = lm.tokenizer(variant, add_special_tokens=False)["input_ids"]
        if encoded:
            ids.add(int(encoded[0]))
    return sorted(ids)


@torch.inference_mode()
def choose_letter(
    lm: CausalLM, prompts: Sequence[str], *, batch_size: int = 8, max_tokens: int = 2048
) -> list[float]:
    """log P(A) - log P(B) of the model's next token after each prompt (> 0: it says A)."""
    a_ids, b_ids = _letter_ids(lm, "A"), _letter_ids(lm, "B")
    out: list[float] = []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        encoded = lm.tokenizer(
            batch, return_tensors="pt", padding=True, truncation=True,
            max_length=max_tokens, add_special_tokens=False,
        ).to(lm.device)  # fmt: skip
        logits = (
            lm.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
            .logits[:, -1]
            .float()
        )  # left padded: last is the next token
        logprobs = torch.log_softmax(logits, dim=-1)
        a = torch.logsumexp(logprobs[:, a_ids], dim=-1)
        b = torch.logsumexp(logprobs[:, b_ids], dim=-1)
        out.extend(float(x) for x in (a - b).cpu())
    return out
