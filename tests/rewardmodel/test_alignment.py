import numpy as np
import pytest
import torch

from rewardmodel.alignment import AlignConfig, train_alignment
from rewardmodel.heads import HeadConfig, RewardHead
from tests.stats import chance_bound


def _corpus(n: int, seed: int, wrong: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images show one of 6 colours (one-hot + noise); texts name it (another basis + noise);
    a share ``wrong`` of texts name another colour, as machine-made answers sometimes do."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 6, size=n)
    named = colours.copy()
    flip = rng.random(n) < wrong
    named[flip] = (colours[flip] + rng.integers(1, 6, size=flip.sum())) % 6
    images = np.eye(6)[colours] + 0.3 * rng.standard_normal((n, 6))
    basis = np.random.default_rng(99).standard_normal((6, 10))  # one vocabulary for all
    texts = basis[named] + 0.3 * rng.standard_normal((n, 10))
    # a first, unrelated block on each side: the column ranges must skip it
    images = np.hstack([rng.standard_normal((n, 4)), images])
    texts = np.hstack([rng.standard_normal((n, 3)), texts])
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return as_tensor(images), as_tensor(texts), [f"img{i}" for i in range(n)]


def test_alignment_learns_from_a_mostly_right_corpus_and_flags_contradictions() -> None:
    images, texts, ids = _corpus(600, seed=0, wrong=0.2)
    model = train_alignment(images, texts, ids, image_cols=(4, 10), text_cols=(3, 13),
                            config=AlignConfig(dim=8, steps=300, batch_size=128))  # fmt: skip
    assert not any(p.requires_grad for p in model.parameters())
    test_images, test_texts, _ = _corpus(300, seed=1)
    right = model(test_images, test_texts)
    wrong = model(test_images, test_texts.roll(1, dims=0))  # mostly another colour named
    # each of the 300 held-out images is right with probability 1/2 for an untrained map
    assert float((right > wrong).float().mean()) > max(0.75, chance_bound(len(right)))


def test_alignment_input_errors() -> None:
    images, texts, ids = _corpus(10, seed=0)
    with pytest.raises(ValueError, match="same length"):
        train_alignment(images, texts[:5], ids, image_cols=(0, 10), text_cols=(0, 13))
    with pytest.raises(ValueError, match="two different images"):
        train_alignment(images, texts, ["one"] * 10, image_cols=(0, 10), text_cols=(0, 13))
    with pytest.raises(ValueError, match="column range"):
        train_alignment(images, texts, ids, image_cols=(5, 5), text_cols=(0, 13))
    with pytest.raises(ValueError, match="needs image features"):
        HeadConfig(image_dim=0, text_dim=4, align_dim=2)


def test_head_with_alignment_round_trips_through_its_config() -> None:
    config = HeadConfig(image_dim=10, text_dim=13, hidden=8, align_dim=4,
                        align_image_cols=(4, 10), align_text_cols=(3, 13))  # fmt: skip
    assert HeadConfig.from_json(config.to_json()) == config
    head = RewardHead(config).eval()
    copy = RewardHead(HeadConfig.from_json(config.to_json())).eval()
    copy.load_state_dict(head.state_dict())
    images, texts, _ = _corpus(5, seed=2)
    torch.testing.assert_close(head(images, texts).overall, copy(images, texts).overall)
