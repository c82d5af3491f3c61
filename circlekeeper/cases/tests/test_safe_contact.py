"""Safe-contact rules: every outbound contact goes through contact_allowed, which names the rule it breaks."""

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from circlekeeper.cases import participants as services
from circlekeeper.cases.contact import contact_allowed
from circlekeeper.cases.models import ContactRules, ParticipantRole
from circlekeeper.cases.participants import StaleEdit
from circlekeeper.instruments.links import ContactRefused
from circlekeeper.instruments.tests.survey import make_link, make_survey_version
from circlekeeper.testing import PersonaTestCase, make_participant, make_reachable

# Monday 4 May 2026, 10:00 in the organization's time zone (settings.TIME_ZONE), where the rules' times are.
MONDAY_MORNING = timezone.make_aware(datetime.datetime(2026, 5, 4, 10, 0))


class SafeContactRuleTests(PersonaTestCase):
    def setUp(self):
        self.survivor = make_participant(self.case, reachable=False, label="Survivor A")

    def rules(self, **overrides):
        return make_reachable(self.survivor, **overrides)

    def refused(self, channel="phone_call", when=MONDAY_MORNING):
        decision = contact_allowed(self.survivor, channel, when)
        self.assertFalse(decision.allowed)
        return decision.reason

    def test_no_rules_recorded_means_no_contact(self):
        from circlekeeper.cases.participants import record_consent

        record_consent(
            participant=self.survivor,
            kind="contact",
            how_given="oral",
            given_on=MONDAY_MORNING.date(),
            by=self.alice,
        )
        self.assertIn("No safe-contact rules are recorded", self.refused())

    def test_a_channel_not_allowed_is_refused_by_name(self):
        self.rules(channels=["phone_call", "in_person"])
        self.assertEqual(
            self.refused("email"),
            "Safe-contact rule: Email is not an allowed way (allowed: Phone call, In person).",
        )
        self.assertTrue(contact_allowed(self.survivor, "phone_call", MONDAY_MORNING).allowed)

    def test_never_leave_messages_refuses_texts_and_emails(self):
        self.rules(channels=["phone_call", "text", "email"], never_leave_messages=True)
        for channel in ("text", "email"):
            self.assertIn("never leave messages", self.refused(channel))
        self.assertTrue(contact_allowed(self.survivor, "phone_call", MONDAY_MORNING).allowed)

    def test_a_day_outside_the_allowed_days_is_refused(self):
        self.rules(days=[1, 2, 3])  # Tuesday to Thursday
        self.assertEqual(
            self.refused(), "Safe-contact rule: only at the allowed times (Tuesday, Wednesday, Thursday)."
        )
        tuesday = MONDAY_MORNING + datetime.timedelta(days=1)
        self.assertTrue(contact_allowed(self.survivor, "phone_call", tuesday).allowed)

    def test_an_hour_outside_the_allowed_hours_is_refused(self):
        self.rules(from_time=datetime.time(13, 0), until_time=datetime.time(15, 30))
        reason = self.refused()
        self.assertIn("only at the allowed times", reason)
        self.assertIn("1 p.m.–3:30 p.m.", reason)
        at_two = MONDAY_MORNING.replace(hour=14)
        self.assertTrue(contact_allowed(self.survivor, "phone_call", at_two).allowed)
        self.assertFalse(
            contact_allowed(self.survivor, "phone_call", MONDAY_MORNING.replace(hour=15, minute=30)).allowed
        )

    def test_through_a_named_person_needs_a_name(self):
        self.rules(channels=["named_person"])
        self.assertIn("no person is named", self.refused("named_person"))
        ContactRules.objects.filter(participant=self.survivor).update()
        rules = ContactRules.objects.get(participant=self.survivor)
        rules.named_person = "Her aunt Rosa"
        rules.save()
        self.assertTrue(contact_allowed(self.survivor, "named_person", MONDAY_MORNING).allowed)

    def test_an_unknown_way_is_refused(self):
        self.rules()
        self.assertEqual(self.refused("carrier_pigeon"), "This is not a way the program contacts people.")

    def test_children_are_never_contacted(self):
        child = make_participant(self.case, role=ParticipantRole.CHILD, label="Child C")
        self.assertEqual(
            contact_allowed(child, "in_person", MONDAY_MORNING).reason,
            "Children are never asked to take part.",
        )

    def test_a_survey_link_breaking_a_rule_is_refused_with_the_rule_and_nothing_is_made(self):
        self.rules(channels=["in_person"])
        version = make_survey_version()
        with self.assertRaises(ContactRefused) as refused:
            make_link(self.survivor, version, when=MONDAY_MORNING, by=self.alice, channel="text")
        self.assertIn("Text message is not an allowed way", refused.exception.reason)
        self.assertFalse(self.survivor.links.exists())


