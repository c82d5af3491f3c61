"""Recording community events and trainings: attendance counted by role, facilitators (community and staff),
follow-up encrypted; a training's hours and competencies; one event for a form sent twice; a stale edit refused;
bad input refused with what was wrong and nothing written; every read and write audited."""

import datetime
import uuid
from decimal import Decimal

import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from circlekeeper.cases.participants import StaleEdit
from circlekeeper.community import activities
from circlekeeper.community.models import Attendance, AttendeeRole, CommunityEvent, Competency, EventKind
from circlekeeper.community.tests.test_facilitators_factory import make_event, make_facilitator, make_training
from circlekeeper.lib.audit import Outcome
from circlekeeper.testing import PersonaTestCase, audit_log

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
FOLLOW_UP = "Call the pastor at St Planted-Marker church"


def form_data(**overrides):
    data = {
        "uid": str(uuid.uuid4()),
        "kind": EventKind.KEEPER_TRAINING,
        "title": "Keeping circles, level 1",
        "date": "2026-04-20",
        "place": "Library hall",
        "language": "Spanish",
        "hours": "6",
        "competencies": [Competency.CIRCLE_KEEPING, Competency.TRAUMA_INFORMED],
        "materials": "Talking piece, handouts",
        "follow_up": FOLLOW_UP,
        f"attendance_{AttendeeRole.COMMUNITY_MEMBER}": "12",
        f"attendance_{AttendeeRole.FAITH_LEADER}": "3",
        f"attendance_{AttendeeRole.YOUTH}": "0",
    }
    data.update(overrides)
    return data


@time_machine.travel(NOW, tick=False)
class EventPagesTests(PersonaTestCase):
    def setUp(self):
        self.rosa = make_facilitator(self.harbor, self.pat, name="Rosa")
        self.login(self.alice)

    def test_a_keeper_records_a_training_with_attendance_and_facilitators(self):
        data = form_data(facilitators=[self.rosa.pk], staff_facilitators=[self.alice.pk])
        response = self.client.post(reverse("community:event_add"), data)
        event = CommunityEvent.objects.get()
        self.assertRedirects(response, reverse("community:event_detail", args=[event.pk]))
        self.assertEqual(
            (event.organization, event.kind, event.hours, event.competencies, event.created_by),
            (self.harbor, "keeper_training", Decimal(6), ["circle_keeping", "trauma_informed"], self.alice),
        )
        self.assertEqual(str(event.uid), data["uid"])
        self.assertEqual(
            dict(Attendance.objects.filter(event=event).values_list("role", "count")),
            {"community_member": 12, "faith_leader": 3},
        )
        self.assertEqual(list(event.facilitators.all()), [self.rosa])
        self.assertEqual(list(event.staff_facilitators.all()), [self.alice])
        page = self.client.get(reverse("community:event_detail", args=[event.pk]))
        for text in (
            "Keeping circles, level 1",
            "Rosa",
            "Alice",
            "Keeping a circle",
            FOLLOW_UP,
            "Who came: 15 people",
        ):
            self.assertContains(page, text)
        self.assertEqual(
            list(
                audit_log()
                .filter(object_type="community_event", object_id=str(event.pk))
                .order_by("sequence")
                .values_list("action", "outcome")
            ),
            # assertRedirects opened the page once, and the test once more.
            [("community.event.save", "ok"), ("community.event.view", "ok"), ("community.event.view", "ok")],
        )

    def test_follow_up_is_stored_encrypted(self):
        self.client.post(reverse("community:event_add"), form_data())
        with connection.cursor() as cursor:
            cursor.execute("SELECT follow_up FROM community_communityevent")
            stored = cursor.fetchone()[0]
        self.assertNotIn(b"Planted-Marker", bytes(stored) if not isinstance(stored, str) else stored.encode())

    def test_the_same_form_sent_twice_records_one_event(self):
        data = form_data()
        first = self.client.post(reverse("community:event_add"), data)
        second = self.client.post(reverse("community:event_add"), data)
        self.assertEqual(CommunityEvent.objects.count(), 1)
        self.assertEqual(first["Location"], second["Location"])

    def test_another_persons_form_uid_is_refused(self):
        event = make_event(self.harbor, self.pat)
        response = self.client.post(reverse("community:event_add"), form_data(uid=str(event.uid)))
        self.assertContains(response, "This form was already used", status_code=409)
        self.assertEqual(CommunityEvent.objects.count(), 1)

    def test_bad_input_is_refused_saying_what_was_wrong_and_writes_nothing(self):
        cases = [
            (form_data(hours=""), "A training needs its length in hours."),
            (
                form_data(kind=EventKind.OUTREACH),
                "Only a training has hours; leave this empty for other events.",
            ),
            (
                form_data(kind=EventKind.OUTREACH, hours=""),
                "Only a training covers competencies; leave these empty for other events.",
            ),
            (
                form_data(**{f"attendance_{AttendeeRole.YOUTH}": "-2"}),
                "Ensure this value is greater than or equal to 0.",
            ),
            (form_data(title=""), "This field is required."),
            (form_data(date="2028-01-01"), "This date is more than a year away."),
        ]
        for data, message in cases:
            response = self.client.post(reverse("community:event_add"), data)
            self.assertContains(response, message, status_code=400, msg_prefix=message)
        self.assertFalse(CommunityEvent.objects.exists())
        self.assertFalse(Attendance.objects.exists())

    def test_a_facilitator_of_another_organization_cannot_be_named(self):
        valley_one = make_facilitator(self.valley, self.charlie, name="Valley One")
        response = self.client.post(reverse("community:event_add"), form_data(facilitators=[valley_one.pk]))
        self.assertEqual(response.status_code, 400)
        self.assertFalse(CommunityEvent.objects.exists())

    def test_a_change_replaces_attendance_and_a_stale_page_is_refused(self):
        event = make_training(
            self.harbor, self.pat, competencies=[Competency.CHILDREN], attendance={"youth": 5}
        )
        url = reverse("community:event_edit", args=[event.pk])
        page = self.client.get(url)
        self.assertContains(page, 'name="lock_version" value="1"')
        response = self.client.post(url, form_data(lock_version="1", title="Renamed"))
        self.assertRedirects(response, reverse("community:event_detail", args=[event.pk]))
        event.refresh_from_db()
        self.assertEqual((event.title, event.lock_version), ("Renamed", 2))
        self.assertEqual(
            dict(Attendance.objects.filter(event=event).values_list("role", "count")),
            {"community_member": 12, "faith_leader": 3},
        )
        stale = self.client.post(url, form_data(lock_version="1", title="Someone else's"))
        self.assertContains(stale, "Someone else changed this while you were editing", status_code=409)
        event.refresh_from_db()
        self.assertEqual(event.title, "Renamed")

    def test_a_training_with_recorded_trainees_stays_a_training(self):
        event = make_training(self.harbor, self.pat, competencies=[Competency.CHILDREN])
        activities.record_training(
            event=event, facilitator=self.rosa, hours=Decimal(5), completed=True, by=self.pat
        )
        with self.assertRaises(ValidationError) as refused:
            activities.change_event(
                event=event,
                by=self.pat,
                lock_version=1,
                kind=EventKind.WORKSHOP,
                title="x",
                date=event.date,
                language="English",
            )
        self.assertIn("it stays a training", refused.exception.messages[0])
        with self.assertRaises(ValidationError) as refused:
            activities.change_event(
                event=event,
                by=self.pat,
                lock_version=1,
                kind=EventKind.KEEPER_TRAINING,
                title="x",
                date=event.date,
                language="English",
                hours=Decimal(4),
                competencies=[Competency.CHILDREN],
            )
        self.assertIn("recorded hours are more than this", refused.exception.messages[0])
        with self.assertRaises(StaleEdit):
            activities.change_event(
                event=event,
                by=self.pat,
                lock_version=7,
                kind=event.kind,
                title="x",
                date=event.date,
                language="x",
            )

    def test_text_from_people_is_escaped(self):
        make_event(
            self.harbor,
            self.pat,
            title="<script>alert(1)</script>",
            follow_up='"><img src=x onerror=alert(2)>',
        )
        event = CommunityEvent.objects.get()
        listing = self.client.get(reverse("community:event_list"))
        self.assertNotContains(listing, "<script>alert(1)</script>")
        self.assertContains(listing, "&lt;script&gt;alert(1)&lt;/script&gt;")
        page = self.client.get(reverse("community:event_detail", args=[event.pk]))
        self.assertNotContains(page, "<img src=x")


