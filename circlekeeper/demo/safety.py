"""Safety data for the demo network: checks at every level, two cases on hold, and some safety plans.

Everything here is invented. Checks go through the same submit path as real ones, so the holds, alerts and
tasks they open are the real thing.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from circlekeeper.accounts.models import Membership, Organization, Role
from circlekeeper.cases.models import Case, CaseStatus, Participant, ParticipantRole
from circlekeeper.demo.cases import ORGANIZATIONS
from circlekeeper.instruments import filling
from circlekeeper.instruments.models import Instrument, Response
from circlekeeper.safety import services
from circlekeeper.safety.models import SafetyCheck

# What the survivor said "yes" to, for the first open cases of each organization (the rest have no check).
DEMO_CHECKS = [
    ("strangulation",),  # high: the case goes on hold
    ("danger_now",),  # severe: on hold
    (),
    ("escalation", "stalking"),
    ("separation",),
    (),
]
DEMO_PLAN: dict[str, Any] = {
    "people_to_call": "Demo plan: my sister (she knows the code word), the program's line.",
    "signals": "Demo plan: when he starts drinking after work; when he takes my phone.",
    "safe_places": "Demo plan: the library on Main Street; my sister's flat.",
    "items_ready": "Demo plan: a bag at my sister's with papers, medicine, a phone charger.",
    "children_plan": "Demo plan: the children know to go to the neighbour's and call.",
    "backup_person": "Demo plan: my friend from work.",
    "in_their_words": "Demo plan: I want to stay in the house if I can, but I know where to go.",
}


@transaction.atomic
def seed_safety() -> int:
    """Add the demo safety data once per demo organization; returns the number of checks made."""
    instrument = Instrument.objects.filter(owner__isnull=True, code="safety_check").first()
    version = instrument.latest_version() if instrument else None
    if version is None:
        raise LookupError("The built-in safety check is not loaded: run load_instruments first.")
    made = 0
    for _name, slug, _prefix in ORGANIZATIONS:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None or SafetyCheck.objects.filter(organization=organization).exists():
            continue
        advocate = (
            Membership.objects.filter(organization=organization, role=Role.SAFETY_ADVOCATE)
            .select_related("user")
            .first()
        )
        by = advocate.user if advocate else None
        open_cases = list(
            Case.objects.filter(organization=organization, status=CaseStatus.OPEN).order_by("opened_on", "id")
        )
        for case, yes in zip(open_cases, DEMO_CHECKS, strict=False):
            survivor = Participant.objects.filter(case=case, role=ParticipantRole.SURVIVOR).first()
            if survivor is None:
                continue
            if by is not None and not yes:
                services.save_plan(survivor=survivor, revision=0, by=by, **DEMO_PLAN)
            answers = {
                i["code"]: "1" if i["code"] in yes else "0"
                for s in version.definition["sections"]
                for i in s["items"]
                if i["type"] == "single_choice"
            }
            response = Response.objects.create(
                organization=organization,
                version=version,
                participant=survivor,
                case=case,
                purpose="safety_check",
                answers=answers,
                entered_by_staff=by,
                started_at=timezone.now() - datetime.timedelta(minutes=20),
            )
            filling.submit(response=response, today=timezone.localdate())
            made += 1
    return made
