"""Config fields declared with their bounds: the dataclass checks itself, callers read a schema."""

from __future__ import annotations

import pytest

from rewardmodel.configs import ItemPairsConfig, ItemTrainConfig, item_recipe_schema
from rewardmodel.params import params_clean


def test_a_config_names_every_field_out_of_its_bounds() -> None:
    with pytest.raises(ValueError, match="lr, batch_size, eval_fraction"):
        ItemTrainConfig(lr=0.0, batch_size=0, eval_fraction=1.0)
    with pytest.raises(ValueError, match="item_min_gap"):
        ItemPairsConfig(item_min_gap=2.0)
    with pytest.raises(ValueError, match="epochs"):
        ItemTrainConfig(epochs=2.5)  # type: ignore[arg-type]
    assert ItemTrainConfig(patience=0).patience is None  # 0 turns early stopping off


def test_the_schema_holds_types_defaults_and_bounds_of_the_exposed_fields() -> None:
    schema = item_recipe_schema()
    assert "standardise" not in schema and "align_dim" not in schema  # library-only knobs
    assert schema["patience"].as_dict() == {
        "name": "patience",
        "type": "int",
        "default": 15,
        "min": 0,
        "max": 1_000_000,
        "nullable": True,
        "help": schema["patience"].help,
    }
    clean, errors = params_clean(schema, {"hidden": 64, "lr": "fast", "seed": 1.0, "dropout": None})
    assert clean["hidden"] == 64 and clean["seed"] == 1 and isinstance(clean["seed"], int)
    assert clean["epochs"] == 60  # a default filled in
    assert errors == {"lr": ["Must be a number (float)."], "dropout": ["Must not be null."]}
