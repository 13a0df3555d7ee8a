"""TRL's DPOTrainer runs a few steps of a tiny random vision-language model (LLaVA: a CLIP
vision tower and a Llama, built here, no download) on CPU on our exported TRL pairs, images
included: the format a user of TRL trains a VLM with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.curation.test_export_formats import _export, _folder, dataset  # noqa: F401

pytestmark = [pytest.mark.django_db]

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} :"
    "{% if message['content'] is string %} {{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %} <image>{% else %} {{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def tiny_llava(words: set[str], path: Path) -> Path:
    """A random LLaVA (1-layer CLIP on 16x16 pixels, 2-layer Llama) with a word-level tokenizer
    over `words` and a processor whose chat template renders TRL's content parts; saved."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    special = ["[PAD]", "[UNK]", "[SEP]", "<image>"]
    vocab = {w: i for i, w in enumerate([*special, *sorted(words - set(special))])}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        eos_token="[SEP]",
        extra_special_tokens={"image_token": "<image>"},
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,
    )
    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=16,
        patch_size=8,
    )
    text = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
        eos_token_id=2,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=vocab["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.mark.integration  # ~10 s: builds and trains a model on CPU
def test_trl_dpo_trainer_trains_a_tiny_vlm_on_the_exported_pairs_with_images(
    staff,
    dataset,  # noqa: F811
    eager,
    django_capture_on_commit_callbacks,
    tmp_path,
):
    import datasets
    import torch
    from transformers import LlavaForConditionalGeneration, LlavaProcessor
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    export = _export(staff, dataset, django_capture_on_commit_callbacks, format="trl_pairs")
    folder = _folder(export)
    loaded = datasets.load_dataset(
        "parquet", data_files=[str(folder / f) for f in sorted(export.manifest["files"])],
        split="train", cache_dir=str(folder / "hf"),
    )  # fmt: skip
    # the pairs with an image, as exported (prompt/chosen/rejected messages + `images`)
    train = loaded.filter(lambda row: len(row["images"]) == 1)
    train = train.remove_columns(["id", "criterion", "source", "margin"])
    assert len(train) >= 4
    words = {"user", "assistant", ":"}
    for row in train:
        for message in row["prompt"] + row["chosen"] + row["rejected"]:
            for part in message["content"]:
                words.update((part["text"] or "").split())
    path = tiny_llava(words, tmp_path / "tiny-llava")
    model = LlavaForConditionalGeneration.from_pretrained(path)
    processor = LlavaProcessor.from_pretrained(path)
    args = DPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=3,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        max_length=None,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=train, processing_class=processor)
    # the batches carry pixels, and the prompt its image tokens: the vision tower is trained
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    assert batch["pixel_values"].shape[-2:] == (16, 16)
    image_token = model.config.image_token_index
    assert (batch["input_ids"] == image_token).sum() > 0
    vision_before = next(model.model.vision_tower.parameters()).detach().clone()
    # when
    try:
        result = trainer.train()
    finally:
        # The trainer's accelerate state is process-global; later tests set their own precision.
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    # then: three optimiser steps with a finite DPO loss, and the vision tower moved
    assert result.global_step == 3
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert not torch.equal(vision_before, next(model.model.vision_tower.parameters()))
