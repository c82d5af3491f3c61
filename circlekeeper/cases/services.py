from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Case, CaseAssignment, CaseNote


@transaction.atomic
def open_case(
    *, organization: Organization, team: list[tuple[User, str]], opened_on: datetime.date | None = None
) -> Case:
    """Open a case with its team; references count up per organization and year, without clashes."""
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    opened_on = opened_on or timezone.localdate()
    case = Case(organization=organization, opened_on=opened_on)
    case.reference = Case.next_reference(organization, opened_on.year)
    case.full_clean()
    case.save()
    CaseAssignment.objects.bulk_create(
        CaseAssignment(organization=organization, case=case, user=user, role=role) for user, role in team
    )
    return case


@transaction.atomic
def add_case_note(*, case: Case, author: User, text: str) -> CaseNote:
    """A team member's note on a case; the text is stored encrypted."""
    note = CaseNote(organization_id=case.organization_id, case=case, author=author, text=text)
    note.full_clean()
    note.save()
    return note
