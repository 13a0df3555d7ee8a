import multiprocessing
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from rewardmodel.encoders.base import l2_normalise
from rewardmodel.features import Example, FeatureCache, content_key, featurize, load_features


class CharCountEncoder:
    """A real (if trivial) text encoder: letter histograms; counts what it is asked to encode."""

    encoder_id = "test:char-count"
    dim = 26

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def prepare(self, batch: Sequence[str]) -> list[str]:
        return list(batch)

    def forward(self, prepared: list[str]) -> torch.Tensor:
        self.encoded.extend(prepared)
        rows = torch.zeros((len(prepared), 26))
        for i, text in enumerate(prepared):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    rows[i, ord(ch) - 97] += 1
        return l2_normalise(rows + 1e-3)

    def encode(self, batch: Sequence[str]) -> torch.Tensor:
        return self.forward(self.prepare(batch))


class MeanColourEncoder:
    encoder_id = "test:mean-colour"
    dim = 3

    def __init__(self) -> None:
        self.encoded = 0

    def prepare(self, batch):
        from rewardmodel.encoders.images import image_open

        return torch.stack(
            [torch.tensor(np.asarray(image_open(x), np.float32).mean((0, 1))) for x in batch]
        )

    def forward(self, prepared):
        self.encoded += len(prepared)
        return l2_normalise(prepared + 1.0)

    def encode(self, batch):
        return self.forward(self.prepare(batch))


def _png(colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_cache_roundtrip_and_errors(tmp_path):
    cache = FeatureCache(tmp_path)
    keys = [content_key(f"text {i}") for i in range(1000)]
    vectors = np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32)
    assert cache.put_many("enc", keys, vectors) == 1000
    assert cache.put_many("enc", keys[:10], vectors[:10]) == 0  # nothing encoded twice
    order = np.random.default_rng(1).permutation(1000)
    got = FeatureCache(tmp_path).get_many("enc", [keys[i] for i in order])
    np.testing.assert_array_equal(got, vectors[order])
    with pytest.raises(KeyError, match="1 of 2 keys"):
        cache.get_many("enc", [keys[0], content_key("absent")])
    with pytest.raises(ValueError, match="8-dim"):
        cache.put_many("enc", [content_key("x")], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        cache.put_many("enc", [content_key("y")], np.full((1, 8), np.nan))
    assert cache.missing("enc", [keys[0], content_key("new"), content_key("new")]) == [
        content_key("new")
    ]


def _writer(root: str, start: int) -> None:
    cache = FeatureCache(root)
    for chunk in range(5):
        keys = [content_key(f"k{start + chunk * 20 + i}") for i in range(20)]
        values = np.array([[start + chunk * 20 + i] * 4 for i in range(20)], dtype=np.float32)
        cache.put_many("shared", keys, values)


def test_cache_is_safe_with_concurrent_writer_processes(tmp_path):
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_writer, args=(str(tmp_path), s)) for s in (0, 50, 100)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    keys = [content_key(f"k{i}") for i in range(200)]
    got = FeatureCache(tmp_path).get_many("shared", keys)
    np.testing.assert_array_equal(got[:, 0], np.arange(200, dtype=np.float32))


def test_featurize_encodes_only_missing_content(tmp_path):
    cache = FeatureCache(tmp_path)
    text_encoder, image_encoder = CharCountEncoder(), MeanColourEncoder()
    red, blue = _png((255, 0, 0)), _png((0, 0, 255))
    examples = [
        Example("a red square", red),
        Example("a blue square", blue),
        {"text": "a red square", "image": red},  # duplicate content
        Example("text only"),
    ]
    refs = featurize(examples, text_encoder, image_encoder, cache, batch_size=2)
    assert sorted(text_encoder.encoded) == ["a blue square", "a red square", "text only"]
    assert image_encoder.encoded == 2
    assert refs[0] == refs[2] and refs[3].image_key is None
    # a second run with one new example only encodes the new text
    more = featurize([*examples, Example("green", red)], text_encoder, image_encoder, cache)
    assert text_encoder.encoded[-1] == "green" and len(text_encoder.encoded) == 4
    assert image_encoder.encoded == 2
    # precomputed image keys resolve without the image itself
    by_key = featurize(
        [Example("green", image_key=refs[0].image_key)], text_encoder, image_encoder, cache
    )
    assert by_key[0] == more[-1]
    images, texts = load_features(
        more,
        cache,
        text_encoder_id=text_encoder.encoder_id,
        image_encoder_id=image_encoder.encoder_id,
    )
    assert images.shape == (5, 3) and texts.shape == (5, 26)
    assert np.all(images[3] == 0) and images[0] @ images[1] < 0.99
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, rtol=1e-5)


def test_featurize_rejects_bad_examples(tmp_path):
    cache = FeatureCache(tmp_path)
    with pytest.raises(ValueError, match="'text' string"):
        featurize([{"image": b"x"}], CharCountEncoder(), MeanColourEncoder(), cache)
    with pytest.raises(ValueError, match="cannot decode image bytes"):
        featurize([Example("x", b"not an image")], CharCountEncoder(), MeanColourEncoder(), cache)
    with pytest.raises(ValueError, match="only by image_key"):
        featurize(
            [Example("x", image_key="0" * 64)], CharCountEncoder(), MeanColourEncoder(), cache
        )
