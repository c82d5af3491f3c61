"""Fill the case's new safety facts from the checks already recorded: when its risk level was given, and when the
survivors' next full check falls due (safety.services keeps both from now on)."""

import datetime

from django.db import migrations
from django.utils import timezone

# safety.services.CHECK_OVERDUE_DAYS when this migration was written (a migration never imports app code).
CHECK_OVERDUE_DAYS = 30


def backfill(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    Participant = apps.get_model("cases", "Participant")
    SafetyCheck = apps.get_model("safety", "SafetyCheck")
    survivors: dict[int, set[int]] = {}
    for case_id, participant_id in Participant.objects.filter(role="survivor").values_list("case_id", "pk"):
        survivors.setdefault(case_id, set()).add(participant_id)
    latest_level: dict[int, datetime.datetime] = {}
    latest_full: dict[int, dict[int, datetime.datetime]] = {}
    checks = (
        SafetyCheck.objects.filter(participant__role="survivor")
        .order_by("checked_at", "id")
        .values_list("case_id", "participant_id", "kind", "level", "checked_at")
    )
    for case_id, participant_id, kind, level, checked_at in checks.iterator():
        if level:
            latest_level[case_id] = checked_at
        if kind == "full":
            latest_full.setdefault(case_id, {})[participant_id] = checked_at
    for case_id in set(latest_level) | set(latest_full):
        due = None
        full = latest_full.get(case_id, {})
        if full and set(full) >= survivors.get(case_id, set()):
            due = min(timezone.localdate(at) for at in full.values()) + datetime.timedelta(days=CHECK_OVERDUE_DAYS)
        Case.objects.filter(pk=case_id).update(risk_level_at=latest_level.get(case_id), check_due_on=due)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0009_i18_case_risk_date_check_due"),
        ("safety", "0003_survivor_report_hold"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
