"""Adding a person to a pod and changing them through the pages: refusals say what was wrong and write nothing,
a double submit gives one record, the second of two editors is refused, and fields nobody may set are ignored."""

from django.urls import reverse

from circlekeeper.cases.models import CaseStatus, ParticipantRole
from circlekeeper.lib.audit import Outcome
from circlekeeper.support.models import PodMember
from circlekeeper.support.tests.helpers import add
from circlekeeper.testing import PersonaTestCase, audit_log, make_participant


def form(**kwargs):
    data = {
        "side": "survivor",
        "participant": "",
        "label": "Aunt R",
        "relationship": "her aunt",
        "stance": "ally",
        "help": ["safe_place", "childcare"],
        "active": "on",
        "both_reason": "",
    }
    data.update(kwargs)
    return {k: v for k, v in data.items() if v is not None}


class MemberAddPageTests(PersonaTestCase):
    def setUp(self):
        self.url = reverse("support:member_add", args=[self.case.pk])
        self.pods = reverse("support:pods", args=[self.case.pk])
        self.uncle = make_participant(self.case, role=ParticipantRole.HARM_SUPPORTER, label="Uncle")
        self.login(self.alice)

    def test_the_form_labels_every_field_and_says_what_a_barrier_means(self):
        page = self.client.get(self.url)
        for label in (
            "Pod",
            "Participant",
            "Label",
            "Relationship",
            "Ally, barrier or unsure",
            "Can help with",
        ):
            self.assertContains(page, label)
        self.assertContains(page, "Talking with the person who caused harm")
        self.assertContains(page, "Uncle (Support person for the person who caused harm)")
        self.assertContains(page, "A barrier is never invited or contacted")
        self.assertContains(page, "Not a participant yet")

    def test_an_add_to_a_pod_link_chooses_the_participant_and_the_pod(self):
        page = self.client.get(f"{self.url}?participant={self.uncle.pk}&side=harm")
        self.assertContains(page, f'<option value="{self.uncle.pk}" selected>', html=False)
        self.assertContains(page, 'value="harm" required id="id_side_1" checked')
        # Anything else in the address is ignored.
        self.assertEqual(self.client.get(f"{self.url}?participant=x&side=nope").status_code, 200)

    def test_adding_a_person_records_them_and_returns_to_the_pods(self):
        page = self.client.post(self.url, form())
        self.assertRedirects(page, self.pods, fetch_redirect_response=False)
        member = PodMember.objects.get()
        self.assertEqual(
            (member.label, member.relationship, member.help, member.active, member.added_by),
            ("Aunt R", "her aunt", ["safe_place", "childcare"], True, self.alice),
        )
        self.assertTrue(
            audit_log().filter(action="pod.edit", object_type="pod_member", object_id=str(member.pk)).exists()
        )
        self.assertContains(self.client.get(self.pods), "Aunt R is in the pod now.")

    def test_a_participant_is_placed_with_their_own_label(self):
        self.client.post(self.url, form(participant=self.uncle.pk, label="", side="harm"))
        self.assertEqual(PodMember.objects.get().label, "Uncle")

    def test_a_double_submit_gives_one_record(self):
        self.client.post(self.url, form())
        page = self.client.post(self.url, form())
        self.assertEqual(page.status_code, 302)
        self.assertEqual(PodMember.objects.count(), 1)

    def test_the_same_label_for_someone_else_is_refused_with_a_clear_message(self):
        self.client.post(self.url, form())
        page = self.client.post(self.url, form(relationship="her neighbour"))
        self.assertContains(page, "already labelled “Aunt R”", status_code=400)
        self.assertEqual(PodMember.objects.count(), 1)

    def test_both_pods_without_a_reason_is_refused_naming_the_field(self):
        page = self.client.post(self.url, form(side="both"))
        self.assertContains(page, "Why in both pods", status_code=400)
        self.assertContains(page, "only with a recorded reason", status_code=400)
        self.assertFalse(PodMember.objects.exists())
        self.assertTrue(audit_log().filter(action="pod.edit", outcome=Outcome.REFUSED).exists())

    def test_the_same_participant_twice_is_refused_and_told_to_choose_both_pods(self):
        self.client.post(self.url, form(participant=self.uncle.pk, label="", side="harm"))
        self.assertContains(
            self.client.get(self.url),
            "Uncle (Support person for the person who caused harm) · already in the pod",
        )
        page = self.client.post(self.url, form(participant=self.uncle.pk, label="Uncle 2", side="harm"))
        self.assertContains(
            page, "Uncle is already in the pod of the person who caused harm", status_code=400
        )
        self.assertContains(page, "change that record to Both pods, with a reason", status_code=400)
        self.assertEqual(PodMember.objects.count(), 1)

    def test_unknown_help_or_missing_fields_are_refused(self):
        page = self.client.post(self.url, form(help=["bribes"], relationship=""))
        self.assertContains(page, "form-errors", status_code=400)
        self.assertFalse(PodMember.objects.exists())

    def test_a_closed_case_is_refused_with_409(self):
        self.case.status = CaseStatus.CLOSED
        self.case.save(update_fields=["status"])
        page = self.client.post(self.url, form())
        self.assertContains(page, "no longer open", status_code=409)
        self.assertFalse(PodMember.objects.exists())

    def test_fields_a_person_may_not_set_are_ignored(self):
        self.client.post(
            self.url,
            form(
                organization=self.valley.pk,
                case=self.other_team_case.pk,
                version="7",
                added_by=self.bob.pk,
                uid="x",
            ),
        )
        member = PodMember.objects.get()
        self.assertEqual(
            (member.organization_id, member.case, member.version, member.added_by),
            (self.harbor.pk, self.case, 1, self.alice),
        )

    def test_a_barrier_named_through_the_page_is_marked_on_the_participant(self):
        self.client.post(self.url, form(participant=self.uncle.pk, label="", side="harm", stance="barrier"))
        self.uncle.refresh_from_db()
        self.assertTrue(self.uncle.barrier)


