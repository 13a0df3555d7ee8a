"""Ready-to-run command lines for the trainers, written into each export's manifest.

Each command runs from inside the export folder (or the downloaded S3 prefix). The model names
are examples a user replaces; the data arguments are exact.
"""

from __future__ import annotations

LLAVA_TRAIN = (
    "deepspeed llava/train/train_mem.py --deepspeed ./scripts/zero3.json"
    " --model_name_or_path lmsys/vicuna-7b-v1.5 --version v1"
    " --data_path {data} --image_folder images"
    " --vision_tower openai/clip-vit-large-patch14-336 --mm_projector_type mlp2x_gelu"
    " --mm_vision_select_layer -2 --mm_use_im_start_end False --mm_use_im_patch_token False"
    " --image_aspect_ratio pad --bf16 True --output_dir ./checkpoints/llava-arbiter"
    " --num_train_epochs 1 --per_device_train_batch_size 16 --learning_rate 2e-5"
)
TRL_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"


def _loader(builder: str, files: list[str]) -> str:
    return f'load_dataset("{builder}", data_files={files!r}, split="train")'


def training_commands(*, export_format: str, files: list[str]) -> dict[str, str]:
    """{"trainer": "command or snippet"} for what can train on this export."""
    data = [f for f in files if f not in ("images.tar", "dataset_info.json")]
    untar = "tar xf images.tar -C images && " if "images.tar" in files else ""
    out: dict[str, str] = {}
    if export_format == "llava_json":
        out["llava"] = "mkdir -p images && " + untar + LLAVA_TRAIN.format(data=data[0])
    if export_format in ("jsonl", "parquet", "llava_json"):
        builder = "parquet" if export_format == "parquet" else "json"
        out["datasets"] = "from datasets import load_dataset; ds = " + _loader(builder, data)
    if export_format == "parquet_images":
        out["datasets"] = (
            "from datasets import load_dataset; ds = "
            + _loader("parquet", data)
            + "  # ds[0]['image'] is a PIL image"
        )
    if export_format == "webdataset":
        brace = data[0].replace("-00000.tar", f"-{{00000..{len(data) - 1:05d}}}.tar")
        out["webdataset"] = (
            f'import webdataset as wds; ds = wds.WebDataset("{brace}", shardshuffle=False)'
            '.decode("pil").to_tuple("jpg;png", "json")'
        )
    if export_format == "trl_pairs":
        if data[0].endswith(".parquet"):
            out["trl"] = (
                f"trl dpo --model_name_or_path {TRL_MODEL} --dataset_name . "
                "--output_dir dpo-arbiter --per_device_train_batch_size 2 --bf16"
            )
            load = _loader("parquet", data)
        else:
            load = (
                _loader("json", data) + ".map(lambda r: {'images': ['images/' + p for p in "
                "r['images']]}).cast_column('images', Sequence(Image()))"
            )
        out["trl_python"] = (
            ("# first: mkdir -p images && " + untar.removesuffix(" && ") + "\n" if untar else "")
            + "from datasets import Image, Sequence, load_dataset\n"
            "from transformers import AutoModelForImageTextToText, AutoProcessor\n"
            "from trl import DPOConfig, DPOTrainer\n"
            f"train = {load}\n"
            f'model = AutoModelForImageTextToText.from_pretrained("{TRL_MODEL}")\n'
            f'processor = AutoProcessor.from_pretrained("{TRL_MODEL}")\n'
            'DPOTrainer(model=model, args=DPOConfig(output_dir="dpo-arbiter"),'
            " train_dataset=train, processing_class=processor).train()"
        )
    if export_format == "llamafactory":
        out["llamafactory"] = (
            untar.replace(" -C images", "") + "llamafactory-cli train --stage dpo --do_train"
            f" --model_name_or_path {TRL_MODEL} --template qwen2_vl --dataset_dir ."
            " --dataset <the key of dataset_info.json> --finetuning_type lora"
            " --output_dir dpo-arbiter"
        )
    return out
