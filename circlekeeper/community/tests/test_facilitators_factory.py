"""Factories for the community activity tests (no tests here): events, trainings and facilitators, made through
the real services."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.community import activities
from circlekeeper.community.models import (
    CommunityEvent,
    EventKind,
    Facilitator,
    FacilitatorRole,
    TrainingRecord,
)
from circlekeeper.testing import make_user


def make_event(organization: Organization, by: User, **kwargs: Any) -> CommunityEvent:
    kwargs.setdefault("kind", EventKind.COMMUNITY_CONVERSATION)
    kwargs.setdefault("title", "Talking about safety at home")
    kwargs.setdefault("date", datetime.date(2026, 2, 10))
    kwargs.setdefault("language", "English")
    kwargs.setdefault("uid", uuid.uuid4())
    return activities.record_event(organization=organization, by=by, **kwargs)


def make_training(
    organization: Organization, by: User, *, competencies: list[str], hours: str = "8", **kwargs: Any
) -> CommunityEvent:
    kwargs.setdefault("kind", EventKind.KEEPER_TRAINING)
    kwargs.setdefault("title", "Circle-keeper training")
    return make_event(organization, by, hours=Decimal(hours), competencies=competencies, **kwargs)


def make_facilitator(organization: Organization, by: User, **kwargs: Any) -> Facilitator:
    kwargs.setdefault("name", "Rosa Community")
    kwargs.setdefault("role", FacilitatorRole.VOLUNTEER_KEEPER)
    kwargs.setdefault("uid", uuid.uuid4())
    return activities.add_facilitator(organization=organization, by=by, **kwargs)


def make_facilitator_account(organization: Organization, by: User, email: str, **kwargs: Any) -> Facilitator:
    """A facilitator with their own account: a keeper of the organization."""
    user = make_user(email, organization=organization, roles=(Role.KEEPER,), display_name=email.split("@")[0])
    return make_facilitator(organization, by, user=user, **kwargs)


def train(
    facilitator: Facilitator,
    by: User,
    *,
    competencies: list[str],
    hours: str = "8",
    completed: bool = True,
    date: datetime.date = datetime.date(2026, 1, 20),
) -> TrainingRecord:
    event = make_training(facilitator.organization, by, competencies=competencies, hours=hours, date=date)
    return activities.record_training(
        event=event, facilitator=facilitator, hours=Decimal(hours), completed=completed, by=by
    )
