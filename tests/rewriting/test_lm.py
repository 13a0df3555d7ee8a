import math

import pytest
import torch

from rewardmodel.causal_lm import chat_prompt
from rewriting.lm import answer_nll, chat_answer_prefix, choose_letter, generate


def test_chat_prompt_falls_back_to_a_plain_layout_without_a_template(tiny_lm):
    assert chat_prompt(tiny_lm, "system", "the cat") == "System: system\nUser: the cat\nAssistant: "


def test_greedy_generation_is_deterministic_and_batched(tiny_lm):
    prompts = ["user : the cat sat on the mat", "user : red dog"]
    first = generate(tiny_lm, prompts, max_new_tokens=6, temperature=0.0)
    again = generate(tiny_lm, prompts, max_new_tokens=6, temperature=0.0)
    assert first == again and len(first) == 2
    assert all(len(text.split()) <= 6 for text in first)


def test_sampling_follows_the_seed(tiny_lm):
    prompts = ["user : the cat"] * 4
    a = generate(tiny_lm, prompts, max_new_tokens=8, temperature=1.5, seed=1)
    b = generate(tiny_lm, prompts, max_new_tokens=8, temperature=1.5, seed=1)
    c = generate(tiny_lm, prompts, max_new_tokens=8, temperature=1.5, seed=2)
    assert a == b
    assert a != c  # 8 tokens over 24 words at temperature 1.5: a repeat is not chance


def test_answer_nll_counts_only_the_answer_and_ignores_padding(tiny_lm):
    prefix = chat_answer_prefix(tiny_lm, "the cat")
    answers = ["red cat on the mat", "dog"]
    batched = answer_nll(tiny_lm, [prefix, prefix], answers)
    alone = [answer_nll(tiny_lm, [prefix], [a])[0] for a in answers]
    assert batched == pytest.approx(alone, abs=1e-4)
    # by hand: mean -log p of the answer tokens (+ eos) after the prefix
    tok = tiny_lm.tokenizer
    p_ids = tok(prefix, add_special_tokens=False)["input_ids"]
    a_ids = tok("dog" + tok.eos_token, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p_ids + a_ids])
    with torch.no_grad():
        lp = torch.log_softmax(tiny_lm.model(ids).logits[0, :-1], -1)
    expected = -lp[len(p_ids) - 1 :].gather(-1, ids[0, len(p_ids) :, None]).mean()
    assert alone[1] == pytest.approx(float(expected), abs=1e-4)
    assert math.isnan(answer_nll(tiny_lm, [prefix], [""])[0])


def test_choose_letter_reads_the_next_token(tiny_lm):
    prompts = ["user : the cat", "user : red dog sat"]
    margins = choose_letter(tiny_lm, prompts)
    tok = tiny_lm.tokenizer
    a, b = (
        tok("a", add_special_tokens=False)["input_ids"][0],
        tok("b", add_special_tokens=False)["input_ids"][0],
    )
    for prompt, margin in zip(prompts, margins, strict=True):
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            lp = torch.log_softmax(tiny_lm.model(ids).logits[0, -1], -1)
        assert margin == pytest.approx(float(lp[a] - lp[b]), abs=1e-4)
