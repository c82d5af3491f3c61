"""Who may open each community activity page (200 / 302 after a write; 403 for a role that may not act; 404 for
another organization's object or a case off the team), and each page's query budget, which does not grow with the
number of rows."""

import datetime
import uuid
from decimal import Decimal

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circlekeeper.community import activities
from circlekeeper.community.models import AttendeeRole, Competency, EventKind
from circlekeeper.community.tests.test_facilitators_factory import (
    make_event,
    make_facilitator,
    make_facilitator_account,
    make_training,
    train,
)
from circlekeeper.lib.keys import clear_key_cache
from circlekeeper.testing import PersonaTestCase

NOW = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)
PERSONAS = ("alice", "ada", "sam", "bob", "pat", "eve", "charlie", "nora")


@time_machine.travel(NOW, tick=False)
class AccessTests(PersonaTestCase):
    def setUp(self):
        self.event = make_training(self.harbor, self.pat, competencies=[Competency.CIRCLE_KEEPING])
        self.facilitator = make_facilitator_account(self.harbor, self.pat, "rosa@harbor.example")
        self.requirement = activities.set_requirement(
            organization=self.harbor, competency=Competency.DV_DYNAMICS, minimum_hours=Decimal(2), by=self.pat
        )

    def statuses(self, method, url, data=None):
        """Each persona's status; `data` may be a function, called for each send (e.g. for a fresh form uid)."""
        found = {}
        for name in PERSONAS:
            self.client.logout()
            self.login(getattr(self, name))
            sent = data() if callable(data) else data or {}
            response = self.client.post(url, sent) if method == "post" else self.client.get(url)
            found[name] = response.status_code
        self.client.logout()
        sent = data() if callable(data) else data or {}
        response = self.client.post(url, sent) if method == "post" else self.client.get(url)
        found["anonymous"] = response.status_code
        if response.status_code == 302:
            self.assertIn(reverse("accounts:login"), response["Location"])
        return found

    def expect(self, ok, *, default=403, ok_status=200, **others):
        expected = {name: (ok_status if name in ok else others.get(name, default)) for name in PERSONAS}
        expected["anonymous"] = 302
        return expected

    def test_events_are_for_staff_who_work_in_the_community(self):
        staff = ("alice", "ada", "sam", "bob", "pat", "charlie")
        self.assertEqual(self.statuses("get", reverse("community:event_list")), self.expect(staff))
        self.assertEqual(self.statuses("get", reverse("community:event_add")), self.expect(staff))
        in_harbor = ("alice", "ada", "sam", "bob", "pat")
        for name in ("event_detail", "event_edit"):
            url = reverse(f"community:{name}", args=[self.event.pk])
            self.assertEqual(self.statuses("get", url), self.expect(in_harbor, charlie=404), name)

    def test_training_records_are_for_program_admins_and_supervisors(self):
        url = reverse("community:training_record", args=[self.event.pk])
        data = {"facilitator": self.facilitator.pk, "hours": "2", "completed": "on"}
        self.assertEqual(
            self.statuses("post", url, data), self.expect(("sam", "pat"), ok_status=302, charlie=404)
        )

    def test_the_roster_is_read_by_supervisors_and_kept_by_program_admins(self):
        self.assertEqual(
            self.statuses("get", reverse("community:facilitator_list")), self.expect(("sam", "pat"))
        )
        detail = reverse("community:facilitator_detail", args=[self.facilitator.pk])
        self.assertEqual(self.statuses("get", detail), self.expect(("sam", "pat")))
        self.assertEqual(self.statuses("get", reverse("community:facilitator_add")), self.expect(("pat",)))
        edit = reverse("community:facilitator_edit", args=[self.facilitator.pk])
        self.assertEqual(self.statuses("get", edit), self.expect(("pat",)))
        self.assertEqual(self.statuses("get", reverse("community:readiness")), self.expect(("sam", "pat")))
        note = reverse("community:supervision_note_add", args=[self.facilitator.pk])
        self.assertEqual(
            self.statuses("post", note, lambda: {"uid": str(uuid.uuid4()), "text": "Doing well."}),
            self.expect(("sam", "pat"), ok_status=302),
        )
        self.assertEqual(
            self.statuses(
                "post", reverse("community:readiness"), {"competency": "children", "minimum_hours": "1"}
            ),
            self.expect(("pat",), ok_status=302),
        )
        remove = reverse("community:readiness_remove", args=[self.requirement.pk])
        self.assertEqual(self.statuses("post", remove), self.expect(("pat",), ok_status=302, default=403))

    def test_another_organizations_facilitator_is_not_found(self):
        valley_one = make_facilitator(self.valley, self.pat, name="Valley One")
        self.login(self.pat)
        for name in ("facilitator_detail", "facilitator_edit"):
            self.assertEqual(
                self.client.get(reverse(f"community:{name}", args=[valley_one.pk])).status_code, 404
            )
        self.assertEqual(
            self.client.post(reverse("community:supervision_note_add", args=[valley_one.pk]), {}).status_code,
            404,
        )
        valley_event = make_event(self.valley, self.charlie)
        self.assertEqual(
            self.client.get(reverse("community:event_detail", args=[valley_event.pk])).status_code, 404
        )

    def test_a_cases_facilitators_are_changed_by_a_supervisor_on_its_team(self):
        url = reverse("community:case_facilitators", args=[self.case.pk])
        self.assertEqual(self.statuses("get", url), self.expect(("sam",)))
        self.login(self.sam)
        for other in (self.other_team_case, self.valley_case):
            self.assertEqual(
                self.client.get(reverse("community:case_facilitators", args=[other.pk])).status_code, 404
            )
        self.assertEqual(self.client.post(url, {"facilitator": self.facilitator.pk}).status_code, 302)
        remove = reverse("community:case_facilitator_remove", args=[self.case.pk, self.facilitator.pk])
        self.assertEqual(self.statuses("post", remove), self.expect(("sam",), ok_status=302))

    def test_the_funder_report_is_for_the_roles_that_see_aggregates(self):
        for name, ok_status in (
            ("funder_report", 200),
            ("funder_report_csv", 302),
        ):  # the file: confirm first
            self.assertEqual(
                self.statuses("get", reverse(f"community:{name}") + "?quarter=2026-Q1"),
                self.expect(("sam", "pat", "eve"), ok_status=ok_status),
            )


