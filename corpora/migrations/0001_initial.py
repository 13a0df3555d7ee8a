# Corpus, Item, ImageAsset and CorpusImage moved here from the annotation app. Their tables keep
# their names (annotation_*), so this migration only creates the models in Django's state: no
# table is created, dropped or copied. The dependency on annotation makes a fresh database create
# the tables (annotation 0001) before this state refers to them.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('annotation', '0004_job_moved_to_core'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ImageAsset',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('sha256', models.CharField(max_length=64, unique=True)),
                        ('file', models.CharField(help_text='Path relative to MEDIA_ROOT.', max_length=255)),
                        ('format', models.CharField(max_length=16)),
                        ('width', models.PositiveIntegerField()),
                        ('height', models.PositiveIntegerField()),
                        ('size_bytes', models.PositiveBigIntegerField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'annotation_imageasset',
                    },
                ),
                migrations.CreateModel(
                    name='Corpus',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200, unique=True)),
                        ('description', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('version', models.PositiveIntegerField(default=0)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'annotation_corpus',
                        'verbose_name_plural': 'corpora',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='CorpusImage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('path', models.CharField(max_length=1024)),
                        ('corpus', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='image_paths', to='corpora.corpus')),
                        ('asset', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='corpora.imageasset')),
                    ],
                    options={
                        'db_table': 'annotation_corpusimage',
                        'constraints': [models.UniqueConstraint(fields=('corpus', 'path'), name='corpusimage_unique_path')],
                    },
                ),
                migrations.CreateModel(
                    name='Item',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('external_id', models.CharField(max_length=255)),
                        ('image_path', models.CharField(blank=True, max_length=1024)),
                        ('conversations', models.JSONField(help_text='LLaVA turns; a gpt turn may hold a list of candidates with a score list.')),
                        ('questions', models.JSONField(blank=True, help_text='Candidate question sets of question-preference records.', null=True)),
                        ('question_scores', models.JSONField(blank=True, null=True)),
                        ('category', models.CharField(blank=True, db_index=True, max_length=100)),
                        ('extra', models.JSONField(blank=True, default=dict, help_text='Unknown keys of the record.')),
                        ('has_candidates', models.BooleanField(default=False)),
                        ('content_hash', models.CharField(max_length=64)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('corpus', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='corpora.corpus')),
                        ('image', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='items', to='corpora.imageasset')),
                    ],
                    options={
                        'db_table': 'annotation_item',
                        'constraints': [models.UniqueConstraint(fields=('corpus', 'external_id'), name='item_unique_external_id')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
