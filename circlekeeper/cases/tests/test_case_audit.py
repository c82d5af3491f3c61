"""Reading a case, or the case list, leaves an audit event; so does being refused one."""

from __future__ import annotations

from django.urls import reverse

from circlekeeper.testing import PersonaTestCase, audit_log

LIST = reverse("cases:list")


class CaseReadAuditTests(PersonaTestCase):
    def url(self, case=None) -> str:
        return reverse("cases:detail", args=[(case or self.case).pk])

    def test_opening_a_case_is_recorded_with_its_id(self):
        self.login(self.ada)
        self.client.get(self.url())
        event = audit_log().get(action="case.view")
        self.assertEqual((event.object_type, event.object_id), ("case", str(self.case.pk)))
        self.assertEqual((event.actor_id, event.actor_label), (self.ada.pk, "ada@harbor.example"))
        self.assertEqual(
            (event.organization_id, event.roles, event.outcome), (self.harbor.pk, "safety_advocate", "ok")
        )
        self.assertEqual(event.path, self.url())

    def test_opening_the_case_list_is_recorded_without_its_query(self):
        self.login(self.alice)
        self.client.get(LIST, {"status": "open", "q": "planted-search-term"})
        event = audit_log().get(action="case.list")
        self.assertEqual(
            (event.actor_id, event.organization_id, event.outcome), (self.alice.pk, self.harbor.pk, "ok")
        )
        self.assertEqual(event.path, LIST)
        self.assertFalse(audit_log().filter(path__contains="planted").exists())

    def test_a_case_refused_to_staff_of_the_same_organization_is_recorded(self):
        self.login(self.bob)
        self.assertEqual(self.client.get(self.url()).status_code, 404)
        event = audit_log().get(action="access.refused")
        self.assertEqual((event.object_type, event.object_id), ("case", str(self.case.pk)))
        self.assertEqual(
            (event.actor_id, event.organization_id, event.outcome), (self.bob.pk, self.harbor.pk, "refused")
        )
        self.assertFalse(audit_log().filter(action="case.view").exists())

    def test_a_case_refused_to_staff_of_another_organization_is_recorded_in_theirs(self):
        self.login(self.charlie)
        self.assertEqual(self.client.get(self.url()).status_code, 404)
        event = audit_log().get(action="access.refused")
        self.assertEqual((event.object_type, event.object_id), ("case", str(self.case.pk)))
        self.assertEqual((event.actor_id, event.organization_id), (self.charlie.pk, self.valley.pk))

    def test_a_case_list_refused_to_an_evaluator_is_recorded(self):
        self.login(self.eve)
        self.assertEqual(self.client.get(LIST).status_code, 403)
        event = audit_log().get(action="access.refused")
        self.assertEqual((event.actor_id, event.roles, event.outcome), (self.eve.pk, "evaluator", "refused"))
        self.assertEqual((event.object_type, event.object_id, event.path), ("", "", LIST))
        self.assertFalse(audit_log().filter(action="case.list").exists())
