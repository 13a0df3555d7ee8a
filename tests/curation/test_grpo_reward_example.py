"""docs/examples/grpo_reward.py, exactly as docs/handoff.md shows it, as TRL's GRPOTrainer
reward function against a live server: one GRPO step of a tiny random Llama on CPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from core.models import Job
from core.services.tokens import token_create
from curation.services.reward_models import reward_model_run_start

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "grpo_reward.py"
HANDOFF = EXAMPLE.parents[1] / "handoff.md"


def _example():
    spec = importlib.util.spec_from_file_location("grpo_reward", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_policy():
    """A 2-layer random Llama and a word-level tokenizer (built here: no download)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = sorted(
        set(["what", "is", "on", "the", "mat", "?", "a", "red", "cat", "sat", "blue", "dog"])
    )
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[SEP]", *words])}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", eos_token="[SEP]"
    )
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config), tokenizer


def test_the_handoff_shows_the_example_file_verbatim():
    assert EXAMPLE.read_text().strip() in HANDOFF.read_text()


@pytest.mark.integration  # a live server, a trained reward model and a GRPO step: ~30 s
def test_the_grpo_example_trains_a_step_against_a_live_server(
    live_server, project, staff, small_hyper, eager, django_capture_on_commit_callbacks, tmp_path
):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    # given: a trained reward model and a reviewer's token
    with django_capture_on_commit_callbacks(execute=True):
        run = reward_model_run_start(project=project, user=staff, hyperparameters=small_hyper)
    run.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED
    _, token = token_create(user=staff, name="grpo")
    reward = _example().arbiter_reward(live_server.url, run_id=run.pk, token=token)
    seen: list[float] = []

    def recorded(prompts, completions, **columns):
        rewards = reward(prompts, completions, **columns)
        seen.extend(rewards)
        return rewards

    torch.manual_seed(0)
    model, tokenizer = _tiny_policy()
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=6,
        max_steps=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
    )
    train = Dataset.from_dict({"prompt": ["what is on the mat ?"] * 8})
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[recorded],
        args=args,
        train_dataset=train,
        processing_class=tokenizer,
    )
    # when
    try:
        result = trainer.train()
    finally:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    # then: two steps, every reward came from the server, and TRL logged them
    assert result.global_step == 2
    assert len(seen) == 4 and all(isinstance(r, float) for r in seen)
    logged = [log["rewards/recorded/mean"] for log in trainer.state.log_history if "reward" in log]
    assert len(logged) == 2
