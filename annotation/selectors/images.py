"""Who may see a stored image: staff, and members of a project that uses a corpus holding it."""

from __future__ import annotations

import re

from django.db.models import Exists, OuterRef, Q

from corpora.models import CorpusImage, ImageAsset, Item

# How the import names stored files (corpora.pipeline.images.ImageStore): the sha256 in the name
# lets the look-up use its unique index.
_STORED_IMAGE = re.compile(r"images/[0-9a-f]{2}/[0-9a-f]{2}/(?P<sha256>[0-9a-f]{64})\.[a-z]{3,4}")


def image_file_for_user(*, file: str, user) -> str | None:
    """`file` (relative to MEDIA_ROOT) if it is a stored image `user` may see, else None.

    One query. An image belongs to the corpora that hold it (by an item, or by the path the
    import stored it under); a user sees it through any project of theirs that uses one of
    those corpora. None for anything else below MEDIA_ROOT, so no other file is reachable.
    """
    match = _STORED_IMAGE.fullmatch(file)
    if match is None or not user.is_authenticated:
        return None
    assets = ImageAsset.objects.filter(sha256=match["sha256"], file=file)
    if not user.is_staff:
        in_member_corpus = {"corpus__projects__memberships__user": user}
        assets = assets.filter(
            Q(Exists(CorpusImage.objects.filter(asset=OuterRef("pk"), **in_member_corpus)))
            | Q(Exists(Item.objects.filter(image=OuterRef("pk"), **in_member_corpus)))
        )
    return assets.values_list("file", flat=True).first()
