from django.core.management.base import BaseCommand, CommandError

from demo.setup import DEMO_ITEMS, demo_setup

# Below this the reward model's held-out share (15% of the items by default) is two or three
# items and the demo's figures say nothing; the full demo is DEMO_ITEMS.
MIN_ITEMS = 20


class Command(BaseCommand):
    help = "Create the demo users, corpus and project if they do not exist yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--items",
            type=int,
            default=DEMO_ITEMS,
            help=(
                f"Items of the demo corpus when it is first built (default {DEMO_ITEMS}). A "
                "smaller demo starts sooner and trains faster; its reward model is weaker. An "
                "existing demo corpus is kept as it is."
            ),
        )

    def handle(self, *args, **options) -> None:
        n_items = options["items"]
        if n_items < MIN_ITEMS:
            raise CommandError(f"--items must be at least {MIN_ITEMS}.")
        result = demo_setup(say=self.stdout.write, n_items=n_items)
        corpus = result["corpus"]
        self.stdout.write(f"Demo corpus {corpus.name!r}: {corpus.items.count()} items.")
