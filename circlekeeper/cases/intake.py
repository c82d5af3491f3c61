"""Recording the intake (PROTOCOL.md, stage 2, "getting clear"), versioned like a participant's details."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import INTAKE_NARRATIVES, Case, EventKind, HarmType, Intake, record_event
from circlekeeper.cases.participants import StaleEdit

INTAKE_FIELDS = (
    "account",
    "harm_types",
    "harm_other",
    "first_happened",
    "most_recent",
    "frequency",
    "escalation",
    "children_in_home",
    "children_exposure",
    "goals",
    "does_not_want",
    "languages_access",
    "referral_source",
)


def _cleaned(name: str, value: Any) -> Any:
    if name == "harm_types":
        return list(value or [])
    if name in INTAKE_NARRATIVES:
        return (value or "").strip() or None
    return value or ""


@transaction.atomic
def save_intake(*, case: Case, version: int, by: User, **answers: Any) -> Intake:
    """Record or change a case's intake. `version` is the one the page was drawn from (0: none yet); if someone
    saved since, StaleEdit, unless their save is this very one (a double click)."""
    unknown = set(answers) - set(INTAKE_FIELDS)
    if unknown:
        raise TypeError(f"not intake answers: {sorted(unknown)}")
    # The case row serializes the first save of an intake, when there is no intake row to lock yet.
    Case.objects.select_for_update().filter(pk=case.pk).first()
    intake = Intake.objects.select_for_update().filter(case=case).first()
    wanted = {name: _cleaned(name, value) for name, value in answers.items()}
    codes = wanted.get("harm_types", [])
    if any(code not in HarmType.values for code in codes):
        raise ValidationError({"harm_types": _("Choose among the types of harm listed.")})
    if HarmType.PREFER_NOT in codes and len(codes) > 1:
        raise ValidationError(
            {"harm_types": _("“Prefer not to say” goes alone: untick it, or untick the others.")}
        )
    current = intake.version if intake is not None else 0
    if current != version:
        if intake is not None and all(getattr(intake, name) == value for name, value in wanted.items()):
            return intake  # the same save sent twice: it is already done
        raise StaleEdit()
    if intake is None:
        intake = Intake(organization_id=case.organization_id, case=case, updated_by=by)
    else:
        intake.version += 1
    for name, value in wanted.items():
        setattr(intake, name, value)
    intake.updated_by, intake.updated_at = by, timezone.now()
    intake.full_clean()
    intake.save()
    record_event(case, EventKind.INTAKE_SAVED, by=by, version=str(intake.version))
    return intake
