"""python manage.py import_corpus PATH --corpus NAME [--images DIR_OR_ARCHIVE] [--background]"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.models import Job
from corpora.models import Corpus
from corpora.services.corpus_import import corpus_import_start
from workers.tasks import corpus_import_task


class Command(BaseCommand):
    help = "Import LLaVA JSON/JSONL into a corpus (all-or-nothing, idempotent on item ids)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="LLaVA JSON (array) or JSONL file")
        parser.add_argument("--corpus", required=True, help="corpus name (created if missing)")
        parser.add_argument("--images", help="image folder, .zip or .tar archive")
        parser.add_argument("--category", help="category for records without one")
        parser.add_argument(
            "--background",
            action="store_true",
            help="queue the job for a Celery worker instead of running it here",
        )

    def handle(self, *args, **options) -> None:
        source: Path = options["path"].resolve()
        if not source.is_file():
            raise CommandError(f"{source} does not exist")
        images = options["images"]
        if images:
            images = str(Path(images).resolve())
        corpus, _ = Corpus.objects.get_or_create(name=options["corpus"])
        with transaction.atomic():
            job = corpus_import_start(
                corpus=corpus,
                source=source,
                images=images,
                category=options["category"],
                dispatch=options["background"],
            )
        if options["background"]:
            self.stdout.write(f"Queued job {job.pk}; follow it at /api/v1/jobs/{job.pk}/")
            return
        # The same task body the worker runs, executed in this process.
        corpus_import_task.apply(args=[job.pk])
        job.refresh_from_db()
        if job.status != Job.Status.SUCCEEDED:
            problems = (job.error or {}).get("details", {}).get("problems", [])
            for problem in problems[:50]:
                sys.stderr.write(f"  {problem}\n")
            raise CommandError(job.message or "import failed")
        report = job.result
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report['items_read']} items into {corpus.name!r}: "
                f"{report['created']} created, {report['updated']} updated, "
                f"{report['unchanged']} unchanged; {report['images_stored']} new images."
            )
        )
