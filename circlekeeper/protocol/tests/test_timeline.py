"""The case timeline: every event of a case in words, newest first, each linked to its record; filtered by kind;
older events a page at a time (keyset), as an htmx fragment or a plain link; the case team only; audited; and a
number of queries that does not grow with the events."""

import datetime
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from circlekeeper.cases.models import CaseEvent, EventKind, Participant, ParticipantRole, record_event
from circlekeeper.protocol.models import Meeting, MeetingKind
from circlekeeper.protocol.timeline import GROUP_KINDS, PER_PAGE, KindGroup
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


def entry(page, event: CaseEvent) -> str:
    """The text of one event's list item, with its whitespace collapsed."""
    html = page.content.decode()
    match = re.search(rf'<li id="event-{event.pk}">(.*?)</li>', html, re.S)
    assert match, f"event {event.pk} ({event.kind}) is not on the page"
    return " ".join(match.group(1).split())


class TimelineTests(PersonaTestCase):
    survivor: Participant
    harm: Participant
    meeting: Meeting
    events: dict[str, CaseEvent]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.survivor = make_participant(cls.case, role=ParticipantRole.SURVIVOR, label="Survivor A")
        cls.harm = make_participant(cls.case, role=ParticipantRole.PERSON_WHO_CAUSED_HARM, label="Person B")
        cls.meeting = Meeting.objects.create(
            organization=cls.harbor,
            case=cls.case,
            kind=MeetingKind.PREPARATION,
            starts_at=START,
            scheduled_by=cls.alice,
        )
        m = str(cls.meeting.pk)
        survivor = {"participant": "Survivor A"}
        # One event of every kind, with the facts the services write.
        facts = {
            EventKind.PARTICIPANT_ADDED: {**survivor, "role": "survivor"},
            EventKind.DETAILS_CHANGED: survivor,
            EventKind.CONSENT_GIVEN: {**survivor, "consent": "take_part"},
            EventKind.CONSENT_WITHDRAWN: {**survivor, "consent": "contact"},
            EventKind.CONTACT_RULES: survivor,
            EventKind.TRACK_CHOSEN: {"track": "direct_dialogue", "previous": "support_only"},
            EventKind.CHECK_RECORDED: {**survivor, "level": "elevated"},
            EventKind.HOLD_OPENED: {"reason": "new_violence", "level": ""},
            EventKind.HOLD_LIFTED: {"level": "low"},
            EventKind.ALERT_RAISED: {"reason": "meeting_check", "level": ""},
            EventKind.ALERT_SEEN: {"reason": "meeting_check"},
            EventKind.PLAN_SAVED: {**survivor, "revision": "2"},
            EventKind.PLAN_DECLINED: {**survivor, "revision": "3"},
            EventKind.PLAN_REVIEWED: survivor,
            EventKind.PLAN_REVIEW_DUE: survivor,
            EventKind.STAGE_CHANGED: {"stage": "preparation", "previous": "mapping_support"},
            EventKind.WITHDRAWN: {"stage": "preparation"},
            EventKind.REFERRED_OUT: {"stage": "intake"},
            EventKind.CLOSED: {"stage": "closure"},
            EventKind.MEETING_SCHEDULED: {"meeting": m, "meeting_kind": "preparation"},
            EventKind.MEETING_HELD: {"meeting": m, "meeting_kind": "preparation"},
            EventKind.MEETING_CANCELLED: {"meeting": m, "meeting_kind": "circle"},
            EventKind.MEETING_CHECK: {**survivor, "meeting": m, "moment": "out"},
            EventKind.ACKNOWLEDGED: {"meeting": m, "participant": "Person B"},
            EventKind.APPROVED: {},
            EventKind.POD_CHANGED: {"member": "Aunt R", "side": "both", "stance": "unsure"},
            EventKind.AGREEMENT_DRAFTED: {"version": "2"},
            EventKind.AGREEMENT_PARTY_AFFIRMED: {"version": "2", "participant": "Person B"},
            EventKind.AGREEMENT_AFFIRMED: {"version": "2"},
            EventKind.COMMITMENT_CHECKIN: {"commitment": "3", "status": "not_kept"},
            EventKind.STAIRCASE_STEP: {"step": "4"},
            EventKind.SURVIVOR_VIEW: survivor,
            EventKind.LINK_REVOKED: {"participant": "Person B"},
            EventKind.REFERRAL_RECEIVED: {"reached_out_by": "shelter"},
            EventKind.REOPENED: {"stage": "intake", "previous": "preparation"},
            EventKind.INTAKE_SAVED: {"version": "1"},
            EventKind.ENTERED_IN_ERROR: {"record": "participant", "participant": "Survivor C"},
            EventKind.REACHED_OUT: {
                "other_side": "person_who_caused_harm",
                "how": "phone_call",
                "on": "2026-05-30",
                "participant": "Person B",
            },
        }
        cls.events = {
            kind: record_event(cls.case, kind, by=cls.sam, at=START + n * MINUTE, **values)
            for n, (kind, values) in enumerate(facts.items())
        }

    def setUp(self):
        self.url = reverse("protocol:timeline", args=[self.case.pk])
        self.more = reverse("protocol:timeline_more", args=[self.case.pk])

    def expected_link(self, kind: str) -> str:
        case = self.case.pk
        survivor = reverse("cases:participant_detail", args=[case, self.survivor.pk])
        if kind == EventKind.REACHED_OUT:
            return reverse("protocol:reach_out", args=[case])
        if kind in GROUP_KINDS[KindGroup.STAGES] or kind == EventKind.APPROVED:
            return reverse("protocol:case", args=[case])
        if kind in GROUP_KINDS[KindGroup.MEETINGS]:
            return reverse("protocol:meeting", args=[case, self.meeting.pk])
        if kind.startswith("safety.plan"):
            return reverse("safety:plan", args=[case, self.survivor.pk])
        if kind.startswith("safety."):
            return reverse("safety:case", args=[case])
        if kind == EventKind.TRACK_CHOSEN:
            return reverse("cases:track_choice", args=[case])
        if kind == EventKind.INTAKE_SAVED:
            return reverse("cases:intake", args=[case])
        if kind == EventKind.ENTERED_IN_ERROR:
            return reverse("cases:detail", args=[case])
        if kind == EventKind.LINK_REVOKED:
            return reverse("cases:participant_detail", args=[case, self.harm.pk])
        if kind == EventKind.POD_CHANGED:
            return reverse("support:pods", args=[case])
        if kind in GROUP_KINDS[KindGroup.ACCOUNTABILITY]:
            return reverse("accountability:agreement", args=[case])
        return survivor

    def test_every_kind_of_event_belongs_to_exactly_one_group_and_is_covered_here(self):
        grouped = [kind for kinds in GROUP_KINDS.values() for kind in kinds]
        self.assertEqual(sorted(grouped), sorted(EventKind.values))
        self.assertEqual(set(self.events), set(EventKind.values))

    def test_every_kind_shows_in_words_with_a_link_to_its_record(self):
        self.login(self.alice)
        for group, kinds in GROUP_KINDS.items():
            page = self.client.get(self.url, {"kind": group})
            self.assertEqual(page.status_code, 200)
            for kind in kinds:
                text = entry(page, self.events[kind])
                self.assertIn(escape(str(EventKind(kind).label)), text, kind)
                self.assertIn(f'href="{self.expected_link(kind)}"', text, kind)
                self.assertIn("Sam", text)

    def test_facts_are_words_never_codes(self):
        self.login(self.alice)
        page = self.client.get(self.url, {"kind": KindGroup.STAGES})
        self.assertIn(
            "Stage: Preparation; Before: Mapping support", entry(page, self.events[EventKind.STAGE_CHANGED])
        )
        page = self.client.get(self.url, {"kind": KindGroup.MEETINGS})
        self.assertIn(
            "Meeting: Preparation meeting (one party and their supporters)",
            entry(page, self.events[EventKind.MEETING_HELD]),
        )
        self.assertIn(
            "Participant: Survivor A; Check: Check-out at the end",
            entry(page, self.events[EventKind.MEETING_CHECK]),
        )
        self.assertIn(
            "Participant: Person B; Who of the other side: The person who caused harm; How: Phone call; "
            "When: 2026-05-30",
            entry(page, self.events[EventKind.REACHED_OUT]),
        )
        page = self.client.get(self.url, {"kind": KindGroup.SAFETY})
        self.assertIn("Why: New violence was reported", entry(page, self.events[EventKind.HOLD_OPENED]))
        page = self.client.get(self.url, {"kind": KindGroup.ACCOUNTABILITY})
        self.assertIn(
            "Person: Aunt R; Pod: Both pods; Ally or barrier: Unsure",
            entry(page, self.events[EventKind.POD_CHANGED]),
        )
        self.assertIn(
            "Commitment: 3; Progress: Not kept", entry(page, self.events[EventKind.COMMITMENT_CHECKIN])
        )
        self.assertIn("Staircase step: 4 · Make repairs", entry(page, self.events[EventKind.STAIRCASE_STEP]))
        html = self.client.get(self.url).content.decode()
        for code in (
            "mapping_support",
            "meeting_check",
            "take_part",
            "direct_dialogue",
            "meeting_kind",
            "not_kept",
        ):
            self.assertNotIn(code, html)

    def test_it_is_newest_first_and_a_filter_shows_only_its_kinds(self):
        self.login(self.alice)
        html = self.client.get(self.url).content.decode()
        newest, older = self.events[EventKind.LINK_REVOKED], self.events[EventKind.APPROVED]
        self.assertLess(html.index(f"event-{newest.pk}"), html.index(f"event-{older.pk}"))
        page = self.client.get(self.url, {"kind": KindGroup.SAFETY})
        html = page.content.decode()
        shown = {int(pk) for pk in re.findall(r'<li id="event-(\d+)">', html)}
        self.assertEqual(shown, {self.events[kind].pk for kind in GROUP_KINDS[KindGroup.SAFETY]})
        self.assertContains(page, '<option value="safety" selected>', html=False)

    def test_older_events_come_a_page_at_a_time_by_keyset_as_a_fragment_or_a_plain_link(self):
        # Events sharing a moment are kept apart by id: none lost or repeated between pages.
        for n in range(40):
            record_event(
                self.case, EventKind.DETAILS_CHANGED, at=START + (n // 4) * MINUTE, participant="Survivor A"
            )
        everything = list(
            CaseEvent.objects.filter(case=self.case).order_by("-at", "-id").values_list("pk", flat=True)
        )
        self.login(self.alice)
        page = self.client.get(self.url)
        seen = [int(pk) for pk in re.findall(r'<li id="event-(\d+)">', page.content.decode())]
        self.assertEqual(len(seen), PER_PAGE)
        # Without JavaScript: a plain link to the full page, continuing before the last event shown.
        plain = f"{self.url}?before={seen[-1]}"
        self.assertContains(page, f'href="{plain}"')
        self.assertContains(page, f'hx-get="{self.more}?before={seen[-1]}"')
        self.assertContains(self.client.get(plain), f'id="event-{everything[PER_PAGE]}"')
        before = seen[-1]
        while before:
            fragment = self.client.get(self.more, {"before": before})
            self.assertEqual(fragment.status_code, 200)
            html = fragment.content.decode()
            self.assertNotIn("<html", html)
            page_ids = [int(pk) for pk in re.findall(r'<li id="event-(\d+)">', html)]
            self.assertLessEqual(len(page_ids), PER_PAGE)
            seen += page_ids
            found = re.search(r'hx-get="[^"]*before=(\d+)"', html)
            before = int(found.group(1)) if found else 0
        self.assertEqual(seen, everything)

    def test_the_next_page_keeps_the_filter(self):
        for n in range(30):
            record_event(self.case, EventKind.PLAN_REVIEWED, at=START + n * MINUTE, participant="Survivor A")
        self.login(self.alice)
        page = self.client.get(self.url, {"kind": "safety"})
        self.assertContains(page, "kind=safety&amp;before=")
        last = re.findall(r'<li id="event-(\d+)">', page.content.decode())[-1]
        fragment = self.client.get(self.more, {"kind": "safety", "before": last}).content.decode()
        self.assertNotIn(f"event-{self.events[EventKind.STAGE_CHANGED].pk}", fragment)
        self.assertIn(f"event-{self.events[EventKind.CHECK_RECORDED].pk}", fragment)

    def test_an_event_of_another_case_cannot_be_the_starting_point(self):
        elsewhere = record_event(self.other_team_case, EventKind.DETAILS_CHANGED, participant="X")
        self.login(self.alice)
        self.assertEqual(self.client.get(self.more, {"before": elsewhere.pk}).status_code, 404)
        self.assertEqual(self.client.get(self.url, {"before": elsewhere.pk}).status_code, 404)

    def test_only_the_case_team_sees_the_timeline_of_a_survivors_safety_and_choices(self):
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            page = self.client.get(self.url, {"kind": "safety"})
            self.assertContains(page, "Safety plan revised")
            self.assertEqual(
                self.client.get(self.more, {"before": self.events[EventKind.APPROVED].pk}).status_code, 200
            )
        # Another team, another organization, and staff without a case role: as if the case did not exist.
        for person in (self.bob, self.charlie, self.pat, self.eve, self.nora):
            self.login(person)
            for url in (self.url, self.more):
                page = self.client.get(url)
                self.assertEqual(page.status_code, 404, (person, url))
                self.assertNotContains(page, "Survivor A", status_code=404)
        self.client.logout()
        self.assertRedirects(
            self.client.get(self.url),
            f"{reverse('accounts:login')}?next={self.url}",
            fetch_redirect_response=False,
        )

    def test_it_is_read_only(self):
        self.login(self.alice)
        self.assertEqual(self.client.post(self.url).status_code, 405)
        self.assertEqual(self.client.post(self.more).status_code, 405)

    def test_opening_it_is_audited(self):
        self.login(self.alice)
        self.client.get(self.url)
        self.client.get(self.more, {"before": self.events[EventKind.APPROVED].pk})
        events = audit_log().filter(action="timeline.view")
        self.assertEqual(
            list(events.values_list("actor_id", "object_type", "object_id")),
            [(self.alice.pk, "case", str(self.case.pk))] * 2,
        )

    def test_the_queries_for_a_page_do_not_grow_with_its_events(self):
        self.login(self.alice)
        CaseEvent.objects.filter(case=self.case).exclude(kind=EventKind.PLAN_SAVED).delete()
        self.client.get(self.url)  # the first request after signing in also touches the session
        with CaptureQueriesContext(connection) as one:
            self.client.get(self.url)
        for n in range(60):
            label = f"Supporter {n}"
            make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label=label, reachable=False)
            record_event(
                self.case,
                EventKind.CONSENT_GIVEN,
                at=START + n * MINUTE,
                participant=label,
                consent="take_part",
            )
            record_event(
                self.case, EventKind.MEETING_HELD, at=START + n * MINUTE, meeting=str(self.meeting.pk)
            )
        with CaptureQueriesContext(connection) as full:
            page = self.client.get(self.url)
        self.assertEqual(len(re.findall(r'<li id="event-', page.content.decode())), PER_PAGE)
        newest = self.case.participants.get(label="Supporter 59")
        self.assertContains(page, reverse("cases:participant_detail", args=[self.case.pk, newest.pk]))
        self.assertEqual(len(full), len(one), [q["sql"] for q in full.captured_queries])
        before = CaseEvent.objects.filter(case=self.case).order_by("-at", "-id")[10].pk
        with CaptureQueriesContext(connection) as more:
            self.client.get(self.more, {"before": before})
        # One more: where the page starts (the keyset's cursor).
        self.assertEqual(len(more), len(full) + 1)
