from django.core.management.base import BaseCommand

from demo.setup import demo_setup


class Command(BaseCommand):
    help = "Create the demo users, corpus and project if they do not exist yet."

    def handle(self, *args, **options) -> None:
        result = demo_setup(say=self.stdout.write)
        corpus = result["corpus"]
        self.stdout.write(f"Demo corpus {corpus.name!r}: {corpus.items.count()} items.")
