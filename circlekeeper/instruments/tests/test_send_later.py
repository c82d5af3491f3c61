"""A link asked for outside the times a participant may be contacted is created now and sent at the next allowed
time (issue 18, build 6): the page says when. Any other refusal (a channel, a consent, a hold) still refuses."""

import datetime
import re

import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from circlekeeper.cases.contact import next_allowed_time
from circlekeeper.cases.models import ContactRules
from circlekeeper.instruments.links import ContactRefused
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink
from circlekeeper.instruments.tests.survey import make_link, make_participant, make_survey_version
from circlekeeper.testing import PersonaTestCase

# Monday 4 May 2026, 03:00 in the organization's time zone (America/Los_Angeles, UTC-7).
NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
MONDAY, WEDNESDAY = 0, 2
# Wednesday 6 May 2026 at 09:00 local: the next allowed time for "Wednesdays, 9:00 to 12:00".
WEDNESDAY_NINE = datetime.datetime(2026, 5, 6, 16, 0, tzinfo=datetime.UTC)


def only_wednesday_mornings(participant) -> None:
    ContactRules.objects.filter(participant=participant).update(
        days=[WEDNESDAY], from_time=datetime.time(9, 0), until_time=datetime.time(12, 0)
    )


class NextAllowedTimeTests(PersonaTestCase):
    def test_now_when_now_is_allowed(self):
        participant = make_participant(self.case)
        self.assertEqual(next_allowed_time(participant, "text", NOW), NOW)

    def test_the_start_of_the_next_allowed_window(self):
        participant = make_participant(self.case)
        only_wednesday_mornings(participant)
        self.assertEqual(next_allowed_time(participant, "text", NOW), WEDNESDAY_NINE)
        # Later the same morning it is allowed at once; after noon, the next Wednesday.
        inside = WEDNESDAY_NINE + datetime.timedelta(hours=2)
        self.assertEqual(next_allowed_time(participant, "text", inside), inside)
        after_noon = WEDNESDAY_NINE + datetime.timedelta(hours=4)
        self.assertEqual(
            next_allowed_time(participant, "text", after_noon), WEDNESDAY_NINE + datetime.timedelta(days=7)
        )

    def test_none_when_waiting_would_not_help(self):
        forbidden_channel = make_participant(self.case)
        ContactRules.objects.filter(participant=forbidden_channel).update(
            channels=["email"], days=[WEDNESDAY]
        )
        self.assertIsNone(next_allowed_time(forbidden_channel, "text", NOW))
        no_consent = make_participant(self.case, agreed_to_contact=False)
        self.assertIsNone(next_allowed_time(no_consent, "text", NOW))
        no_day = make_participant(self.case)
        ContactRules.objects.filter(participant=no_day).update(days=[])
        self.assertIsNone(next_allowed_time(no_day, "text", NOW))


class SendLaterServiceTests(PersonaTestCase):
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()

    def test_outside_the_allowed_times_it_is_refused_unless_asked_to_wait(self):
        participant = make_participant(self.case)
        only_wednesday_mornings(participant)
        with self.assertRaises(ContactRefused) as refused:
            make_link(participant, self.version, when=NOW, channel="text", by=self.alice)
        self.assertIn("only at the allowed times", refused.exception.reason)
        self.assertFalse(ParticipantLink.objects.exists())

        link, _token = make_link(
            participant, self.version, when=NOW, channel="text", by=self.alice, send_later=True
        )

        self.assertEqual(link.send_at, WEDNESDAY_NINE)
        self.assertEqual(link.created_at, NOW)

    def test_a_link_inside_the_allowed_times_has_nothing_to_wait_for(self):
        participant = make_participant(self.case)
        link, _token = make_link(
            participant, self.version, when=NOW, channel="text", by=self.alice, send_later=True
        )
        self.assertIsNone(link.send_at)

    def test_waiting_never_gets_round_a_forbidden_channel_or_a_missing_consent(self):
        forbidden_channel = make_participant(self.case)
        ContactRules.objects.filter(participant=forbidden_channel).update(channels=["email"])
        no_consent = make_participant(self.case, agreed_to_contact=False)
        for participant in (forbidden_channel, no_consent):
            with self.assertRaises(ContactRefused):
                make_link(participant, self.version, when=NOW, channel="text", by=self.alice, send_later=True)
        self.assertFalse(ParticipantLink.objects.exists())

    def test_a_link_that_would_expire_before_it_may_be_sent_is_refused(self):
        participant = make_participant(self.case)
        only_wednesday_mornings(participant)
        with self.assertRaises(ValidationError) as invalid:
            make_link(
                participant,
                self.version,
                when=NOW,
                channel="text",
                by=self.alice,
                send_later=True,
                expires_at=NOW + datetime.timedelta(days=1),
            )
        self.assertIn("expires_on", invalid.exception.message_dict)
        self.assertFalse(ParticipantLink.objects.exists())


@time_machine.travel(NOW, tick=False)
class SendLaterPageTests(PersonaTestCase):
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()

    def post_issue(self, participant, **data):
        url = reverse("instruments:link_issue", args=[self.case.pk, participant.pk])
        data = {
            "version": self.version.pk,
            "purpose": "T3",
            "expires_on": "2026-05-18",
            "channel": "text",
            **data,
        }
        return self.client.post(url, data)

    def test_the_refusal_says_when_it_would_be_allowed_and_the_link_can_wait_for_it(self):
        participant = make_participant(self.case, label="Survivor A")
        only_wednesday_mornings(participant)
        self.login(self.alice)

        refused = self.post_issue(participant)

        self.assertContains(refused, "This link cannot be sent")
        self.assertContains(refused, "The next time it is allowed: May 6, 2026, 9 a.m.")
        self.assertFalse(ParticipantLink.objects.exists())

        issued = self.post_issue(participant, send_later="on")

        self.assertContains(issued, "The link is ready")
        self.assertContains(issued, "Send it on May 6, 2026, 9 a.m. or later")
        self.assertTrue(
            re.search(rf'value="{re.escape(settings.PUBLIC_URL)}/s/[^"]+/"', issued.content.decode())
        )
        self.assertEqual(ParticipantLink.objects.get().send_at, WEDNESDAY_NINE)
        listing = self.client.get(reverse("instruments:case_questionnaires", args=[self.case.pk]))
        self.assertContains(listing, "send on 05/06/2026 9 a.m. or later")

    def test_people_off_the_team_cannot_issue_one(self):
        participant = make_participant(self.case)
        only_wednesday_mornings(participant)
        for person in (self.bob, self.charlie, self.eve, self.pat, self.nora):
            self.login(person)
            self.assertEqual(self.post_issue(participant, send_later="on").status_code, 404, person)
        self.assertFalse(ParticipantLink.objects.exists())
