"""Tune the item recipe on a validation split of rm_quality's training items only.

rm_quality holds out a quarter of the items (salt 1000 + seed); this script never reads them.
Of the remaining training items a quarter more (by hash, salt 7777) is the validation split:
each configuration trains on the rest with rm_quality's data (cross-item pairs from the
annotators' mean scores, in-item candidate pairs) and reports, on the validation items, the
model's pairwise agreement with the simulated annotators beside theirs with each other (the
same measure as rm_quality's `held_out_pairwise`). Accuracy against the hidden truth on the
validation items is printed for information; choose on the annotators' figure, as a user
without ground truth would. Needs rm_quality's --work-dir (corpus and cached features).
Prints one JSON line per configuration.
Usage: .venv/bin/python bench/rm_quality_tune.py --work-dir /tmp/rm_quality --annotators 5 \\
    --configs '[{}, {"lr": 1e-3, "ppi": 48}]'
(keys: any ItemTrainConfig field, plus min_gap, ppi = pairs per item, margin)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rm_quality as rmq  # noqa: E402

from demo.corpus.simulate import load_ground_truth, simulate_judgments  # noqa: E402
from rewardmodel.conversation import (  # noqa: E402
    aggregate_item_scores,
    candidate_pairs,
    records_turn_examples,
)
from rewardmodel.encoders import EfficientNetLiteEncoder, default_text_encoder  # noqa: E402
from rewardmodel.encoders.composite import ImageWithColourEncoder, TurnTextEncoder  # noqa: E402
from rewardmodel.evaluation import item_in_eval  # noqa: E402
from rewardmodel.features import FeatureCache, cache_feature_loader, featurize  # noqa: E402
from rewardmodel.item_training import (  # noqa: E402
    ItemPair,
    ItemTrainConfig,
    item_pairs_from_scores,
    train_item_reward_head,
)
from rewardmodel.scoring import score_refs  # noqa: E402

VAL_SALT = 7777


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", default="/tmp/rm_quality")
    parser.add_argument("--no-colour-terms", action="store_true",
                        help="the encoders without colour-term grounding")  # fmt: skip
    parser.add_argument("--configs", default="[{}]", help="JSON list of configurations")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(args.work_dir)
    folder = work / f"demo-{args.items}-{args.seed}"
    records = json.loads((folder / "corpus.json").read_text())
    truth = load_ground_truth(folder / "ground_truth.json")
    k_count = args.annotators
    judgments = simulate_judgments(
        folder / "ground_truth.json", n_annotators=k_count, flip_rate=0.15, seed=args.seed
    )
    ids = [str(r["id"]) for r in records]
    specs, examples = records_turn_examples(records, folder / "images")
    grounded = not args.no_colour_terms
    text_encoder = TurnTextEncoder(default_text_encoder("cpu"), colour_terms=grounded)
    image_encoder = ImageWithColourEncoder(
        EfficientNetLiteEncoder(image_size=128, device="cpu"), colour_terms=grounded
    )
    cache = FeatureCache(work / "features")
    refs = featurize(examples, text_encoder, image_encoder, cache, batch_size=64)
    load = cache_feature_loader(
        cache, text_encoder_id=text_encoder.encoder_id, image_encoder_id=image_encoder.encoder_id
    )
    held_out = {i for i in ids if item_in_eval(i, rmq.TEST_FRACTION, rmq.TEST_SALT + args.seed)}
    train_all = [i for i in ids if i not in held_out]
    val = sorted(i for i in train_all if item_in_eval(i, 0.25, VAL_SALT + args.seed))
    fit = [i for i in train_all if i not in set(val)]
    score = rmq._annotator_score
    consensus = {i: float(np.mean([score(judgments[(i, k)]) for k in range(k_count)])) for i in fit}
    cand_value: dict[tuple[str, int], float] = {}
    for i in fit:
        for k in range(k_count):
            for tier_index, tier in enumerate(judgments[(i, k)].ranking or ()):
                for c in tier:
                    cand_value[(i, c)] = cand_value.get((i, c), 0.0) - tier_index / k_count
    by_item: dict[str, list[int]] = defaultdict(list)
    for n, spec in enumerate(specs):
        by_item[spec.item_id].append(n)
    sides, turn_pairs = {}, []
    for i in fit:
        rows = by_item[i]
        plain = [refs[n] for n in rows if specs[n].candidate is None]
        cands = [n for n in rows if specs[n].candidate is not None]
        if cands:
            best = max(cands, key=lambda n: cand_value[(i, specs[n].candidate)])
            plain.append(refs[best])
            cand_refs = [refs[n] for n in cands]
            values = [cand_value[(i, specs[n].candidate)] for n in cands]
            turn_pairs += candidate_pairs(i, cand_refs, values, min_gap=0.5, source="ranking")
            imported = [specs[n].score for n in cands]
            if all(s is not None for s in imported):
                turn_pairs += candidate_pairs(i, cand_refs, imported, min_gap=0.3, source="import")  # type: ignore[arg-type]
        sides[i] = plain
    for cfg in json.loads(args.configs):
        started = time.perf_counter()
        min_gap, ppi, margin = cfg.pop("min_gap", 2.0), cfg.pop("ppi", 12), cfg.pop("margin", 0.0)
        pairs = item_pairs_from_scores(consensus, min_gap=min_gap, others_per_item=ppi, seed=0)
        if margin:
            pairs = [
                ItemPair(
                    p.chosen, p.rejected, margin * (consensus[p.chosen] - consensus[p.rejected])
                )
                for p in pairs
            ]
        config = ItemTrainConfig(**{"seed": args.seed, "colour_grounding": grounded, **cfg})
        result = train_item_reward_head(sides, pairs, load, turn_pairs=turn_pairs, config=config)
        reward = aggregate_item_scores(specs, score_refs(result.head, refs, load).overall)
        model_vs, peer_vs = rmq._pairwise_agreement(val, judgments, k_count, reward)
        clean = [reward[i] for i in val if truth[i]["clean"]]
        dirty = [reward[i] for i in val if not truth[i]["clean"]]
        print(
            json.dumps(
                {
                    "config": {**cfg, "min_gap": min_gap, "ppi": ppi, "margin": margin},
                    "val_items": len(val),
                    "val_model_vs_annotator": round(model_vs, 4),
                    "val_annotator_vs_annotator": round(peer_vs, 4),
                    "val_acc_vs_truth": round(rmq._auc(clean, dirty) or 0.0, 4),
                    "best_step": result.metrics.get("best_step"),
                    "steps": result.steps,
                    "train_s": round(time.perf_counter() - started, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
