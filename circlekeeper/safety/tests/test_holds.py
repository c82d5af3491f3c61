"""Escalation: a high check, new violence or a broken commitment opens a hold that refuses contact with the
person who caused harm; the supervisor and safety advocate are alerted and a plan review is asked for; only a
supervisor lifts it, after a newer check below high, with a written reason (test_hold_fresh_assessment.py has
what makes a check fresh enough)."""

import datetime

import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.contact import contact_allowed
from circlekeeper.cases.models import (
    CaseEvent,
    CaseTask,
    EventKind,
    Participant,
    ParticipantRole,
    TaskKind,
    Track,
)
from circlekeeper.instruments.links import ContactRefused, issue_link
from circlekeeper.instruments.models import InstrumentVersion
from circlekeeper.safety import services
from circlekeeper.safety.models import HoldReason, SafetyAlert, SafetyCheck, SafetyHold
from circlekeeper.safety.tests.checks import builtin_version, run_check
from circlekeeper.testing import PersonaTestCase, make_participant, ready_for_contact

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


@time_machine.travel(NOW, tick=False)
class HoldTests(PersonaTestCase):
    survivor: Participant
    harm: Participant
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        choose_track(
            case=cls.case,
            survivor=cls.survivor,
            track=Track.INDIRECT_DIALOGUE,
            explained_by=cls.alice,
            explained_on=NOW.date(),
            by=cls.alice,
        )
        ready_for_contact(cls.case, cls.alice)
        cls.version = builtin_version()

    def refresh(self):
        self.case.refresh_from_db()

    def test_a_low_check_opens_no_hold_and_contact_with_the_person_who_caused_harm_is_allowed(self):
        check = run_check(self.survivor, "escalation", by=self.ada)
        self.refresh()
        self.assertEqual((check.level, self.case.risk_level, self.case.on_hold), ("low", "low", False))
        self.assertTrue(contact_allowed(self.harm, "phone_call", NOW).allowed)

    def test_a_high_check_opens_a_hold_at_once_with_an_alert_and_a_plan_review_task(self):
        check = run_check(self.survivor, "strangulation", by=self.ada)
        self.refresh()
        hold = SafetyHold.objects.get(case=self.case)
        self.assertTrue(self.case.on_hold)
        self.assertEqual((hold.reason, hold.opening_check, hold.opened_by), (HoldReason.RISK, check, None))
        self.assertEqual(SafetyAlert.objects.get(hold=hold).level, "high")
        task = CaseTask.objects.get(case=self.case, kind=TaskKind.REVIEW_SAFETY_PLAN)
        self.assertEqual(task.participant, self.survivor)
        kinds = set(CaseEvent.objects.filter(case=self.case).values_list("kind", flat=True))
        self.assertLessEqual({EventKind.CHECK_RECORDED, EventKind.HOLD_OPENED, EventKind.ALERT_RAISED}, kinds)

    def test_a_severe_check_also_opens_a_hold(self):
        run_check(self.survivor, "danger_now")
        self.refresh()
        self.assertTrue(self.case.on_hold)
        self.assertEqual(self.case.risk_level, "severe")

    def test_a_hold_refuses_contact_with_the_person_who_caused_harm_and_their_supporters_but_not_the_survivor(
        self,
    ):
        supporter = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Supporter C")
        run_check(self.survivor, "weapon")
        for participant in (self.harm, supporter):
            participant.refresh_from_db()
            decision = contact_allowed(participant, "phone_call", NOW)
            self.assertFalse(decision.allowed)
            self.assertIn("safety hold", decision.reason)
        self.assertTrue(contact_allowed(self.survivor, "phone_call", NOW).allowed)

    def test_a_hold_refuses_a_survey_link_to_the_person_who_caused_harm_and_writes_nothing(self):
        run_check(self.survivor, "threats_to_kill")
        self.harm.refresh_from_db()
        with self.assertRaises(ContactRefused) as refused:
            issue_link(
                participant=self.harm,
                version=self.version,
                purpose="T1",
                expires_at=NOW + datetime.timedelta(days=7),
                by=self.alice,
                channel="phone_call",
                when=NOW,
            )
        self.assertIn("safety hold", refused.exception.reason)
        self.assertFalse(self.harm.links.exists())

    def test_a_hold_refuses_a_track_with_more_contact_but_not_one_with_less(self):
        run_check(self.survivor, "strangulation")
        self.refresh()
        with self.assertRaises(ValidationError) as refused:
            choose_track(
                case=self.case,
                survivor=self.survivor,
                track=Track.DIRECT_DIALOGUE,
                explained_by=self.alice,
                explained_on=NOW.date(),
                by=self.alice,
            )
        self.assertIn("safety hold", str(refused.exception))
        choose_track(
            case=self.case,
            survivor=self.survivor,
            track=Track.SUPPORT_ONLY,
            explained_by=self.alice,
            explained_on=NOW.date(),
            by=self.alice,
        )
        self.refresh()
        self.assertEqual(self.case.track, Track.SUPPORT_ONLY)

    def test_new_violence_opens_a_hold_with_what_happened_encrypted(self):
        hold = services.report_new_violence(case=self.case, by=self.alice, details="Pushed her on Sunday")
        self.refresh()
        self.assertTrue(self.case.on_hold)
        self.assertEqual((hold.reason, hold.opened_by), (HoldReason.NEW_VIOLENCE, self.alice))
        self.assertEqual(SafetyHold.objects.get(pk=hold.pk).details, "Pushed her on Sunday")

    def test_new_violence_needs_words(self):
        with self.assertRaises(ValidationError):
            services.report_new_violence(case=self.case, by=self.alice, details="  ")
        self.assertFalse(SafetyHold.objects.exists())

    def test_a_broken_commitment_opens_a_hold(self):
        services.open_hold(case=self.case, reason=HoldReason.BROKEN_COMMITMENT, by=self.alice)
        self.refresh()
        self.assertTrue(self.case.on_hold)

    def test_a_second_trigger_while_on_hold_keeps_one_hold_and_raises_another_alert(self):
        run_check(self.survivor, "strangulation")
        services.report_new_violence(case=self.case, by=self.alice, details="Threatened again")
        self.assertEqual(SafetyHold.objects.filter(case=self.case).count(), 1)
        self.assertEqual(SafetyAlert.objects.filter(case=self.case).count(), 2)
        self.assertEqual(CaseTask.objects.filter(case=self.case, kind=TaskKind.REVIEW_SAFETY_PLAN).count(), 1)

    def test_the_database_refuses_two_open_holds_on_one_case(self):
        services.open_hold(case=self.case, reason=HoldReason.NEW_VIOLENCE, by=self.alice)
        with self.assertRaises(IntegrityError), transaction.atomic():
            SafetyHold.objects.create(organization=self.harbor, case=self.case, reason=HoldReason.RISK)

    def test_a_check_of_another_instrument_records_nothing(self):
        from circlekeeper.instruments.tests.survey import make_survey_version

        version = make_survey_version()
        from circlekeeper.instruments import filling
        from circlekeeper.instruments.models import Response

        response = Response.objects.create(
            organization=self.harbor, version=version, participant=self.survivor, case=self.case, answers={}
        )
        filling.submit(response=response, today=NOW.date())
        self.assertFalse(SafetyCheck.objects.exists())


