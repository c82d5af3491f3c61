"""Refused requests are recorded for good, though the request's own transaction rolls back (real commits here).

Views run in one transaction per request (ATOMIC_REQUESTS); a 404 or 403 raised in a view rolls it back, with
anything recorded inside it. The 403 and 404 handlers run after that rollback, so their events stay.
"""

from __future__ import annotations

from django.db import transaction
from django.test import Client, TransactionTestCase
from django.urls import reverse

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import TeamRole
from circlekeeper.lib.audit import AuditEvent, verify_chain
from circlekeeper.testing import PASSWORD, audit_log, make_case, make_organization, make_user, sign_in


class RefusedAccessAuditTests(TransactionTestCase):
    def setUp(self) -> None:
        self.harbor = make_organization(name="Harbor", case_prefix="HAR")
        self.valley = make_organization(network=self.harbor.network, name="Valley", case_prefix="VAL")
        self.alice = make_user("alice@harbor.example", organization=self.harbor, roles=(Role.KEEPER,))
        self.bob = make_user("bob@harbor.example", organization=self.harbor, roles=(Role.KEEPER,))
        self.eve = make_user("eve@harbor.example", organization=self.harbor, roles=(Role.EVALUATOR,))
        self.charlie = make_user("charlie@valley.example", organization=self.valley, roles=(Role.KEEPER,))
        self.case = make_case(self.harbor, team=((self.alice, TeamRole.KEEPER),))
        self.url = reverse("cases:detail", args=[self.case.pk])

    def refusals(self) -> list[AuditEvent]:
        return list(audit_log().filter(action="access.refused").order_by("sequence"))

    def test_a_404_on_someone_elses_case_is_recorded_after_the_request_rolled_back(self):
        for person in (self.bob, self.charlie):
            self.client.logout()
            sign_in(self.client, person)
            self.assertEqual(self.client.get(self.url).status_code, 404)
        self.assertTrue(transaction.get_autocommit(), "the test must see committed rows only")
        events = self.refusals()
        self.assertEqual([e.actor_id for e in events], [self.bob.pk, self.charlie.pk])
        self.assertEqual([e.organization_id for e in events], [self.harbor.pk, self.valley.pk])
        self.assertEqual(
            {(e.object_type, e.object_id, e.outcome) for e in events},
            {("case", str(self.case.pk), "refused")},
        )
        self.assertTrue(verify_chain().intact)

    def test_a_403_is_recorded_after_the_request_rolled_back(self):
        sign_in(self.client, self.eve)
        self.assertEqual(self.client.get(reverse("cases:list")).status_code, 403)
        [event] = self.refusals()
        self.assertEqual(
            (event.actor_id, event.roles, event.path), (self.eve.pk, "evaluator", reverse("cases:list"))
        )

    def test_an_anonymous_refusal_is_recorded(self):
        self.assertEqual(self.client.get("/no-such-page/", REMOTE_ADDR="198.51.100.9").status_code, 404)
        [event] = self.refusals()
        self.assertEqual((event.actor_id, event.actor_label, event.organization_id), (None, "", None))
        self.assertEqual(
            (event.path, event.ip_address, event.outcome), ("/no-such-page/", "198.51.100.9", "refused")
        )

    def test_a_form_without_a_valid_csrf_token_is_recorded_without_what_was_typed(self):
        client = Client(enforce_csrf_checks=True)
        response = client.post(
            reverse("accounts:login"), {"username": "alice@harbor.example", "password": PASSWORD}
        )
        self.assertEqual(response.status_code, 403)
        [event] = audit_log().filter(action="form.refused")
        self.assertEqual((event.outcome, event.path), ("refused", reverse("accounts:login")))
        logged = repr(list(audit_log().values_list()))
        self.assertNotIn(PASSWORD, logged)
        self.assertNotIn("alice@harbor.example", logged)
