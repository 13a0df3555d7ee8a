import numpy as np
import pytest
import torch

from rewardmodel.artifacts import reward_model_load, reward_model_save
from rewardmodel.evaluation import item_in_eval
from rewardmodel.features import FeatureRef
from rewardmodel.pairs import PreferencePair, RuleVerdict, training_fingerprint
from rewardmodel.scoring import score_features, score_refs
from rewardmodel.training import TrainConfig, train_reward_head

from .conftest import dict_loader, synthetic_task

FAST = TrainConfig(epochs=6, batch_size=128, hidden=64, eval_every=10, checkpoint_every=7, lr=3e-3)


@pytest.fixture(scope="module")
def task():
    return synthetic_task()


def test_head_learns_image_text_interaction_and_splits_by_item(task):
    pairs, images, texts = task
    result = train_reward_head(pairs, dict_loader(images, texts), config=FAST)
    assert result.metrics["eval_accuracy"] > 0.8, result.metrics
    assert 0 < result.metrics["eval_ece"] < 0.5
    assert result.train_pairs + result.eval_pairs == len(pairs)
    eval_items = {
        p.item_id for p in pairs if item_in_eval(p.item_id, FAST.eval_fraction, FAST.seed)
    }
    assert result.eval_pairs == sum(p.item_id in eval_items for p in pairs)
    assert result.fingerprint == training_fingerprint(pairs)


def test_resume_from_checkpoint_gives_identical_weights(task, tmp_path):
    pairs, images, texts = task
    load = dict_loader(images, texts)
    full = train_reward_head(pairs, load, config=FAST)
    seen = []

    def stop_at_20(step, total, loss, val_acc):
        seen.append((step, total, loss, val_acc))
        return step < 20

    interrupted = train_reward_head(
        pairs, load, config=FAST, checkpoint_dir=tmp_path, progress=stop_at_20, log_every=5
    )
    assert interrupted.cancelled and interrupted.steps == 20
    assert seen[-1][0] == 20 and seen[-1][1] == full.total_steps and seen[-1][3] is not None
    resumed = train_reward_head(pairs, load, config=FAST, checkpoint_dir=tmp_path)
    assert not resumed.cancelled and resumed.steps == full.total_steps
    for name, value in full.head.state_dict().items():
        torch.testing.assert_close(resumed.head.state_dict()[name], value, rtol=0, atol=0)
    with pytest.raises(ValueError, match="different run"):
        train_reward_head(pairs[:-1], load, config=FAST, checkpoint_dir=tmp_path)


def test_criteria_rules_save_load_and_score(task, tmp_path):
    pairs, images, texts = task
    pairs = pairs[:600]
    helpful = [
        PreferencePair(p.item_id, p.chosen, p.rejected, criterion="helpful") for p in pairs[:300]
    ]
    verdicts = [
        RuleVerdict(p.item_id, p.chosen, "unsafe", texts[p.chosen.text_key][0] > 1) for p in pairs
    ]
    result = train_reward_head(
        pairs + helpful,
        dict_loader(images, texts),
        config=FAST,
        criteria=["helpful"],
        rules=["unsafe"],
        verdicts=verdicts,
    )
    path = reward_model_save(
        tmp_path,
        result.head,
        text_encoder_id="t",
        image_encoder_id="i",
        metrics=result.metrics,
        fingerprint=result.fingerprint,
    )
    assert path.name == "v0001"
    assert reward_model_save(tmp_path, result.head, text_encoder_id="t", image_encoder_id="i",
                             fingerprint="x").name == "v0002"  # fmt: skip
    loaded = reward_model_load(path)
    assert loaded.metrics["eval_pairs"] == result.metrics["eval_pairs"]
    assert loaded.data["fingerprint"] == result.fingerprint
    refs = [p.chosen for p in pairs[:50]] + [p.rejected for p in pairs[:50]]
    image, text = dict_loader(images, texts)(refs)
    before = score_features(result.head, image, text)
    after = score_refs(loaded.head, refs, dict_loader(images, texts))
    chunked = score_refs(loaded.head, refs, dict_loader(images, texts), chunk=33, batch_size=7)
    np.testing.assert_allclose(chunked.overall, before.overall, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(before.overall, after.overall)
    np.testing.assert_array_equal(before.criteria["helpful"], after.criteria["helpful"])
    assert (
        set(after.rules) == {"unsafe"}
        and ((after.rules["unsafe"] >= 0) & (after.rules["unsafe"] <= 1)).all()
    )
    # verdict learned: violating texts get higher probabilities on average
    violated = np.array([texts[r.text_key][0] > 1 for r in refs])
    assert after.rules["unsafe"][violated].mean() > after.rules["unsafe"][~violated].mean()
    with pytest.raises(FileNotFoundError):
        reward_model_load(tmp_path / "nothing")


def test_cross_item_pairs_and_bad_input(task):
    pairs, images, texts = task
    a, b = pairs[0].chosen, pairs[10].rejected
    cross = PreferencePair("item-0", a, b, rejected_item_id="item-1")
    assert cross.items == ("item-0", "item-1")
    result = train_reward_head([*pairs[:200], cross], dict_loader(images, texts),
                               config=TrainConfig(max_steps=3, hidden=16))  # fmt: skip
    assert result.steps == 3
    with pytest.raises(ValueError, match="unknown criterion"):
        train_reward_head([PreferencePair("x", a, b, criterion="nope")], dict_loader(images, texts))
    with pytest.raises(ValueError, match="margin"):
        PreferencePair("x", a, b, margin=-1)
    with pytest.raises(ValueError, match="identical"):
        PreferencePair("x", a, a)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="nothing to train"):
        train_reward_head([], dict_loader(images, texts))
    assert isinstance(FeatureRef(None, "k"), FeatureRef)


def test_early_stopping_keeps_the_best_weights(task):
    pairs, images, texts = task
    load = dict_loader(images, texts)
    config = TrainConfig(
        epochs=12, batch_size=128, hidden=64, eval_every=5, lr=3e-3, keep_best=True, patience=3
    )
    result = train_reward_head(pairs, load, config=config)
    best = max(h["val_acc"] for h in result.history if "val_acc" in h)
    # the returned weights are the best evaluated ones (history logs every 10 steps, so its
    # maximum is a lower bound of the best)
    assert result.metrics["eval_accuracy"] >= best - 1e-9
    assert 0 < result.metrics["best_step"] <= result.steps <= result.total_steps


def test_new_config_fields_at_defaults_keep_the_checkpoint_key():
    from dataclasses import asdict

    from rewardmodel.training import _config_key

    assert _config_key(FAST) == {
        k: v for k, v in asdict(FAST).items() if k not in ("keep_best", "patience")
    }
    assert _config_key(TrainConfig(keep_best=True))["keep_best"] is True