@time_machine.travel(NOW, tick=False)
class LiftingTests(PersonaTestCase):
    survivor: Participant
    harm: Participant

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        cls.case.track = Track.INDIRECT_DIALOGUE
        cls.case.save(update_fields=["track"])
        ready_for_contact(cls.case, cls.alice)

    def setUp(self):
        run_check(self.survivor, "strangulation", by=self.ada)
        self.hold = SafetyHold.objects.get(case=self.case)

    def later(self, minutes: int) -> datetime.datetime:
        return NOW + datetime.timedelta(minutes=minutes)

    def test_only_a_supervisor_lifts_a_hold(self):
        with time_machine.travel(self.later(5), tick=False):
            run_check(self.survivor, by=self.ada)
            for person in (self.alice, self.ada, self.bob):
                with self.assertRaises(PermissionDenied):
                    services.lift_hold(hold=self.hold, by=person, reason="Calmer now")
        self.hold.refresh_from_db()
        self.assertIsNone(self.hold.lifted_at)

    def test_a_supervisor_off_the_team_cannot_lift_it(self):
        from circlekeeper.accounts.models import Role
        from circlekeeper.testing import make_user

        other = make_user(organization=self.harbor, roles=(Role.SUPERVISOR,))
        with time_machine.travel(self.later(5), tick=False):
            run_check(self.survivor, by=self.ada)
            with self.assertRaises(PermissionDenied):
                services.lift_hold(hold=self.hold, by=other, reason="Calmer now")

    def test_the_supervisor_cannot_lift_it_without_a_newer_check(self):
        with self.assertRaises(ValidationError) as refused:
            services.lift_hold(hold=self.hold, by=self.sam, reason="Spoke with her")
        self.assertIn("newer full safety check", str(refused.exception))
        self.case.refresh_from_db()
        self.assertTrue(self.case.on_hold)

    def test_a_newer_check_still_high_does_not_lift_it(self):
        with time_machine.travel(self.later(5), tick=False):
            run_check(self.survivor, "weapon")
            with self.assertRaises(ValidationError):
                services.lift_hold(hold=self.hold, by=self.sam, reason="Spoke with her")

    def test_a_check_below_high_then_a_high_one_does_not_lift_it(self):
        with time_machine.travel(self.later(5), tick=False):
            run_check(self.survivor, by=self.ada)
        with time_machine.travel(self.later(10), tick=False):
            run_check(self.survivor, "forced_sex")
            with self.assertRaises(ValidationError):
                services.lift_hold(hold=self.hold, by=self.sam, reason="Spoke with her")

    def test_a_check_of_the_person_who_caused_harm_does_not_count(self):
        with time_machine.travel(self.later(5), tick=False):
            # Asking the other side anything is contact, refused during the hold (issue 17)...
            with self.assertRaises(ContactRefused):
                run_check(self.harm)
            with self.assertRaises(ValidationError):
                services.lift_hold(hold=self.hold, by=self.sam, reason="He says it is fine")

    def test_the_supervisor_lifts_it_after_a_newer_check_below_high_with_a_reason(self):
        with time_machine.travel(self.later(5), tick=False):
            newer = run_check(self.survivor, "escalation", by=self.ada)
            with self.assertRaises(ValidationError):
                services.lift_hold(hold=self.hold, by=self.sam, reason="   ")
            services.lift_hold(hold=self.hold, by=self.sam, reason="Moved to her sister's; plan reviewed")
        self.hold.refresh_from_db()
        self.case.refresh_from_db()
        self.assertFalse(self.case.on_hold)
        self.assertEqual((self.hold.lifted_by, self.hold.lift_check), (self.sam, newer))
        self.assertEqual(self.hold.lift_reason, "Moved to her sister's; plan reviewed")
        self.assertFalse(SafetyAlert.objects.unseen().filter(hold=self.hold).exists())
        self.assertTrue(
            CaseEvent.objects.filter(case=self.case, kind=EventKind.HOLD_LIFTED, by=self.sam).exists()
        )
        self.harm.refresh_from_db()
        self.assertTrue(contact_allowed(self.harm, "phone_call", timezone.now()).allowed)

    def test_a_lifted_hold_cannot_be_lifted_again(self):
        with time_machine.travel(self.later(5), tick=False):
            run_check(self.survivor, by=self.ada)
            services.lift_hold(hold=self.hold, by=self.sam, reason="Safe now")
            with self.assertRaises(ValidationError):
                services.lift_hold(hold=self.hold, by=self.sam, reason="Again")

    def test_after_lifting_a_new_high_check_opens_a_new_hold(self):
        with time_machine.travel(self.later(5), tick=False):
            run_check(self.survivor, by=self.ada)
            services.lift_hold(hold=self.hold, by=self.sam, reason="Safe now")
        with time_machine.travel(self.later(60), tick=False):
            run_check(self.survivor, "weapon")
        self.assertEqual(SafetyHold.objects.filter(case=self.case).count(), 2)
        self.case.refresh_from_db()
        self.assertTrue(self.case.on_hold)


