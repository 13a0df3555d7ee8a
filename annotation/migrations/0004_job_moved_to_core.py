# Job moved to core with its table (annotation_job): removed from this app's state only, after
# every foreign key that pointed at it was altered to core.Job.

from django.db import migrations


def _move_content_types(apps, models: tuple[str, ...], old: str, new: str) -> None:
    """Keep permissions and admin history attached: rename the content types, not recreate them."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in models:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    _move_content_types(apps, ('job',), 'annotation', 'core')


def backwards(apps, schema_editor):
    _move_content_types(apps, ('job',), 'core', 'annotation')


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('annotation', '0003_projectitem_responses'),
        ('core', '0001_initial'),
        ('curation', '0002_job_moved_to_core'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Job')],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
