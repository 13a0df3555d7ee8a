"""The demo projects a first run gets, over the demo corpus."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from annotation.models import Project, ProjectMembership
from annotation.services.projects import member_set, project_create
from corpora.models import Corpus

SIMULATED_PROJECT = "Demo: simulated annotators"
# Simulated answers per item. Five rather than three: the default reward model learns from the
# mean of an item's answers, and with five it comes nearer the annotators' own agreement on
# held-out items at the same corpus size (bench/rm_quality.py --annotators, docs/benchmarks.md).
SIMULATED_ANNOTATORS = 5
DEMO_PROJECTS = (
    {
        "name": "Demo: instruction quality",
        "preset": "instruction_quality",
        "overlap": 2,
        "gold_rate": 0.0,
        "instructions": (
            "Judge whether each answer is **faithful to the image**: no wrong colours or shapes, "
            "no objects that are not there, nothing cut off or off-topic. Then rate how helpful, "
            "clear and detailed it is. Where an item shows several candidate answers, rank them "
            "best first (ties allowed)."
        ),
    },
    {
        "name": SIMULATED_PROJECT,
        "preset": "instruction_quality",
        "overlap": SIMULATED_ANNOTATORS,
        "gold_rate": 0.0,
        "instructions": (
            "Answered by five simulated annotators (each judgment flipped at random 15% of the "
            "time), so a reward model can be trained and the corpus curated right away."
        ),
    },
    {
        "name": "Demo: safety constitution",
        "preset": "safety_constitution",
        "overlap": 2,
        "gold_rate": 0.0,
        "instructions": "For each rule, say whether the image violates it, and why if unsure.",
    },
)


def demo_project_ensure(*, corpus: Corpus, users: Sequence) -> Project:
    """Create the demo projects once; the first user owns them, the others annotate."""
    owner, *annotators = users
    first = None
    with transaction.atomic():
        for spec in DEMO_PROJECTS:
            project = Project.objects.filter(name=spec["name"]).first()
            if project is None:
                project = project_create(corpora=[corpus], created_by=owner, **spec)
                if spec["name"] == SIMULATED_PROJECT:
                    continue  # its annotators are the simulated ones
                for user in annotators:
                    member_set(
                        project=project, user_id=user.pk, role=ProjectMembership.Role.ANNOTATOR
                    )
            first = first or project
    return first
