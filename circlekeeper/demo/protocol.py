"""The protocol part of the demo network: cases in every stage and on every track, with their meetings, checks,
holds and approvals.

Everything here is invented. Each case is taken through the protocol with the real services, gate by gate, as a
keeper would (no row is written past a gate), so the demo never shows a dialogue without a passed gate or a
preparation stage left without its meetings. Runs after `cases.demo.seed_network`, the built-in instruments and
`safety.demo.seed_safety` (whose cases, the oldest open ones, it leaves alone).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from circlekeeper.accounts.models import Membership, Organization, Role, User
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.disclosure import add_participant
from circlekeeper.cases.intake import save_intake
from circlekeeper.cases.models import (
    Case,
    CaseAssignment,
    CaseStatus,
    ConsentKind,
    HarmType,
    HowGiven,
    Participant,
    ParticipantRole,
    Stage,
    TeamRole,
    Track,
)
from circlekeeper.cases.participants import record_consent
from circlekeeper.demo.cases import ORGANIZATIONS
from circlekeeper.demo.safety import DEMO_CHECKS, DEMO_PLAN
from circlekeeper.instruments import filling
from circlekeeper.instruments.models import Instrument, InstrumentVersion, Response
from circlekeeper.protocol import policy, services
from circlekeeper.protocol.models import Answer, CheckMoment, Meeting, MeetingChannel, MeetingKind, Transition
from circlekeeper.safety import services as safety
from circlekeeper.safety.models import SafetyHold

HOUR = datetime.timedelta(hours=1)
# Between the starts of two meetings held in one walk: a whole walk fits in a morning.
STEP = datetime.timedelta(minutes=20)
DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Scene:
    """Where one demo case is taken: its track, the stage it reaches, and what happens there."""

    track: str
    stage: str
    # ready: prepared, waiting for the supervisor's approval; circle / shuttle / harm_meeting: a meeting
    # scheduled; hold: the survivor's check-out at a preparation meeting signalled danger, the hold was later
    # lifted; withdrawn: the survivor withdrew in preparation, which cancelled the meeting with the other side.
    story: str = ""


# In stage order: the most recently opened cases get the earliest stages.
SCENES = [
    Scene(Track.SUPPORT_ONLY, Stage.INTAKE),
    Scene(Track.REFERRAL_OUT, Stage.SAFETY_PLANNING),
    Scene(Track.COMMUNITY_ACCOUNTABILITY, Stage.MAPPING_SUPPORT),
    Scene(Track.INDIRECT_DIALOGUE, Stage.PREPARATION, "harm_meeting"),
    Scene(Track.DIRECT_DIALOGUE, Stage.PREPARATION, "ready"),
    Scene(Track.DIRECT_DIALOGUE, Stage.PREPARATION, "hold"),
    Scene(Track.DIRECT_DIALOGUE, Stage.PREPARATION, "withdrawn"),
    Scene(Track.DIRECT_DIALOGUE, Stage.DIALOGUE, "circle"),
    Scene(Track.INDIRECT_DIALOGUE, Stage.DIALOGUE, "shuttle"),
    Scene(Track.DIRECT_DIALOGUE, Stage.AGREEMENT),
    Scene(Track.COMMUNITY_ACCOUNTABILITY, Stage.AGREEMENT),
    Scene(Track.SUPPORT_ONLY, Stage.MONITORING),
    Scene(Track.SUPPORT_ONLY, Stage.CLOSURE),
]
ACKNOWLEDGMENT = "Demo acknowledgment: I hurt her, and it was my doing. Nobody made me do it."


class _Story:
    """One demo case taken through the protocol by its keeper, with the real services only."""

    def __init__(self, case: Case, keeper: User, advocate: User, supervisor: User, now: datetime.datetime):
        self.case, self.keeper, self.advocate, self.supervisor, self.now = (
            case,
            keeper,
            advocate,
            supervisor,
            now,
        )
        self.survivor = Participant.objects.get(case=case, role=ParticipantRole.SURVIVOR)
        self.harm = Participant.objects.get(case=case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM)
        self.supporters: list[Participant] = []
        # Meetings held in the walk began one after another inside the demo survivors' safe-contact hours
        # (weekdays, 9 a.m.-5 p.m.), on the latest working day already over: the contact policy checks a
        # meeting's start against everyone's rules again at the check-in and when it is recorded held.
        self.clock = _last_working_morning(now)

    def check(self, code: str = "safety_check", *yes: str, fresh: bool = False) -> None:
        version = builtin_version(code)
        asked = [
            i["code"]
            for s in version.definition["sections"]
            for i in s["items"]
            if i["type"] != "descriptive"
        ]
        response = Response.objects.create(
            organization_id=self.case.organization_id,
            version=version,
            participant=self.survivor,
            case=self.case,
            purpose=code,
            answers={item: "1" if item in yes else "0" for item in asked},
            entered_by_staff=self.advocate,
            # A fresh assessment (to lift a hold) is started after the hold's latest trigger.
            started_at=timezone.now() - (datetime.timedelta(0) if fresh else datetime.timedelta(minutes=15)),
        )
        filling.submit(response=response, today=timezone.localdate())
        self.case.refresh_from_db()

    def advance(self, reason: str = "") -> None:
        services.advance(case=self.case, by=self.keeper, reason=reason)
        self.case.refresh_from_db()

    def walk_to(self, scene: Scene) -> None:
        """Every stage up to the scene's, each gate met on the way."""
        order = list(Stage)
        target = order.index(Stage(scene.stage))
        self.check("immediate_danger")
        self.advance()  # to intake
        if target > order.index(Stage.INTAKE):
            save_intake(
                case=self.case,
                version=0,
                by=self.advocate,
                account="Demo: in her words, months of shouting and one push in the kitchen.",
                harm_types=[HarmType.EMOTIONAL, HarmType.PHYSICAL],
                goals="Demo: she wants it to stop and to keep the family talking.",
                does_not_want="Demo: no police.",
            )
            self.check()
            if self.case.track != scene.track:
                choose_track(
                    case=self.case,
                    survivor=self.survivor,
                    track=scene.track,
                    explained_by=self.advocate,
                    explained_on=timezone.localdate(),
                    by=self.advocate,
                )
            self.advance()  # to safety planning
        if target > order.index(Stage.SAFETY_PLANNING):
            safety.save_plan(survivor=self.survivor, revision=0, by=self.advocate, **DEMO_PLAN)
            self.advance()  # to mapping support
        if target > order.index(Stage.MAPPING_SUPPORT):
            self.pod(contact=scene.track not in (Track.SUPPORT_ONLY, Track.REFERRAL_OUT))
            self.advance()  # to preparation (or monitoring, on a track without contact)
        if target > order.index(Stage.PREPARATION) and self.case.stage == Stage.PREPARATION:
            self.prepare()
            self.advance()  # to dialogue
        if target > order.index(Stage.DIALOGUE) and self.case.stage == Stage.DIALOGUE:
            self.dialogue(scene.track)
            self.advance()  # to agreement
        if Stage(scene.stage) == Stage.CLOSURE:
            self.advance("Demo: the survivor's goals are met; she feels safe at home.")

    def pod(self, *, contact: bool) -> None:
        """Consenting supporters for each party and, on a track with contact, a safety monitor."""
        people = [(ParticipantRole.SURVIVOR_SUPPORTER, "Supporter C")]
        if contact:
            people += [
                (ParticipantRole.HARM_SUPPORTER, "Supporter D"),
                (ParticipantRole.SAFETY_MONITOR, "Monitor E"),
            ]
        for role, label in people:
            person = add_participant(case=self.case, role=role, label=label, by=self.keeper)
            for kind in (ConsentKind.TAKE_PART, ConsentKind.CONTACT):
                record_consent(
                    participant=person,
                    kind=kind,
                    how_given=HowGiven.ORAL,
                    given_on=timezone.localdate(),
                    by=self.keeper,
                )
            self.supporters.append(person)

    def schedule(self, kind: str, invitees: list[Participant], starts_at: datetime.datetime) -> Meeting:
        """At the first hour from `starts_at` that everyone's safe-contact rules allow (a meeting is contact)."""
        # Never from before now: seeding takes minutes, and the whole hour after a time already passed can be
        # in the past by the time the meeting is booked.
        earliest = max(starts_at - HOUR, timezone.now() + 5 * datetime.timedelta(minutes=1))
        allowed = policy.next_allowed_start(invitees, MeetingChannel.IN_PERSON, earliest) or starts_at
        return services.schedule_meeting(
            case=self.case,
            kind=kind,
            starts_at=allowed,
            invitees=invitees,
            by=self.keeper,
            place="Demo place: the community centre, room 2",
        )

    def hold_meeting(self, kind: str, invitees: list[Participant], *, stop: bool = False) -> Meeting:
        """A meeting that began a little earlier today, the survivor's check-in and check-out, and its record.

        It is scheduled (never in the past) and then its start set to earlier today, as if it had been booked
        before. With `stop`, the survivor says at check-in that she wants to stop: the meeting ends there,
        recorded as stopped, and the case goes on hold at once."""
        meeting = self.schedule(kind, invitees, timezone.now() + HOUR)
        # Booked before: the meeting began earlier today (its safe-contact time was checked when it was booked).
        meeting.starts_at = self.clock
        Meeting.objects.filter(pk=meeting.pk).update(starts_at=self.clock)
        self.clock += STEP
        if self.survivor in invitees:
            for moment in (CheckMoment.CHECK_IN, CheckMoment.CHECK_OUT):
                services.record_check(
                    meeting=meeting,
                    participant=self.survivor,
                    moment=moment,
                    feels_safe=Answer.YES,
                    threatened=Answer.NO,
                    wants_to_stop=Answer.YES if stop else Answer.NO,
                    by=self.keeper,
                )
                if stop:
                    meeting.refresh_from_db()
                    return meeting
        return services.mark_held(meeting=meeting, attended=invitees, by=self.keeper)

    def prepare(self) -> None:
        self.hold_meeting(MeetingKind.PREPARATION, [self.survivor])
        with_harm = self.hold_meeting(MeetingKind.PREPARATION, [self.harm])
        services.record_acknowledgment(
            meeting=with_harm, participant=self.harm, in_their_words=ACKNOWLEDGMENT, by=self.keeper
        )

    def dialogue(self, track: str) -> None:
        if track == Track.DIRECT_DIALOGUE:
            services.approve_joint_dialogue(case=self.case, by=self.supervisor)
            self.hold_meeting(MeetingKind.CIRCLE, [self.survivor, self.harm, *self.supporters])
        elif track == Track.INDIRECT_DIALOGUE:
            # The keeper meets each side in turn: both in one session would be a joint meeting.
            self.hold_meeting(MeetingKind.SHUTTLE, [self.survivor])
            self.hold_meeting(MeetingKind.SHUTTLE, [self.harm])
        else:
            self.hold_meeting(MeetingKind.POD, [self.harm, *self.supporters])

    def finish(self, scene: Scene) -> None:
        """What happens at the scene's stage after the walk."""
        today_later = _later_today(self.now)
        if scene.story == "harm_meeting":
            self.hold_meeting(MeetingKind.PREPARATION, [self.survivor])
            self.schedule(MeetingKind.PREPARATION, [self.harm], today_later)
        elif scene.story == "ready":
            self.prepare()
        elif scene.story == "hold":
            self.hold_meeting(MeetingKind.PREPARATION, [self.survivor], stop=True)
            self.check(fresh=True)  # a fresh assessment, below high, and the supervisor's review
            hold = SafetyHold.objects.open().get(case=self.case)
            safety.lift_hold(
                hold=hold, by=self.supervisor, reason="Demo: talked it through; she wants to go on, slowly."
            )
            safety.review_plan(survivor=self.survivor, revision=1, by=self.advocate)
        elif scene.story == "withdrawn":
            self.hold_meeting(MeetingKind.PREPARATION, [self.survivor])
            self.schedule(MeetingKind.PREPARATION, [self.harm], self.now + 2 * DAY)
            services.withdraw(
                case=self.case, by=self.advocate, reason="Demo: she called to say she wants to stop."
            )
        elif scene.story == "circle":
            services.approve_joint_dialogue(case=self.case, by=self.supervisor)
            self.schedule(
                MeetingKind.CIRCLE, [self.survivor, self.harm, *self.supporters], self.now + 3 * DAY
            )
        elif scene.story == "shuttle":
            self.schedule(MeetingKind.SHUTTLE, [self.harm], today_later)