@time_machine.travel(NOW, tick=False)
class TrainingRecordTests(PersonaTestCase):
    def setUp(self):
        self.rosa = make_facilitator(self.harbor, self.pat, name="Rosa")
        self.training = make_training(self.harbor, self.pat, competencies=[Competency.CHILDREN], hours="6")

    def test_a_supervisor_records_a_facilitators_training_on_its_page(self):
        self.login(self.sam)
        url = reverse("community:training_record", args=[self.training.pk])
        response = self.client.post(url, {"facilitator": self.rosa.pk, "hours": "6", "completed": "on"})
        self.assertRedirects(response, reverse("community:event_detail", args=[self.training.pk]))
        record = self.rosa.trainings.get()
        self.assertEqual((record.hours, record.completed, record.recorded_by), (Decimal(6), True, self.sam))
        # Recorded again, it replaces what was recorded.
        self.client.post(url, {"facilitator": self.rosa.pk, "hours": "3"})
        record = self.rosa.trainings.get()
        self.assertEqual((record.hours, record.completed), (Decimal(3), False))
        self.assertEqual(audit_log().filter(action="community.training", outcome=Outcome.OK).count(), 2)

    def test_more_hours_than_the_training_lasted_are_refused(self):
        self.login(self.pat)
        url = reverse("community:training_record", args=[self.training.pk])
        response = self.client.post(url, {"facilitator": self.rosa.pk, "hours": "9", "completed": "on"})
        self.assertContains(
            response, "The training lasted 6.0 hours: record no more than that.", status_code=400
        )
        self.assertFalse(self.rosa.trainings.exists())

    def test_only_a_training_takes_training_records_and_a_future_one_cannot_be_completed(self):
        talk = make_event(self.harbor, self.pat)
        with self.assertRaises(ValidationError):
            activities.record_training(
                event=talk, facilitator=self.rosa, hours=Decimal(1), completed=True, by=self.pat
            )
        later = make_training(
            self.harbor, self.pat, competencies=[Competency.CHILDREN], date=datetime.date(2026, 6, 1)
        )
        with self.assertRaises(ValidationError) as refused:
            activities.record_training(
                event=later, facilitator=self.rosa, hours=Decimal(1), completed=True, by=self.pat
            )
        self.assertEqual(
            refused.exception.message_dict["completed"],
            ["This training has not happened yet: it cannot be completed."],
        )
        self.assertFalse(self.rosa.trainings.exists())
