"""Issuing a personal link: the contact check first, ≥128-bit tokens kept only as hashes, and when a link opens."""

import copy
import datetime
import hashlib

from django.core.exceptions import ValidationError
from django.db import connection

from circlekeeper.cases.contact import ContactDecision, contact_allowed
from circlekeeper.cases.models import ParticipantRole
from circlekeeper.instruments.links import ContactRefused, find_usable_link, issue_link
from circlekeeper.instruments.models import InstrumentVersion, LinkStatus, ParticipantLink, Source
from circlekeeper.instruments.services import save_version
from circlekeeper.instruments.tests.survey import (
    NOW,
    SURVEY,
    make_link,
    make_participant,
    make_survey_version,
)
from circlekeeper.testing import PersonaTestCase, audit_log


def every_stored_text() -> str:
    """Every value of every row of every table, as text (what a copy of the database would hold)."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                chunks.extend(
                    bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v) for v in row
                )
    return "\n".join(chunks)


class IssuingLinksTests(PersonaTestCase):
    version: InstrumentVersion

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.version = make_survey_version()

    def issue(self, participant, **kwargs):
        kwargs.setdefault("when", NOW)
        kwargs.setdefault("by", self.alice)
        return make_link(participant, self.version, **kwargs)

    def test_a_token_has_at_least_128_bits_and_only_its_hash_is_stored(self):
        participant = make_participant(self.case)

        link, token = self.issue(participant)

        self.assertGreaterEqual(len(token), 43)  # token_urlsafe(32): 256 bits in 43 characters
        self.assertRegex(token, r"^[A-Za-z0-9_-]+$")
        self.assertEqual(link.token_hash, hashlib.sha256(token.encode()).hexdigest())
        self.assertNotIn(token, every_stored_text())
        self.assertNotIn(token, str(link))

    def test_each_link_gets_its_own_token(self):
        participant = make_participant(self.case)
        tokens = {self.issue(participant)[1] for _ in range(5)}
        self.assertEqual(len(tokens), 5)

    def test_a_participant_who_has_not_agreed_to_be_contacted_is_refused_and_nothing_is_written(self):
        participant = make_participant(self.case, agreed_to_contact=False)
        events = audit_log().count()

        with self.assertRaises(ContactRefused) as refused:
            self.issue(participant)

        self.assertEqual(
            refused.exception.reason, f"{participant.label} has no current consent to be contacted."
        )
        self.assertFalse(ParticipantLink.objects.exists())
        self.assertEqual(audit_log().count(), events)

    def test_children_are_never_asked_to_take_part_even_with_agreement(self):
        child = make_participant(self.case, role=ParticipantRole.CHILD, label="Child C")
        self.assertTrue(child.has_consent("contact"))

        decision = contact_allowed(child, "in_person", NOW)
        with self.assertRaises(ContactRefused) as refused:
            self.issue(child)

        self.assertEqual(decision, ContactDecision(False, "Children are never asked to take part."))
        self.assertEqual(refused.exception.reason, decision.reason)
        self.assertFalse(ParticipantLink.objects.exists())

    def test_contact_is_allowed_once_the_participant_has_agreed(self):
        participant = make_participant(self.case)
        self.assertEqual(contact_allowed(participant, "text", NOW), ContactDecision(True))

    def test_an_unknown_channel_is_refused(self):
        participant = make_participant(self.case)
        self.assertFalse(contact_allowed(participant, "carrier_pigeon", NOW).allowed)

    def test_another_organizations_questionnaire_cannot_be_sent(self):
        participant = make_participant(self.case)
        definition = {**copy.deepcopy(SURVEY), "code": "theirs"}
        theirs, _new = save_version(definition=definition, source=Source.MANUAL, owner=self.valley)
        with self.assertRaises(ValidationError):
            make_link(participant, theirs, when=NOW, by=self.alice)
        self.assertFalse(ParticipantLink.objects.exists())

    def test_a_link_must_expire_after_it_is_issued(self):
        participant = make_participant(self.case)
        with self.assertRaises(ValidationError):
            self.issue(participant, expires_at=NOW - datetime.timedelta(minutes=1))

    def test_a_link_opens_until_it_expires(self):
        participant = make_participant(self.case)
        link, token = self.issue(participant, expires_at=NOW + datetime.timedelta(days=14))

        self.assertEqual(find_usable_link(token, now=NOW + datetime.timedelta(days=13)), link)
        self.assertIsNone(find_usable_link(token, now=NOW + datetime.timedelta(days=14)))
        self.assertEqual(link.status(NOW + datetime.timedelta(days=15)), LinkStatus.EXPIRED)

    def test_a_revoked_link_no_longer_opens(self):
        participant = make_participant(self.case)
        link, token = self.issue(participant)

        self.assertTrue(link.revoke(when=NOW))

        self.assertIsNone(find_usable_link(token, now=NOW))
        self.assertEqual(link.status(NOW), LinkStatus.REVOKED)
        self.assertFalse(link.revoke(when=NOW), "revoking twice changes nothing")

    def test_a_forged_or_altered_token_opens_nothing(self):
        participant = make_participant(self.case)
        _link, token = self.issue(participant)

        for forged in ("", "x", token[:-1], token + "A", token.upper(), "A" * 43, token * 3):
            self.assertIsNone(find_usable_link(forged, now=NOW), forged)
        self.assertIsNotNone(find_usable_link(token, now=NOW))

    def test_an_answered_link_no_longer_opens(self):
        participant = make_participant(self.case)
        link, token = self.issue(participant)
        link.submitted_at = NOW
        link.save(update_fields=["submitted_at"])

        self.assertIsNone(find_usable_link(token, now=NOW))
        self.assertEqual(link.status(NOW), LinkStatus.SUBMITTED)

    def test_the_service_refuses_through_the_one_contact_check(self):
        participant = make_participant(self.case, agreed_to_contact=False)
        with self.assertRaises(ContactRefused):
            issue_link(
                participant=participant,
                version=self.version,
                purpose="T1",
                expires_at=NOW + datetime.timedelta(days=1),
                by=self.alice,
                channel="in_person",
                when=NOW,
            )