def _last_working_morning(now: datetime.datetime) -> datetime.datetime:
    """9 a.m. (local time) of the latest weekday whose 9 a.m.-5 p.m. is over at `now`."""
    local = timezone.localtime(now)
    day = local.date() if local.hour >= 17 else local.date() - datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(9)), local.tzinfo)


def _later_today(now: datetime.datetime) -> datetime.datetime:
    """An hour from now, kept within today where the day has room for it."""
    late = timezone.localtime(now).replace(hour=23, minute=30, second=0, microsecond=0)
    return min(now + HOUR, late) if late > now + 10 * datetime.timedelta(minutes=1) else now + HOUR


def builtin_version(code: str) -> InstrumentVersion:
    """The latest version of a built-in instrument (the demos of the apps above use it too)."""
    instrument = Instrument.objects.filter(owner__isnull=True, code=code).first()
    version = instrument.latest_version() if instrument else None
    if version is None:
        raise LookupError("The built-in instruments are not loaded: run load_instruments first.")
    return version


def demo_member(organization: Organization, role: str) -> User | None:
    """The demo organization's first person in this role (the demos of the apps above use it too)."""
    membership = (
        Membership.objects.filter(organization=organization, role=role)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    return membership.user if membership else None


def _scene_cases(organization: Organization, keeper: User) -> list[Case]:
    """Open cases on the keeper's team, most recently opened first, leaving out those the safety demo uses."""
    open_cases = list(
        Case.objects.filter(organization=organization, status=CaseStatus.OPEN).order_by("opened_on", "id")
    )
    taken = {case.pk for case in open_cases[: len(DEMO_CHECKS)]}
    kept = set(
        CaseAssignment.objects.filter(case__in=open_cases, user=keeper, role=TeamRole.KEEPER).values_list(
            "case_id", flat=True
        )
    )
    return [case for case in reversed(open_cases) if case.pk in kept and case.pk not in taken]


def seed_protocol(now: datetime.datetime | None = None) -> int:
    """Take demo cases through the protocol, once per demo organization; returns the number of cases walked."""
    now = now or timezone.now()
    walked = 0
    for _name, slug, _prefix in ORGANIZATIONS:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None or Transition.objects.filter(organization=organization).exists():
            continue
        with transaction.atomic():
            walked += _seed_organization(organization, now)
    return walked


def _seed_organization(organization: Organization, now: datetime.datetime) -> int:
    keeper = demo_member(organization, Role.KEEPER)
    advocate = demo_member(organization, Role.SAFETY_ADVOCATE)
    supervisor = demo_member(organization, Role.SUPERVISOR)
    if keeper is None or advocate is None or supervisor is None:
        return 0
    cases = _scene_cases(organization, keeper)
    for case, scene in zip(cases, SCENES, strict=False):
        story = _Story(case, keeper, advocate, supervisor, now)
        story.walk_to(scene)
        story.finish(scene)
    return min(len(cases), len(SCENES))
