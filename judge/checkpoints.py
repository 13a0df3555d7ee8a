"""Random-initialised checkpoints built from configs and saved to a folder: the tests' tiny
models and the GPU benchmark's full-size ones (no download; a word-level tokenizer is made
here too). They judge nothing useful; they exercise the real code paths and measure speed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "<s>", "</s>", "<image>"]
WORDS = [
    "yes",
    "no",
    "Yes",
    "No",
    "is",
    "the",
    "following",
    "content",
    "visible",
    "via",
    "this",
    "image",
    "?",
    "answer",
    "or",
    "a",
    "an",
    "of",
    "in",
    "on",
    "with",
    "photo",
    "red",
    "green",
    "blue",
    "yellow",
    "black",
    "white",
    "gray",
    "teal",
    "brown",
    "purple",
    "orange",
    "shape",
    "circle",
    "square",
    "triangle",
    "rectangle",
    "gun",
    "knife",
    "person",
    "holding",
    "it",
    "weapon",
    "blood",
    "any",
    "may",
    "be",
    ".",
    ",",
    ":",
    "USER",
    "ASSISTANT",
    "look",
    "at",
    "carefully",
    "think",
    "step",
    "by",
    "describe",
    "what",
    "you",
    "see",
    "json",
    "true",
    "false",
    "visible",
    "rationale",
    "one",
    "sentence",
    "your",
    "reasoning",
    "{",
    "}",
    '"',
    "content",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | upper }}: "
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def word_tokenizer(extra: Sequence[str] = (), *, wrap: bool = False) -> object:
    """Word-level over ``WORDS``; ``wrap`` adds <s> ... </s> (CLIP-style text towers pool at
    the end-of-text token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for word in [*SPECIALS, *WORDS, *extra]:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    if wrap:
        core.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )


@dataclass(frozen=True)
class VlmSize:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_intermediate: int
    image_size: int
    patch: int


TINY = VlmSize(32, 2, 4, 2, 64, 0, 32, 2, 4, 64, 32, 8)
# Qwen2-VL-7B's language model (hidden 3584, 28 layers, GQA 28/4, vocab 152064) behind a
# ViT-L/14 at 336 pixels (LLaVA-1.5's tower): about 8 B parameters.
SEVEN_B = VlmSize(3584, 28, 28, 4, 18944, 152064, 1024, 24, 16, 4096, 336, 14)


def build_vlm(path: Path, size: VlmSize = TINY, *, seed: int = 0) -> Path:
    """A LLaVA-architecture VLM (CLIP vision tower, Qwen2 language model) saved with its
    processor; loadable by ``AutoModelForImageTextToText`` + ``AutoProcessor``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model, processor = vlm_objects(size, seed=seed)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def vlm_objects(
    size: VlmSize = TINY, *, seed: int = 0, device: str = "cpu", dtype: str = "float32"
) -> tuple[object, object]:
    """(model, processor) of ``build_vlm``, built in memory on ``device`` (a full-size model is
    made directly on the GPU, in ``dtype``, never written out)."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        Qwen2Config,
    )

    torch.manual_seed(seed)
    tokenizer = word_tokenizer()
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    vocab = max(size.vocab, len(tokenizer))
    text = Qwen2Config(
        vocab_size=vocab,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.kv_heads,
        intermediate_size=size.intermediate,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    vision = CLIPVisionConfig(
        hidden_size=size.vision_hidden,
        num_hidden_layers=size.vision_layers,
        num_attention_heads=size.vision_heads,
        intermediate_size=size.vision_intermediate,
        image_size=size.image_size,
        patch_size=size.patch,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_id,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):
            model = LlavaForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": size.image_size},
            crop_size={"height": size.image_size, "width": size.image_size},
        ),
        tokenizer=tokenizer,
        patch_size=size.patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    return model.eval(), processor


def _save_parts(path: Path, parts: tuple[object, ...]) -> Path:
    """Save a model with its processors into one folder, loadable by name like a hub checkpoint."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for part in parts:
        part.save_pretrained(path)  # type: ignore[attr-defined]
    return path


def build_clip(path: Path, **shape: int) -> Path:
    """A CLIP model (text and vision towers) with its tokenizer and image processor."""
    return _save_parts(path, clip_objects(**shape))


def clip_objects(
    *,
    hidden: int = 32,
    layers: int = 2,
    image_size: int = 32,
    patch: int = 8,
    seed: int = 0,
    heads: int = 4,
) -> tuple[object, object, object]:
    """(model, image processor, tokenizer) of ``build_clip``, in memory."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPTextConfig,
        CLIPVisionConfig,
    )

    torch.manual_seed(seed)
    tokenizer = word_tokenizer(wrap=True)
    config = CLIPConfig(
        text_config=CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * hidden,
            max_position_embeddings=77,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ).to_dict(),
        vision_config=CLIPVisionConfig(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * hidden,
            image_size=image_size,
            patch_size=patch,
        ).to_dict(),
        projection_dim=hidden,
    )
    images = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return CLIPModel(config).eval(), images, tokenizer


def build_owlv2(path: Path, **shape: int) -> Path:
    """An OWLv2 detector with its tokenizer and image processor."""
    return _save_parts(path, owlv2_objects(**shape))


def owlv2_objects(
    *,
    hidden: int = 32,
    layers: int = 2,
    image_size: int = 32,
    patch: int = 8,
    seed: int = 0,
    heads: int = 4,
    text_hidden: int = 0,
) -> tuple[object, object, object]:
    """(model, image processor, tokenizer) of ``build_owlv2``, in memory."""
    import torch
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor

    torch.manual_seed(seed)
    tokenizer = word_tokenizer(wrap=True)
    text_hidden = text_hidden or hidden
    config = Owlv2Config(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": text_hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": max(1, text_hidden // 64) if text_hidden > 64 else heads,
            "intermediate_size": 4 * text_hidden,
            "max_position_embeddings": 16,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "intermediate_size": 4 * hidden,
            "image_size": image_size,
            "patch_size": patch,
        },
        projection_dim=text_hidden,  # the class head compares queries at text width
    )
    images = Owlv2ImageProcessor(size={"height": image_size, "width": image_size})
    return Owlv2ForObjectDetection(config).eval(), images, tokenizer
