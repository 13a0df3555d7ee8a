import io

import numpy as np
import pytest
import torch
from PIL import Image

from rewardmodel.encoders import (
    EfficientNetLiteEncoder,
    Encoder,
    ImageEncoder,
    TextEncoder,
    encoder_load,
)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _shape_image(kind: str, colour: tuple[int, int, int], shift: int = 0) -> Image.Image:
    from PIL import ImageDraw

    image = Image.new("RGB", (96, 96), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    box = (20 + shift, 20 + shift, 76 + shift, 76 + shift)
    if kind == "circle":
        draw.ellipse(box, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    return image


def test_tiny_bert_by_path(tiny_bert_dir):
    encoder = encoder_load(str(tiny_bert_dir), device="cpu")
    assert isinstance(encoder, TextEncoder) and isinstance(encoder, Encoder)
    out = encoder.encode(["the cat sat on the mat", "a red dog"])
    assert out.dtype == torch.float32 and out.shape == (2, 32)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    # padding must not change a sentence's embedding (mean pooling over real tokens only)
    alone = encoder.encode(["a red dog"])
    torch.testing.assert_close(alone[0], out[1], atol=1e-5, rtol=1e-5)
    assert encoder.encode([]).shape == (0, 32)
    with pytest.raises(TypeError, match="str"):
        encoder.encode([b"bytes"])


def test_tiny_clip_by_path_accepts_bytes_pil_and_paths(tiny_clip_dir, tmp_path):
    encoder = encoder_load(str(tiny_clip_dir), device="cpu")
    assert isinstance(encoder, ImageEncoder) and encoder.dim == 12
    image = _shape_image("circle", (200, 0, 0))
    path = tmp_path / "a.png"
    image.save(path)
    out = encoder.encode([image, _png_bytes(image), path, str(path)])
    assert out.shape == (4, 12)
    torch.testing.assert_close(out[0], out[1])
    torch.testing.assert_close(out[0], out[3])
    with pytest.raises(FileNotFoundError):
        encoder.encode([tmp_path / "missing.png"])
    # the explicit 'image:' prefix and a vision tower alone work too
    from transformers import CLIPVisionModel

    CLIPVisionModel.from_pretrained(tiny_clip_dir).save_pretrained(tmp_path / "tower")
    tower = encoder_load(f"image:{tmp_path / 'tower'}", device="cpu")
    assert tower.encode([image]).shape == (1, 16)
    assert tower.encoder_id != encoder.encoder_id


def test_encoder_load_errors():
    with pytest.raises(ValueError, match="unknown encoder spec"):
        encoder_load("/no/such/checkpoint")
    with pytest.raises(ValueError, match="non-empty"):
        encoder_load("  ")


def test_default_text_encoder_is_semantic():
    encoder = encoder_load("default-text", device="cpu")
    assert encoder.dim == 384
    a, b, c = encoder.encode(
        [
            "A cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Interest rates rose again.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.3


def test_default_image_encoder_groups_similar_images():
    encoder = encoder_load("default-image", device="cpu")
    assert isinstance(encoder, EfficientNetLiteEncoder) and encoder.dim == 1280
    base = _shape_image("circle", (220, 30, 30))
    similar = _shape_image("circle", (200, 40, 40), shift=4)
    different = Image.fromarray(
        (np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)
    )
    a, b, c = encoder.encode([_png_bytes(base), similar, different])
    torch.testing.assert_close(a.norm(), torch.tensor(1.0))
    assert float(a @ b) > float(a @ c)
    assert EfficientNetLiteEncoder(image_size=128).encoder_id != encoder.encoder_id


def test_grounded_composites_add_colour_columns_and_keep_the_defaults_ids() -> None:
    from rewardmodel.colour_terms import N_TERMS, N_TEXT_COLUMNS, colour_term_mentions
    from rewardmodel.encoders.composite import turn_text

    plain_text, text = encoder_load("default-turn-text"), encoder_load("grounded-turn-text")
    plain_image, image = encoder_load("default-image-colour"), encoder_load("grounded-image-colour")
    # the defaults' cache ids never change: models trained on them keep scoring
    assert plain_text.encoder_id == "turn:v2:text:all-MiniLM-L6-v2:mean:256:stats1"
    assert plain_image.encoder_id == "image:image:efficientnet-lite0:avgpool:128+rgbhist4w1:v1"
    assert text.encoder_id != plain_text.encoder_id and image.encoder_id != plain_image.encoder_id
    assert text.dim == plain_text.dim + N_TEXT_COLUMNS
    assert image.dim == plain_image.dim + N_TERMS
    answer = "No, the square is not blue."
    row = text.encode([turn_text("Is the square blue?", answer)])[0]
    plain_row = plain_text.encode([turn_text("Is the square blue?", answer)])[0]
    assert torch.allclose(row[: plain_text.dim], plain_row, atol=1e-6)
    assert row[plain_text.dim :].tolist() == colour_term_mentions(answer)
    picture = Image.new("RGB", (32, 32), (40, 70, 220))
    shares = image.encode([picture])[0, plain_image.dim :]
    assert shares.sum().item() == pytest.approx(1.0) and shares.max().item() == 1.0
