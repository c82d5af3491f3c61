"""Taking a case through the protocol in tests, with the real services only (no shortcuts past a gate)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from circlekeeper.accounts.models import User
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.intake import save_intake
from circlekeeper.cases.models import Case, Participant, ParticipantRole, Stage
from circlekeeper.protocol import services
from circlekeeper.protocol.models import CheckMoment, Meeting, MeetingKind
from circlekeeper.safety import services as safety
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import make_participant


def start_now(meeting: Meeting) -> Meeting:
    """The meeting's time has come: its start moved to a moment ago (a meeting is scheduled in the future, and
    is checked in and recorded only around and after its start)."""
    meeting.starts_at = timezone.now() - datetime.timedelta(seconds=1)
    Meeting.objects.filter(pk=meeting.pk).update(starts_at=meeting.starts_at)
    return meeting


class Walk:
    """One case and its people, moved stage by stage. `keeper` is on the team; `supervisor` too."""

    def __init__(self, case: Case, keeper: User, supervisor: User, track: str = "direct_dialogue") -> None:
        self.case, self.keeper, self.supervisor, self.track = case, keeper, supervisor, track
        self._survivor: Participant | None = None
        self._harm: Participant | None = None

    @property
    def survivor(self) -> Participant:
        assert self._survivor is not None, "call people() first"
        return self._survivor

    @property
    def harm(self) -> Participant:
        assert self._harm is not None, "call people() first"
        return self._harm

    def people(self) -> None:
        self._survivor = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        self._harm = make_participant(
            self.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B"
        )

    def advance(self, reason: str = "") -> None:
        services.advance(case=self.case, by=self.keeper, reason=reason)
        self.case.refresh_from_db()

    def to_intake(self) -> None:
        self.people()
        run_check(self.survivor, by=self.keeper, code="immediate_danger")
        self.advance()

    def to_safety_planning(self) -> None:
        self.to_intake()
        save_intake(case=self.case, version=0, by=self.keeper, harm_types=["emotional"])
        run_check(self.survivor, by=self.keeper)
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track=self.track,
            explained_by=self.keeper,
            explained_on=timezone.localdate(),
            by=self.keeper,
        )
        self.case.refresh_from_db()
        self.advance()

    def to_mapping_support(self) -> None:
        self.to_safety_planning()
        safety.save_plan(survivor=self.survivor, revision=0, by=self.keeper, people_to_call="My sister")
        self.advance()

    def supporters(self) -> None:
        make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")
        make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Uncle")
        make_participant(self.case, role=ParticipantRole.SAFETY_MONITOR, label="Neighbour")

    def to_preparation(self) -> None:
        self.to_mapping_support()
        self.supporters()
        self.advance()

    def hold_meeting(self, kind: str, *invitees: Participant, at: datetime.datetime | None = None) -> Meeting:
        meeting = services.schedule_meeting(
            case=self.case,
            kind=kind,
            starts_at=at or timezone.now() + datetime.timedelta(hours=1),
            invitees=invitees,
            by=self.keeper,
            place="Room 2",
        )
        if at is None:
            start_now(meeting)
        for survivor in [p for p in invitees if p.role == ParticipantRole.SURVIVOR]:
            for moment in (CheckMoment.CHECK_IN, CheckMoment.CHECK_OUT):
                services.record_check(
                    meeting=meeting,
                    participant=survivor,
                    moment=moment,
                    feels_safe="yes",
                    threatened="no",
                    wants_to_stop="no",
                    by=self.keeper,
                )
        return services.mark_held(meeting=meeting, attended=invitees, by=self.keeper)

    def prepare(self) -> None:
        self.hold_meeting(MeetingKind.PREPARATION, self.survivor)
        with_harm = self.hold_meeting(MeetingKind.PREPARATION, self.harm)
        services.record_acknowledgment(
            meeting=with_harm,
            participant=self.harm,
            in_their_words="I hurt her. It was my doing.",
            by=self.keeper,
        )

    def to_dialogue(self) -> None:
        self.to_preparation()
        self.prepare()
        self.advance()

    def to_agreement(self) -> None:
        self.to_dialogue()
        if self.track == "direct_dialogue":
            services.approve_joint_dialogue(case=self.case, by=self.supervisor)
            self.hold_meeting(MeetingKind.CIRCLE, self.survivor, self.harm)
        elif self.track == "indirect_dialogue":
            # The keeper meets each side in turn: a session with both present would be a joint meeting.
            self.hold_meeting(MeetingKind.SHUTTLE, self.survivor)
            self.hold_meeting(MeetingKind.SHUTTLE, self.harm)
        else:
            self.hold_meeting(MeetingKind.POD, self.harm)
        self.advance()
        assert self.case.stage == Stage.AGREEMENT
