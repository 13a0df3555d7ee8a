import pytest
import torch

from rewardmodel.fullmodel import (
    FullModelConfig,
    full_reward_model_load,
    gguf_to_safetensors,
    score_full_reward_model,
    smollm2_gguf_path,
    train_full_reward_model,
)
from tests.tiny_models import bert_tokenizer

from .conftest import VOCAB

PAIRS = [
    ("the cat sat on the mat", "the dog sat on the mat", 0.0),
    ("a red cat", "a red dog", 0.0),
    ("the blue cat", "the blue dog", 0.0),
    ("cat on a mat", "dog on a mat", 0.0),
]


@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    bert_tokenizer(VOCAB).save_pretrained(path)
    config = LlamaConfig(
        vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def test_reward_read_at_last_real_token(tiny_llama_dir):
    model, tokenizer = full_reward_model_load(tiny_llama_dir)
    model.eval()
    padded = tokenizer(["a cat", "the cat sat on the mat"], padding=True, return_tensors="pt")
    alone = tokenizer(["a cat"], return_tensors="pt")
    with torch.no_grad():
        batch = model(padded["input_ids"], padded["attention_mask"])
        single = model(alone["input_ids"], alone["attention_mask"])
    assert batch.shape == (2,)
    torch.testing.assert_close(batch[0], single[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("lora", [False, True])
def test_training_lowers_the_loss(tiny_llama_dir, lora):
    config = FullModelConfig(
        lr=1e-2 if lora else 5e-3, steps=12, batch_size=4, grad_accum=2, lora=lora, lora_r=4
    )
    model, tokenizer = full_reward_model_load(tiny_llama_dir, config=config)
    if lora:
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert trainable and all("lora_" in n or n.startswith("value_head") for n in trainable)
    losses = train_full_reward_model(model, tokenizer, PAIRS, config=config)
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.05, losses


def test_scoring_matches_the_forward_and_ranks_what_training_taught(tiny_llama_dir):
    config = FullModelConfig(lr=5e-3, steps=12, batch_size=4)
    model, tokenizer = full_reward_model_load(tiny_llama_dir, config=config)
    train_full_reward_model(model, tokenizer, PAIRS, config=config)
    chosen = [c for c, _, _ in PAIRS]
    rejected = [r for _, r, _ in PAIRS]
    scores = score_full_reward_model(model, tokenizer, chosen + rejected, batch_size=3)
    assert len(scores) == 8
    one = score_full_reward_model(model, tokenizer, [rejected[1]])
    assert one[0] == pytest.approx(scores[5], abs=1e-5)  # batching and order do not matter
    assert sum(c > r for c, r in zip(scores[:4], scores[4:], strict=True)) == 4


def test_bad_inputs(tiny_llama_dir, tmp_path):
    with pytest.raises(ValueError, match="positive"):
        FullModelConfig(steps=0)
    with pytest.raises(ValueError, match="cannot load"):
        full_reward_model_load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError):
        gguf_to_safetensors(tmp_path / "x.gguf", tmp_path)
    model, tokenizer = full_reward_model_load(tiny_llama_dir)
    with pytest.raises(ValueError, match="no pairs"):
        train_full_reward_model(model, tokenizer, [])


@pytest.mark.slow
@pytest.mark.integration  # 19 s of CPU: it runs in `make test-integration` (needs no service)
def test_smollm2_from_gguf_learns(tmp_path_factory):
    # fails, never skips, without the gguf-assets extra: the message says how to install it
    gguf = smollm2_gguf_path()
    directory = gguf_to_safetensors(gguf, tmp_path_factory.mktemp("gguf-cache"))
    config = FullModelConfig(lr=1e-4, steps=6, batch_size=2, max_length=32, lora=True, lora_r=8)
    model, tokenizer = full_reward_model_load(directory, config=config)
    losses = train_full_reward_model(model, tokenizer, PAIRS, config=config)
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2, losses
