"""Where a finished export goes besides the local artifacts folder: S3-compatible storage.

Settings: `ARBITER_EXPORT_S3` (bucket, prefix, endpoint_url, region, access_key_id,
secret_access_key; webapp/settings.py reads them from `ARBITER_EXPORT_S3_*`). Keys:
`<prefix>/dataset-<id>/export-<id>/<file>`, the same names as the manifest's `files`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from core.errors import DomainError


def s3_settings() -> dict[str, Any]:
    config = dict(settings.ARBITER_EXPORT_S3)
    if not config.get("bucket"):
        raise DomainError(
            "sink_not_configured",
            "No S3 bucket is configured for exports (ARBITER_EXPORT_S3_BUCKET).",
        )
    return config


def s3_client(config: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=config.get("endpoint_url"),
        region_name=config.get("region") or "us-east-1",
        aws_access_key_id=config.get("access_key_id"),
        aws_secret_access_key=config.get("secret_access_key"),
    )


def s3_location(*, dataset_id: int, export_id: int) -> dict[str, Any]:
    """Bucket and key prefix of an export (what the manifest records before the upload)."""
    config = s3_settings()
    prefix = "/".join(
        part for part in (config.get("prefix", "").strip("/"), f"dataset-{dataset_id}") if part
    )
    prefix = f"{prefix}/export-{export_id}/"
    return {
        "kind": "s3",
        "bucket": config["bucket"],
        "prefix": prefix,
        "endpoint_url": config.get("endpoint_url"),
        "url": f"s3://{config['bucket']}/{prefix}",
    }


def s3_upload(*, folder: Path, names: list[str], location: dict[str, Any]) -> None:
    """Uploads `names` from `folder` (multipart for big shards, streamed from disk)."""
    client = s3_client(s3_settings())
    for name in names:
        client.upload_file(str(folder / name), location["bucket"], location["prefix"] + name)


def s3_configured() -> bool:
    """Whether exports may go to S3 (a bucket is set): the page offers the sink only then."""
    return bool(settings.ARBITER_EXPORT_S3.get("bucket"))
