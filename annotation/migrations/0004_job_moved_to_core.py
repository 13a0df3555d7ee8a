# Job moved to core with its table (annotation_job): removed from this app's state only, after
# every foreign key that pointed at it was altered to core.Job.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0003_projectitem_responses'),
        ('core', '0001_initial'),
        ('curation', '0002_job_moved_to_core'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Job')],
            database_operations=[],
        ),
    ]
