"""Agreements in tests, made with the real services on a case walked to the agreement stage."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from circlekeeper.accountability import services
from circlekeeper.accountability.models import (
    AgreementVersion,
    CheckIn,
    Commitment,
    CommitmentKind,
    HowAffirmed,
)
from circlekeeper.accounts.models import User
from circlekeeper.cases.models import Case, Participant
from circlekeeper.instruments import filling
from circlekeeper.instruments.models import Response
from circlekeeper.protocol.models import Meeting, MeetingKind, MeetingStatus
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.tests.checks import builtin_version


class AgreementWalk(Walk):
    """A Walk that goes on to draft, fill and affirm an agreement, as a keeper would."""

    def person(self, label: str) -> Participant:
        return self.case.participants.get(label=label)

    @property
    def uncle(self) -> Participant:
        """The consenting support person of the person who caused harm (Walk.supporters)."""
        return self.person("Uncle")

    @property
    def monitor(self) -> Participant:
        return self.person("Neighbour")

    def dialogue(self) -> Meeting | None:
        return (
            Meeting.objects.filter(
                case=self.case,
                status=MeetingStatus.HELD,
                kind__in=(MeetingKind.CIRCLE, MeetingKind.CONFERENCE, MeetingKind.SHUTTLE, MeetingKind.POD),
            )
            .order_by("-held_at")
            .first()
        )

    def circle(self) -> Meeting:
        meeting = self.dialogue()
        assert meeting is not None, "walk the case to the agreement stage first"
        return meeting

    def draft(self, **kwargs: Any) -> AgreementVersion:
        kwargs.setdefault("reached_in", self.dialogue())
        kwargs.setdefault("risk_reviewed", True)
        return services.draft_version(case=self.case, by=self.keeper, **kwargs)

    def add(self, version: AgreementVersion, **kwargs: Any) -> Commitment:
        version.refresh_from_db()
        kwargs.setdefault("kind", CommitmentKind.ATTEND_PROGRAM)
        kwargs.setdefault("description", f"Attend the weekly group ({Commitment.objects.count() + 1})")
        kwargs.setdefault("evidence", "The group leader confirms attendance")
        kwargs.setdefault("cadence", "weekly")
        commitment = services.add_commitment(
            version=version, by=self.keeper, lock_version=version.lock_version, **kwargs
        )
        version.refresh_from_db()
        return commitment

    def affirm(self, version: AgreementVersion, *people: Participant) -> None:
        for person in people or services.parties(self.case):
            services.record_affirmation(
                version=version,
                participant=person,
                affirmed_on=timezone.localdate(),
                how=HowAffirmed.IN_MEETING,
                by=self.keeper,
            )
        self.case.refresh_from_db()

    def in_force(self, *kinds: dict[str, Any]) -> tuple[AgreementVersion, list[Commitment]]:
        """An affirmed first version with one commitment per item of `kinds` (keyword arguments of add)."""
        version = self.draft()
        commitments = [self.add(version, **k) for k in kinds or ({},)]
        self.affirm(version)
        version.refresh_from_db()
        return version, commitments

    def checkin(self, commitment: Commitment, status: str, **kwargs: Any) -> CheckIn:
        kwargs.setdefault("reported_by", "keeper")
        return services.record_checkin(commitment=commitment, status=status, by=self.keeper, **kwargs)


def walked(case: Case, keeper: User, supervisor: User, track: str = "direct_dialogue") -> AgreementWalk:
    walk = AgreementWalk(case, keeper, supervisor, track)
    walk.to_agreement()
    return walk


def survivor_view(
    survivor: Participant,
    *,
    by: User,
    kept: str = "2",
    repaired: str = "2",
    comments: str = "",
    less_safe: str = "0",
) -> Response:
    """The survivor's view through the instrument engine, entered by staff: started, answered, submitted."""
    version = builtin_version("progress_view")
    response = filling.start_entry(participant=survivor, version=version, purpose="progress_view", by=by)
    today = timezone.localdate()
    filling.save_section(
        response=response,
        position=0,
        values={"commitments_kept": kept, "harm_repaired": repaired},
        today=today,
    )
    filling.save_section(
        response=response,
        position=1,
        values={"less_safe": less_safe, "comments": comments or None},
        today=today,
    )
    assert filling.submit(response=response, today=today)
    return response