@time_machine.travel(NOW, tick=False)
class FacilitatorAccountTests(PersonaTestCase):
    """A facilitator with an account works their cases as a keeper, and sees nothing beyond them."""

    def setUp(self):
        self.rosa = make_facilitator_account(self.harbor, self.pat, "rosa@harbor.example")
        activities.add_to_team(case=self.case, facilitator=self.rosa, by=self.sam)
        assert self.rosa.user is not None
        self.login(self.rosa.user)

    def test_they_open_the_case_they_serve_on_and_get_404_on_every_other(self):
        self.assertEqual(self.client.get(reverse("cases:detail", args=[self.case.pk])).status_code, 200)
        for other in (self.other_team_case, self.valley_case):
            for name in ("cases:detail", "protocol:case", "safety:case", "accountability:agreement"):
                self.assertEqual(self.client.get(reverse(name, args=[other.pk])).status_code, 404, name)
        listing = self.client.get(reverse("cases:list"))
        self.assertContains(listing, self.case.reference)
        self.assertNotContains(listing, self.other_team_case.reference)

    def test_they_lose_the_case_when_taken_off_its_team(self):
        activities.remove_from_team(case=self.case, facilitator=self.rosa, by=self.sam)
        self.assertEqual(self.client.get(reverse("cases:detail", args=[self.case.pk])).status_code, 404)

    def test_the_organizations_community_pages_are_closed_to_them(self):
        event = make_event(self.harbor, self.pat)
        for url in (
            reverse("community:event_list"),
            reverse("community:event_detail", args=[event.pk]),
            reverse("community:facilitator_list"),
            reverse("community:funder_report"),
        ):
            self.assertEqual(self.client.get(url).status_code, 403, url)


