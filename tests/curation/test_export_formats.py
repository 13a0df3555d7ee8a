"""Exports the trainers read, each loaded with the real loader: Parquet with images (`datasets`),
WebDataset (`webdataset`), TRL pairs (`datasets`, and TRL's RewardTrainer for a few steps),
LLaMA-Factory ranking records (its documented schema), scores as fields, and the S3 sink
against a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from core.models import Job
from core.services.jobs import job_create
from corpora.models import ImageAsset, Item
from curation.models import DatasetItem, DatasetVersion, Export, ItemScore, RewardModelRun

pytestmark = [pytest.mark.django_db]

N_IMAGES = 8


def _png(seed: int, side: int = 320) -> bytes:
    """Noise, so PNG cannot compress it: ~300 kB per image, enough to cut shards of 1 MiB."""
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def dataset(project, staff, settings, tmp_path):
    """All the project's items in one version, scored by a run with a criterion and a rule; the
    first N_IMAGES items have an image, their question the `<image>` token; imported candidate
    scores are the project's judged pairs."""
    from annotation.services.imported_scores import imported_scores_to_annotations

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ARTIFACTS_ROOT = tmp_path / "artifacts"
    items = list(Item.objects.filter(has_candidates=True).order_by("pk")[:N_IMAGES])
    for i, item in enumerate(items):
        data = _png(i)
        stored = Path(settings.MEDIA_ROOT) / "img" / f"{i}.png"
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_bytes(data)
        item.image = ImageAsset.objects.create(
            sha256=hashlib.sha256(data).hexdigest(),
            file=f"img/{i}.png",
            format="PNG",
            width=320,
            height=320,
            size_bytes=len(data),
        )
        item.image_path = f"coco/{i}.png"
        item.conversations[0]["value"] = "<image>\n" + item.conversations[0]["value"]
        item.save()
    imported_scores_to_annotations(project=project)
    job = job_create(kind=Job.Kind.REWARD_MODEL_TRAIN, params={"project_id": project.pk})
    run = RewardModelRun.objects.create(
        project=project,
        job=job,
        hyperparameters={},
        text_encoder="text:x",
        in_progress=False,
        criteria=["overall", "helpful"],
        rules=["safe"],
    )
    members = Item.objects.filter(corpus__in=project.corpora.all()).order_by("pk")
    ItemScore.objects.bulk_create(
        ItemScore(
            run=run,
            item=item,
            overall=k / 1000,
            criteria={"overall": k / 1000, "helpful": 0.5},
            rules={"safe": 0.25},
            best_candidates={"1": 0} if item.has_candidates else {},
        )
        for k, item in enumerate(members)
    )
    corpus = project.corpora.get()
    version = DatasetVersion.objects.create(
        project=project,
        number=1,
        policy=[{"op": "top_fraction", "score": "overall", "fraction": 1.0}],
        run=run,
        corpus_versions={str(corpus.pk): corpus.version},
        n_items=members.count(),
    )
    DatasetItem.objects.bulk_create(
        DatasetItem(dataset=version, item=i, score=0.5) for i in members
    )
    return version


def _export(staff, dataset, django_capture_on_commit_callbacks, **body) -> Export:
    client = Client()
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/datasets/{dataset.pk}/exports/", body, content_type="application/json"
        )
    assert response.status_code == 202, response.json()
    export = Export.objects.get(pk=response.json()["id"])
    assert export.job.status == Job.Status.SUCCEEDED, export.job.error
    return export


def _folder(export: Export) -> Path:
    from django.conf import settings

    return Path(settings.ARTIFACTS_ROOT) / export.path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parquet_with_images_is_sharded_by_size_and_decodes_images(
    staff, dataset, eager, django_capture_on_commit_callbacks
):
    import datasets

    # when
    export = _export(
        staff,
        dataset,
        django_capture_on_commit_callbacks,
        format="parquet_images",
        options={"scores": True, "shard_bytes": 1024 * 1024},
    )
    # then: several shards, each hashed in the manifest, loaded with the Image feature decoded
    manifest, folder = export.manifest, _folder(export)
    shards = sorted(manifest["files"])
    assert len(shards) >= 2 and shards[0] == "data-00000.parquet"
    for name in shards:
        assert _sha256(folder / name) == manifest["files"][name]["sha256"]
    loaded = datasets.load_dataset(
        "parquet",
        data_files=[str(folder / n) for n in shards],
        split="train",
        cache_dir=str(folder / "hf"),
    )
    assert isinstance(loaded.features["image"], datasets.Image)
    assert len(loaded) == manifest["records"] == dataset.n_items
    assert manifest["images"] == N_IMAGES
    with_image = [row for row in loaded if row["image"] is not None]
    assert len(with_image) == N_IMAGES
    assert with_image[0]["image"].size == (320, 320)
    first = Item.objects.get(external_id=with_image[0]["id"])
    original = Image.open(_media() / first.image.file)
    assert np.array_equal(np.asarray(with_image[0]["image"]), np.asarray(original))
    row = loaded[0]
    assert row["score_helpful"] == 0.5 and row["rule_safe"] == 0.25
    assert row["score_overall"] == ItemScore.objects.get(item__external_id=row["id"]).overall
    # lineage and a command to load it
    assert manifest["lineage"]["corpus_ids"] == [dataset.project.corpora.get().pk]
    assert manifest["lineage"]["model"]["run_id"] == dataset.run_id
    assert manifest["lineage"]["dataset_version"] == 1
    assert "load_dataset" in manifest["usage"]["datasets"]


