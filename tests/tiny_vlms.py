"""Tiny random-init vision-language checkpoints (LLaVA, LLaVA-NeXT, Qwen2-VL, Qwen2.5-VL,
Idefics3), saved with their processor and a chat template so they load by path like any hub
checkpoint (no download)."""

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


def tiny_llava(path: Path, *, seed: int = 0, words: Sequence[str] = WORDS) -> Path:
    import torch
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,  # fmt: skip
    )

    tokenizer = word_tokenizer("llava", words)
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


def tiny_qwen2_vl(
    path: Path,
    *,
    seed: int = 0,
    version: str = "2",
    layout: str = "hub",
    words: Sequence[str] = WORDS,
) -> Path:
    """Qwen2-VL (``version="2"``) or Qwen2.5-VL (``"2.5"``): model, tokenizer with its chat
    template, image and video processor configs, either as the hub's checkpoints have them
    (``layout="hub"``: ``preprocessor_config.json`` and ``video_preprocessor_config.json``) or
    as transformers 5 saves a processor (``"saved"``: both inside ``processor_config.json``).
    It is written part by part: without torchvision the processor class can't be built here
    (its video processor needs torchvision); loading it by path is what
    ``rewardmodel.vlm_processors`` handles."""
    import json

    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,  # fmt: skip
    )

    tokenizer = word_tokenizer("qwen2_vl", words)
    ids = tokenizer.convert_tokens_to_ids
    vision = {"depth": 2, "hidden_size": 32, "num_heads": 4, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3}  # fmt: skip
    if version == "2":
        config_class, model_class = Qwen2VLConfig, Qwen2VLForConditionalGeneration
        vision |= {"embed_dim": 32, "mlp_ratio": 2}
        processor_class = "Qwen2VLProcessor"
    else:  # 2.5: window attention in the vision tower, a gated MLP, full attention at block 1
        config_class, model_class = Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
        vision |= {"intermediate_size": 64, "out_hidden_size": 32, "window_size": 56,
                   "fullatt_block_indexes": [1]}  # fmt: skip
        processor_class = "Qwen2_5_VLProcessor"
    config = config_class(
        vision_config=vision,
        text_config={**_text_config(len(tokenizer), 0), "bos_token_id": ids("<s>"),
                     "eos_token_id": ids("</s>"),
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]}},
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )  # fmt: skip
    torch.manual_seed(seed)
    model = model_class(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    # 56x56 pixels whatever the input: 4x4 patches of 14, merged 2x2 into 4 image tokens
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56,
                                               patch_size=14, merge_size=2)  # fmt: skip
    image_processor.save_pretrained(path)
    image_config = json.loads((path / "preprocessor_config.json").read_text())
    video_config = {k: v for k, v in image_config.items() if k != "image_processor_type"}
    video_config["video_processor_type"] = "Qwen2VLVideoProcessor"
    if layout == "hub":
        image_config["processor_class"] = processor_class
        (path / "preprocessor_config.json").write_text(json.dumps(image_config, indent=2))
        (path / "video_preprocessor_config.json").write_text(json.dumps(video_config, indent=2))
    else:
        (path / "preprocessor_config.json").unlink()
        saved = {"image_processor": image_config, "video_processor": video_config,
                 "processor_class": processor_class}  # fmt: skip
        (path / "processor_config.json").write_text(json.dumps(saved, indent=2))
    return path


def tiny_qwen2_5_vl(path: Path, *, seed: int = 0, layout: str = "saved") -> Path:
    return tiny_qwen2_vl(path, seed=seed, version="2.5", layout=layout)


def tiny_llava_next(path: Path, *, seed: int = 0, words: Sequence[str] = WORDS) -> Path:
    """LLaVA-NeXT with anyres tiling: a 32x64 image is two 32x32 tiles plus the whole image."""
    import torch
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,  # fmt: skip
    )

    tokenizer = word_tokenizer("llava", words)
    pinpoints = [[32, 32], [32, 64], [64, 32]]
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
        image_grid_pinpoints=pinpoints,
    )  # fmt: skip
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                   patch_size=8, vision_feature_select_strategy="default",
                                   num_additional_image_tokens=1,
                                   chat_template=tokenizer.chat_template)  # fmt: skip
    config = LlavaNextConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32,
                       "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", **_text_config(len(tokenizer), 0)},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints, vision_feature_select_strategy="default",
        vision_feature_layer=-1, projector_hidden_act="gelu",
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlavaNextForConditionalGeneration(config)
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
