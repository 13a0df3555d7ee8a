"""Fill a demo project with simulated annotations from the demo's hidden ground truth."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from demo.annotations import demo_annotations_simulate


class Command(BaseCommand):
    help = (
        "Simulated annotators (ground truth, each answer flipped with --flip-rate) for a project."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="Project id or name.")
        parser.add_argument(
            "--ground-truth", default=str(Path(settings.VAR_DIR) / "demo" / "ground_truth.json")
        )
        parser.add_argument("--annotators", type=int, default=3)
        parser.add_argument("--flip-rate", type=float, default=0.15)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options) -> None:
        key = options["project"]
        project = Project.objects.filter(
            **({"pk": int(key)} if key.isdigit() else {"name": key})
        ).first()
        if project is None:
            raise CommandError(f"No project {key!r}.")
        path = Path(options["ground_truth"])
        if not path.is_file():
            raise CommandError(f"No ground truth at {path} (build the demo corpus first).")
        report = demo_annotations_simulate(
            project=project,
            ground_truth=path,
            n_annotators=options["annotators"],
            flip_rate=options["flip_rate"],
            seed=options["seed"],
        )
        self.stdout.write(
            f"{report.annotations} annotations by {report.annotators} simulated annotators on "
            f"{report.items} items of project {project.name!r}."
        )