def _media() -> Path:
    from django.conf import settings

    return Path(settings.MEDIA_ROOT)


def test_webdataset_shards_read_with_webdataset(
    staff, dataset, eager, django_capture_on_commit_callbacks
):
    import webdataset as wds

    export = _export(
        staff,
        dataset,
        django_capture_on_commit_callbacks,
        format="webdataset",
        options={"shard_bytes": 1024 * 1024},
    )
    folder, manifest = _folder(export), export.manifest
    shards = sorted(manifest["files"])
    assert len(shards) >= 2
    for name in shards:
        assert _sha256(folder / name) == manifest["files"][name]["sha256"]
    samples = list(
        wds.WebDataset([str(folder / n) for n in shards], shardshuffle=False).decode("pil")
    )
    assert len(samples) == dataset.n_items
    images = [s for s in samples if "png" in s]
    assert len(images) == N_IMAGES
    assert images[0]["png"].size == (320, 320)
    assert images[0]["json"]["image"].startswith("coco/")
    assert all(isinstance(t["value"], str) for s in samples for t in s["json"]["conversations"])


def test_scores_are_fields_of_jsonl_but_llava_json_stays_llavas(
    staff, dataset, eager, django_capture_on_commit_callbacks
):
    jsonl = _export(
        staff, dataset, django_capture_on_commit_callbacks, format="jsonl", options={"scores": True}
    )
    rows = [json.loads(line) for line in (_folder(jsonl) / "data.jsonl").read_text().splitlines()]
    assert {"score_overall", "score_helpful", "rule_safe"} <= set(rows[0])
    parquet = _export(
        staff, dataset, django_capture_on_commit_callbacks, format="parquet",
        options={"scores": True},
    )  # fmt: skip
    import pyarrow.parquet as pq

    table = pq.read_table(_folder(parquet) / "data.parquet")
    assert table.schema.field("rule_safe").type == "double"
    assert set(table.column("score_helpful").to_pylist()) == {0.5}
    llava = _export(
        staff,
        dataset,
        django_capture_on_commit_callbacks,
        format="llava_json",
        options={"scores": True},
    )
    records = json.loads((_folder(llava) / "data.json").read_text())
    assert all(set(r) <= {"id", "image", "conversations"} for r in records)
    assert "llava" in llava.manifest["usage"]


def _valid_pairs(project) -> list:
    from annotation.selectors.training_data import training_data
    from curation.pipeline.pairs import pair_skip_reason

    return [p for p in training_data(project=project).pairs if pair_skip_reason(p) is None]


def test_trl_pairs_parquet_load_with_images(
    staff, dataset, eager, django_capture_on_commit_callbacks
):
    import datasets

    export = _export(staff, dataset, django_capture_on_commit_callbacks, format="trl_pairs")
    folder, manifest = _folder(export), export.manifest
    files = sorted(manifest["files"])
    loaded = datasets.load_dataset(
        "parquet", data_files=[str(folder / f) for f in files], split="train",
        cache_dir=str(folder / "hf"),
    )  # fmt: skip
    pairs = _valid_pairs(dataset.project)
    assert len(loaded) == manifest["records"] == len(pairs) > 0
    assert set(loaded.column_names) >= {"prompt", "chosen", "rejected", "images"}
    with_image = [row for row in loaded if row["images"]]
    assert with_image, "items with an image give pairs with an image"
    row = with_image[0]
    assert row["images"][0].size == (320, 320)
    assert row["prompt"][0]["role"] == "user"
    assert row["prompt"][0]["content"][0]["type"] == "image"
    assert "<image>" not in row["prompt"][0]["content"][1]["text"]
    assert row["chosen"][0]["role"] == "assistant"
    # chosen is the higher imported score
    item = Item.objects.get(external_id=row["id"])
    turn = item.conversations[1]
    chosen, rejected = (
        row["chosen"][0]["content"][0]["text"],
        row["rejected"][0]["content"][0]["text"],
    )
    best = max(s for v, s in zip(turn["value"], turn["score"], strict=True) if v == chosen)
    assert best > min(s for v, s in zip(turn["value"], turn["score"], strict=True) if v == rejected)
    assert "trl dpo" in manifest["usage"]["trl"] and "DPOTrainer" in manifest["usage"]["trl_python"]


