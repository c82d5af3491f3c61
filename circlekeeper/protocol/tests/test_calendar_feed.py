"""The private calendar feed: only the scheduled meetings on the owner's case teams (while they and their role
are active), never the place, names or notes; RFC 5545 text, escaped and folded, with CRLF line endings."""

import datetime

import time_machine
from django.urls import reverse

from circlekeeper.accounts.models import Membership
from circlekeeper.cases.models import ParticipantRole, TeamRole
from circlekeeper.protocol import services
from circlekeeper.protocol.models import CalendarToken, MeetingKind
from circlekeeper.testing import PersonaTestCase, audit_log, make_case, make_participant

START = datetime.datetime(2026, 12, 1, 17, 30, tzinfo=datetime.UTC)


def unfold(body: str) -> list[str]:
    return body.replace("\r\n ", "").split("\r\n")


@time_machine.travel(datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC), tick=False)
class CalendarFeedTests(PersonaTestCase):
    def setUp(self):
        self.survivor = make_participant(self.case, label="Survivor A", name="Marisol Vega")
        self.supporter = make_participant(
            self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister", name="Lucía Vega"
        )
        self.meeting = self.schedule(self.case, self.alice, self.survivor, self.supporter)
        self.feed, self.token = CalendarToken.make_for(self.alice)

    def schedule(self, case, by, *invitees, starts_at=START, place="12 Elm Street, flat 3"):
        return services.schedule_meeting(
            case=case,
            kind=MeetingKind.PREPARATION,
            starts_at=starts_at,
            invitees=invitees,
            by=by,
            place=place,
        )

    def get(self, token=None):
        return self.client.get(reverse("protocol:calendar_feed", args=[token or self.token]))

    def events(self, response) -> list[dict[str, str]]:
        events: list[dict[str, str]] = []
        current: dict[str, str] | None = None
        for line in unfold(response.content.decode()):
            if line == "BEGIN:VEVENT":
                current = {}
            elif line == "END:VEVENT" and current is not None:
                events.append(current)
                current = None
            elif current is not None:
                name, _sep, value = line.partition(":")
                current[name] = value
        return events

    def test_it_is_a_calendar_with_crlf_line_endings_and_no_caching(self):
        response = self.get()
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "text/calendar; charset=utf-8")
        body = response.content.decode()
        self.assertTrue(body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"))
        self.assertTrue(body.endswith("END:VCALENDAR\r\n"))
        self.assertNotIn("\n", body.replace("\r\n", ""))
        self.assertIn("no-store", response["Cache-Control"])
        self.assertIn("max-age=0", response["Cache-Control"])

    def test_each_event_has_a_uid_utc_times_an_hour_long_and_a_pseudonymous_summary(self):
        [event] = self.events(self.get())
        self.assertEqual(event["UID"], f"{self.meeting.uid}@circlekeeper")
        self.assertEqual(event["DTSTART"], "20261201T173000Z")
        self.assertEqual(event["DTEND"], "20261201T183000Z")
        self.assertRegex(event["DTSTAMP"], r"^\d{8}T\d{6}Z$")
        self.assertEqual(
            event["SUMMARY"],
            "Preparation meeting (one party and their supporters) · HAR-2026-0001 · Survivor A\\, Sister",
        )

    def test_never_the_place_names_or_notes(self):
        self.meeting.notes = "She is staying at her cousin's"
        self.meeting.save(update_fields=["notes"])
        body = self.get().content.decode()
        for secret in ("Elm Street", "Marisol", "Lucía", "Vega", "cousin"):
            self.assertNotIn(secret, body)
        self.assertNotIn("LOCATION", body)
        self.assertNotIn("DESCRIPTION", body)

    def test_only_scheduled_meetings_on_the_owners_own_case_teams(self):
        held = self.schedule(
            self.case, self.alice, self.supporter, starts_at=START + datetime.timedelta(days=1)
        )
        with time_machine.travel(held.starts_at + datetime.timedelta(minutes=5), tick=False):
            services.mark_held(meeting=held, attended=[self.supporter], by=self.alice)
        cancelled = self.schedule(
            self.case, self.alice, self.supporter, starts_at=START + datetime.timedelta(days=2)
        )
        services.cancel_meeting(meeting=cancelled, by=self.alice)
        bobs = self.schedule(
            self.other_team_case, self.bob, make_participant(self.other_team_case, label="Bob's S")
        )
        valley = self.schedule(
            self.valley_case, self.charlie, make_participant(self.valley_case, label="Valley S")
        )
        events = {event["UID"]: event for event in self.events(self.get())}
        # A cancelled meeting stays in the feed, marked cancelled, so calendars that copied it drop it.
        self.assertEqual(set(events), {f"{self.meeting.uid}@circlekeeper", f"{cancelled.uid}@circlekeeper"})
        self.assertEqual(events[f"{cancelled.uid}@circlekeeper"]["STATUS"], "CANCELLED")
        self.assertEqual(events[f"{self.meeting.uid}@circlekeeper"]["STATUS"], "CONFIRMED")
        for other in (held, bobs, valley):
            self.assertNotIn(f"{other.uid}@circlekeeper", events)
        _feed, bobs_token = CalendarToken.make_for(self.bob)
        self.assertEqual({e["UID"] for e in self.events(self.get(bobs_token))}, {f"{bobs.uid}@circlekeeper"})

    def test_text_is_escaped_and_long_lines_fold_at_75_octets_between_characters(self):
        odd = make_participant(self.case, label='Ñandú; "the, other" \\ one — ' + "é" * 30)
        self.schedule(self.case, self.alice, odd, starts_at=START + datetime.timedelta(days=3))
        response = self.get()
        raw = response.content
        for line in raw.split(b"\r\n"):
            self.assertLessEqual(len(line), 75)
            line.decode("utf-8")  # folding never splits a character
        summaries = [e["SUMMARY"] for e in self.events(response)]
        self.assertIn('Ñandú\\; "the\\, other" \\\\ one — ' + "é" * 30, summaries[1])

    def test_a_line_break_in_a_label_is_escaped_not_a_new_property(self):
        odd = make_participant(self.case, label="Neighbour\r\nLOCATION:12 Elm Street")
        self.schedule(self.case, self.alice, odd, starts_at=START + datetime.timedelta(days=3))
        lines = unfold(self.get().content.decode())
        self.assertFalse([line for line in lines if line.startswith("LOCATION")])
        self.assertTrue([line for line in lines if "Neighbour\\nLOCATION:12 Elm Street" in line])

    def test_a_wrong_or_replaced_token_is_404_and_never_logged(self):
        for token in ("x" * 43, "", "a" * 200):
            if token:
                self.assertEqual(self.get(token).status_code, 404)
        _feed, new = CalendarToken.make_for(self.alice)
        self.assertEqual(self.get(self.token).status_code, 404)
        self.assertEqual(self.get(new).status_code, 200)
        self.assertFalse(audit_log().filter(path__contains="calendar").exists())

    def test_a_read_is_audited_under_its_owner_without_the_address(self):
        self.get()
        event = audit_log().get(action="calendar.feed")
        self.assertEqual((event.actor_id, event.path), (self.alice.pk, ""))

    def test_a_deactivated_person_has_no_feed_and_a_deactivated_role_shows_nothing(self):
        Membership.objects.filter(user=self.alice).update(is_active=False)
        self.assertEqual(self.events(self.get()), [])
        Membership.objects.filter(user=self.alice).update(is_active=True)
        self.assertEqual(len(self.events(self.get())), 1)
        self.alice.is_active = False
        self.alice.save(update_fields=["is_active"])
        self.assertEqual(self.get().status_code, 404)

    def test_leaving_the_team_removes_the_case_from_the_feed(self):
        make_case(self.harbor, team=((self.alice, TeamRole.KEEPER),))
        self.case.assignments.filter(user=self.alice).delete()
        self.assertEqual(self.events(self.get()), [])

    def test_meetings_come_in_order_of_time(self):
        earlier = self.schedule(
            self.case, self.alice, self.supporter, starts_at=START - datetime.timedelta(hours=3)
        )
        uids = [e["UID"] for e in self.events(self.get())]
        self.assertEqual(uids, [f"{earlier.uid}@circlekeeper", f"{self.meeting.uid}@circlekeeper"])