class RiskInstrumentMappingTests(PersonaTestCase):
    def definition(self):
        from circlekeeper.instruments.tests.helpers import make_definition

        definition = make_definition(code="licensed")
        definition["scoring"] = {
            "bands": [
                {
                    "code": "danger",
                    "levels": [{"code": "l1"}, {"code": "l2"}, {"code": "l3"}],
                    "rules": [{"items": [self.first_choice_item(definition)], "codes": ["1"], "level": "l3"}],
                }
            ]
        }
        return definition

    def first_choice_item(self, definition):
        return next(
            i["code"]
            for s in definition["sections"]
            for i in s["items"]
            if i["type"] in ("single_choice", "yes_no")
        )

    def test_every_level_of_the_band_must_be_mapped_and_only_own_instruments(self):
        from circlekeeper.instruments.models import Source
        from circlekeeper.instruments.services import save_version

        version, _new = save_version(definition=self.definition(), source=Source.MANUAL, owner=self.harbor)
        instrument = version.instrument
        with self.assertRaises(ValidationError) as refused:
            services.map_risk_instrument(
                organization_id=self.harbor.pk,
                instrument=instrument,
                kind="full",
                band="danger",
                level_map={"l1": "low", "l2": "high"},
                by=self.pat,
            )
        self.assertIn("l3", str(refused.exception))
        with self.assertRaises(ValidationError):
            services.map_risk_instrument(
                organization_id=self.valley.pk,
                instrument=instrument,
                kind="full",
                band="danger",
                level_map={"l1": "low", "l2": "high", "l3": "severe"},
                by=self.pat,
            )
        with self.assertRaises(ValidationError):
            services.map_risk_instrument(
                organization_id=self.harbor.pk,
                instrument=instrument,
                kind="full",
                band="nope",
                level_map={},
                by=self.pat,
            )
        mapping = services.map_risk_instrument(
            organization_id=self.harbor.pk,
            instrument=instrument,
            kind="full",
            band="danger",
            level_map={"l1": "low", "l2": "elevated", "l3": "severe"},
            by=self.pat,
        )
        self.assertEqual(
            services.risk_mapping(version, self.harbor.pk), ("full", "danger", mapping.level_map)
        )
        self.assertIsNone(services.risk_mapping(version, self.valley.pk))


