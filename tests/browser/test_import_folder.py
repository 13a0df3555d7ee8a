"""Images can be uploaded as a folder: the page packs the chosen folder into one .tar, relative
to the folder, and the server's archive path reads it."""

from __future__ import annotations

import io
import tarfile
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from core.models import Job
from corpora.pipeline.images import ImageLimits, ImageSource
from tests.browser.conftest import login, shot
from tests.conftest import wait_for_job
from tests.factories import StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _images_part(body: bytes, content_type: str) -> tuple[str, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "images":
            return part.get_filename(), part.get_payload(decode=True)
    raise AssertionError("no images part in the upload")


def test_an_images_folder_is_uploaded_as_one_tar(page, worker, tmp_path):
    folder = tmp_path / "coco"
    (folder / "train2017").mkdir(parents=True)
    (folder / "train2017" / "0001.jpg").write_bytes(b"\xff\xd8first" * 100)
    # a name longer than ustar's 100 bytes travels in a pax header
    (folder / "train2017" / ("long-name-" * 12 + ".jpg")).write_bytes(b"\xff\xd8second")
    (folder / "top.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 3)
    (folder / ".DS_Store").write_bytes(b"junk")
    records = tmp_path / "records.json"
    records.write_text('[{"id": "1", "image": "top.png", "conversations": []}]')
    staff = StaffFactory(username="admin")
    login(page, staff.username)
    page.goto("/corpora/")
    page.get_by_label("Name of the new corpus").fill("folder-import")
    page.set_input_files("#file", str(records))
    page.set_input_files("#images-folder", str(folder))
    summary = page.locator("#images-folder-summary")
    summary.wait_for()
    assert "3 files" in summary.inner_text() and "coco" in summary.inner_text()
    shot(page, "import-images-folder")

    with page.expect_response(
        lambda r: r.url.endswith("/imports/") and r.request.method == "POST"
    ) as answered:
        page.get_by_role("button", name="Start import").click()
    request = answered.value.request
    # the import runs in the worker: let it end before the test's database is emptied (a
    # flush beside a running import can deadlock)
    wait_for_job(Job.objects.order_by("-pk").values_list("pk", flat=True).first())
    captured = {"body": request.post_data_buffer, "type": request.headers["content-type"]}
    name, data = _images_part(captured["body"], captured["type"])
    assert name == "coco.tar"
    with tarfile.open(fileobj=io.BytesIO(data)) as bundle:
        members = {m.name: bundle.extractfile(m).read() for m in bundle if m.isfile()}
    assert set(members) == {
        "top.png",
        "train2017/0001.jpg",
        "train2017/" + "long-name-" * 12 + ".jpg",
    }
    assert members["train2017/0001.jpg"] == b"\xff\xd8first" * 100
    assert members["top.png"] == (folder / "top.png").read_bytes()
    # the server's archive path reads it as it reads an uploaded .tar
    archive = tmp_path / "upload.tar"
    archive.write_bytes(data)
    source = ImageSource.open(archive, ImageLimits(10**8, 10**8, 10**9, 1.0))
    try:
        assert source.read("train2017/0001.jpg") == b"\xff\xd8first" * 100
        assert source.read(".DS_Store") is None
    finally:
        source.close()
