"""Headless pipeline: import -> (train) -> score -> select -> export, with progress output.

    manage.py curate --corpus data.json --images images/ --project NAME \
        [--train [--backbone CHECKPOINT]] [--model RUN_ID] --policy align2llava \
        --format llava_json --out DIR

``--backbone`` trains the VLM recipe on that checkpoint (same as ``--hyperparameters
'{"trainer": "vlm", "backbone": ...}'``); without it the default item recipe trains.

Score any corpus (one in no project too) with a project's model, show its per-item scores and
curate over that scoring; without --out, only a preview (nothing committed or exported):

    manage.py curate --project NAME --model RUN_ID --score-corpus held-out \
        --show-scores 20 --policy top10 [--format trl_pairs --out DIR]

Tasks run in this process (Celery eager mode); nothing else needs to be running.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.models import Job
from curation.models import Export


class Command(BaseCommand):
    help = "Run import, optional training, scoring, selection and export without a worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--corpus", help="LLaVA JSON/JSONL file to import (optional).")
        parser.add_argument("--images", help="Image folder or archive for the import.")
        parser.add_argument("--corpus-name", help="Corpus name (default: the file name).")
        parser.add_argument("--project", required=True, help="Project name (created if missing).")
        parser.add_argument("--train", action="store_true", help="Train a model on the project.")
        parser.add_argument("--hyperparameters", default="{}", help="JSON object for training.")
        parser.add_argument(
            "--backbone",
            help="Train the VLM recipe on this checkpoint (a path or a cached hub name).",
        )
        parser.add_argument("--model", type=int, help="Reward-model run id (default: active/new).")
        parser.add_argument("--policy", default="align2llava", help="Preset name or JSON steps.")
        parser.add_argument(
            "--score-corpus",
            help="Score this corpus (id or name; any corpus, one in no project too) with the "
            "model and curate over that scoring instead of over the project's corpora.",
        )
        parser.add_argument(
            "--show-scores",
            type=int,
            default=0,
            metavar="N",
            help="Print the N best and N worst items of each scoring (overall, per criterion, "
            "per rule).",
        )
        parser.add_argument("--seed", type=int, default=0, help="Random baseline seed.")
        parser.add_argument("--format", default="llava_json", choices=Export.Format.values)
        parser.add_argument("--images-bundle", action="store_true", help="Also write images.tar.")
        parser.add_argument(
            "--sink", default="local", choices=Export.Sink.values, help="s3: also upload it."
        )
        parser.add_argument(
            "--out", help="Folder to copy the export into; without it: a preview, nothing stored."
        )

    def _step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))

    def _check(self, job: Job, what: str) -> None:
        job.refresh_from_db()
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(
                f"{what} {job.status}: {job.message} {json.dumps(job.error or {})[:800]}"
            )

    def _corpus(self, ref: str):
        """A corpus by id or by name."""
        from core.errors import DomainError
        from corpora.selectors import corpus_get, corpus_list

        try:
            if ref.isdigit():
                return corpus_get(corpus_id=int(ref))
        except DomainError:
            pass
        corpus = corpus_list().filter(name=ref).first()
        if corpus is None:
            raise CommandError(f"No corpus {ref!r} (give its id or its name).")
        return corpus

    def _show_scores(self, scoring, n: int) -> None:
        """The n best and n worst items, as `GET /scorings/{id}/items/` lists them."""
        from curation.selectors.scorings import scoring_item_scores

        scores = scoring_item_scores(scoring=scoring)
        best = list(scores.order_by("-overall", "-item_id")[:n])
        worst = list(scores.order_by("overall", "item_id")[:n])
        for title, rows in (("best", best), ("worst", worst)):
            self.stdout.write(f"    {title} {len(rows)}:")
            for row in rows:
                parts = [f"{row.external_id[:40]:<40}", f"{(row.category or '')[:16]:<16}"]
                parts.append(f"{row.overall:.4f}")
                parts += [f"{k}={v:.3f}" for k, v in sorted((row.criteria or {}).items())]
                parts += [f"rule:{k}={v:.3f}" for k, v in sorted((row.rules or {}).items())]
                self.stdout.write("      " + "  ".join(parts))

    def handle(self, *args, **options) -> None:
        from annotation.selectors.projects import (
            project_by_name,
            project_corpora,
            project_corpus_ids,
        )
        from annotation.services.projects import project_create
        from core.errors import DomainError
        from corpora.pipeline.problems import ImportFailed
        from corpora.services.corpora import corpus_get_or_create
        from corpora.services.corpus_import import corpus_import
        from curation.selectors.runs import active_reward_model, reward_model_run_of
        from curation.services.curation import curation_commit, curation_evaluate
        from curation.services.export import export_start
        from curation.services.reward_models import reward_model_run_start
        from curation.services.scoring import scoring_start
        from webapp.celery import app

        app.conf.task_always_eager = True
        try:
            policy = json.loads(options["policy"])
        except json.JSONDecodeError:
            policy = options["policy"]
        try:
            corpus = None
            if options["corpus"]:
                source = Path(options["corpus"])
                if not source.is_file():
                    raise CommandError(f"No corpus file {source}.")
                name = options["corpus_name"] or source.stem
                self._step(f"Importing {source} into corpus {name!r}")
                corpus = corpus_get_or_create(name=name)
                report = corpus_import(
                    corpus=corpus,
                    source=source,
                    images=options["images"],
                    progress=lambda c, t, m: None,
                )
                self.stdout.write(f"    {json.dumps(report.as_dict())[:300]}")
            project = project_by_name(name=options["project"])
            if project is None:
                if corpus is None:
                    raise CommandError("The project does not exist; give --corpus to create it.")
                project = project_create(name=options["project"], corpora=[corpus])
                self.stdout.write(f"    created project {project.pk}")
            elif corpus is not None and corpus.pk not in project_corpus_ids(project=project):
                raise CommandError(f"Corpus {corpus.name!r} is not in project {project.name!r}.")
            if options["train"]:
                self._step("Training a reward model")
                hyper = json.loads(options["hyperparameters"])
                if options["backbone"]:
                    hyper = {**hyper, "trainer": "vlm", "backbone": options["backbone"]}
                run = reward_model_run_start(project=project, user=None, hyperparameters=hyper)
                self._check(run.job, "training")
                run.refresh_from_db()
                self.stdout.write(
                    f"    run {run.pk}: held-out accuracy {run.metrics.get('eval_accuracy')}"
                )
            elif options["model"]:
                run = reward_model_run_of(project_id=project.pk, run_id=options["model"])
                if run is None:
                    raise CommandError(f"No reward-model run {options['model']} in this project.")
            else:
                active = active_reward_model(project_id=project.pk)
                if active is None:
                    raise CommandError("No active model: pass --train or --model.")
                run = active.run
            if options["score_corpus"]:
                corpora = [self._corpus(options["score_corpus"])]
            else:
                corpora = list(project_corpora(project=project))
            scoring = None
            for corpus_row in corpora:
                self._step(f"Scoring corpus {corpus_row.name!r} with run {run.pk}")
                scoring = scoring_start(run=run, corpus=corpus_row)
                self._check(scoring.job, "scoring")
                scoring.job.refresh_from_db()
                self.stdout.write(f"    scoring {scoring.pk}: {scoring.job.result}")
                if options["show_scores"] > 0:
                    self._show_scores(scoring, options["show_scores"])
            common = {
                "project": project,
                "run": run,
                "policy": policy,
                "seed": options["seed"],
                # over the scored corpus; else over the project's items, as before
                "scoring": scoring if options["score_corpus"] else None,
            }
            self._step("Selecting")
            if not options["out"]:
                evaluation = curation_evaluate(**common)
                self.stdout.write(
                    f"    preview: {evaluation['selected']['count']} of "
                    f"{evaluation['items_scored']} items; mean score "
                    f"{evaluation['selected']['mean_score']} vs random baseline "
                    f"{evaluation['random_baseline']['mean_score']} (nothing stored; "
                    "give --out to commit and export)"
                )
                return
            dataset = curation_commit(**common)
            stats = dataset.statistics
            self.stdout.write(
                f"    dataset v{dataset.number}: {dataset.n_items} of "
                f"{stats['items_scored']} items; random baseline mean score "
                f"{stats['random_baseline']['mean_score']} vs "
                f"{stats['selected']['mean_score']}"
            )
            self._step(f"Exporting ({options['format']})")
            export = export_start(
                dataset=dataset,
                format=options["format"],
                include_images=options["images_bundle"],
                sink=options["sink"],
            )
            self._check(export.job, "export")
            export.refresh_from_db()
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        except ImportFailed as exc:
            raise CommandError(f"import failed: {exc}") from exc
        from django.conf import settings

        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        source_dir = Path(settings.ARTIFACTS_ROOT) / export.path
        for name in [*export.manifest["files"], "manifest.json"]:
            shutil.copy2(source_dir / name, out / name)
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {export.manifest['records']} records to {out}")
        )