def test_llamafactory_ranking_matches_its_documented_schema(
    staff, dataset, eager, django_capture_on_commit_callbacks
):
    export = _export(
        staff, dataset, django_capture_on_commit_callbacks, format="llamafactory",
        include_images=True,
    )  # fmt: skip
    folder = _folder(export)
    info = json.loads((folder / "dataset_info.json").read_text())
    ((name, entry),) = info.items()
    # LLaMA-Factory's data/README.md: sharegpt ranking entry
    assert entry["formatting"] == "sharegpt" and entry["ranking"] is True
    assert entry["columns"] == {
        "messages": "conversations", "chosen": "chosen", "rejected": "rejected",
        "images": "images",
    }  # fmt: skip
    records = json.loads((folder / entry["file_name"]).read_text())
    assert len(records) == len(_valid_pairs(dataset.project))
    for record in records:
        turns = record["conversations"]
        # odd length, alternating human/gpt, ending with the human turn the answers reply to
        assert len(turns) % 2 == 1
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) + ["human"]
        assert record["chosen"]["from"] == record["rejected"]["from"] == "gpt"
        assert record["chosen"]["value"] != record["rejected"]["value"]
        # one <image> token per image
        tokens = sum(t["value"].count("<image>") for t in turns)
        assert tokens == len(record.get("images", []))
    imaged = [r for r in records if r.get("images")]
    import tarfile

    with tarfile.open(folder / "images.tar") as tar:
        names = set(tar.getnames())
    assert imaged and all(r["images"][0] in names for r in imaged)


