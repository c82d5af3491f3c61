"""Correcting mistakes without erasing history (issue 18): a record entered in error stays, struck through with
who, when and why, and counts nowhere; a participant entered in error releases every step they blocked."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.contact import harm_action_refusal
from circlekeeper.cases.models import (
    Case,
    CaseEvent,
    CaseNote,
    Consent,
    ConsentKind,
    Participant,
    ParticipantRole,
    Stage,
    TrackChoice,
)
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.links import issue_link
from circlekeeper.instruments.models import ParticipantLink, Source
from circlekeeper.instruments.services import save_version
from circlekeeper.instruments.tests.helpers import make_definition
from circlekeeper.lib import keys
from circlekeeper.protocol import corrections, gates, services
from circlekeeper.protocol.models import Invitation, Meeting, MeetingKind, MeetingStatus
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

SOON = datetime.datetime(2099, 1, 1, 10, tzinfo=datetime.UTC)


class ParticipantInErrorTests(PersonaTestCase):
    def setUp(self) -> None:
        load_builtins()
        self.walk = Walk(self.case, self.alice, self.sam)
        self.walk.to_mapping_support()
        self.walk.supporters()
        # Added by mistake: a second "survivor" who does not exist, with no consent.
        self.mistake = make_participant(
            self.case, role=ParticipantRole.SURVIVOR, label="Survivor C", reachable=False
        )

    def url(self, participant: Participant | None = None) -> str:
        return reverse("protocol:participant_error", args=[self.case.pk, (participant or self.mistake).pk])

    def test_a_participant_added_by_mistake_blocks_every_step_with_the_other_side_until_marked(self):
        services.advance(case=self.case, by=self.alice)  # to preparation
        # As the issue found it: nothing with the person who caused harm may go on, for someone who does not exist.
        self.assertIn("Survivor C", harm_action_refusal(self.case) or "")
        with self.assertRaisesMessage(ValidationError, "Survivor C"):
            services.schedule_meeting(
                case=self.case,
                kind=MeetingKind.PREPARATION,
                starts_at=SOON,
                invitees=[self.walk.harm],
                by=self.alice,
            )
        # The gate of a later stage waits for them too (a safety plan for every survivor).
        self.assertIn("plan", [c.code for c in gates.unmet(gates.joint_conditions(self.case))])
        self.login(self.alice)
        response = self.client.post(self.url(), {"reason": "Added twice: she is Survivor A."})
        self.assertRedirects(
            response,
            reverse("cases:detail", args=[self.case.pk]) + "#participants",
            fetch_redirect_response=False,
        )
        # Released: no refusal, and work goes on without a consent, plan or affirmation made up for them.
        self.assertIsNone(harm_action_refusal(self.case))
        self.assertNotIn("plan", [c.code for c in gates.unmet(gates.joint_conditions(self.case))])
        self.walk.prepare()
        services.advance(case=self.case, by=self.alice)
        self.case.refresh_from_db()
        self.assertEqual(self.case.stage, Stage.DIALOGUE)
        self.assertFalse(Consent.objects.filter(participant=self.mistake).exists())
        # The record stays, with who, when and why.
        kept = Participant.everyone.get(pk=self.mistake.pk)
        self.assertEqual((kept.error_by, kept.error_reason), (self.alice, "Added twice: she is Survivor A."))
        self.assertTrue(
            CaseEvent.objects.filter(
                case=self.case, kind="case.entered_in_error", facts__record="participant"
            ).exists()
        )
        self.assertTrue(audit_log().filter(action="case.entered_in_error", object_id=str(kept.pk)).exists())

    def test_the_case_page_shows_it_struck_through_with_who_when_and_why(self):
        corrections.participant_in_error(participant=self.mistake, by=self.ada, reason="Wrong case")
        self.login(self.alice)
        page = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertContains(page, "<s>Survivor C</s>", html=False)
        self.assertContains(page, "Entered in error")
        self.assertContains(page, "marked by Ada")
        self.assertContains(page, "Wrong case")
        # Gone from every list that counts: its own pages too.
        detail = reverse("cases:participant_detail", args=[self.case.pk, self.mistake.pk])
        self.assertEqual(self.client.get(detail).status_code, 404)

    def test_the_confirmation_page_says_what_will_happen_and_a_reason_is_needed(self):
        self.login(self.alice)
        page = self.client.get(self.url())
        self.assertContains(page, "What will happen")
        self.assertContains(page, "survey links are revoked")
        self.assertContains(page, "cannot be undone")
        self.assertEqual(self.client.post(self.url(), {"reason": " "}).status_code, 400)
        self.assertTrue(Participant.objects.filter(pk=self.mistake.pk).exists())

    def test_their_links_are_revoked_and_they_leave_the_meetings_still_to_come(self):
        supporter = Participant.objects.get(case=self.case, label="Sister")
        version, _new = save_version(definition=make_definition(), source=Source.MANUAL, owner=None)
        link, _token = issue_link(
            participant=supporter,
            version=version,
            purpose="T0",
            expires_at=SOON,
            by=self.alice,
            channel="email",
            when=timezone.now(),
        )
        both = services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.PREPARATION,
            starts_at=SOON,
            invitees=[self.walk.survivor, supporter],
            by=self.alice,
        )
        alone = services.schedule_meeting(
            case=self.case, kind=MeetingKind.PREPARATION, starts_at=SOON, invitees=[supporter], by=self.alice
        )
        corrections.participant_in_error(participant=supporter, by=self.alice, reason="Not a real person")
        link.refresh_from_db()
        self.assertIsNotNone(link.revoked_at)
        self.assertFalse(
            ParticipantLink.objects.usable(timezone.now()).filter(participant=supporter).exists()
        )
        self.assertEqual(
            list(Invitation.objects.filter(meeting=both).values_list("participant", flat=True)),
            [self.walk.survivor.pk],
        )
        self.assertEqual(Meeting.objects.get(pk=alone.pk).status, MeetingStatus.CANCELLED)

    def test_marking_twice_does_it_once(self):
        self.assertTrue(corrections.participant_in_error(participant=self.mistake, by=self.alice, reason="x"))
        self.assertFalse(
            corrections.participant_in_error(
                participant=Participant.everyone.get(pk=self.mistake.pk), by=self.sam, reason="y"
            )
        )
        self.assertEqual(Participant.everyone.get(pk=self.mistake.pk).error_by, self.alice)

    def test_the_label_stays_taken(self):
        corrections.participant_in_error(participant=self.mistake, by=self.alice, reason="x")
        self.login(self.alice)
        response = self.client.post(
            reverse("cases:participant_add", args=[self.case.pk]), {"role": "survivor", "label": "Survivor C"}
        )
        self.assertContains(response, "already exists on this case")

    def test_no_one_outside_the_team_may_mark_it(self):
        for person in (self.bob, self.charlie, self.pat, self.eve, self.nora):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, 404, person)
            self.assertEqual(self.client.post(self.url(), {"reason": "x"}).status_code, 404, person)
        self.assertTrue(Participant.objects.filter(pk=self.mistake.pk).exists())

    def test_the_case_page_reads_the_same_number_of_queries_however_many_were_entered_in_error(self):
        corrections.participant_in_error(participant=self.mistake, by=self.alice, reason="x")
        # The keys were made in this test's transaction: let the requests cache them, as once committed.
        keys.clear_key_cache(everything=True)
        self.login(self.alice)
        url = reverse("cases:detail", args=[self.case.pk])
        self.client.get(url)
        with CaptureQueriesContext(connection) as one:
            self.client.get(url)
        for n in range(3):
            extra = make_participant(self.case, label=f"Mistake {n}", reachable=False)
            corrections.participant_in_error(participant=extra, by=self.ada, reason="x")
        keys.clear_key_cache(everything=True)
        self.client.get(url)
        with CaptureQueriesContext(connection) as four:
            self.client.get(url)
        self.assertEqual(len(one), len(four))


def gates_closed() -> type[Exception]:
    return services.GateClosed


class OtherRecordsInErrorTests(PersonaTestCase):
    def setUp(self) -> None:
        load_builtins()
        self.walk = Walk(self.case, self.alice, self.sam)

    def test_a_consent_entered_in_error_stops_counting_and_shows_struck_through(self):
        survivor = make_participant(self.case, label="Survivor A")
        consent = survivor.consents.get(kind=ConsentKind.TAKE_PART)
        self.login(self.alice)
        url = reverse("protocol:consent_error", args=[self.case.pk, consent.pk])
        self.assertContains(self.client.get(url), "as if it had never been given")
        self.client.post(url, {"reason": "Recorded for the wrong person"})
        self.assertFalse(survivor.has_consent(ConsentKind.TAKE_PART))
        page = self.client.get(reverse("cases:participant_detail", args=[self.case.pk, survivor.pk]))
        self.assertContains(page, "Recorded for the wrong person")

    def test_a_meeting_held_in_error_no_longer_counts_for_the_gate(self):
        self.walk.to_preparation()
        self.walk.prepare()
        self.assertEqual(gates.unmet(gates.stage_conditions(self.case)), [])
        with_survivor = Meeting.objects.get(case=self.case, invitations__participant=self.walk.survivor)
        corrections.meeting_in_error(meeting=with_survivor, by=self.alice, reason="Never happened")
        self.assertEqual([c.code for c in gates.unmet(gates.stage_conditions(self.case))], ["prep_survivor"])
        self.login(self.alice)
        page = self.client.get(reverse("protocol:meeting", args=[self.case.pk, with_survivor.pk]))
        self.assertContains(page, "Never happened")

    def test_a_scheduled_meeting_entered_in_error_is_cancelled(self):
        survivor = make_participant(self.case, label="Survivor A")
        meeting = services.schedule_meeting(
            case=self.case, kind=MeetingKind.PREPARATION, starts_at=SOON, invitees=[survivor], by=self.alice
        )
        corrections.meeting_in_error(meeting=meeting, by=self.alice, reason="Wrong day")
        self.assertEqual(Meeting.objects.get(pk=meeting.pk).status, MeetingStatus.CANCELLED)

    def test_a_track_choice_in_error_gives_back_the_one_before(self):
        self.walk.to_safety_planning()
        first = TrackChoice.objects.get(case=self.case)
        later = TrackChoice.objects.create(
            organization=self.harbor,
            case=self.case,
            track="support_only",
            previous_track=first.track,
            survivor=self.walk.survivor,
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            recorded_by=self.alice,
        )
        self.case.track = "support_only"
        self.case.save(update_fields=["track"])
        self.login(self.alice)
        self.client.post(
            reverse("protocol:choice_error", args=[self.case.pk, later.pk]), {"reason": "Misheard"}
        )
        self.case.refresh_from_db()
        self.assertEqual(self.case.track, "direct_dialogue")

    def test_the_only_track_choice_in_error_leaves_no_track_and_stops_the_other_side(self):
        self.walk.to_preparation()
        meeting = services.schedule_meeting(
            case=self.case,
            kind=MeetingKind.PREPARATION,
            starts_at=SOON,
            invitees=[self.walk.harm],
            by=self.alice,
        )
        corrections.track_choice_in_error(
            choice=TrackChoice.objects.get(case=self.case), by=self.alice, reason="She never chose"
        )
        self.case.refresh_from_db()
        self.assertEqual(self.case.track, "")
        self.assertEqual(Meeting.objects.get(pk=meeting.pk).status, MeetingStatus.CANCELLED)
        self.assertIsNotNone(harm_action_refusal(self.case))

    def test_a_note_in_error_stays_struck_through(self):
        note = CaseNote.objects.create(
            organization=self.harbor, case=self.case, author=self.alice, text="Wrong"
        )
        self.login(self.ada)
        self.client.post(
            reverse("protocol:note_error", args=[self.case.pk, note.pk]), {"reason": "Other case"}
        )
        page = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertContains(page, "<s>Wrong</s>", html=False)
        self.assertContains(page, "Other case")


class ReopenTests(PersonaTestCase):
    def url(self) -> str:
        return reverse("protocol:reopen", args=[self.case.pk])

    def withdrawn(self) -> None:
        load_builtins()
        Walk(self.case, self.alice, self.sam).to_intake()
        services.withdraw(case=self.case, by=self.alice)

    def test_a_supervisor_on_the_team_reopens_a_withdrawn_case_at_the_survivors_request(self):
        self.withdrawn()
        self.login(self.sam)
        page = self.client.get(self.url())
        self.assertContains(page, "reopens only at the survivor's own request")
        self.assertEqual(
            self.client.post(self.url(), {"reason": "She called", "stage": "intake"}).status_code, 400
        )
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, "withdrawn")
        response = self.client.post(
            self.url(),
            {
                "reason": "She called",
                "survivor_request": "Asked by phone on Monday to start again",
                "stage": "referral",
            },
        )
        self.assertRedirects(
            response, reverse("protocol:case", args=[self.case.pk]), fetch_redirect_response=False
        )
        self.case.refresh_from_db()
        self.assertEqual((self.case.status, self.case.stage, self.case.closed_on), ("open", "referral", None))
        transition = self.case.transitions.get(kind="reopen")
        self.assertIn("Asked by phone on Monday", transition.reason)
        self.assertTrue(audit_log().filter(action="protocol.reopen").exists())
        # Every gate again from there: the referral gate is checked as for any case at referral.
        self.assertTrue(gates.stage_conditions(self.case))

    def test_a_case_never_reopens_past_the_stage_it_ended_at(self):
        self.withdrawn()
        with self.assertRaises(Exception):
            corrections.reopen(
                case=self.case, by=self.sam, reason="x", survivor_request="y", stage=Stage.AGREEMENT
            )

    def test_only_the_cases_supervisor_reopens(self):
        self.withdrawn()
        for person, status in ((self.alice, 403), (self.ada, 403), (self.bob, 404), (self.charlie, 404)):
            self.login(person)
            self.assertEqual(self.client.get(self.url()).status_code, status, person)
            response = self.client.post(
                self.url(), {"reason": "x", "survivor_request": "y", "stage": "intake"}
            )
            self.assertEqual(response.status_code, status, person)
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, "withdrawn")

    def test_an_open_case_has_nothing_to_reopen(self):
        self.login(self.sam)
        self.assertContains(self.client.get(self.url()), "nothing to reopen")
        self.assertEqual(self.client.post(self.url(), {"reason": "x", "stage": "referral"}).status_code, 409)


class ClosingTests(PersonaTestCase):
    def test_closing_asks_on_a_page_that_says_what_will_happen_then_a_supervisor_may_reopen(self):
        load_builtins()
        survivor = make_participant(self.case, label="Survivor A")
        Case.objects.filter(pk=self.case.pk).update(stage=Stage.CLOSURE)
        run_check(survivor, by=self.ada)  # the exit check
        self.login(self.alice)
        url = reverse("protocol:advance", args=[self.case.pk])
        page = self.client.post(url, {"stage": "closure", "reason": "Goals met"})
        self.assertContains(page, "What will happen")
        self.assertContains(page, 'name="confirm" value="yes"')
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, "open")
        self.client.post(url, {"stage": "closure", "reason": "Goals met", "confirm": "yes"})
        self.case.refresh_from_db()
        self.assertEqual(self.case.status, "closed")
        # The supervisor sees the way back; a closed case needs no survivor's request, and reopens at intake.
        self.login(self.sam)
        self.assertContains(self.client.get(reverse("protocol:case", args=[self.case.pk])), "Reopen the case")
        self.client.post(
            reverse("protocol:reopen", args=[self.case.pk]), {"reason": "New harm", "stage": "intake"}
        )
        self.case.refresh_from_db()
        self.assertEqual((self.case.status, self.case.stage), ("open", Stage.INTAKE))


class EvaluationTests(PersonaTestCase):
    def test_a_participant_entered_in_error_is_never_asked_an_evaluation_questionnaire(self):
        from circlekeeper.evaluation.models import TimepointStatus
        from circlekeeper.evaluation.tests.schedule_helpers import (
            enrolled,
            rows,
            set_up_builtins,
            survivor_and_harm,
        )

        set_up_builtins()
        survivor, _harm = survivor_and_harm(self.case)
        enrolled(self.case, self.alice)
        waiting = [t for t in rows(survivor) if t.status in (TimepointStatus.SCHEDULED, TimepointStatus.OPEN)]
        self.assertTrue(waiting)
        corrections.participant_in_error(participant=survivor, by=self.alice, reason="Wrong person")
        self.assertEqual(
            {t.status for t in rows(survivor) if t.pk in {w.pk for w in waiting}}, {TimepointStatus.CANCELLED}
        )


class PlanRevisionInErrorTests(PersonaTestCase):
    def test_a_plan_revision_entered_in_error_stops_counting_for_the_gate(self):
        from circlekeeper.safety.services import save_plan

        load_builtins()
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_safety_planning()
        save_plan(
            survivor=walk.survivor, revision=0, by=self.alice, people_to_call="Not her sister: wrong file"
        )
        self.assertEqual(gates.unmet(gates.stage_conditions(self.case)), [])
        self.login(self.ada)
        url = reverse("protocol:plan_revision_error", args=[self.case.pk, walk.survivor.pk, 1])
        self.assertContains(self.client.get(url), "the safety-planning gate waits")
        self.client.post(url, {"reason": "Another survivor's plan"})
        self.assertEqual([c.code for c in gates.unmet(gates.stage_conditions(self.case))], ["plan"])
        history = self.client.get(reverse("safety:plan_history", args=[self.case.pk, walk.survivor.pk]))
        self.assertContains(history, "Another survivor&#x27;s plan")
        save_plan(survivor=walk.survivor, revision=1, by=self.alice, people_to_call="My sister")
        self.assertEqual(gates.unmet(gates.stage_conditions(self.case)), [])


class ConsentInErrorGateTests(PersonaTestCase):
    def test_a_supporters_consent_entered_in_error_no_longer_counts_for_the_mapping_gate(self):
        load_builtins()
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_mapping_support()
        walk.supporters()
        self.assertEqual(gates.unmet(gates.stage_conditions(self.case)), [])
        sister = Participant.objects.get(case=self.case, label="Sister")
        consent = sister.consents.get(kind=ConsentKind.TAKE_PART)
        corrections.consent_in_error(consent=consent, by=self.alice, reason="She never agreed")
        self.assertEqual(
            [c.code for c in gates.unmet(gates.stage_conditions(self.case))], ["survivor_supporter"]
        )