class CheckThroughALinkTests(PersonaTestCase):
    """The survivor answers the safety check through their own link: a high result holds the case at once."""

    def test_a_high_check_answered_through_the_survivors_link_opens_a_hold(self):
        from django.urls import reverse

        from circlekeeper.safety.tests.checks import ITEMS

        survivor = make_participant(self.case, label="Survivor A")
        version = builtin_version()
        _link, token = issue_link(
            participant=survivor,
            version=version,
            purpose="safety_check",
            expires_at=timezone.now() + datetime.timedelta(days=7),
            by=self.ada,
            channel="in_person",
            when=timezone.now(),
        )
        self.client.get(reverse("links:open", args=[token]))
        page = reverse("links:page")
        self.client.post(page, {"section": "0", "_shown": ["danger_now"], "q-danger_now": "0"})
        answers = {f"q-{code}": "1" if code == "weapon" else "0" for code in ITEMS[1:]}
        self.client.post(page, {"section": "1", "_shown": [*ITEMS[1:], "anything_else"], **answers})
        self.assertRedirects(self.client.post(reverse("links:review")), reverse("links:done"))

        check = SafetyCheck.objects.get(participant=survivor)
        self.assertEqual((check.level, check.entered_by), ("high", None))
        hold = SafetyHold.objects.get(case=self.case, lifted_at__isnull=True)
        self.assertEqual((hold.reason, hold.opened_by), (HoldReason.RISK, None))
        # The participant's own pages say nothing of it: the hold is for the team.
        done = self.client.get(reverse("links:done"))
        self.assertNotContains(done, "hold")
        self.assertTrue(SafetyAlert.objects.filter(hold=hold).exists())