def test_bad_options_are_400(staff, dataset):
    client = Client()
    client.force_login(staff)
    url = f"/api/v1/datasets/{dataset.pk}/exports/"
    for body in (
        {"format": "webdataset", "options": {"shard_bytes": 10}},
        {"format": "trl_pairs", "options": {"file_format": "csv"}},
        {"format": "nope"},
    ):
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400, body
    # S3 with no bucket configured: refused at once, not in the worker
    response = client.post(url, {"format": "jsonl", "sink": "s3"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "sink_not_configured"


@pytest.fixture
def s3_server(settings):
    """A real S3-compatible server (moto's server mode) on loopback, with an empty bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    settings.ARBITER_EXPORT_S3 = {
        "bucket": "trainers",
        "prefix": "arbiter/exports",
        "endpoint_url": f"http://{host}:{port}",
        "region": "us-east-1",
        "access_key_id": "test-key",
        "secret_access_key": "test-secret",
    }
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket="trainers")
    yield client
    server.stop()


def test_s3_sink_uploads_every_file_and_the_manifest(
    staff, dataset, eager, django_capture_on_commit_callbacks, s3_server, tmp_path
):
    # when: Parquet with images and TRL pairs, both to the S3 sink
    for body in (
        {"format": "parquet_images", "options": {"shard_bytes": 1024 * 1024}},
        {"format": "trl_pairs"},
    ):
        export = _export(staff, dataset, django_capture_on_commit_callbacks, sink="s3", **body)
        manifest = export.manifest
        sink = manifest["sink"]
        assert sink["kind"] == "s3" and sink["bucket"] == "trainers"
        assert sink["prefix"] == f"arbiter/exports/dataset-{dataset.pk}/export-{export.pk}/"
        # then: every file is there, byte for byte as the manifest says
        listed = s3_server.list_objects_v2(Bucket="trainers", Prefix=sink["prefix"])
        keys = {o["Key"].removeprefix(sink["prefix"]) for o in listed["Contents"]}
        assert keys == {*manifest["files"], "manifest.json"}
        for name, described in manifest["files"].items():
            target = tmp_path / f"{export.pk}-{name}"
            s3_server.download_file("trainers", sink["prefix"] + name, str(target))
            assert _sha256(target) == described["sha256"]
            assert target.stat().st_size == described["bytes"]
        remote = s3_server.get_object(Bucket="trainers", Key=sink["prefix"] + "manifest.json")
        assert json.loads(remote["Body"].read())["files"] == manifest["files"]


CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }} :"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %} <image>{% else %} {{ part['text'] }}{% endif %}"
    "{% endfor %} [SEP] {% endfor %}"
)


def _tiny_reward_model(words: set[str], path: Path):
    """A 2-layer random Llama with a scalar head and a word-level tokenizer with a chat
    template that renders TRL's content parts (built here: no download)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[SEP]", *sorted(words)])}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", eos_token="[SEP]"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        num_labels=1,
        pad_token_id=0,
    )
    return LlamaForSequenceClassification(config), tokenizer


@pytest.mark.integration  # ~20 s of training on CPU
def test_trl_reward_trainer_trains_on_the_exported_pairs(
    staff, dataset, eager, django_capture_on_commit_callbacks, tmp_path
):
    import datasets
    import torch
    from trl import RewardConfig, RewardTrainer

    torch.manual_seed(0)
    export = _export(staff, dataset, django_capture_on_commit_callbacks, format="trl_pairs")
    folder = _folder(export)
    loaded = datasets.load_dataset(
        "parquet", data_files=[str(folder / f) for f in sorted(export.manifest["files"])],
        split="train", cache_dir=str(folder / "hf"),
    )  # fmt: skip
    # a text-only model: the image column is dropped, the image parts render as a token
    train = loaded.remove_columns(["images", "id", "criterion", "source", "margin"])
    words = {"user", "assistant", ":", "<image>"}
    for row in train:
        for message in row["prompt"] + row["chosen"] + row["rejected"]:
            for part in message["content"]:
                words.update((part["text"] or "").split())
    model, tokenizer = _tiny_reward_model(words, tmp_path / "tiny")
    args = RewardConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    # when
    try:
        result = trainer.train()
    finally:
        # The trainer's accelerate state is process-global; later tests set their own precision.
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    # then: three optimiser steps over real, tokenised pairs with a finite loss
    assert result.global_step == 3
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 3 and all(np.isfinite(losses))
    tokenised = trainer.train_dataset[0]
    assert tokenised["chosen_ids"] != tokenised["rejected_ids"]
    assert tokenizer.unk_token_id not in tokenised["chosen_ids"]


def test_openapi_documents_every_format_and_option():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    body = components["DatasetExportInputRequest"]["properties"]
    assert set(body) >= {"format", "include_images", "options", "sink"}
    described = json.dumps(body) + json.dumps(components)
    for fmt in Export.Format.values:
        assert fmt in described, fmt
    options = components["ExportOptionsRequest"]
    assert {"scores", "file_format", "shard_bytes"} <= set(options["properties"])
    assert all(field.get("description") for field in options["properties"].values())


def test_the_curation_page_offers_every_format_and_option(staff, project, settings):
    client = Client()
    client.force_login(staff)
    version = DatasetVersion.objects.create(project=project, number=1, policy=[], n_items=0)
    settings.ARBITER_EXPORT_S3 = {**settings.ARBITER_EXPORT_S3, "bucket": ""}
    page = client.get(f"/projects/{project.pk}/curation/").content.decode()
    assert f'data-export-control="{version.pk}"' in page
    for fmt in Export.Format.values:
        assert f'<option value="{fmt}">' in page
    controls = ("data-export-images", "data-export-scores", "data-export-pairs-format",
                "data-export-shard-mb")  # fmt: skip
    for control in controls:
        assert control in page
    assert "data-export-s3" not in page  # no bucket: the sink is not offered
    assert "<script>" not in page  # the CSP allows no inline script
    settings.ARBITER_EXPORT_S3 = {**settings.ARBITER_EXPORT_S3, "bucket": "b"}
    assert "data-export-s3" in client.get(f"/projects/{project.pk}/curation/").content.decode()


def test_trl_pairs_jsonl_with_an_image_folder_loads_as_the_manifest_says(
    staff, dataset, eager, django_capture_on_commit_callbacks
):
    import tarfile

    import datasets

    export = _export(
        staff, dataset, django_capture_on_commit_callbacks, format="trl_pairs",
        include_images=True, options={"file_format": "jsonl"},
    )  # fmt: skip
    folder = _folder(export)
    assert set(export.manifest["files"]) == {"data.jsonl", "images.tar"}
    with tarfile.open(folder / "images.tar") as tar:
        tar.extractall(folder / "images", filter="data")
    # as manifest.usage.trl_python does it: paths under images/, cast to Images
    loaded = (
        datasets.load_dataset(
            "json", data_files=str(folder / "data.jsonl"), split="train",
            cache_dir=str(folder / "hf"),
        )
        .map(lambda r: {"images": [str(folder / "images" / p) for p in r["images"]]})
        .cast_column("images", datasets.Sequence(datasets.Image()))
    )  # fmt: skip
    assert "cast_column('images', Sequence(Image()))" in export.manifest["usage"]["trl_python"]
    assert len(loaded) == len(_valid_pairs(dataset.project))
    with_image = [row for row in loaded if row["images"]]
    assert with_image and with_image[0]["images"][0].size == (320, 320)