class SavingRulesTests(PersonaTestCase):
    def setUp(self):
        self.survivor = make_participant(self.case, reachable=False, label="Survivor A")

    def save(self, version=None, **kwargs):
        kwargs.setdefault("channels", ["phone_call"])
        kwargs.setdefault("days", [0, 1, 2, 3, 4])
        kwargs.setdefault("from_time", None)
        kwargs.setdefault("until_time", None)
        return services.save_contact_rules(
            participant=self.survivor, version=version, by=self.alice, **kwargs
        )

    def test_the_code_word_and_named_person_are_stored_encrypted(self):
        from django.db import connection

        self.save(channels=["named_person"], named_person="Rosa Marquez", code_word="blue umbrella")
        with connection.cursor() as cursor:
            cursor.execute("SELECT code_word, named_person FROM cases_contactrules")
            stored = b"".join(bytes(v) for v in cursor.fetchone())
        self.assertNotIn(b"umbrella", stored)
        self.assertNotIn(b"Rosa", stored)
        rules = ContactRules.objects.get(participant=self.survivor)
        self.assertEqual((rules.code_word, rules.named_person), ("blue umbrella", "Rosa Marquez"))

    def test_an_end_time_before_the_start_is_refused(self):
        with self.assertRaises(ValidationError) as refused:
            self.save(from_time=datetime.time(15), until_time=datetime.time(9))
        self.assertIn("until_time", refused.exception.message_dict)
        self.assertFalse(ContactRules.objects.exists())

    def test_one_time_without_the_other_is_refused(self):
        with self.assertRaises(ValidationError):
            self.save(from_time=datetime.time(9))

    def test_through_a_named_person_without_a_name_is_refused(self):
        with self.assertRaises(ValidationError) as refused:
            self.save(channels=["named_person"])
        self.assertIn("named_person", refused.exception.message_dict)

    def test_a_save_from_an_outdated_page_is_refused_and_changes_nothing(self):
        first = self.save()
        self.save(version=first.version, channels=["email"])
        with self.assertRaises(StaleEdit):
            self.save(version=first.version, channels=["text"])
        self.assertEqual(ContactRules.objects.get(participant=self.survivor).channels, ["email"])

    def test_two_first_saves_do_not_make_two_rule_sets(self):
        self.save()
        with self.assertRaises(StaleEdit):
            self.save(version=None, channels=["text"])
        self.assertEqual(ContactRules.objects.filter(participant=self.survivor).count(), 1)


class DoubleSubmitTests(PersonaTestCase):
    def test_the_same_rules_sent_twice_from_one_page_are_saved_once_without_a_stale_error(self):
        survivor = make_participant(self.case, reachable=False, label="Survivor A")
        data: dict[str, Any] = {
            "channels": ["phone_call"],
            "days": [0, 1],
            "from_time": None,
            "until_time": None,
            "code_word": "blue",
        }
        first = services.save_contact_rules(participant=survivor, version=None, by=self.alice, **data)
        again = services.save_contact_rules(participant=survivor, version=None, by=self.alice, **data)
        self.assertEqual((first.pk, again.version), (again.pk, 1))
        with self.assertRaises(StaleEdit):
            services.save_contact_rules(
                participant=survivor, version=None, by=self.alice, **{**data, "code_word": "red"}
            )

    def test_an_unknown_way_is_a_clear_error_not_a_crash(self):
        survivor = make_participant(self.case, reachable=False, label="Survivor A")
        with self.assertRaises(ValidationError) as refused:
            services.save_contact_rules(
                participant=survivor,
                version=None,
                by=self.alice,
                channels=["pigeon"],
                days=[0],
                from_time=None,
                until_time=None,
            )
        self.assertIn("channels", refused.exception.message_dict)
