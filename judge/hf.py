"""The real sources: any vision-language model, CLIP and OWLv2, by hub name or local path.

Models are loaded with ``local_files_only``: these machines have no network; a hub name works
when it is in the local cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image, ImageFilter

from judge.sources import Box
from rewardmodel.encoders.base import pick_device
from rewardmodel.encoders.images import image_open

# Single-token spellings of the two answers; their probabilities are summed.
YES_WORDS = ("Yes", "yes", " Yes", " yes", "YES")
NO_WORDS = ("No", "no", " No", " no", "NO")


def _answer_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    ids: set[int] = set()
    unknown = getattr(tokenizer, "unk_token_id", None)
    for word in words:
        encoded = tokenizer.encode(word, add_special_tokens=False)
        if len(encoded) == 1 and encoded[0] != unknown:
            ids.add(int(encoded[0]))
    if not ids:
        raise ValueError(f"the tokenizer has no single token for any of {list(words)}")
    return sorted(ids)


class VisionLanguageSource:
    """``AutoModelForImageTextToText`` + ``AutoProcessor``: P(Yes), P(No) from the next-token
    distribution after the chat prompt, and greedy generation for the reasoning step."""

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        batch_size: int = 8,
        loaded: tuple[Any, Any] | None = None,
    ) -> None:
        """``loaded``: an already built (model, processor), e.g. a random-initialised one."""
        from transformers import AutoModelForImageTextToText

        from rewardmodel.vlm_processors import processor_load

        self.name = name_or_path
        self.device = pick_device(device)
        if loaded is not None:
            self.model, self.processor = loaded
        else:
            self.model = AutoModelForImageTextToText.from_pretrained(
                name_or_path, local_files_only=True, dtype=dtype or torch.float32
            )
            # as the VLM reward models load it: Qwen2-VL's processor works without torchvision
            self.processor = processor_load(name_or_path, self.model.config)
        self.model = self.model.to(self.device)
        self.model.eval()
        self.tokenizer = self.processor.tokenizer
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.tokenizer.padding_side = "left"  # the last position is the next token for every row
        self.yes_ids = _answer_ids(self.tokenizer, YES_WORDS)
        self.no_ids = _answer_ids(self.tokenizer, NO_WORDS)
        self.batch_size = batch_size

    def _prompt(self, with_image: bool, text: str) -> str:
        content: list[dict[str, str]] = [{"type": "image"}] if with_image else []
        content.append({"type": "text", "text": text})
        messages = [{"role": "user", "content": content}]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(messages, add_generation_prompt=True)
        image_token = getattr(self.processor, "image_token", "<image>")
        return f"USER: {image_token + chr(10) if with_image else ''}{text} ASSISTANT:"

    def _inputs(self, images: Sequence[Any | None], prompts: Sequence[str]) -> Any:
        with_image = [im is not None for im in images]
        if any(with_image) and not all(with_image):
            raise ValueError("a batch is either all with images or all without")
        texts = [self._prompt(w, p) for w, p in zip(with_image, prompts, strict=True)]
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
        if all(with_image) and images:
            kwargs["images"] = [image_open(im).convert("RGB") for im in images]
        return self.processor(**kwargs).to(self.device)

    @torch.inference_mode()
    def yes_no(
        self, images: Sequence[Any | None], prompts: Sequence[str]
    ) -> list[tuple[float, float]]:
        # images and no-image queries are batched apart (a processor takes one kind at a time)
        order = sorted(range(len(images)), key=lambda i: images[i] is None)
        results: dict[int, tuple[float, float]] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            kinds = {images[i] is None for i in chunk}
            groups = [[i for i in chunk if (images[i] is None) == k] for k in kinds]
            for group in groups:
                inputs = self._inputs([images[i] for i in group], [prompts[i] for i in group])
                # left padding: positions count real tokens only, as in generation
                positions = (inputs["attention_mask"].cumsum(-1) - 1).clamp(min=0)
                logits = self.model(**inputs, position_ids=positions).logits[:, -1, :].float()
                probs = torch.softmax(logits, dim=-1)
                yes = probs[:, self.yes_ids].sum(dim=1)
                no = probs[:, self.no_ids].sum(dim=1)
                for i, y, n in zip(group, yes.tolist(), no.tolist(), strict=True):
                    results[i] = (y, n)
        return [results[i] for i in range(len(images))]

    @torch.inference_mode()
    def generate(self, image: Any | None, prompt: str, max_new_tokens: int) -> str:
        inputs = self._inputs([image], [prompt])
        output = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new = output[0, inputs["input_ids"].shape[1] :]
        return self.tokenizer.decode(new, skip_special_tokens=True)


def _model_with_processors(
    model_class: Any,
    name_or_path: str,
    device: torch.device,
    loaded: tuple[Any, Any, Any] | None,
) -> tuple[Any, Any, Any]:
    """(model in eval mode on ``device``, image processor, tokenizer): ``loaded`` as given, else
    read from a local checkpoint (no download, no remote code)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    if loaded is not None:
        model, images, tokenizer = loaded
    else:
        model = model_class.from_pretrained(name_or_path, local_files_only=True)
        images = AutoImageProcessor.from_pretrained(name_or_path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
    return model.to(device).eval(), images, tokenizer


class ClipRelevanceSource:
    """``CLIPModel`` (or SigLIP-like ``AutoModel`` with ``get_image_features``): cosine of the
    image and text embeddings."""

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str | torch.device | None = None,
        loaded: tuple[Any, Any, Any] | None = None,
    ) -> None:
        """``loaded``: an already built (model, image processor, tokenizer)."""
        from transformers import AutoModel

        self.name = name_or_path
        self.device = pick_device(device)
        self.model, self.images, self.tokenizer = _model_with_processors(
            AutoModel, name_or_path, self.device, loaded
        )

    @staticmethod
    def _tensor(output: Any) -> torch.Tensor:
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    @torch.inference_mode()
    def similarity(self, image: Any, texts: Sequence[str]) -> list[float]:
        pixels = self.images(images=[image_open(image).convert("RGB")], return_tensors="pt")
        tokens = self.tokenizer(
            list(texts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=getattr(self.model.config.text_config, "max_position_embeddings", 77),
        )
        img = self._tensor(self.model.get_image_features(**pixels.to(self.device)))
        txt = self._tensor(self.model.get_text_features(**tokens.to(self.device)))
        img = torch.nn.functional.normalize(img.float(), dim=-1)
        txt = torch.nn.functional.normalize(txt.float(), dim=-1)
        return (txt @ img[0]).tolist()


class OwlDetectorSource:
    """``Owlv2ForObjectDetection`` queried with the rule's central object words."""

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str | torch.device | None = None,
        loaded: tuple[Any, Any, Any] | None = None,
    ) -> None:
        """``loaded``: an already built (model, image processor, tokenizer)."""
        from transformers import Owlv2ForObjectDetection

        self.name = name_or_path
        self.device = pick_device(device)
        self.model, self.images, self.tokenizer = _model_with_processors(
            Owlv2ForObjectDetection, name_or_path, self.device, loaded
        )

    @torch.inference_mode()
    def detect(self, image: Any, words: Sequence[str], min_score: float) -> list[Box]:
        if not words:
            return []
        picture = image_open(image).convert("RGB")
        pixels = self.images(images=[picture], return_tensors="pt").to(self.device)
        tokens = self.tokenizer(
            [f"a photo of a {w}" for w in words],
            return_tensors="pt",
            padding="max_length",
            max_length=16,
            truncation=True,
        ).to(self.device)
        outputs = self.model(**tokens, **pixels)
        # OWLv2 pads the image to a square: boxes are relative to the padded side
        side = max(picture.size)
        results = self.images.post_process_object_detection(
            outputs, threshold=min_score, target_sizes=torch.tensor([[side, side]])
        )[0]
        boxes = []
        for box, score, label in zip(
            results["boxes"].tolist(),
            results["scores"].tolist(),
            results["labels"].tolist(),
            strict=True,
        ):
            w, h = picture.size
            # boxes may reach into the padding (or be degenerate): clip to the picture
            xs = sorted(min(float(w), max(0.0, v)) for v in (box[0], box[2]))
            ys = sorted(min(float(h), max(0.0, v)) for v in (box[1], box[3]))
            boxes.append(Box(xs[0], ys[0], xs[1], ys[1], float(score), words[int(label)]))
        return boxes


