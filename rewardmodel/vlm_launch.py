"""Data-parallel VLM reward-model training, one process per GPU:

    torchrun --nproc_per_node N -m rewardmodel.vlm_launch spec.json
    (or: accelerate launch --num_processes N -m rewardmodel.vlm_launch spec.json)

Each process loads the backbone on its own GPU (``LOCAL_RANK``; CPU and gloo without CUDA),
takes its share of every global batch and averages gradients with the others
(``rewardmodel.vlm``), so N processes make the same updates as one with the same global batch.
Rank 0 writes checkpoints, a JSON line per progress call to ``progress_file`` and the trained
adapter + head to ``output_dir``; a ``cancel_file`` that appears stops every process at the
next progress call (rank 0's decision is broadcast), after a checkpoint.

The spec (JSON): ``backbone``, ``revision``, ``config`` (``VLMTrainConfig`` fields),
``samples`` (``{"turns": [[role, text], ...], "image": path or null}``), ``train`` and
``held_out`` (``[chosen, rejected, margin]``), ``output_dir``, optional ``checkpoint_dir``,
``progress_file``, ``cancel_file``, ``log_every``, ``run_key``.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


def spec_write(path: str | os.PathLike[str], **spec: Any) -> Path:
    """Write a launch spec (samples as ``rewardmodel.vlm.Sample``, pairs as ``Pair``)."""
    samples = [
        {"turns": [list(t) for t in s.turns], "image": str(s.image) if s.image else None}
        for s in spec.pop("samples")
    ]
    for name in ("train", "held_out"):
        spec[name] = [[p.chosen, p.rejected, p.margin] for p in spec.get(name, [])]
    spec["config"] = dict(spec["config"].__dict__)
    path = Path(path)
    path.write_text(json.dumps({**spec, "samples": samples}))
    return path


def main(argv: list[str] | None = None) -> int:
    from rewardmodel.configs import VLMTrainConfig
    from rewardmodel.vlm import Pair, Sample, vlm_reward_model_load, vlm_state_save, vlm_train

    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=30))
    rank = dist.get_rank()
    try:
        config = VLMTrainConfig(**spec["config"])
        device = torch.device(f"cuda:{local}" if cuda else "cpu")
        model = vlm_reward_model_load(spec["backbone"], config=config, device=device)
        samples = [Sample(tuple(map(tuple, s["turns"])), s["image"]) for s in spec["samples"]]
        train = [Pair(int(c), int(r), float(m)) for c, r, m in spec["train"]]
        held_out = [Pair(int(c), int(r), float(m)) for c, r, m in spec.get("held_out", [])]
        progress_file = spec.get("progress_file")
        cancel_file = spec.get("cancel_file")

        def progress(step: int, total: int, loss: float, val_acc: float | None) -> bool:
            stop = torch.tensor([float(rank == 0 and bool(cancel_file) and
                                       Path(cancel_file).exists())])  # fmt: skip
            dist.broadcast(stop, src=0)
            if rank == 0 and progress_file:
                line = {"step": step, "total": total, "loss": loss, "val_acc": val_acc}
                with open(progress_file, "a") as handle:
                    handle.write(json.dumps(line) + "\n")
            return not bool(stop.item())

        result = vlm_train(
            model,
            samples,
            train,
            held_out,
            config=config,
            checkpoint_dir=spec.get("checkpoint_dir"),
            progress=progress,
            log_every=int(spec.get("log_every", 10)),
            run_key=spec.get("run_key"),
        )
        if rank == 0:
            out = Path(spec["output_dir"])
            vlm_state_save(out, model, backbone=spec["backbone"],
                           revision=spec.get("revision", ""), config=config)  # fmt: skip
            summary = {"steps": result.steps, "cancelled": result.cancelled,
                       "best_step": result.best_step, "eval_accuracy": result.eval_accuracy,
                       "history": result.history, "processes": dist.get_world_size()}  # fmt: skip
            (out / "result.json").write_text(json.dumps(summary))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