@time_machine.travel(NOW, tick=False)
class QueryBudgetTests(PersonaTestCase):
    def count(self, url):
        # The organization's keys were made inside this test's transaction, so never cached: as they would be
        # once committed, they are (a request loads them once).
        clear_key_cache(everything=True)
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return len(queries)

    def same_with_more_rows(self, url, add_rows, budget):
        self.count(url)  # the first audit event of the test makes the chain's head
        first = self.count(url)
        add_rows()
        self.assertEqual(self.count(url), first)
        self.assertEqual(first, budget)

    def test_the_event_list(self):
        make_event(self.harbor, self.pat, attendance={AttendeeRole.YOUTH: 4})
        self.login(self.sam)

        def more():
            for n in range(6):
                make_event(self.harbor, self.pat, title=f"Event {n}", attendance={AttendeeRole.STAFF: n + 1})

        self.same_with_more_rows(reverse("community:event_list") + "?kind=&since=&until=", more, 7)

    def test_the_event_page(self):
        event = make_training(self.harbor, self.pat, competencies=[Competency.CHILDREN])
        one = make_facilitator(self.harbor, self.pat)
        activities.record_training(
            event=event, facilitator=one, hours=Decimal(2), completed=True, by=self.pat
        )
        self.login(self.pat)

        def more():
            for n in range(5):
                f = make_facilitator(self.harbor, self.pat, name=f"F{n}")
                activities.record_training(
                    event=event, facilitator=f, hours=Decimal(1), completed=False, by=self.pat
                )

        self.same_with_more_rows(reverse("community:event_detail", args=[event.pk]), more, 12)

    def test_the_roster_and_a_facilitators_page(self):
        rosa = make_facilitator(self.harbor, self.pat)
        train(rosa, self.pat, competencies=[Competency.CHILDREN])
        activities.add_supervision_note(facilitator=rosa, by=self.sam, uid=uuid.uuid4(), text="First")
        self.login(self.sam)

        def more_facilitators():
            for n in range(5):
                f = make_facilitator(self.harbor, self.pat, name=f"F{n}")
                train(f, self.pat, competencies=[Competency.CHILDREN], date=datetime.date(2026, 1, n + 1))

        self.same_with_more_rows(reverse("community:facilitator_list"), more_facilitators, 10)

        def more_history():
            for n in range(5):
                train(rosa, self.pat, competencies=[Competency.BYSTANDER], date=datetime.date(2026, 2, n + 1))
                activities.add_supervision_note(facilitator=rosa, by=self.sam, uid=uuid.uuid4(), text=f"N{n}")

        self.same_with_more_rows(reverse("community:facilitator_detail", args=[rosa.pk]), more_history, 11)

    def test_a_cases_facilitators(self):
        make_facilitator_account(self.harbor, self.pat, "f0@harbor.example")
        self.login(self.sam)

        def more():
            for n in range(1, 5):
                f = make_facilitator_account(self.harbor, self.pat, f"f{n}@harbor.example")
                train(f, self.pat, competencies=[Competency.CHILDREN], date=datetime.date(2026, 1, n))
                if n % 2:
                    activities.add_to_team(case=self.case, facilitator=f, by=self.sam)

        self.same_with_more_rows(reverse("community:case_facilitators", args=[self.case.pk]), more, 11)

    def test_the_readiness_page(self):
        activities.set_requirement(
            organization=self.harbor, competency=Competency.CHILDREN, minimum_hours=Decimal(1), by=self.pat
        )
        self.login(self.pat)

        def more():
            for competency in (Competency.BYSTANDER, Competency.DV_DYNAMICS, Competency.TRAUMA_INFORMED):
                activities.set_requirement(
                    organization=self.harbor, competency=competency, minimum_hours=Decimal(3), by=self.pat
                )

        self.same_with_more_rows(reverse("community:readiness"), more, 5)

    def test_the_events_filter_narrows_by_kind_and_period(self):
        make_event(self.harbor, self.pat, title="Winter talk", date=datetime.date(2026, 1, 5))
        make_event(
            self.harbor,
            self.pat,
            title="Spring outreach",
            kind=EventKind.OUTREACH,
            date=datetime.date(2026, 4, 5),
        )
        self.login(self.alice)
        page = self.client.get(reverse("community:event_list"), {"kind": "outreach"})
        self.assertContains(page, "Spring outreach")
        self.assertNotContains(page, "Winter talk")
        page = self.client.get(
            reverse("community:event_list"), {"since": "2026-01-01", "until": "2026-01-31"}
        )
        self.assertContains(page, "Winter talk")
        self.assertNotContains(page, "Spring outreach")
        bad = self.client.get(reverse("community:event_list"), {"since": "2026-02-01", "until": "2026-01-01"})
        self.assertContains(bad, "The start of the period is after its end.", status_code=400)
