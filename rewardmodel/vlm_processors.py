"""A checkpoint's processor (``AutoProcessor``), also where a part we never use needs torchvision.

Transformers 5 ships a PIL image processor for every family we support (LLaVA and LLaVA-NeXT,
Qwen2-VL and Qwen2.5-VL, Idefics3/SmolVLM) and falls back to it when torchvision is missing.
Video processors have no such fallback, and some processors (Qwen2-VL, Qwen2.5-VL) require
one: ``AutoProcessor`` then fails in ``AutoVideoProcessor.from_pretrained`` with
"Qwen2VLVideoProcessor requires the Torchvision library", and the class can't even be built with
``video_processor=None`` (its type check looks the video base class up in transformers' lazy
module, absent without torchvision). Reward samples carry images, never videos: such a
processor is loaded here as the same class without its video processor. Anything else that
needs torchvision fails with a message that names it, and so does a torchvision that is
installed but does not import (a build for another torch).
"""

from __future__ import annotations

import os
from typing import Any

TORCHVISION_HINT = (
    "torchvision is not installed (it must match the installed torch: a mismatched wheel fails "
    "to import). Install the torchvision built for this torch, or give the checkpoint a "
    "processor that works without it (the PIL image processors do)."
)


def _torchvision_available() -> bool:
    from transformers.utils import is_torchvision_available

    return bool(is_torchvision_available())


def torchvision_check() -> None:
    """Transformers takes torchvision as present when it is found, not when it imports; a
    build for another torch (PyPI's, beside a pinned torch) is found, then breaks every load
    with "Could not import module 'LlamaConfig'". Say what is wrong instead."""
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        return
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # whatever a broken build raises (RuntimeError, ImportError, ...)
        from importlib.metadata import version

        raise ValueError(
            f"torchvision is installed but fails to import ({type(exc).__name__}: {exc}): it "
            f"must be the build for the installed torch {version('torch')}. Install that "
            "build, or uninstall torchvision (the PIL image processors need none)."
        ) from exc


def _images_only(processor_class: type) -> type:
    """``processor_class`` without its video processor: its ``__init__`` signature (from which
    transformers reads a processor's parts) lists the image processor and the tokenizer only."""

    class ImagesOnly(processor_class):  # type: ignore[misc, valid-type]
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            # The family's own __init__ sets its image-token ids, then hands its parts to
            # ProcessorMixin positionally; the mixin pairs them with the parts this signature
            # names, so the trailing video processor (None) is left out.
            super().__init__(image_processor, tokenizer, None, chat_template=chat_template,
                             **kwargs)  # fmt: skip

    ImagesOnly.__name__ = ImagesOnly.__qualname__ = f"{processor_class.__name__}ImagesOnly"
    return ImagesOnly


def processor_load(name: str | os.PathLike[str], hf_config: Any) -> Any:
    """The processor of the checkpoint ``name`` (offline). Raises ``ValueError`` naming
    torchvision when the processor needs it and can't do without."""
    from transformers import AutoProcessor

    name = str(name)
    try:
        return AutoProcessor.from_pretrained(name, local_files_only=True)
    except (ImportError, ValueError, AttributeError) as exc:
        if _torchvision_available() or not _mentions_torchvision(exc):
            raise
        cause = exc
    processor_class = _processor_class(hf_config)
    if processor_class is None or "video_processor" not in processor_class.get_attributes():
        raise ValueError(
            f"the processor of {name!r} needs torchvision: {TORCHVISION_HINT}"
        ) from cause
    try:
        return _images_only(processor_class).from_pretrained(name, local_files_only=True)
    except (ImportError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(
            f"the processor of {name!r} ({processor_class.__name__}) needs torchvision even "
            f"without its video processor: {TORCHVISION_HINT}"
        ) from exc


def _mentions_torchvision(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if "torchvision" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _processor_class(hf_config: Any) -> type | None:
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

    try:
        return PROCESSOR_MAPPING[type(hf_config)]
    except KeyError:
        return None
