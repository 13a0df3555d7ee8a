"""Seed a fresh database for the API fuzz run: a corpus, a project, an owner and an annotator.

Run as a script with the fuzz server's environment; prints the two tokens as JSON.
"""

from __future__ import annotations

import json

import django


def main() -> None:
    django.setup()
    from annotation.models import ProjectMembership
    from annotation.services.projects import member_set, project_create
    from core.services.tokens import token_create
    from tests.factories import CorpusFactory, ItemFactory, UserFactory

    corpus = CorpusFactory(name="fuzz")
    ItemFactory.create_batch(5, corpus=corpus)
    owner = UserFactory(username="fuzz-owner")
    annotator = UserFactory(username="fuzz-annotator")
    project = project_create(name="fuzz", corpora=[corpus], created_by=owner, overlap=2)
    member_set(project=project, user_id=owner.pk, role=ProjectMembership.Role.OWNER)
    member_set(project=project, user_id=annotator.pk, role=ProjectMembership.Role.ANNOTATOR)
    tokens = {
        "owner": token_create(user=owner, name="fuzz")[1],
        "annotator": token_create(user=annotator, name="fuzz")[1],
    }
    print(json.dumps(tokens))


if __name__ == "__main__":
    main()
