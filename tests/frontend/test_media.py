"""/media/: images only for staff and members of a project that uses the image's corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from annotation.api.engine import image_url
from annotation.models import ProjectMembership
from annotation.selectors.images import image_file_for_user
from annotation.services.projects import member_set, project_create
from corpora.models import Corpus, Item
from corpora.services.corpus_import import corpus_import
from curation.selectors.scores import item_summaries
from tests.corpora.llava import png_bytes, record, write_images, write_json
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pass-word-123"


@pytest.fixture
def item(tmp_path) -> Item:
    """An imported item with a stored image, in a corpus that one project uses."""
    corpus = Corpus.objects.create(name="seen")
    images = write_images(tmp_path / "imgs", {"a.png": (10, 20, 30)})
    corpus_import(
        corpus=corpus, source=write_json(tmp_path / "c.json", [record("1")]), images=images
    )
    project_create(name="P", corpora=[corpus], created_by=StaffFactory(username="owner"))
    return Item.objects.select_related("image").get(corpus=corpus)


@pytest.fixture
def member(item):
    user = UserFactory(username="member")
    project = item.corpus.projects.get()
    member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR)
    return user


@pytest.fixture
def stranger(tmp_path):
    """A member of another project, over another corpus."""
    user = UserFactory(username="stranger")
    other = Corpus.objects.create(name="other")
    images = write_images(tmp_path / "other", {"b.png": (1, 1, 1)})
    corpus_import(
        corpus=other,
        source=write_json(tmp_path / "o.json", [record("9", "b.png")]),
        images=images,
    )
    project = project_create(name="Q", corpora=[other])
    member_set(project=project, user_id=user.pk, role=ProjectMembership.Role.OWNER)
    return user


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_member_gets_the_image_from_the_url_the_api_gives(client, item, member):
    client.force_login(member)
    response = client.get(image_url(item))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert _body(response) == (Path(settings.MEDIA_ROOT) / item.image.file).read_bytes()


def test_a_stranger_gets_404_like_for_a_missing_image(client, item, stranger):
    client.force_login(stranger)
    assert client.get(image_url(item)).status_code == 404
    missing = f"/media/images/00/00/{'0' * 64}.png"
    assert client.get(missing).status_code == 404


def test_anonymous_is_denied(client, item):
    assert client.get(image_url(item)).status_code == 401
    page = client.get(image_url(item), HTTP_ACCEPT="text/html,*/*")
    assert page.status_code == 302 and page["Location"].startswith(settings.LOGIN_URL)


def test_staff_get_every_image(client, item):
    client.force_login(StaffFactory(username="admin"))
    response = client.get(image_url(item))
    assert response.status_code == 200 and _body(response)[:8] == png_bytes()[:8]


def test_an_api_token_works_as_the_session_does(client, item, member):
    token_response = client.post(
        "/api/v1/auth/token/",
        {"username": "member", "password": PASSWORD},
        content_type="application/json",
    )
    token = token_response.json().get("token") or token_response.json()["key"]
    response = client.get(image_url(item), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert client.get(image_url(item), HTTP_AUTHORIZATION="Token wrong").status_code == 401


def test_nginx_gets_the_file_by_x_accel_redirect(client, item, member, settings):
    settings.ARBITER_MEDIA_SERVE = "nginx"
    client.force_login(member)
    response = client.get(image_url(item))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/{item.image.file}"
    assert response["Content-Type"] == "image/png"
    assert response.content == b""
    client.force_login(UserFactory(username="nobody"))
    response = client.get(image_url(item))
    assert response.status_code == 404 and "X-Accel-Redirect" not in response


def test_x_sendfile_names_the_absolute_path(client, item, member, settings):
    settings.ARBITER_MEDIA_SERVE = "sendfile"
    client.force_login(member)
    response = client.get(image_url(item))
    expected = (Path(settings.MEDIA_ROOT) / item.image.file).resolve()
    assert response.status_code == 200 and response["X-Sendfile"] == str(expected)


@pytest.mark.parametrize(
    "path",
    [
        "exports/dataset-1/export-1/data.jsonl",  # any file that is not a stored image
        "images/ab/cd/.incoming-x",
        "../secret.txt",
        "images/../exports/dataset-1/export-1/data.jsonl",
    ],
)
def test_no_other_file_below_media_root_is_served_even_to_staff(client, item, path):
    media = Path(settings.MEDIA_ROOT)
    for name in ("exports/dataset-1/export-1/data.jsonl", "images/ab/cd/.incoming-x"):
        (media / name).parent.mkdir(parents=True, exist_ok=True)
        (media / name).write_text("private")
    (media.parent / "secret.txt").write_text("private")
    client.force_login(StaffFactory(username="admin"))
    assert client.get(f"/media/{path}").status_code == 404


def test_write_methods_are_refused(client, item, member):
    client.force_login(member)
    assert client.post(image_url(item)).status_code == 405


def test_the_access_check_is_one_query(item, member, stranger, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert image_file_for_user(file=item.image.file, user=member) == item.image.file
    with django_assert_num_queries(1):
        assert image_file_for_user(file=item.image.file, user=stranger) is None


def test_an_image_shared_by_two_corpora_is_seen_through_either(client, tmp_path, item, stranger):
    # given: the stranger's project's corpus now holds the same image (same content)
    other = Corpus.objects.get(name="other")
    images = write_images(tmp_path / "same", {"a.png": (10, 20, 30)})
    corpus_import(
        corpus=other,
        source=write_json(tmp_path / "s.json", [record("10", "a.png")]),
        images=images,
    )
    # then
    client.force_login(stranger)
    assert client.get(image_url(item)).status_code == 200


def test_the_image_urls_of_api_payloads_and_curation_previews_work_for_members(
    client, item, member
):
    client.force_login(member)
    project = item.corpus.projects.get()
    payload = client.post(
        f"/api/v1/projects/{project.pk}/next/", {}, content_type="application/json"
    ).json()
    preview = item_summaries([item.pk])[item.pk]
    assert payload["item"]["image_url"] == preview["image_url"] == image_url(item)
    for url in (payload["item"]["image_url"], preview["image_url"]):
        assert client.get(url).status_code == 200
