"""A tiny random-init causal LM (saved to disk) for the generation mechanics."""

from __future__ import annotations

from pathlib import Path

import pytest

from rewardmodel.causal_lm import CausalLM, causal_lm_load
from tests.tiny_models import tiny_causal_lm


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-causal-lm"))


@pytest.fixture(scope="session")
def tiny_lm(tiny_lm_dir: Path) -> CausalLM:
    return causal_lm_load(tiny_lm_dir, device="cpu")
