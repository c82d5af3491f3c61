# Encryption at rest (SECURITY.md 6): every row with encrypted fields is named by a uid in its encryption
# context. Existing cases get distinct uids in three steps (nullable, filled, then unique and required).

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import circlekeeper.lib.fields


def fill_case_uids(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    batch = []
    for case in Case.objects.filter(uid__isnull=True).only("pk").iterator(chunk_size=2000):
        case.uid = uuid.uuid4()
        batch.append(case)
        if len(batch) >= 2000:
            Case.objects.bulk_update(batch, ["uid"])
            batch = []
    Case.objects.bulk_update(batch, ["uid"])


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("cases", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="uid",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(fill_case_uids, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="case",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="case",
            name="summary",
            field=circlekeeper.lib.fields.EncryptedLongTextField(blank=True, null=True, verbose_name="summary"),
        ),
        migrations.CreateModel(
            name="CaseNote",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("text", circlekeeper.lib.fields.EncryptedLongTextField(verbose_name="note")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "author",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="case_notes",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="notes", to="cases.case"
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.organization"
                    ),
                ),
            ],
            options={
                "verbose_name": "case note",
                "ordering": ["created_at", "id"],
                "indexes": [
                    models.Index(fields=["organization", "case", "created_at"], name="casenote_org_case_created")
                ],
            },
        ),
    ]
