"""The support networks page: both pods with what each person is to the party, the people not yet in a pod, who
knows whom, and the measures now and over time; for the case team only, audited, in a fixed number of queries."""

from django.urls import reverse

from circlekeeper.cases.models import CaseStatus, ParticipantRole
from circlekeeper.support import services
from circlekeeper.support.tests.helpers import add
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant

XSS_LABEL = "<script>alert('label')</script>"
XSS_RELATIONSHIP = '"><img src=x onerror=alert(1)>'


class PodsPageTests(PersonaTestCase):
    def setUp(self):
        self.url = reverse("support:pods", args=[self.case.pk])
        self.sister = make_participant(self.case, role=ParticipantRole.SURVIVOR_SUPPORTER, label="Sister")

    def test_the_team_sees_both_pods_with_each_persons_facts(self):
        sister = add(
            self.case, self.alice, participant=self.sister, relationship="her sister", help=["childcare"]
        )
        aunt = add(
            self.case, self.alice, label="Aunt R", relationship="her aunt", stance="unsure", active=False
        )
        add(
            self.case,
            self.alice,
            label="Friend K",
            side="harm",
            stance="barrier",
            relationship="his friend",
            help=[],
        )
        services.add_tie(case=self.case, a=sister, b=aunt, by=self.alice)
        for person in (self.alice, self.ada, self.sam):
            self.login(person)
            page = self.client.get(self.url)
            self.assertContains(page, "<h1>Support networks for case HAR-2026-0001</h1>", html=True)
            for text in (
                "The survivor&#x27;s pod",
                "The pod of the person who caused harm",
                "her sister",
                "Support person for the survivor",
                "Childcare",
                "Not yet a participant",
                "Unsure",
                "his friend",
                "never invited or contacted",
                "A barrier is never invited or contacted, and never counted as a supporter.",
                "add them as a participant to record consent",
            ):
                self.assertContains(page, text)
            self.assertContains(page, reverse("support:member_edit", args=[self.case.pk, aunt.pk]))
            self.assertContains(page, reverse("support:map", args=[self.case.pk]))
            self.assertContains(page, "<td>Aunt R</td>", html=True)  # in the sister's "knows" and the ties
        self.assertEqual(
            audit_log().filter(action="pod.view", object_type="case", object_id=str(self.case.pk)).count(),
            3,
        )

    def test_participants_not_yet_in_a_pod_are_listed_with_a_link_to_place_them(self):
        uncle = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Uncle")
        make_participant(self.case, role=ParticipantRole.CHILD, label="Child C", reachable=False)
        add(self.case, self.alice, participant=self.sister)
        self.login(self.alice)
        page = self.client.get(self.url)
        add_url = reverse("support:member_add", args=[self.case.pk])
        self.assertContains(page, f"{add_url}?participant={uncle.pk}&amp;side=harm")
        self.assertNotContains(page, f"?participant={self.sister.pk}")
        self.assertNotContains(page, "Child C")

    def test_the_measures_now_and_at_each_change_are_shown_with_how_they_are_counted(self):
        add(self.case, self.alice, participant=self.sister, help=["childcare", "transport"])
        add(self.case, self.alice, label="Aunt R")
        self.login(self.alice)
        page = self.client.get(self.url)
        self.assertContains(page, "How these are counted")
        self.assertContains(page, "Barriers are never counted as supporters.")
        self.assertContains(page, '<th scope="row">Now</th>', count=2, html=True)
        self.assertContains(page, "Childcare, Transport", count=4)  # her row, now, and the two stored rows
        self.assertContains(page, "50 %", count=2)  # in touch: now and the latest stored row
        self.assertContains(page, "<time datetime=", count=3)  # two survivor's pod rows, one harm pod row

    def test_a_closed_case_shows_its_pods_without_ways_to_change_them(self):
        member = add(self.case, self.alice, label="Aunt R")
        self.case.status = CaseStatus.CLOSED
        self.case.save(update_fields=["status"])
        self.login(self.alice)
        page = self.client.get(self.url)
        self.assertContains(page, "Aunt R")
        self.assertContains(page, "no longer open")
        self.assertNotContains(page, reverse("support:member_edit", args=[self.case.pk, member.pk]))
        self.assertNotContains(page, reverse("support:tie_add", args=[self.case.pk]))

    def test_labels_and_relationships_are_escaped(self):
        add(self.case, self.alice, label=XSS_LABEL, relationship=XSS_RELATIONSHIP)
        self.login(self.alice)
        page = self.client.get(self.url)
        self.assertNotContains(page, XSS_LABEL)
        self.assertNotContains(page, XSS_RELATIONSHIP)
        self.assertContains(page, "&lt;script&gt;alert(&#x27;label&#x27;)&lt;/script&gt;")
        self.assertContains(page, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;")

    def test_the_queries_do_not_grow_with_people_ties_and_measures(self):
        # The organization's keys are made on first use; running the on-commit hooks lets the request cache
        # them as it would once they are committed in production.
        with self.captureOnCommitCallbacks(execute=True):
            first = add(self.case, self.alice, participant=self.sister)
        self.login(self.alice)
        self.client.get(self.url)
        with self.assertNumQueries(13):
            self.client.get(self.url)
        people = [first]
        for n in range(10):
            side = "harm" if n % 2 else "survivor"
            if n % 3 == 0:
                role = ParticipantRole.SAFETY_MONITOR
                person = make_participant(self.case, role=role, label=f"Monitor {n}")
                people.append(add(self.case, self.alice, participant=person, side=side))
            else:
                people.append(add(self.case, self.alice, label=f"Person {n}", side=side, stance="unsure"))
            services.add_tie(case=self.case, a=people[-2], b=people[-1], by=self.alice)
        make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Not placed 1")
        make_participant(self.case, role=ParticipantRole.COMMUNITY_MEMBER, label="Not placed 2")
        with self.assertNumQueries(13):
            self.client.get(self.url)

    def test_anyone_off_the_team_gets_404_and_anonymous_visitors_are_sent_to_sign_in(self):
        member = add(self.case, self.alice, label="Aunt R")
        other = add(self.case, self.alice, label="Uncle S")
        tie = services.add_tie(case=self.case, a=member, b=other, by=self.alice)
        gets = [
            reverse("support:pods", args=[self.case.pk]),
            reverse("support:map", args=[self.case.pk]),
            reverse("support:member_add", args=[self.case.pk]),
            reverse("support:member_edit", args=[self.case.pk, member.pk]),
        ]
        posts = [
            *gets[2:],
            reverse("support:tie_add", args=[self.case.pk]),
            reverse("support:tie_remove", args=[self.case.pk, tie.pk]),
        ]
        for person in (self.bob, self.charlie, self.pat, self.eve, self.nora):
            self.login(person)
            for url in gets:
                self.assertEqual(self.client.get(url).status_code, 404, (person, url))
            for url in posts:
                data = {
                    "a": member.pk,
                    "b": other.pk,
                    "side": "harm",
                    "relationship": "x",
                    "stance": "barrier",
                }
                self.assertEqual(self.client.post(url, data).status_code, 404, (person, url))
        self.client.logout()
        for url in gets:
            self.assertRedirects(self.client.get(url), f"{reverse('accounts:login')}?next={url}")
        member.refresh_from_db()
        tie.refresh_from_db()
        self.assertEqual(
            (member.side, member.stance, member.version, tie.removed_at), ("survivor", "ally", 1, None)
        )