class MemberEditPageTests(PersonaTestCase):
    def setUp(self):
        self.member = add(self.case, self.alice, label="Aunt R", relationship="her aunt Rosa")
        self.url = reverse("support:member_edit", args=[self.case.pk, self.member.pk])
        self.login(self.alice)

    def test_the_page_shows_the_member_as_recorded_and_the_read_is_audited(self):
        page = self.client.get(self.url)
        self.assertContains(page, "<h1>Aunt R in the support networks</h1>", html=True)
        self.assertContains(page, 'value="her aunt Rosa"')
        self.assertContains(page, 'name="version" value="1"')
        self.assertTrue(
            audit_log()
            .filter(action="pod.view", object_type="pod_member", object_id=str(self.member.pk))
            .exists()
        )

    def test_a_change_is_saved(self):
        page = self.client.post(self.url, form(version=1, stance="unsure", active=None))
        self.assertEqual(page.status_code, 302)
        self.member.refresh_from_db()
        self.assertEqual((self.member.stance, self.member.active, self.member.version), ("unsure", False, 2))

    def test_the_second_of_two_editors_is_refused_and_nothing_is_written(self):
        self.client.post(self.url, form(version=1, stance="unsure"))
        self.login(self.ada)
        page = self.client.post(self.url, form(version=1, relationship="her neighbour"))
        self.assertContains(page, "Someone else changed this while you were editing", status_code=409)
        self.member.refresh_from_db()
        self.assertEqual((self.member.relationship, self.member.stance), ("her aunt", "unsure"))
        self.assertTrue(audit_log().filter(action="pod.edit", outcome=Outcome.REFUSED).exists())

    def test_a_member_of_another_case_is_not_found_through_this_case(self):
        elsewhere = add(self.other_team_case, self.bob, label="Elsewhere")
        url = reverse("support:member_edit", args=[self.case.pk, elsewhere.pk])
        self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(self.client.post(url, form(version=1)).status_code, 404)
