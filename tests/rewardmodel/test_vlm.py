"""The VLM reward model (``rewardmodel.vlm``) on tiny random checkpoints of the VLM families the
product supports (LLaVA-1.5, LLaVA-NeXT, Qwen2-VL, Qwen2.5-VL, Idefics3) and a text-only causal
LM, saved to disk and reloaded by path."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
import torch

from rewardmodel.configs import VLMTrainConfig
from rewardmodel.vlm import (
    Pair,
    Sample,
    backbone_revision,
    samples_over_length,
    score_samples,
    vlm_reward_model_load,
    vlm_state_load,
    vlm_state_save,
    vlm_train,
)
from tests.stats import chance_bound
from tests.tiny_vlms import (
    COLOURS,
    colour_image,
    tiny_idefics3,
    tiny_llama,
    tiny_llava,
    tiny_llava_next,
    tiny_qwen2_5_vl,
    tiny_qwen2_vl,
)

QUESTION = ("user", "what colour is the image ?")


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="module")
def llava_next_dir(tmp_path_factory):
    return tiny_llava_next(tmp_path_factory.mktemp("tiny-llava-next"))


@pytest.fixture(scope="module")
def qwen2_vl_dir(tmp_path_factory):  # as the hub's checkpoints are laid out
    return tiny_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2-vl"), layout="hub")


@pytest.fixture(scope="module")
def qwen2_5_vl_dir(tmp_path_factory):  # as transformers 5 saves a processor
    return tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-qwen2-5-vl"), layout="saved")


VISION_FAMILIES = ["llava", "llava_next", "qwen2_vl", "qwen2_5_vl", "idefics3"]


@pytest.fixture(scope="module")
def idefics3_dir(tmp_path_factory):
    return tiny_idefics3(tmp_path_factory.mktemp("tiny-idefics3"))


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def colour_task(n: int, seed: int, offset: int = 0) -> tuple[list[Sample], list[Pair]]:
    """Per image, the answer naming its colour is preferred to one naming another colour:
    both sides share the image, so only a model that looks at it can tell them apart."""
    rng = random.Random(seed)
    samples, pairs = [], []
    for k in range(n):
        colour = rng.choice(COLOURS)
        wrong = rng.choice([c for c in COLOURS if c != colour])
        image = colour_image(colour, seed=seed * 10_000 + k)
        samples.append(Sample((QUESTION, ("assistant", f"it is {colour}")), image))
        samples.append(Sample((QUESTION, ("assistant", f"it is {wrong}")), image))
        pairs.append(Pair(offset + 2 * k, offset + 2 * k + 1))
    return samples, pairs


FAST = dict(lr=3e-3, batch_size=4, micro_batch_size=2, lora_r=4, max_length=64,
            eval_every=2, checkpoint_every=2)  # fmt: skip


@pytest.mark.parametrize("family", [*VISION_FAMILIES, "llama"])
def test_reward_is_read_at_the_last_real_token(family, request):
    model = vlm_reward_model_load(request.getfixturevalue(f"{family}_dir"))
    image = None if family == "llama" else colour_image("red")
    # a wide image: another tiling (LLaVA-NeXT's anyres) or patch grid (Qwen's image_grid_thw
    # and M-RoPE positions) than the square one in the same batch
    wide = None if family == "llama" else colour_image("blue", size=32).resize((64, 32))
    short = Sample((QUESTION, ("assistant", "red")), image)
    long = Sample((QUESTION, ("assistant", "it is a red cat on the mat")), wide)
    together = score_samples(model, [short, long], batch_size=2)
    alone = score_samples(model, [short], batch_size=1) | {1: score_samples(model, [long])[0]}
    assert together == pytest.approx(alone, abs=1e-5)  # padding does not matter
    assert together[0] != pytest.approx(together[1], abs=1e-6)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_processors_load_without_torchvision_and_keep_m_rope_positions(family, request):
    from transformers.utils import is_torchvision_available

    from rewardmodel.vlm import collate

    model = vlm_reward_model_load(request.getfixturevalue(f"{family}_dir"))
    assert not hasattr(model.processor, "video_processor") or is_torchvision_available()
    samples = [Sample((QUESTION, ("assistant", "it is a red cat on the mat")), colour_image("red")),
               Sample((QUESTION, ("assistant", "red")),
                      colour_image("blue").resize((64, 32)))]  # fmt: skip
    inputs = collate(model, samples, max_length=64)
    assert model.tokenizer.padding_side == "right"
    assert inputs["image_grid_thw"].tolist() != [inputs["image_grid_thw"][0].tolist()] * 2
    positions, _ = model.backbone.get_rope_index(
        inputs["input_ids"], inputs["mm_token_type_ids"], image_grid_thw=inputs["image_grid_thw"],
        attention_mask=inputs["attention_mask"],
    )  # fmt: skip
    # the padded second sample has the positions it has alone: text then a 3-D image block
    alone = collate(model, samples[1:], max_length=64)
    positions_alone, _ = model.backbone.get_rope_index(
        alone["input_ids"], alone["mm_token_type_ids"], image_grid_thw=alone["image_grid_thw"],
        attention_mask=alone["attention_mask"],
    )  # fmt: skip
    n = int(alone["attention_mask"].sum())
    assert torch.equal(positions[:, 1, :n], positions_alone[:, 0, :n])
    image = alone["mm_token_type_ids"][0].bool()
    assert len({tuple(p) for p in positions_alone[1:, 0, image].T.tolist()}) == int(image.sum())


@pytest.mark.parametrize("family", ["llava_next", "qwen2_vl", "idefics3"])
def test_an_image_longer_than_max_length_is_a_clear_error(family, request):
    model = vlm_reward_model_load(request.getfixturevalue(f"{family}_dir"))
    sample = Sample((QUESTION, ("assistant", "red")), colour_image("red").resize((64, 32)))
    with pytest.raises(ValueError, match="raise max_length"):
        score_samples(model, [sample], max_length=4)
    assert score_samples(model, [sample], max_length=128)  # it fits


@pytest.mark.parametrize("family", ["llava", "llama"])
def test_conversations_longer_than_max_length_are_named(family, request):
    model = vlm_reward_model_load(request.getfixturevalue(f"{family}_dir"))
    image = None if family == "llama" else colour_image("red")
    short = Sample((QUESTION, ("assistant", "red")), image)
    long = Sample((QUESTION, ("assistant", "red")) * 6 + (("assistant", "it is red"),), image)
    assert samples_over_length(model, [short], max_length=0) == [0]
    # a limit between the two: only the long one is cut, and its cut end no longer counts
    limit = next(n for n in range(1, 4096) if not samples_over_length(model, [short], max_length=n))
    assert samples_over_length(model, [short, long, short], max_length=limit) == [1]
    other_end = Sample(long.turns[:-1] + (("assistant", "it is blue"),), image)
    cut = score_samples(model, [long, other_end], max_length=limit)
    assert cut[0] == pytest.approx(cut[1], abs=1e-6)


def test_a_processor_that_needs_torchvision_says_so(llava_dir, tmp_path):
    import json

    from transformers.utils import is_torchvision_available

    # given: a checkpoint whose image processor exists only for torchvision (no PIL variant)
    shutil.copytree(llava_dir, tmp_path / "ckpt")
    config_file = tmp_path / "ckpt" / "processor_config.json"
    saved = json.loads(config_file.read_text())
    saved["image_processor"]["image_processor_type"] = "Cohere2VisionImageProcessor"
    config_file.write_text(json.dumps(saved))
    if is_torchvision_available():
        vlm_reward_model_load(tmp_path / "ckpt")  # then it simply loads
        return
    with pytest.raises(ValueError, match="torchvision is not installed"):
        vlm_reward_model_load(tmp_path / "ckpt")


@pytest.mark.parametrize("family", VISION_FAMILIES)
def test_lora_sits_on_the_language_model_and_the_vision_tower_is_frozen(family, request):
    path = request.getfixturevalue(f"{family}_dir")
    trainable = {n for n, p in vlm_reward_model_load(path).named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable)
    assert all("lora_" in n or n.startswith("value_head") for n in trainable)
    # Qwen2.5-VL's vision blocks have gate/up/down projections too: never adapted
    assert not any(v in n for n in trainable for v in ("vision_tower", "vision_model", "visual"))
    with_projector = vlm_reward_model_load(path, config=VLMTrainConfig(train_projector=True))
    projector = {n for n, p in with_projector.named_parameters() if p.requires_grad} - trainable
    assert projector and all(any(k in n for k in ("projector", "connector", "visual.merger"))
                             for n in projector)  # fmt: skip


@pytest.mark.integration  # trains: CPU-heavy for the unit suite
@pytest.mark.parametrize("family", ["llava", "llava_next", "qwen2_vl", "qwen2_5_vl"])
def test_checkpoint_resume_is_bit_identical(family, request, tmp_path):
    backbone = request.getfixturevalue(f"{family}_dir")
    samples, pairs = colour_task(8, seed=1)
    config = VLMTrainConfig(steps=4, **FAST)
    straight = vlm_reward_model_load(backbone, config=config)
    vlm_train(straight, samples, pairs[:6], pairs[6:], config=config)

    interrupted = vlm_reward_model_load(backbone, config=config)
    result = vlm_train(interrupted, samples, pairs[:6], pairs[6:], config=config,
                       checkpoint_dir=tmp_path, progress=lambda s, *_: s < 2,
                       log_every=1)  # fmt: skip
    assert result.cancelled and result.steps == 2
    names = set(torch.load(sorted(tmp_path.glob("step-*.pt"))[-1], weights_only=False)["head"])
    assert names and all("lora_" in n or "value_head" in n for n in names)  # adapter + head
    resumed = vlm_reward_model_load(backbone, config=config)  # a fresh worker
    result = vlm_train(resumed, samples, pairs[:6], pairs[6:], config=config,
                       checkpoint_dir=tmp_path)  # fmt: skip
    assert result.steps == 4 and not result.cancelled
    want, got = straight.trainable_state_dict(), resumed.trainable_state_dict()
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(want[name], got[name]), name


@pytest.mark.integration  # trains: CPU-heavy for the unit suite
@pytest.mark.parametrize(("family", "build"), [("llava", tiny_llava), ("qwen2_vl", tiny_qwen2_vl),
                                               ("llava_next", tiny_llava_next)])  # fmt: skip
def test_saved_model_scores_the_same_and_refuses_another_backbone(family, build, request,
                                                                  tmp_path):  # fmt: skip
    backbone = request.getfixturevalue(f"{family}_dir")
    samples, pairs = colour_task(4, seed=2)
    config = VLMTrainConfig(steps=2, **FAST)
    model = vlm_reward_model_load(backbone, config=config)
    vlm_train(model, samples, pairs, config=config)
    revision = backbone_revision(backbone)
    vlm_state_save(tmp_path / "rm", model, backbone=str(backbone), revision=revision,
                   config=config)  # fmt: skip
    before = score_samples(model, samples, batch_size=3)
    loaded, _ = vlm_state_load(tmp_path / "rm")
    after = score_samples(loaded, samples, batch_size=5)
    assert after == pytest.approx(before, abs=1e-5)

    other = tmp_path / "other"
    shutil.copytree(backbone, other)
    build(other, seed=1)  # same name on disk, other weights
    with pytest.raises(ValueError, match="revision"):
        vlm_state_load(tmp_path / "rm", backbone=str(other))


@pytest.mark.integration  # trains: CPU-heavy for the unit suite
def test_text_only_causal_lm_trains_through_the_same_code(llama_dir):
    samples = [
        Sample((("user", "the cat sat on the mat"), ("assistant", "cat"))),
        Sample((("user", "the cat sat on the mat"), ("assistant", "dog"))),
        Sample((("user", "a dog sat on the mat"), ("assistant", "dog"))),
        Sample((("user", "a dog sat on the mat"), ("assistant", "cat"))),
    ]
    pairs = [Pair(0, 1), Pair(2, 3)]
    config = VLMTrainConfig(lr=1e-2, steps=20, batch_size=2, micro_batch_size=2, lora_r=4,
                            eval_every=10, checkpoint_every=100,
                            gradient_checkpointing=False)  # fmt: skip
    model = vlm_reward_model_load(llama_dir, config=config)
    result = vlm_train(model, samples, pairs, config=config)
    assert result.history[-1]["loss"] < 0.25, result.history
    scores = score_samples(model, samples)
    assert scores[0] > scores[1] and scores[2] > scores[3]


def test_a_torchvision_that_does_not_import_is_named(tmp_path):
    import os
    import subprocess
    import sys

    # given: a torchvision built for another torch, found on the path but failing to import
    broken = tmp_path / "site" / "torchvision"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        'raise RuntimeError("operator torchvision::nms does not exist")\n'
    )
    # (what vlm_reward_model_load checks first; torch itself is not imported, to stay quick)
    code = "from rewardmodel.vlm_processors import torchvision_check; torchvision_check()"
    path = os.pathsep.join([str(tmp_path / "site"), os.getcwd()])
    # when
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=120)  # fmt: skip
    # then: the error says what is wrong, not "Could not import module 'LlamaConfig'"
    assert done.returncode != 0
    assert "torchvision is installed but fails to import" in done.stderr, done.stderr[-2000:]
    assert "torchvision::nms" in done.stderr


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="multiple"):
        VLMTrainConfig(batch_size=6, micro_batch_size=4)
    with pytest.raises(ValueError, match="lora_r"):
        VLMTrainConfig(lora_r=0)
    with pytest.raises(ValueError, match="offline"):
        vlm_reward_model_load(tmp_path / "missing")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("family", "steps", "lr"),
    [("llava", 40, 3e-3), ("idefics3", 100, 2e-3), ("qwen2_vl", 120, 3e-3)],
)
def test_a_tiny_vlm_learns_an_image_dependent_preference(family, steps, lr, request):
    # given: 48 training images, 16 validation images (the best step is kept, as in the
    # product), 40 held-out images never seen in training or validation
    train_samples, train_pairs = colour_task(48, seed=1)
    valid_samples, valid_pairs = colour_task(16, seed=3, offset=len(train_samples))
    held_samples, held_pairs = colour_task(40, seed=2, offset=len(train_samples) + 32)
    samples = train_samples + valid_samples + held_samples
    config = VLMTrainConfig(lr=lr, steps=steps, batch_size=8, micro_batch_size=8, lora_r=8,
                            train_projector=True, max_length=64, eval_every=10,
                            checkpoint_every=1000, gradient_checkpointing=False)  # fmt: skip
    model = vlm_reward_model_load(request.getfixturevalue(f"{family}_dir"), config=config)
    # when
    vlm_train(model, samples, train_pairs, valid_pairs, config=config)
    # then: above what chance reaches with p < 0.001 (31 of 40) on images it never saw
    scores = score_samples(model, samples, indices=range(len(train_samples) + 32, len(samples)))
    right = sum(scores[p.chosen] > scores[p.rejected] for p in held_pairs)
    assert right / len(held_pairs) > chance_bound(len(held_pairs)), f"{right}/{len(held_pairs)}"


@pytest.mark.slow
@pytest.mark.integration  # CPU-heavy: it runs in `make test-integration` (needs no service)
def test_smollm2_from_gguf_learns_through_the_vlm_code(tmp_path_factory):
    # fails, never skips, without the gguf-assets extra: the message says how to install it
    from rewardmodel.gguf import gguf_to_safetensors, smollm2_gguf_path

    directory = gguf_to_safetensors(smollm2_gguf_path(), tmp_path_factory.mktemp("gguf-cache"))
    samples = [
        Sample((("user", "Is the cat on the mat?"), ("assistant", "Yes, the cat is on the mat."))),
        Sample((("user", "Is the cat on the mat?"), ("assistant", "No idea, ask someone else."))),
    ]
    config = VLMTrainConfig(lr=1e-4, steps=6, batch_size=2, micro_batch_size=2, lora_r=8,
                            max_length=64, eval_every=3, checkpoint_every=100)  # fmt: skip
    model = vlm_reward_model_load(directory, config=config)
    result = vlm_train(model, samples, [Pair(0, 1), Pair(0, 1)], config=config)
    assert result.history[-1]["loss"] < result.history[0]["loss"], result.history


def test_a_missing_gguf_file_is_a_clear_error(tmp_path):
    from rewardmodel.gguf import gguf_to_safetensors

    with pytest.raises(FileNotFoundError):
        gguf_to_safetensors(tmp_path / "x.gguf", tmp_path)


def test_the_frozen_vlm_is_a_joint_image_text_encoder_with_cached_features(llava_dir, tmp_path):
    from rewardmodel.encoders import encoder_load
    from rewardmodel.features import Example, FeatureCache, featurize, load_features

    encoder = encoder_load(f"vlm:{llava_dir}")
    cache = FeatureCache(tmp_path / "cache")
    red, blue = colour_image("red"), colour_image("blue")
    examples = [Example("it is red", red), Example("it is red", blue), Example("it is red")]
    refs = featurize(examples, encoder, None, cache)
    _, vectors = load_features(refs, cache, text_encoder_id=encoder.encoder_id,
                               image_encoder_id=None)  # fmt: skip
    assert vectors.shape == (3, encoder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-4)  # the image changes the feature
    assert len({r.text_key for r in refs}) == 3
    # cached: the second time nothing is encoded
    encoder.forward = None  # would fail if called
    assert featurize(examples, encoder, None, cache) == refs


@pytest.mark.integration
def test_two_data_parallel_processes_equal_one_with_the_same_global_batch(llava_dir, tmp_path):
    import os
    import subprocess
    import sys

    from rewardmodel.vlm_launch import spec_write

    samples, pairs = colour_task(8, seed=4)
    for k, sample in enumerate(samples):  # the launcher reads images from files
        path = tmp_path / f"{k}.png"
        sample.image.save(path)
        samples[k] = Sample(sample.turns, str(path))
    config = VLMTrainConfig(steps=3, lr=3e-3, batch_size=4, micro_batch_size=2, lora_r=4,
                            max_length=64, eval_every=100, checkpoint_every=100,
                            gradient_checkpointing=False)  # fmt: skip
    # one process, the whole global batch (two micro-batches of 2 pairs)
    alone = vlm_reward_model_load(llava_dir, config=config)
    vlm_train(alone, samples, pairs, config=config)
    # two processes (gloo), 2 pairs each
    spec = spec_write(tmp_path / "spec.json", backbone=str(llava_dir), revision="r",
                      config=config, samples=samples, train=pairs,
                      output_dir=str(tmp_path / "out"))  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29517", "-m", "rewardmodel.vlm_launch", str(spec)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    from safetensors.torch import load_file

    parallel = load_file(str(tmp_path / "out" / "adapter.safetensors"))
    single = alone.trainable_state_dict()
    assert parallel.keys() == single.keys()
    # float32 sums in another order (all-reduce, per-process thread counts) differ by ~1e-5 to
    # 1e-4 after 3 Adam steps; training itself moves the weights by ~1e-2, 10x the tolerance
    atol = 2e-4
    for name, value in single.items():
        torch.testing.assert_close(parallel[name], value, atol=atol, rtol=1e-3)
    start = vlm_reward_model_load(llava_dir, config=config).trainable_state_dict()
    moved = max((single[n] - start[n]).abs().max().item() for n in single)
    assert moved > 10 * atol, moved  # it did train, by far more than the tolerance