class PilEditor:
    """Removal by a heavy blur of the box filled over with the image's mean colour; crops keep
    half the box's size as context on each side."""

    def size(self, image: Any) -> tuple[int, int]:
        return image_open(image).size

    def remove(self, image: Any, boxes: Sequence[Box]) -> Image.Image:
        picture = image_open(image).convert("RGB").copy()
        mean = tuple(int(v) for v in picture.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0)))
        for b in boxes:
            region = (
                int(b.x0),
                int(b.y0),
                max(int(b.x0) + 1, int(b.x1)),
                max(int(b.y0) + 1, int(b.y1)),
            )
            patch = Image.new("RGB", (region[2] - region[0], region[3] - region[1]), mean)
            picture.paste(patch.filter(ImageFilter.GaussianBlur(2)), region[:2])
        return picture

    def crop(self, image: Any, box: Box) -> Image.Image:
        picture = image_open(image).convert("RGB")
        w, h = picture.size
        pad_x, pad_y = (box.x1 - box.x0) / 2 + 2, (box.y1 - box.y0) / 2 + 2
        region = (
            max(0, int(box.x0 - pad_x)),
            max(0, int(box.y0 - pad_y)),
            min(w, int(box.x1 + pad_x) + 1),
            min(h, int(box.y1 + pad_y) + 1),
        )
        return picture.crop(region)
