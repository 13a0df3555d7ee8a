"""Tiny random-init vision-language checkpoints (LLaVA, Qwen2-VL, Idefics3), saved with their
processor and a chat template so they load by path like any hub checkpoint (no download)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

COLOURS = ("red", "green", "blue", "yellow")
RGB = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220),
       "yellow": (230, 220, 30)}  # fmt: skip
WORDS = ("what", "colour", "is", "the", "image", "?", "it", "a", "cat", "dog", "sat", "on",
         "mat", *COLOURS)  # fmt: skip
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<eot>", "user:", "assistant:"]
FAMILY_TOKENS = {
    "llava": ["<image>"],
    "qwen2_vl": ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"],
    "idefics3": ["<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>"],
}
IMAGE_MARK = {
    "llava": "<image>",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "idefics3": "<image>",
}


def _template(mark: str) -> str:
    return (
        "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}"
        "{{ m['content'] }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}"
        + mark
        + " {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endif %}<eot> {% endfor %}"
    )


def word_tokenizer(family: str, words: Sequence[str] = WORDS):
    """A whitespace word-level tokenizer over ``words`` plus the family's image tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [*SPECIALS, *FAMILY_TOKENS[family]]
    vocab = {token: i for i, token in enumerate([*specials, *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
        eos_token="</s>", additional_special_tokens=[*FAMILY_TOKENS[family], "<eot>"],
    )  # fmt: skip
    tokenizer.chat_template = _template(IMAGE_MARK[family])
    return tokenizer


def _text_config(vocab: int, pad: int) -> dict:
    return {"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 256, "pad_token_id": pad}  # fmt: skip


def tiny_llava(path: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,  # fmt: skip
    )

    tokenizer = word_tokenizer("llava")
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer,
                               patch_size=8, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1,
                               chat_template=tokenizer.chat_template)  # fmt: skip
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32,
                       "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", **_text_config(len(tokenizer), 0)},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default", vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def tiny_qwen2_vl(path: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,  # fmt: skip
        Qwen2VLProcessor,
    )

    tokenizer = word_tokenizer("qwen2_vl")
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=56 * 56,
                                            patch_size=14, merge_size=2)  # fmt: skip
    processor = Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 chat_template=tokenizer.chat_template)  # fmt: skip
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2VLConfig(
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 4,
                       "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2, "in_channels": 3},
        text_config={**_text_config(len(tokenizer), 0),
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]}},
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def tiny_idefics3(path: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,  # fmt: skip
        Idefics3Processor,
    )

    tokenizer = word_tokenizer("idefics3")
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": 32},
        max_image_size={"longest_edge": 32},
    )  # fmt: skip
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=tokenizer.chat_template,
    )
    config = Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", **_text_config(len(tokenizer), 0)},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=2,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def tiny_llama(path: Path, *, seed: int = 0, words: Sequence[str] = WORDS) -> Path:
    """A text-only causal LM with the same word tokenizer and chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = word_tokenizer("llava", words)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**_text_config(len(tokenizer), 0)))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def colour_image(colour: str, *, size: int = 32, seed: int = 0):
    """A solid image of ``colour`` with a little per-pixel noise (each seed a new image)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.asarray(RGB[colour], dtype=np.float32) + rng.normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
