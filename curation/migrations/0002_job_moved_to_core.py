# Job moved from annotation to core with its table: the foreign keys only change in state.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('curation', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name=model_name,
                    name='job',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.job'),
                )
                for model_name in ('rewardmodelrun', 'scoringrun', 'export')
            ],
            database_operations=[],
        ),
    ]
