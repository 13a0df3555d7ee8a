# Corpus, Item, ImageAsset and CorpusImage moved to the corpora app with their tables
# (annotation_*): the foreign keys that point at them are altered to corpora.*, then the models
# leave this app's state. Nothing changes in the database.

import django.db.models.deletion
from django.db import migrations, models


def _move_content_types(apps, models: tuple[str, ...], old: str, new: str) -> None:
    """Keep permissions and admin history attached: rename the content types, not recreate them."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in models:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    _move_content_types(apps, ('corpus', 'item', 'imageasset', 'corpusimage'), 'annotation', 'corpora')


def backwards(apps, schema_editor):
    _move_content_types(apps, ('corpus', 'item', 'imageasset', 'corpusimage'), 'corpora', 'annotation')


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('annotation', '0004_job_moved_to_core'),
        ('corpora', '0001_initial'),
        ('curation', '0003_corpora_moved_to_own_app'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='project',
                    name='corpora',
                    field=models.ManyToManyField(related_name='projects', to='corpora.corpus'),
                ),
                migrations.AlterField(
                    model_name='projectitem',
                    name='item',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corpora.item'),
                ),
                migrations.AlterField(
                    model_name='annotation',
                    name='item',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corpora.item'),
                ),
                migrations.AlterField(
                    model_name='suggestion',
                    name='item',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='suggestions', to='corpora.item'),
                ),
                migrations.DeleteModel(name='CorpusImage'),
                migrations.DeleteModel(name='Item'),
                migrations.DeleteModel(name='Corpus'),
                migrations.DeleteModel(name='ImageAsset'),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
