"""The VLM recipe: a vision-language checkpoint (``backbone``) with LoRA and a value head,
trained on item pairs and scoring whole items with their image (``rewardmodel.vlm``).

Where the item recipe sees the text and the image through separate frozen encoders, this one
reads the image and the conversation together, so it can check an answer against the image.
Item pairs are those of the item recipe (items whose scores differ by ``item_min_gap``), split
by item (a pair with one item on each side is left out). It needs a GPU to be practical; the
artifact records the backbone's name and revision and refuses to score on another.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from core.errors import DomainError
from corpora.models import Item
from curation.services.recipes import TrainedModel, config_from_hyper, in_eval
from curation.services.texts import IMAGE_TOKEN, default_candidate
from rewardmodel.configs import ItemPairsConfig, VLMTrainConfig
from rewardmodel.data import TrainingData

if TYPE_CHECKING:  # torch and transformers load in the worker only
    from rewardmodel.vlm import Sample, VLMRewardModel

VLM_TRAINER = "vlm"


def _clean(value: Any) -> str:
    return str(value or "").replace(IMAGE_TOKEN, "").strip()


def item_sample(item: Item, *, picks: dict[int, int] | None = None, upto: int | None = None):
    """The item as the VLM reads it: its image and its turns (a candidate turn answered by
    ``picks[turn]``, else its default candidate), up to message ``upto``."""
    from rewardmodel.vlm import Sample

    picks = picks or {}
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(item.conversations or []):
        if upto is not None and index > upto:
            break
        value = message.get("value")
        if isinstance(value, list):
            k = picks.get(index, default_candidate(message))
            value = value[k] if 0 <= k < len(value) else ""
        role = "user" if message.get("from") == "human" else "assistant"
        turns.append((role, _clean(value)))
    if not turns:
        questions = item.questions if isinstance(item.questions, list) else []
        first = questions[0] if questions else ""
        text = " ".join(map(_clean, first)) if isinstance(first, list) else _clean(first)
        turns = [("user", text)]
    image = Path(settings.MEDIA_ROOT) / item.image.file if item.image_id else None
    return Sample(tuple(turns), image)


def vlm_train_config(hyper: dict[str, Any]) -> VLMTrainConfig:
    return config_from_hyper(VLMTrainConfig, hyper)


def _item_scores(data: TrainingData) -> dict[str, float]:
    values: dict[str, list[float]] = defaultdict(list)
    for target in data.targets:
        values[str(target.item_id)].append(target.value)
    for verdict in data.verdicts:
        values[str(verdict.item_id)].append(0.0 if verdict.violates else 1.0)
    return {i: float(np.mean(v)) for i, v in values.items()}


def vlm_recipe_train(
    *,
    data: TrainingData,
    criteria: list[str],
    hyper: dict[str, Any],
    checkpoint_dir: Path,
    progress: Callable[[int, int, float, float | None], bool],
) -> TrainedModel:
    from rewardmodel.item_training import item_pairs_from_scores
    from rewardmodel.vlm import (
        Pair,
        backbone_revision,
        vlm_reward_model_load,
        vlm_state_save,
        vlm_train,
    )

    config = vlm_train_config(hyper)
    pairs_config = config_from_hyper(ItemPairsConfig, hyper)
    backbone = hyper["backbone"]
    scores = _item_scores(data)
    items = {
        str(item.pk): item
        for item in Item.objects.filter(pk__in=[int(i) for i in scores])
        .select_related("image")
        .only("pk", "conversations", "questions", "image__file")
        .order_by("pk")
    }
    scores = {i: s for i, s in scores.items() if i in items}
    item_pairs = item_pairs_from_scores(
        scores,
        min_gap=pairs_config.item_min_gap,
        others_per_item=pairs_config.item_pairs_per_item,
        seed=config.seed,
    )
    index = {item_id: k for k, item_id in enumerate(items)}

    def held(item_id: str) -> bool:
        return in_eval(item_id, config.eval_fraction, config.seed)

    train = [Pair(index[p.chosen], index[p.rejected], p.margin)
             for p in item_pairs if not held(p.chosen) and not held(p.rejected)]  # fmt: skip
    held_out = [Pair(index[p.chosen], index[p.rejected], p.margin)
                for p in item_pairs if held(p.chosen) and held(p.rejected)]  # fmt: skip
    if not train:
        raise DomainError(
            "no_training_data",
            "The project has no training items with different ratings to train on yet.",
        )
    processes = int(getattr(settings, "ARBITER_VLM_PROCESSES", 1))
    try:
        revision = backbone_revision(backbone)
        # data parallel: the launched processes load it, one per GPU
        model = vlm_reward_model_load(backbone, config=config) if processes == 1 else None
    except ValueError as exc:
        raise DomainError("backbone_unavailable", str(exc)[:500]) from exc
    samples = [item_sample(item) for item in items.values()]
    over_length = _over_length(model, backbone, samples, config.max_length)
    log_every = max(1, min(10, config.checkpoint_every, config.eval_every))
    run_key = {"backbone": backbone, "revision": revision}
    if model is None:  # data parallel: one process per GPU (gloo on CPU), started here
        result, output = _train_data_parallel(
            processes=processes, backbone=backbone, revision=revision, config=config,
            samples=samples, train=train, held_out=held_out, checkpoint_dir=checkpoint_dir,
            progress=progress, log_every=log_every, run_key=run_key,
        )  # fmt: skip
        write_model = functools.partial(_copy_model, output)
    else:
        result = vlm_train(
            model,
            samples,
            train,
            held_out,
            config=config,
            checkpoint_dir=checkpoint_dir,
            resume=True,
            progress=progress,
            log_every=log_every,
            run_key=run_key,
        )

        def write_model(directory: Path) -> None:
            vlm_state_save(directory, model, backbone=backbone, revision=revision, config=config)

    if not result.cancelled:
        scorer = model if model is not None else _load_trained(output, backbone)
        held_items = [i for i in items if held(i)]
        metrics_readouts, held_out_rewards = _held_out_readouts(
            scorer, samples, [index[i] for i in held_items], held_items, data=data,
            criteria=criteria, config=config,
        )  # fmt: skip
    else:
        metrics_readouts, held_out_rewards = {}, {}
    digest = hashlib.sha256(f"{backbone}@{revision}".encode())
    for pair in item_pairs:
        digest.update(f"{pair.chosen}>{pair.rejected}:{pair.margin}\n".encode())
    metrics: dict[str, Any] = {
        "backbone": backbone,
        "backbone_revision": revision,
        # items whose conversation max_length cuts: their rewards never see the last turns
        "max_length": config.max_length,
        "items_over_max_length": len(over_length),
        "items_over_max_length_examples": [list(items)[i] for i in over_length[:10]],
    }
    if result.eval_accuracy is not None:
        metrics.update(
            eval_accuracy=result.eval_accuracy,
            eval_item_pair_accuracy=result.eval_accuracy,
            eval_item_pairs=len(held_out),
        )
    metrics.update(metrics_readouts)
    return TrainedModel(
        head=None,
        metrics=metrics,
        fingerprint=digest.hexdigest(),
        steps=result.steps,
        train_pairs=len(train),
        eval_pairs=len(held_out),
        criteria=[],  # one scalar reward: the read-outs per criterion and rule read it
        rules=[],
        text_encoder_id=backbone,
        image_encoder_id=None,
        recipe={
            "trainer": VLM_TRAINER,
            "unit": "item",
            "backbone": backbone,
            "backbone_revision": revision,
        },  # fmt: skip
        cancelled=result.cancelled,
        data_info={"pairs_by_source": {"rating-difference (items)": len(item_pairs)}},
        write_model=write_model,
        held_out_rewards=held_out_rewards,
    )


def _over_length(
    model: VLMRewardModel | None, backbone: str, samples: list[Sample], max_length: int
) -> list[int]:
    """Indices of the samples ``max_length`` cuts (with data parallel, where no model is
    loaded here, the checkpoint's processor alone measures them)."""
    from rewardmodel.vlm import samples_over_length

    if model is None:
        from types import SimpleNamespace

        from transformers import AutoConfig, AutoTokenizer

        from rewardmodel.vlm import is_vision_config
        from rewardmodel.vlm_processors import processor_load

        hf_config = AutoConfig.from_pretrained(backbone, local_files_only=True)
        vision = is_vision_config(hf_config)
        processor = (
            processor_load(backbone, hf_config)
            if vision
            else AutoTokenizer.from_pretrained(backbone, local_files_only=True)
        )
        model = SimpleNamespace(processor=processor, vision=vision,
                                tokenizer=getattr(processor, "tokenizer", processor))  # fmt: skip
    return samples_over_length(model, samples, max_length=max_length)


def _load_trained(output: Path, backbone: str) -> VLMRewardModel:
    """The data-parallel run's model, for its read-outs (the launched processes held it)."""
    from rewardmodel.vlm import vlm_state_load

    return vlm_state_load(output, backbone=backbone)[0]


def _held_out_readouts(
    model: VLMRewardModel,
    samples: list[Sample],
    indices: list[int],
    item_ids: list[str],
    *,
    data: TrainingData,
    criteria: list[str],
    config: VLMTrainConfig,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Per criterion and per rule, on the held-out items, how the reward orders them against
    the annotators' consensus (``readouts``), with the best weights the run kept; and the
    held-out items' rewards."""
    from curation.services.readouts import criterion_values, held_out_readouts, rule_values
    from rewardmodel.vlm import score_samples

    if not indices:
        return {}, {}
    scores = score_samples(model, samples, indices=indices, batch_size=config.micro_batch_size * 2,
                           max_length=config.max_length, bf16=config.bf16)  # fmt: skip
    rewards = {item: scores[k] for item, k in zip(item_ids, indices, strict=True)}
    held = set(item_ids)
    readouts = held_out_readouts(
        rewards,
        criteria=criterion_values(data.targets, criteria=criteria, items=held),
        rules=rule_values(data.verdicts, items=held),
        seed=config.seed,
    )
    return readouts, rewards


def _copy_model(source: Path, directory: Path) -> None:
    for name in ("adapter.safetensors", "vlm.json"):
        shutil.copyfile(source / name, directory / name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _train_data_parallel(*, processes, backbone, revision, config, samples, train, held_out,
                         checkpoint_dir, progress, log_every, run_key):  # fmt: skip
    """``torchrun`` with ``processes`` processes (``rewardmodel.vlm_launch``); its progress
    lines are relayed to ``progress`` and a cancel becomes the launcher's cancel file. The
    checkpoints are the single-process ones: a run resumes whatever the process count."""
    from rewardmodel.vlm import VLMTrainResult
    from rewardmodel.vlm_launch import spec_write

    work = checkpoint_dir.parent / "data-parallel"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    progress_file, cancel_file, output = work / "progress.jsonl", work / "cancel", work / "out"
    spec = spec_write(work / "spec.json", backbone=backbone, revision=revision, config=config,
                      samples=samples, train=train, held_out=held_out,
                      checkpoint_dir=str(checkpoint_dir), progress_file=str(progress_file),
                      cancel_file=str(cancel_file), output_dir=str(output),
                      log_every=log_every, run_key=run_key)  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
               str(processes), "--master_addr", "127.0.0.1", "--master_port",
               str(_free_port()), "-m", "rewardmodel.vlm_launch", str(spec)]  # fmt: skip
    log = (work / "launch.log").open("w")
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    seen = 0
    try:
        while True:
            finished = child.poll() is not None
            lines = progress_file.read_text().splitlines() if progress_file.exists() else []
            for line in lines[seen:]:
                step = json.loads(line)
                if progress(step["step"], step["total"], step["loss"], step["val_acc"]) is False:
                    cancel_file.touch()
            seen = len(lines)
            if finished:
                break
            time.sleep(1.0)
    finally:
        if child.poll() is None:
            child.kill()
        log.close()
    if child.returncode != 0:
        tail = (work / "launch.log").read_text()[-2000:]
        raise RuntimeError(f"data-parallel training failed ({child.returncode}): {tail}")
    summary = json.loads((output / "result.json").read_text())
    result = VLMTrainResult(summary["steps"], summary["cancelled"], summary["best_step"],
                            summary["history"], summary["eval_accuracy"])  # fmt: skip
    return result, output


@functools.lru_cache(maxsize=1)
def _scorer(path: str):  # (VLMRewardModel, VLMTrainConfig)
    from rewardmodel.vlm import vlm_state_load

    try:
        return vlm_state_load(path)
    except ValueError as exc:  # another backbone revision, or it cannot be loaded here
        raise DomainError("backbone_mismatch", str(exc)[:500], status=409) from exc


def vlm_items_score(artifact_path: Path, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Per item: its reward (the whole conversation with its image) and, for candidate turns,
    the candidate the model prefers (each candidate read in its dialogue so far)."""
    from rewardmodel.records import candidate_turns
    from rewardmodel.vlm import score_samples

    model, config = _scorer(str(artifact_path))
    samples = [item_sample(item) for item in items]
    alternatives: list[tuple[int, int, int]] = []
    for i, item in enumerate(items):
        conversations = item.conversations or []
        for turn in candidate_turns(conversations) if conversations else []:
            for k in range(len(conversations[turn]["value"])):
                alternatives.append((i, turn, k))
                samples.append(item_sample(item, picks={turn: k}, upto=turn))
    scores = score_samples(model, samples, batch_size=config.micro_batch_size * 2,
                           max_length=config.max_length, bf16=config.bf16)  # fmt: skip
    best: dict[int, dict[str, tuple[float, int]]] = defaultdict(dict)
    for offset, (i, turn, k) in enumerate(alternatives):
        value = scores[len(items) + offset]
        current = best[i].get(str(turn))
        if current is None or value > current[0]:
            best[i][str(turn)] = (value, k)
    return [
        {"overall": scores[i], "best_candidates": {t: k for t, (_, k) in best[i].items()}}
        for i in range(len(items))
    ]
