# The Job model moved here from the annotation app. Its table keeps its name
# (annotation_job), so this migration only creates the model in Django's state: no table is
# created, dropped or copied. The dependency on annotation makes a fresh database create the
# table (annotation 0001) before this state refers to it.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('annotation', '0003_projectitem_responses'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Job',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('corpus_import', 'Corpus import'), ('reward_model_train', 'Reward model training'), ('corpus_score', 'Corpus scoring'), ('curation', 'Curation'), ('dataset_export', 'Dataset export')], max_length=32)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=16)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('progress_current', models.PositiveBigIntegerField(default=0)),
                        ('progress_total', models.PositiveBigIntegerField(blank=True, null=True)),
                        ('message', models.CharField(blank=True, max_length=500)),
                        ('result', models.JSONField(blank=True, default=dict)),
                        ('error', models.JSONField(blank=True, help_text='{"code", "message", "details"}; details lists problems.', null=True)),
                        ('cancel_requested', models.BooleanField(default=False)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'annotation_job',
                        'ordering': ['-created_at'],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
