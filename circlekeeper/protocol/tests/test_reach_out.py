"""Issue 17: "a first contact the person who caused harm made themselves is recorded, never refused" (PROTOCOL.md,
"Contact with the other side: one policy, everywhere").

The rule, from the document: whatever the stage, a safety hold, the survivor's consent or the case's status, the
keeper can write down that the other side reached out; what was said is a narrative (encrypted, never in the
history's facts); it is not contact that staff arranged, so it opens no gate and counts for none.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from circlekeeper.cases.models import CaseEvent, Consent, ConsentKind, ParticipantRole
from circlekeeper.cases.participants import withdraw_consent
from circlekeeper.protocol import gates, policy, services
from circlekeeper.protocol.models import Invitation, Meeting, MeetingKind, ReachOut
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.services import open_hold
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant, sign_in

SAID = "He called the office asking to talk about what happened at Easter"


class ReachOutTestCase(PersonaTestCase):
    def setUp(self):
        self.walk = Walk(self.case, self.alice, self.sam)
        self.walk.to_intake()  # intake: no safety plan, no monitor, nothing with the other side allowed yet

    def record(self, **overrides):
        fields = {
            "case": self.case,
            "by": self.alice,
            "side": "person_who_caused_harm",
            "participant": self.walk.harm,
            "reached_at": timezone.now() - datetime.timedelta(hours=2),
            "how": "phone_call",
            "summary": SAID,
            **overrides,
        }
        return services.record_reach_out(**fields)


class RecordedNeverRefusedTests(ReachOutTestCase):
    def test_recorded_at_intake_with_a_hold_open_and_the_survivors_consent_withdrawn(self):
        open_hold(case=self.case, reason="new_violence", by=self.alice, details="Pushed")
        consent = Consent.objects.current().get(participant=self.walk.survivor, kind=ConsentKind.TAKE_PART)
        withdraw_consent(consent=consent, how="oral", by=self.alice)
        # The policy refuses any staff-arranged contact now...
        self.assertTrue(
            policy.refusals(self.case, kind=policy.ContactKind.MEETING, participants=[self.walk.harm])
        )
        # ...and the fact that they reached out is still recorded.
        entry = self.record()
        self.assertEqual(ReachOut.objects.get(pk=entry.pk).summary, SAID)

    def test_recorded_on_a_withdrawn_case(self):
        services.withdraw(case=self.case, by=self.alice, reason="")
        self.record(side="supporter", participant=None, how="letter")
        self.assertEqual(ReachOut.objects.filter(case=self.case).count(), 1)

    def test_the_history_keeps_codes_and_the_summary_is_encrypted(self):
        entry = self.record()
        event = CaseEvent.objects.get(case=self.case, kind="protocol.reached_out")
        self.assertEqual(event.facts["other_side"], "person_who_caused_harm")
        self.assertEqual(event.facts["how"], "phone_call")
        self.assertEqual(event.by, self.alice)
        self.assertNotIn("Easter", str(event.facts))
        with connection.cursor() as cursor:
            cursor.execute("SELECT summary FROM protocol_reachout WHERE id = %s", [entry.pk])
            (stored,) = cursor.fetchone()
        self.assertNotIn(b"Easter", bytes(stored))

    def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(self):
        survivor_side = self.walk.survivor
        other_case_harm = make_participant(self.other_team_case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM)
        cases = [
            ({"summary": "  "}, "summary"),
            ({"reached_at": timezone.now() + datetime.timedelta(days=1)}, "reached_on"),
            ({"how": "telepathy"}, "how"),
            ({"side": "survivor"}, "side"),
            ({"participant": survivor_side}, "participant"),
            ({"participant": other_case_harm}, "participant"),
        ]
        for overrides, field in cases:
            with self.subTest(field=field), self.assertRaises(ValidationError) as raised:
                self.record(**overrides)  # type: ignore[arg-type]
            self.assertIn(field, raised.exception.message_dict)
        self.assertFalse(ReachOut.objects.exists())
        self.assertFalse(CaseEvent.objects.filter(kind="protocol.reached_out").exists())


class NeverArrangedContactTests(ReachOutTestCase):
    """Recording it opens no gate and counts as no contact staff arranged."""

    def test_the_policy_and_the_gates_say_the_same_before_and_after(self):
        def state():
            now = timezone.now()
            return (
                [
                    r.code
                    for r in policy.refusals(
                        self.case,
                        kind=policy.ContactKind.MEETING,
                        participants=[self.walk.harm],
                        meeting_kind=MeetingKind.PREPARATION,
                        now=now,
                    )
                ],
                [(c.code, c.met) for c in gates.joint_gate(self.case, now)],
                [(c.code, c.met) for c in gates.stage_conditions(self.case, now)],
            )

        before = state()
        self.record()
        self.record(side="on_their_behalf", participant=None, how="in_person")
        self.assertEqual(state(), before)
        # Staff arranged nothing: no meeting, no invitation; the stage refusals still stand.
        self.assertFalse(Meeting.objects.filter(case=self.case).exists())
        self.assertFalse(Invitation.objects.filter(participant=self.walk.harm).exists())
        self.assertIn("stage_plan", before[0])
        self.assertIn("stage_monitor", before[0])


class PageTests(ReachOutTestCase):
    def post(self, **data):
        fields = {
            "side": "person_who_caused_harm",
            "participant": str(self.walk.harm.pk),
            "reached_on": timezone.localdate().isoformat(),
            "time": "00:00",
            "how": "text",
            "summary": SAID,
            **data,
        }
        return self.client.post(reverse("protocol:reach_out", args=[self.case.pk]), fields)

    def test_a_keeper_records_it_on_a_held_case_it_is_audited_and_on_the_timeline(self):
        open_hold(case=self.case, reason="new_violence", by=self.alice, details="Pushed")
        sign_in(self.client, self.alice)
        response = self.post()
        self.assertRedirects(response, reverse("protocol:reach_out", args=[self.case.pk]))
        entry = ReachOut.objects.get(case=self.case)
        self.assertEqual(entry.recorded_by, self.alice)
        self.assertTrue(audit_log().filter(action="protocol.reach_out", object_id=str(entry.pk)).exists())
        page = self.client.get(reverse("protocol:reach_out", args=[self.case.pk]))
        self.assertContains(page, "Easter")
        timeline = self.client.get(reverse("protocol:timeline", args=[self.case.pk]))
        self.assertContains(timeline, "The other side reached out to the program themselves")
        self.assertNotContains(timeline, "Easter")

    def test_a_date_in_the_future_is_refused_with_a_clear_message(self):
        sign_in(self.client, self.alice)
        tomorrow = timezone.localdate() + datetime.timedelta(days=2)
        response = self.post(reached_on=tomorrow.isoformat())
        self.assertEqual(response.status_code, 400)
        self.assertContains(response, "cannot be in the future", status_code=400)
        self.assertFalse(ReachOut.objects.exists())

    def test_a_participant_of_another_case_is_not_offered_nor_accepted(self):
        stranger = make_participant(self.other_team_case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM)
        sign_in(self.client, self.alice)
        response = self.post(participant=str(stranger.pk))
        self.assertEqual(response.status_code, 400)
        self.assertFalse(ReachOut.objects.exists())

    def test_another_team_cannot_read_or_record(self):
        self.record()
        sign_in(self.client, self.bob)
        self.assertEqual(self.client.get(reverse("protocol:reach_out", args=[self.case.pk])).status_code, 404)
        self.assertEqual(self.post().status_code, 404)
        self.assertEqual(ReachOut.objects.count(), 1)
