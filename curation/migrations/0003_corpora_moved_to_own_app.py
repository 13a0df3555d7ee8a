# Corpus and Item moved from annotation to corpora with their tables: the foreign keys only
# change in state.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('corpora', '0001_initial'),
        ('curation', '0002_job_moved_to_core'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='itemscore',
                    name='item',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corpora.item'),
                ),
                migrations.AlterField(
                    model_name='scoringrun',
                    name='corpus',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='corpora.corpus'),
                ),
                migrations.AlterField(
                    model_name='datasetitem',
                    name='item',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='corpora.item'),
                ),
            ],
            database_operations=[],
        ),
    ]
