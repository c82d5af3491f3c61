"""A stateful property-based test of the protocol and its one contact policy (issue 17): random sequences of every
action (stage moves, tracks both ways, consent withdrawn and given again, checks, holds, new violence during a hold,
lifting by each role, plans, every meeting kind with any cast, check-ins and check-outs, approvals, survey links
issued, opened, saved and submitted, questionnaires entered by staff, withdrawal, the clock moving), some crafted
to skip what a page would offer, and some as forged POSTs with smuggled fields. The cast varies: one survivor, two
people who caused harm (the second never prepared unless the keeper does it), supporters with and without
consent, a child by role, a community member who is 9 by date of birth, a barrier.

Whether a contact may happen is judged by `reference_model` (PROTOCOL.md written again for the test, never
`gates.py` or `policy.py`). After every step:

- no contact of any kind with the other side happened (scheduled, started, recorded held, a link issued, opened,
  saved or submitted, a questionnaire started or submitted) while the model forbids it;
- after a safety event (hold, withdrawal of consent or of the case, a track with no contact) nothing of the other
  side is live: no scheduled meeting, no usable link, no questionnaire in progress;
- no meeting is held whose survivor check-in signalled danger or a wish to stop, before its start, or with a hold
  or a withdrawal of consent after its check-in; no meeting is scheduled in the past;
- history only grows, and the stage changes only through recorded transitions.
"""

from __future__ import annotations

import datetime

import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.intake import save_intake
from circlekeeper.cases.models import (
    CaseEvent,
    CaseStatus,
    Consent,
    ConsentKind,
    ContactChannel,
    ContactRules,
    HowGiven,
    Intake,
    Participant,
    ParticipantRole,
    Stage,
    TeamRole,
    Track,
)
from circlekeeper.cases.participants import record_consent, save_contact_rules, withdraw_consent
from circlekeeper.instruments import filling
from circlekeeper.instruments.links import ContactRefused, find_usable_link, issue_link, start_response
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink, Response
from circlekeeper.protocol import services
from circlekeeper.protocol.models import (
    CheckMoment,
    Meeting,
    MeetingKind,
    MeetingStatus,
    SafetyCheckIn,
    Transition,
    TransitionKind,
)
from circlekeeper.protocol.tests import reference_model as model
from circlekeeper.safety import services as safety
from circlekeeper.safety.models import SafetyHold, SafetyPlan
from circlekeeper.safety.tests.checks import builtin_version, run_check
from circlekeeper.testing import make_case, make_organization, make_user, sign_in

START = datetime.datetime(2026, 6, 1, 16, 0, tzinfo=datetime.UTC)
ANSWERS = st.sampled_from(["yes", "no", "no", "no", "pnts"])
INDICATORS = st.sampled_from([(), (), (), (), ("escalation",), ("strangulation",), ("danger_now",)])
CAST = ["survivor", "harm", "harm2", "sister", "uncle", "cousin", "neighbour", "child", "member9", "barrier"]
REFUSED = (ValidationError, PermissionDenied, ContactRefused, ValueError)


class ProtocolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Each run in its own savepoint, rolled back at the end: runs never see each other's rows.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        # The organization, its keeper and supervisor, and the built-in questionnaires are made once for all the
        # runs (ProtocolPropertyTests.setUpTestData); each run gets its own case and cast.
        self.keeper, self.supervisor = ProtocolMachine.keeper, ProtocolMachine.supervisor
        self.case = make_case(
            self.keeper_organization,
            team=((self.keeper, TeamRole.KEEPER), (self.supervisor, TeamRole.SUPERVISOR)),
            opened_on=START.date(),
        )
        self.people = self.cast()
        self.survivor, self.harm = self.people["survivor"], self.people["harm"]
        # The screen: five questions, all answered "no" below, so that answers can be submitted.
        self.version = ProtocolMachine.screen
        self.tokens: list[str] = []
        self.seen_events: list[tuple[int, str, dict]] = []
        self.seen_transitions: list[int] = []
        self.checked_held: set[int] = set()
        self.happened: set[str] = set()

    keeper: User
    supervisor: User
    keeper_organization: Organization
    screen: InstrumentVersion

    # name: (role, label, reachable, age in years by date of birth)
    CAST_ROLES = {
        "survivor": (ParticipantRole.SURVIVOR, "Survivor A", True, None),
        "harm": (ParticipantRole.PERSON_WHO_CAUSED_HARM, "Person B", True, None),
        "harm2": (ParticipantRole.PERSON_WHO_CAUSED_HARM, "Person C", True, None),
        "sister": (ParticipantRole.SURVIVOR_SUPPORTER, "Sister", True, None),
        "uncle": (ParticipantRole.HARM_SUPPORTER, "Uncle", True, None),
        "cousin": (ParticipantRole.HARM_SUPPORTER, "Cousin", False, None),
        "neighbour": (ParticipantRole.SAFETY_MONITOR, "Neighbour", True, None),
        "child": (ParticipantRole.CHILD, "Child D", True, None),
        "member9": (ParticipantRole.COMMUNITY_MEMBER, "Member E", True, 9),
        "barrier": (ParticipantRole.COMMUNITY_MEMBER, "Friend F", True, None),
    }

    def cast(self) -> dict[str, Participant]:
        """The cast, made in few queries: each person, then everyone's consents and safe-contact rules at once
        (consent to take part and to be contacted; any way, any day), as `make_reachable` records them."""
        org = self.case.organization_id
        people = {}
        for name, (role, label, _reachable, age) in self.CAST_ROLES.items():
            born = START.date() - datetime.timedelta(days=age * 366) if age else None
            people[name] = Participant.objects.create(
                organization_id=org, case=self.case, role=role, label=label, date_of_birth=born
            )
        reachable = [people[n] for n, spec in self.CAST_ROLES.items() if spec[2]]
        Consent.objects.bulk_create(
            Consent(
                organization_id=org,
                participant=person,
                kind=kind,
                how_given=HowGiven.ORAL,
                given_on=datetime.date(2026, 3, 1),
            )
            for person in reachable
            for kind in (ConsentKind.TAKE_PART, ConsentKind.CONTACT)
        )
        ContactRules.objects.bulk_create(
            ContactRules(
                organization_id=org,
                participant=person,
                channels=[c for c in ContactChannel.values if c != ContactChannel.NAMED_PERSON],
                days=list(range(7)),
            )
            for person in reachable
        )
        Participant.objects.filter(pk=people["barrier"].pk).update(barrier=True)
        people["barrier"].barrier = True
        return people

    MILESTONES = (
        "joint scheduled",
        "joint held",
        "a joint meeting refused",
        "a child or barrier refused",
        "stopped at the check-in",
        "cascade cancelled a meeting",
        "cascade revoked a link",
        "cascade voided a questionnaire",
        "a link submitted",
        "withdrawn",
        "on hold",
        "new violence during a hold",
        # Each path's own check is the only thing that refuses: something arranged while allowed, then a
        # condition the cascade rightly leaves alone changed (a monitor's or a supporter's consent lapsed, the
        # safe-contact rules were edited), and the path was tried anyway.
        "a check-in refused by its own check",
        "held refused by its own check",
        "a link opening refused by its own check",
        "a link submission refused by its own check",
        "a safe-contact rule refused a meeting already arranged",
    )
    # How many runs reached each milestone: proof that the random walks get where the rules matter.
    reached: dict[str, int] = {}

    def teardown(self) -> None:
        cascaded = Meeting.objects.filter(case=self.case, status=MeetingStatus.CANCELLED).exclude(
            cancel_reason=""
        )
        joint = [
            m for m in Meeting.objects.filter(case=self.case) if model.is_joint(list(m.participants.all()))
        ]
        found = {
            "joint scheduled": bool(joint),
            "joint held": any(m.status == MeetingStatus.HELD for m in joint),
            "stopped at the check-in": Meeting.objects.filter(
                case=self.case, status=MeetingStatus.STOPPED
            ).exists(),
            "cascade cancelled a meeting": cascaded.filter(
                cancel_reason__in=[
                    "safety_hold",
                    "new_violence",
                    "consent_withdrawn",
                    "withdrawn",
                    "track_changed",
                ]
            ).exists(),
            "cascade revoked a link": ParticipantLink.objects.filter(participant__case=self.case)
            .exclude(revoke_reason="")
            .exists(),
            "cascade voided a questionnaire": Response.objects.filter(
                case=self.case, voided_at__isnull=False
            ).exists(),
            "withdrawn": self.case.status == CaseStatus.WITHDRAWN,
            "on hold": SafetyHold.objects.filter(case=self.case).exists(),
        }
        for name in self.MILESTONES:
            happened = found.get(name, name in self.happened)
            ProtocolMachine.reached[name] = ProtocolMachine.reached.get(name, 0) + bool(happened)
        self.traveller.stop()
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    def refresh(self) -> None:
        self.case.refresh_from_db()

    def now(self) -> datetime.datetime:
        return timezone.now()

    def attempt(self, action, *args, **kwargs):
        try:
            with transaction.atomic():
                return action(*args, **kwargs)
        except REFUSED:
            return None
        finally:
            self.refresh()

    # --- contact, judged by the reference model before each attempt -------------------------------------

    def schedule_with(
        self, kind: str, names: list[str], starts_at: datetime.datetime, channel: str = "in_person"
    ) -> Meeting | None:
        people = [self.people[name] for name in names]
        why = model.meeting_reasons(
            self.case,
            kind,
            people,
            self.now(),
            timezone.localdate(starts_at),
            channel=channel,
            when=starts_at,
        )
        meeting = self.attempt(
            services.schedule_meeting,
            case=self.case,
            kind=kind,
            starts_at=starts_at,
            invitees=people,
            by=self.keeper,
            channel=channel,
        )
        if meeting is not None:
            assert not why, f"a {kind} with {names} was scheduled though {why}"
            assert starts_at > self.now(), "a meeting was scheduled in the past"
            if model.is_joint(people):
                self.happened.add("joint scheduled")
        elif model.is_joint(people) or kind in (MeetingKind.CIRCLE, MeetingKind.CONFERENCE):
            self.happened.add("a joint meeting refused")
        if meeting is None and any(n in ("child", "member9", "barrier") for n in names):
            self.happened.add("a child or barrier refused")
        return meeting

    def check(self, meeting: Meeting, moment: str, answers: tuple[str, str, str]) -> SafetyCheckIn | None:
        meeting.refresh_from_db()
        invitees = list(meeting.participants.all())
        why = self.meeting_reasons(meeting, invitees)
        status = meeting.status
        check = self.attempt(
            services.record_check,
            meeting=meeting,
            participant=self.survivor,
            moment=moment,
            feels_safe=answers[0],
            threatened=answers[1],
            wants_to_stop=answers[2],
            by=self.keeper,
        )
        if check is not None:
            assert status == MeetingStatus.SCHEDULED
            if any(p.role in model.OTHER_SIDE for p in invitees) or moment == CheckMoment.CHECK_IN:
                assert not why, f"a {moment} check of a {meeting.kind} was recorded though {why}"
        return check

    def held(self, meeting: Meeting, present: list[Participant]) -> bool:
        meeting.refresh_from_db()
        why = self.meeting_reasons(meeting, present)
        status = meeting.status
        done = self.attempt(services.mark_held, meeting=meeting, attended=present, by=self.keeper)
        if done is not None:
            assert not why, (
                f"a {meeting.kind} with {[p.label for p in present]} was recorded held though {why}"
            )
            if model.is_joint(present):
                self.happened.add("joint held")
        return done is not None and status == MeetingStatus.SCHEDULED

    def meeting_reasons(self, meeting: Meeting, people: list[Participant]) -> list[str]:
        """The model's reasons against this existing meeting with these people going on now (its way, its time)."""
        return model.meeting_reasons(
            self.case,
            meeting.kind,
            people,
            self.now(),
            self.now().date(),
            channel=meeting.channel,
            when=meeting.starts_at,
        )

    def meet(self, kind: str, names: list[str], answers=("yes", "no", "no")) -> Meeting | None:
        """Schedule an hour ahead, let the hour pass, check in and out, record it held."""
        meeting = self.schedule_with(kind, names, self.now() + datetime.timedelta(hours=1))
        if meeting is None:
            return None
        self.clock.shift(datetime.timedelta(minutes=61))
        people = [self.people[name] for name in names]
        if self.survivor in people:
            self.check(meeting, CheckMoment.CHECK_IN, answers)
            self.check(meeting, CheckMoment.CHECK_OUT, ("yes", "no", "no"))
        self.held(meeting, people)
        meeting.refresh_from_db()
        return meeting

    # --- the keeper's ordinary work ------------------------------------------------------------------

    @initialize()
    def screened(self) -> None:
        run_check(self.survivor, by=self.keeper, code="immediate_danger")
        self.refresh()

    @rule(approve=st.booleans(), hold_it=st.booleans(), second=st.booleans())
    def keeper_does_what_the_next_step_needs(self, approve: bool, hold_it: bool, second: bool) -> None:
        """The way a keeper works: do what the current gate asks, as far as it goes (then random rules disrupt)."""
        for _step in range(10):
            stage = self.case.stage
            if self.case.status != CaseStatus.OPEN:
                return
            if self.case.on_hold:
                # As a program does: a fresh full check with the survivor, then the supervisor decides.
                self.attempt(run_check, self.survivor, by=self.keeper)
                self.lift_hold("supervisor")
            if stage == Stage.INTAKE:
                if not Intake.objects.filter(case=self.case).exists():
                    save_intake(case=self.case, version=0, by=self.keeper, harm_types=["prefer_not"])
                self.attempt(run_check, self.survivor, by=self.keeper)
                if not self.case.track:
                    self.survivor_chooses(Track.DIRECT_DIALOGUE)
            elif stage in (Stage.SAFETY_PLANNING, Stage.PREPARATION, Stage.DIALOGUE):
                plan = SafetyPlan.objects.filter(participant=self.survivor).first()
                if plan is None or plan.review_due_since or plan.revision == 0:
                    self.plan(False)
            if stage == Stage.PREPARATION:
                for name in ("survivor", "harm", *(["harm2"] if second else [])):
                    meeting = self.meet(MeetingKind.PREPARATION, [name])
                    if meeting is not None and name != "survivor":
                        self.attempt(
                            services.record_acknowledgment,
                            meeting=meeting,
                            participant=self.people[name],
                            in_their_words="I did it.",
                            by=self.keeper,
                        )
            if stage == Stage.DIALOGUE and self.case.track == Track.DIRECT_DIALOGUE:
                self.attempt(run_check, self.survivor, by=self.keeper)
                if approve:
                    self.approve(True)
                names = ["survivor", "harm", *(["harm2"] if second else [])]
                if hold_it:
                    meeting = self.meet(MeetingKind.CIRCLE, names)
                    if meeting is not None and meeting.status == MeetingStatus.HELD:
                        self.happened.add("joint held")
                else:
                    self.schedule_with(MeetingKind.CIRCLE, names, self.now() + datetime.timedelta(hours=30))
            before = self.case.stage
            self.attempt(services.advance, case=self.case, by=self.keeper, reason="Done")
            if self.case.stage == before:
                break
        # And the next meeting with the other side goes in the diary, as it would.
        self.schedule_with(
            MeetingKind.PREPARATION, ["harm", "uncle"], self.now() + datetime.timedelta(hours=48)
        )
        issued = len(self.tokens)
        self.link("harm")  # and a questionnaire goes to them, which they may answer at once
        if len(self.tokens) > issued and hold_it:
            self.open_token(self.tokens[-1], submit=True)

    # The keeper's ordinary work is most of what happens: the same rule, drawn three times as often.
    @rule(approve=st.booleans(), hold_it=st.booleans(), second=st.booleans())
    def keeper_works_again(self, approve: bool, hold_it: bool, second: bool) -> None:
        self.keeper_does_what_the_next_step_needs(approve, hold_it, second)

    @rule(approve=st.booleans(), hold_it=st.booleans())
    def keeper_works_once_more(self, approve: bool, hold_it: bool) -> None:
        self.keeper_does_what_the_next_step_needs(approve, hold_it, False)

    @rule(
        chance=st.sampled_from([False, True]),
        answers=st.sampled_from([("yes", "no", "yes"), ("no", "no", "no"), ("yes", "pnts", "no")]),
    )
    def survivor_stops_at_a_check_in(self, chance: bool, answers: tuple[str, str, str]) -> None:
        """A preparation meeting with the survivor where she asks to stop, does not feel safe, or would rather not
        say whether she is threatened, at the check-in."""
        if chance:
            self.meet(MeetingKind.PREPARATION, ["survivor"], answers)

    # --- disruptions ---------------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([5, 60, 90, 60 * 5, 60 * 24, 60 * 24 * 8]))
    def time_passes(self, minutes: int) -> None:
        self.clock.shift(datetime.timedelta(minutes=minutes))

    @rule(track=st.sampled_from(list(Track)))
    def survivor_chooses(self, track: Track) -> None:
        self.attempt(
            choose_track,
            case=self.case,
            survivor=self.survivor,
            track=track,
            explained_by=self.keeper,
            explained_on=timezone.localdate(),
            by=self.keeper,
        )

    @rule(yes=INDICATORS)
    def safety_check(self, yes: tuple[str, ...]) -> None:
        self.attempt(run_check, self.survivor, *yes, by=self.keeper)

    @rule(by=st.sampled_from(["supervisor", "keeper"]))
    def lift_hold(self, by: str) -> None:
        hold = SafetyHold.objects.open().filter(case=self.case).first()
        if hold is not None:
            self.attempt(
                safety.lift_hold,
                hold=hold,
                by=self.supervisor if by == "supervisor" else self.keeper,
                reason="Ok",
            )

    @rule(chance=st.sampled_from([False, False, True]))
    def new_violence(self, chance: bool) -> None:
        if not chance:
            return  # disruptions are rarer than ordinary work, or the walks would never get anywhere
        if self.case.on_hold:
            self.happened.add("new violence during a hold")
        self.attempt(safety.report_new_violence, case=self.case, by=self.keeper, details="Reported by phone")

    @rule(chance=st.sampled_from([False, False, True]))
    def violence_while_things_are_arranged(self, chance: bool) -> None:
        """A questionnaire about the other side in progress and a link out to them, then violence, twice."""
        if chance:
            self.keeper_does_what_the_next_step_needs(approve=False, hold_it=False, second=False)
            self.staff_questionnaire("uncle", False)
            self.link("harm")
            self.new_violence(True)
            self.new_violence(True)

    @rule(declined=st.booleans())
    def plan(self, declined: bool) -> None:
        current = SafetyPlan.objects.filter(participant=self.survivor).first()
        self.attempt(
            safety.save_plan,
            survivor=self.survivor,
            revision=current.revision if current else 0,
            by=self.keeper,
            declined=declined,
            signals="Shouting",
        )

    @rule(chance=st.sampled_from([False, False, True]))
    def survivor_withdraws_consent(self, chance: bool) -> None:
        consent = (
            Consent.objects.current().filter(participant=self.survivor, kind=ConsentKind.TAKE_PART).first()
        )
        if chance and consent is not None:
            self.attempt(withdraw_consent, consent=consent, how="oral", by=self.keeper)

    @rule()
    def survivor_consents_again(self) -> None:
        self.attempt(
            record_consent,
            participant=self.survivor,
            kind=ConsentKind.TAKE_PART,
            how_given="oral",
            given_on=timezone.localdate(),
            by=self.keeper,
        )

    @rule(by_supervisor=st.booleans())
    def approve(self, by_supervisor: bool) -> None:
        self.attempt(
            services.approve_joint_dialogue,
            case=self.case,
            by=self.supervisor if by_supervisor else self.keeper,
        )

    @rule(
        kind=st.sampled_from(list(MeetingKind)),
        invite=st.sets(st.sampled_from(CAST), min_size=1, max_size=4),
        hours=st.sampled_from([-3, 1, 1, 30, 200]),
    )
    def schedule(self, kind: str, invite: set[str], hours: int) -> None:
        """Crafted: any kind with anyone, at any time, as a forged request could ask; the service must refuse."""
        self.schedule_with(kind, sorted(invite), self.now() + datetime.timedelta(hours=hours))

    @rule(data=st.data(), moment=st.sampled_from(list(CheckMoment)), a=ANSWERS, b=ANSWERS, c=ANSWERS)
    def check_in_or_out(self, data: st.DataObject, moment: str, a: str, b: str, c: str) -> None:
        meetings = list(Meeting.objects.filter(case=self.case).order_by("pk"))
        if not meetings:
            return
        meeting = data.draw(st.sampled_from(meetings))
        check = self.check(meeting, moment, (a, b, c))
        if check is not None and moment == CheckMoment.CHECK_IN and model.danger(check):
            meeting.refresh_from_db()
            assert meeting.status == MeetingStatus.STOPPED, "a danger or stop at the check-in did not end it"

    @rule(data=st.data(), everyone=st.booleans())
    def mark_held(self, data: st.DataObject, everyone: bool) -> None:
        meetings = list(Meeting.objects.filter(case=self.case).order_by("pk"))
        if not meetings:
            return
        meeting = data.draw(st.sampled_from(meetings))
        invited = list(meeting.participants.order_by("pk"))
        self.held(meeting, invited if everyone else invited[:1])

    @rule(who=st.sampled_from(["harm", "harm2", "uncle", "survivor", "member9", "child", "barrier"]))
    def link(self, who: str) -> None:
        person = self.people[who]
        why = model.contact_reasons(self.case, person, self.now())
        issued = self.attempt(
            issue_link,
            participant=person,
            version=self.version,
            purpose="T1",
            expires_at=self.now() + datetime.timedelta(days=7),
            by=self.keeper,
            channel="phone_call",
            when=self.now(),
        )
        if issued is not None:
            assert not why, f"a link went to {who} though {why}"
            self.tokens.append(issued[1])

    def answer(self, response: Response) -> None:
        """Every question answered "no", section by section, through the same save as the pages."""
        for position, section in enumerate(self.version.definition["sections"]):
            values = {i["code"]: "0" for i in section["items"] if i["type"] != "descriptive"}
            self.attempt(
                filling.save_section,
                response=response,
                position=position,
                values=values,
                today=timezone.localdate(),
            )

    @rule(data=st.data(), submit=st.booleans())
    def open_a_link(self, data: st.DataObject, submit: bool) -> None:
        """The participant opens a link they were sent and saves a first answer (submitting comes later)."""
        if not self.tokens:
            return
        self.open_token(data.draw(st.sampled_from(self.tokens)), submit)

    def open_token(self, token: str, submit: bool) -> None:
        found = find_usable_link(token)
        if found is None:
            return
        why = model.contact_reasons(self.case, found.participant, self.now())
        assert not why, f"a link opened though {why}"
        response = self.attempt(start_response, link=found)
        if response is not None:
            self.answer(response)
            if submit:
                response.refresh_from_db()
                self.submit(response)

    @rule(who=st.sampled_from(["harm", "uncle", "member9"]), submit=st.booleans())
    def staff_questionnaire(self, who: str, submit: bool) -> None:
        person = self.people[who]
        why = model.contact_reasons(self.case, person, self.now())
        response = self.attempt(
            filling.start_entry, participant=person, version=self.version, purpose="T1", by=self.keeper
        )
        if response is not None:
            assert not why, f"a questionnaire about {who} was started though {why}"
            self.answer(response)

    @rule(data=st.data())
    def submit_a_questionnaire(self, data: st.DataObject) -> None:
        started = list(Response.objects.filter(case=self.case, status="in_progress").order_by("pk"))
        if started:
            self.submit(data.draw(st.sampled_from(started)))

    def submit(self, response: Response) -> None:
        person = response.participant
        assert person is not None
        why = model.contact_reasons(self.case, person, self.now())
        voided = response.voided_at is not None
        link = ParticipantLink.objects.filter(response=response).first()
        done = self.attempt(filling.submit, response=response, today=timezone.localdate(), link=link)
        if done:
            assert not voided, "a voided questionnaire was submitted"
            assert not why, f"a questionnaire about {person.label} was submitted though {why}"
            if link is not None:
                self.happened.add("a link submitted")

    def post(self, name: str, args: list[int], data: dict[str, object]) -> int:
        """A forged POST, straight to the server: what a page would never offer, plus smuggled fields."""
        client = Client()
        sign_in(client, self.keeper)  # again each time: days pass, and sessions end
        smuggled = {"stage": Stage.AGREEMENT, "status": "held", "organization": "1", "case": "1"}
        response = client.post(reverse(name, args=args), {**smuggled, **data})
        self.refresh()
        return response.status_code

    @rule(
        kind=st.sampled_from(list(MeetingKind)),
        invite=st.sets(st.sampled_from(CAST[:6]), min_size=1, max_size=3),
    )
    def forged_post_for_a_meeting(self, kind: str, invite: set[str]) -> None:
        people = [self.people[name] for name in sorted(invite)]
        starts = timezone.localtime(self.now() + datetime.timedelta(days=1)).replace(hour=10, minute=0)
        why = model.meeting_reasons(
            self.case, kind, people, self.now(), starts.date(), channel="in_person", when=starts
        )
        before = Meeting.objects.filter(case=self.case).count()
        status = self.post(
            "protocol:meetings",
            [self.case.pk],
            {
                "kind": kind,
                "day": starts.date().isoformat(),
                "time": "10:00",
                "invitees": [p.pk for p in people],
            },
        )
        if Meeting.objects.filter(case=self.case).count() > before:
            assert not why, f"a forged POST scheduled a {kind} with {sorted(invite)} though {why}"
        else:
            assert status in (400, 409), status

    @rule(data=st.data(), everyone=st.booleans())
    def forged_post_held(self, data: st.DataObject, everyone: bool) -> None:
        meetings = list(Meeting.objects.filter(case=self.case).order_by("pk"))
        if not meetings:
            return
        meeting = data.draw(st.sampled_from(meetings))
        invited = list(meeting.participants.order_by("pk"))
        present = invited if everyone else invited[:1]
        why = self.meeting_reasons(meeting, present)
        was = meeting.status
        self.post("protocol:meeting_held", [self.case.pk, meeting.pk], {"attended": [p.pk for p in present]})
        meeting.refresh_from_db()
        if was != MeetingStatus.HELD and meeting.status == MeetingStatus.HELD:
            assert not why, f"a forged POST recorded a {meeting.kind} held though {why}"

    @rule(stage=st.sampled_from(list(Stage)))
    def forged_post_to_move_on(self, stage: Stage) -> None:
        before = Stage(self.case.stage)
        self.post("protocol:advance", [self.case.pk], {"stage": stage, "reason": "Forged"})
        if self.case.stage != before:
            assert stage == before, (before, stage, self.case.stage)

    @rule(chance=st.sampled_from([False, False, True]))
    def survivor_withdraws(self, chance: bool) -> None:
        if chance:
            self.attempt(services.withdraw, case=self.case, by=self.keeper, reason="Said so")

    # --- conditions that change without a cascade ----------------------------------------------------

    @rule(who=st.sampled_from(["neighbour", "uncle"]), chance=st.sampled_from([False, True]))
    def consent_lapses(self, who: str, chance: bool) -> None:
        """The safety monitor or a supporter of the other side withdraws consent to take part: no safety
        event (nothing cascades), but no contact that needs them may go on."""
        consent = (
            Consent.objects.current().filter(participant=self.people[who], kind=ConsentKind.TAKE_PART).first()
        )
        if chance and consent is not None:
            self.attempt(withdraw_consent, consent=consent, how="oral", by=self.keeper)

    @rule(who=st.sampled_from(["neighbour", "uncle", "survivor"]))
    def consent_given_again(self, who: str) -> None:
        self.attempt(
            record_consent,
            participant=self.people[who],
            kind=ConsentKind.TAKE_PART,
            how_given="oral",
            given_on=timezone.localdate(),
            by=self.keeper,
        )

    RULES = {
        "any way, any time": (
            ["phone_call", "text", "email", "in_person", "video"],
            list(range(7)),
            None,
            None,
        ),
        "by phone only": (["phone_call"], list(range(7)), None, None),
        "weekdays 9 to 5": (
            ["phone_call", "in_person", "video"],
            [0, 1, 2, 3, 4],
            datetime.time(9),
            datetime.time(17),
        ),
    }

    @rule(who=st.sampled_from(["survivor", "harm"]), rules=st.sampled_from(sorted(RULES)))
    def safe_contact_rules_edited(self, who: str, rules: str) -> None:
        person = self.people[who]
        channels, days, start, end = self.RULES[rules]
        current = ContactRules.objects.filter(participant=person).first()
        self.attempt(
            save_contact_rules,
            participant=person,
            version=current.version if current else None,
            by=self.keeper,
            channels=channels,
            days=days,
            from_time=start,
            until_time=end,
        )

    @rule(
        lapse=st.sampled_from(["monitor", "supporter", "rules", "survivor"]),
        restore=st.booleans(),
        her_answers=st.sampled_from([("yes", "no", "no"), ("yes", "no", "yes")]),
    )
    def arranged_while_allowed_then_a_condition_lapses(
        self, lapse: str, restore: bool, her_answers: tuple[str, str, str]
    ) -> None:
        """Meetings, a link and a questionnaire arranged while contact was allowed; then a condition changes that
        no safety event covers (or the survivor withdraws, which cascades the other side but not her own
        meeting); then every path is tried: only each path's own check can refuse it."""
        self.keeper_does_what_the_next_step_needs(approve=False, hold_it=False, second=False)
        starts = self.now() + datetime.timedelta(hours=1)
        hers = self.schedule_with(MeetingKind.PREPARATION, ["survivor"], starts)
        theirs = self.schedule_with(MeetingKind.PREPARATION, ["harm", "uncle"], starts)
        issued = len(self.tokens)
        self.link("harm")
        self.link("harm")
        opened = unopened = None
        if len(self.tokens) >= issued + 2:
            opened, unopened = self.tokens[-2], self.tokens[-1]
            self.open_token(opened, submit=False)
        in_progress = (
            Response.objects.filter(
                case=self.case, participant=self.harm, status="in_progress", voided_at=None
            )
            .order_by("-pk")
            .first()
        )
        if lapse == "monitor":
            self.consent_lapses("neighbour", True)
        elif lapse == "supporter":
            self.consent_lapses("uncle", True)
        elif lapse == "rules":
            self.safe_contact_rules_edited("survivor", "by phone only")
            self.safe_contact_rules_edited("harm", "by phone only")
        else:
            self.survivor_withdraws_consent(True)
        self.clock.shift(datetime.timedelta(minutes=61))
        if theirs is not None:
            theirs.refresh_from_db()
            present = [self.harm, self.people["uncle"]]
            scheduled = theirs.status == MeetingStatus.SCHEDULED
            why = self.meeting_reasons(theirs, present)
            if not self.held(theirs, present) and scheduled and why:
                self.happened.add("held refused by its own check")
                if lapse == "rules":
                    self.happened.add("a safe-contact rule refused a meeting already arranged")
        if unopened is not None:
            link = (
                ParticipantLink.objects.usable(self.now())
                .filter(participant=self.harm)
                .order_by("-pk")
                .first()
            )
            usable = link is not None and link.response_id is None
            if (
                find_usable_link(unopened) is None
                and usable
                and model.contact_reasons(self.case, self.harm, self.now())
            ):
                self.happened.add("a link opening refused by its own check")
            self.open_token(unopened, submit=False)
        if in_progress is not None:
            in_progress.refresh_from_db()
            live = in_progress.voided_at is None and in_progress.status == "in_progress"
            why = model.contact_reasons(self.case, self.harm, self.now())
            self.submit(in_progress)
            in_progress.refresh_from_db()
            if live and why and in_progress.status == "in_progress":
                self.happened.add("a link submission refused by its own check")
        # Her own meeting last: a stop at its check-in opens a hold, which cascades through the rest.
        if hers is not None:
            hers.refresh_from_db()
            scheduled = hers.status == MeetingStatus.SCHEDULED
            why = self.meeting_reasons(hers, [self.survivor])
            checked = self.check(hers, CheckMoment.CHECK_IN, her_answers)
            if scheduled and why and checked is None:
                self.happened.add("a check-in refused by its own check")
                if lapse == "rules":
                    self.happened.add("a safe-contact rule refused a meeting already arranged")
            if checked is not None and not model.danger(checked):
                self.check(hers, CheckMoment.CHECK_OUT, ("yes", "no", "no"))
                self.held(hers, [self.survivor])
        if restore:
            self.consent_given_again("neighbour")
            self.consent_given_again("uncle")
            self.consent_given_again("survivor")
            self.safe_contact_rules_edited("survivor", "any way, any time")
            self.safe_contact_rules_edited("harm", "any way, any time")

    # --- what must always hold ------------------------------------------------------------------------

    @invariant()
    def nothing_of_the_other_side_is_live_after_a_safety_event(self) -> None:
        why = model.stops_everything(self.case)
        if why:
            live = model.live_with_the_other_side(self.case, self.now())
            assert not live, f"{live} still live though {why}"

    @invariant()
    def meetings_keep_time_and_never_hold_a_stop(self) -> None:
        meetings = Meeting.objects.filter(case=self.case)
        assert not meetings.filter(starts_at__lte=F("scheduled_at")).exists(), (
            "a meeting was scheduled in the past"
        )
        # A meeting recorded held never changes again: each is checked once, when it first shows up held.
        for meeting in meetings.filter(status=MeetingStatus.HELD).exclude(pk__in=self.checked_held):
            self.checked_held.add(meeting.pk)
            assert meeting.held_at >= meeting.starts_at, "a meeting was recorded held before it started"
            checks_in = list(meeting.checks.filter(moment=CheckMoment.CHECK_IN))
            assert not any(model.danger(c) for c in checks_in), (
                "a meeting was held after a stop at its check-in"
            )
            # In the order things happened (the clock may stand still): between the first check-in and the
            # record of the meeting as held, no hold, alert or withdrawal of consent.
            events = CaseEvent.objects.filter(case=self.case, facts__meeting=str(meeting.pk))
            checked_in = events.filter(kind="meeting.check", facts__moment="in").order_by("pk").first()
            recorded = events.filter(kind="meeting.held").order_by("pk").first()
            if checked_in is not None and recorded is not None:
                assert not CaseEvent.objects.filter(
                    case=self.case,
                    pk__gt=checked_in.pk,
                    pk__lt=recorded.pk,
                    kind__in=["safety.hold.opened", "safety.alert", "consent.withdrawn"],
                ).exists(), "a meeting was held with a hold or a withdrawal after its check-in"

    @invariant()
    def history_only_grows(self) -> None:
        events = list(
            CaseEvent.objects.filter(case=self.case).order_by("pk").values_list("pk", "kind", "facts")
        )
        assert events[: len(self.seen_events)] == self.seen_events
        self.seen_events = events
        transitions = list(
            Transition.objects.filter(case=self.case).order_by("pk").values_list("pk", flat=True)
        )
        assert transitions[: len(self.seen_transitions)] == self.seen_transitions
        self.seen_transitions = transitions

    @invariant()
    def the_stage_is_where_the_transitions_took_it(self) -> None:
        last = (
            Transition.objects.filter(case=self.case, kind=TransitionKind.ADVANCE)
            .order_by("-pk")
            .values_list("to_stage", flat=True)
            .first()
        )
        assert self.case.stage == (last or Stage.REFERRAL)


class ProtocolPropertyTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        with time_machine.travel(START, tick=False):
            organization = make_organization()
            ProtocolMachine.keeper_organization = organization
            ProtocolMachine.keeper = make_user(organization=organization, roles=(Role.KEEPER,))
            ProtocolMachine.supervisor = make_user(organization=organization, roles=(Role.SUPERVISOR,))
            # Every built-in questionnaire, loaded once (each run's rows roll back; these stay).
            ProtocolMachine.screen = builtin_version("immediate_danger")

    def test_random_sequences_of_actions_never_break_the_protocol(self):
        ProtocolMachine.reached = {}
        run_state_machine_as_test(
            ProtocolMachine,
            settings=settings(
                max_examples=40,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                database=None,
                derandomize=True,  # the same walks every run: a CI failure is reproducible, never flaky
            ),
        )
        print("milestones reached (runs):", ProtocolMachine.reached)  # shown with pytest -s
        # The walks must reach the places the invariants are about, or passing would mean nothing.
        for milestone in ProtocolMachine.MILESTONES:
            self.assertGreater(
                ProtocolMachine.reached.get(milestone, 0), 0, (milestone, ProtocolMachine.reached)
            )
