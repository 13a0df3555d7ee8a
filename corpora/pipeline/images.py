"""Find, check and store images: folders, .zip/.tar archives and http(s) URLs.

Images are stored once by content (sha256) under MEDIA_ROOT/images/, whatever corpus or path
refers to them.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from corpora.pipeline.url_fetch import FETCH_FAILED, FetchFailed, UrlAllowList, UrlRefused, fetch

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}


class ImageError(ValueError):
    """An image could not be used; the message says why, for the user."""


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    max_bytes: int
    max_archive_bytes: int
    url_timeout: float
    # Non-public hosts and networks image URLs may still be fetched from (see url_fetch).
    url_allow: UrlAllowList = field(default_factory=UrlAllowList)


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    file: str
    format: str
    width: int
    height: int
    size_bytes: int
    created: bool


def inspect_image(data: bytes, limits: ImageLimits) -> tuple[str, int, int]:
    """Return (format, width, height) or raise ImageError: not an image, too big, a bomb."""
    if len(data) > limits.max_bytes:
        raise ImageError(f"image is {len(data)} bytes, over the limit of {limits.max_bytes}")
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; treat the warning as fatal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = limits.max_pixels
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
                if width * height > limits.max_pixels:
                    raise ImageError(
                        f"image has {width}x{height} pixels, over the limit of {limits.max_pixels}"
                    )
                image.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image rejected as a decompression bomb: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise ImageError("file is not an image Pillow can read") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"image is damaged: {exc}") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    if fmt not in ALLOWED_FORMATS:
        raise ImageError(f"image format {fmt} is not accepted ({', '.join(ALLOWED_FORMATS)})")
    return fmt, width, height


class ImageStore:
    """Content-addressed image files below a media root."""

    def __init__(self, media_root: Path, limits: ImageLimits) -> None:
        self.media_root = Path(media_root)
        self.limits = limits
        self.created_files: list[Path] = []

    def store(self, data: bytes) -> StoredImage:
        digest = hashlib.sha256(data).hexdigest()
        fmt, width, height = inspect_image(data, self.limits)
        relative = f"images/{digest[:2]}/{digest[2:4]}/{digest}.{ALLOWED_FORMATS[fmt]}"
        target = self.media_root / relative
        created = False
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves a truncated file under the final name.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
            self.created_files.append(target)
            created = True
        return StoredImage(digest, relative, fmt, width, height, len(data), created)

    def discard_created(self) -> None:
        """Remove files this store wrote, after an import that kept nothing."""
        for path in self.created_files:
            path.unlink(missing_ok=True)
        self.created_files.clear()


class ImageSource:
    """Where an import looks up relative image paths: a folder or an unpacked archive."""

    def __init__(self, root: Path, cleanup: Path | None = None) -> None:
        self.root = root.resolve()
        self._cleanup = cleanup

    @classmethod
    def open(cls, location: str | Path, limits: ImageLimits) -> ImageSource:
        path = Path(location)
        if not path.exists():
            raise ImageError(f"image source {location} does not exist")
        if path.is_dir():
            return cls(path)
        if zipfile.is_zipfile(path) or tarfile.is_tarfile(path):
            scratch = Path(tempfile.mkdtemp(prefix="arbiter-images-"))
            try:
                unpack_archive(path, scratch, limits)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            return cls(scratch, cleanup=scratch)
        raise ImageError(f"image source {location} is neither a folder nor a .zip/.tar archive")

    def read(self, ref: str) -> bytes | None:
        candidate = (self.root / ref).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate.read_bytes()

    def close(self) -> None:
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)


def _safe_member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ImageError(f"archive entry {name!r} would be written outside the target folder")
    return path


def unpack_archive(archive: Path, target: Path, limits: ImageLimits) -> None:
    """Unpack a .zip or .tar safely: no entry may escape `target`, no links, bounded size."""
    total = 0
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                relative = _safe_member_path(info.filename)
                if info.is_dir():
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ImageError(f"archive entry {info.filename!r} is a link, not a file")
                total += info.file_size
                if total > limits.max_archive_bytes:
                    raise ImageError("archive unpacks to more than the configured maximum size")
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
        return
    with tarfile.open(archive) as bundle:
        for member in bundle:
            relative = _safe_member_path(member.name)
            if member.isdir():
                continue
            if not member.isfile():
                raise ImageError(f"archive entry {member.name!r} is a link or device, not a file")
            total += member.size
            if total > limits.max_archive_bytes:
                raise ImageError("archive unpacks to more than the configured maximum size")
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = bundle.extractfile(member)
            if source is None:
                continue
            with source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)


def fetch_url(url: str, limits: ImageLimits) -> bytes:
    """Download an image URL within the limits; only public addresses unless allowed."""
    try:
        return fetch(
            url, max_bytes=limits.max_bytes, timeout=limits.url_timeout, allow=limits.url_allow
        )
    except UrlRefused as exc:
        raise ImageError(str(exc)) from exc
    except FetchFailed as exc:
        raise ImageError(FETCH_FAILED) from exc
    except ValueError as exc:  # larger than the limit
        raise ImageError(str(exc)) from exc
