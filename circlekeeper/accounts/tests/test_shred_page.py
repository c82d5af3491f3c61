"""The program admin's crypto-shredding page (SECURITY.md 10; issue 18, build 3).

Expected, from the design: only the organization's program admin (ARCHITECTURE.md: "the organization's users,
settings, retention rules") may shred it; they confirm who they are first, as before an export (SECURITY.md 14);
the page says what is destroyed and what stays before anything happens, and goes ahead only when the
organization's name is typed. Afterwards the organization's encrypted values raise KeysDestroyed; another
organization's stay readable.
"""

from __future__ import annotations

import time

from django.urls import reverse

from circlekeeper.accounts.audit import Action
from circlekeeper.accounts.models import Role
from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
from circlekeeper.cases.models import CaseNote
from circlekeeper.cases.services import add_case_note
from circlekeeper.lib import keys
from circlekeeper.lib.keys import KeysDestroyed
from circlekeeper.testing import PersonaTestCase, audit_log, make_user

PAGE = reverse("accounts:shred_organization")


class ShredPageTests(PersonaTestCase):
    def setUp(self) -> None:
        add_case_note(case=self.case, author=self.alice, text="Harbor's note")
        add_case_note(case=self.valley_case, author=self.charlie, text="Valley's note")

    def confirm_identity(self) -> None:
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time()
        session.save()

    def note_of(self, case) -> str:
        keys.clear_key_cache()
        return CaseNote.objects.get(case=case).text

    def assert_nothing_destroyed(self) -> None:
        self.assertIsNone(keys.keys_destroyed_at(self.harbor.pk))
        self.assertEqual(self.note_of(self.case), "Harbor's note")

    def test_it_is_refused_to_everyone_but_the_program_admin(self):
        for person in (self.alice, self.ada, self.sam, self.eve, self.charlie, self.nora):
            with self.subTest(person=person.email):
                self.login(person)
                self.confirm_identity()
                self.assertEqual(self.client.get(PAGE).status_code, 403)
                self.assertEqual(self.client.post(PAGE, {"confirmation": "Harbor"}).status_code, 403)
        self.client.logout()
        self.assertEqual(self.client.post(PAGE, {"confirmation": "Harbor"}).status_code, 302)
        self.assert_nothing_destroyed()

    def test_the_admin_confirms_who_they_are_first(self):
        self.login(self.pat)
        response = self.client.post(PAGE, {"confirmation": "Harbor"})
        self.assertRedirects(
            response,
            f"{reverse('accounts:reauthenticate')}?next=%2Faccounts%2Forganization%2Fshred%2F",
            fetch_redirect_response=False,
        )
        self.assert_nothing_destroyed()

    def test_the_page_says_what_is_destroyed_and_what_stays_before_anything_happens(self):
        self.login(self.pat)
        self.confirm_identity()
        page = self.client.get(PAGE)
        self.assertContains(page, "What will be destroyed, for good")
        self.assertContains(page, "names, phone numbers, email and postal addresses")
        self.assertContains(page, "the survivor&#x27;s account")
        self.assertContains(page, "What stays")
        self.assertContains(page, "Backups taken before the keys are destroyed still hold them")
        self.assertContains(page, "type the organization's name: <strong>Harbor</strong>", html=False)
        self.assertContains(page, 'name="confirmation"')
        self.assert_nothing_destroyed()

    def test_anything_but_the_name_changes_nothing(self):
        self.login(self.pat)
        self.confirm_identity()
        for typed in ("", "Valley", "harbour", "Harbor Org"):
            with self.subTest(typed=typed):
                response = self.client.post(PAGE, {"confirmation": typed})
                self.assertEqual(response.status_code, 400)
                self.assert_nothing_destroyed()
        response = self.client.post(PAGE, {"confirmation": "Valley"})
        self.assertContains(
            response, "not the organization&#x27;s name; nothing was changed", status_code=400
        )

    def test_typing_the_name_destroys_the_keys_of_this_organization_only(self):
        self.login(self.pat)
        self.confirm_identity()
        # A smuggled organization field is ignored: the admin's own organization is shredded, nothing else.
        response = self.client.post(PAGE, {"confirmation": "Harbor", "organization": str(self.valley.pk)})
        self.assertRedirects(response, PAGE, fetch_redirect_response=False)
        self.assertIsNotNone(keys.keys_destroyed_at(self.harbor.pk))
        with self.assertRaises(KeysDestroyed):
            self.note_of(self.case)
        self.assertEqual(self.note_of(self.valley_case), "Valley's note")
        (event,) = audit_log().filter(action=Action.ORGANIZATION_SHRED)
        self.assertEqual((event.actor_id, event.object_id), (self.pat.pk, str(self.harbor.pk)))
        after = self.client.get(PAGE)
        self.assertContains(after, "were destroyed on")
        self.assertNotContains(after, 'name="confirmation"')
        # Sent again (a double click, a replay): nothing more happens.
        self.assertEqual(self.client.post(PAGE, {"confirmation": "Harbor"}).status_code, 200)
        self.assertEqual(audit_log().filter(action=Action.ORGANIZATION_SHRED).count(), 1)

    def test_another_organizations_admin_cannot_shred_harbor(self):
        valley_admin = make_user(
            "val-admin@valley.example", organization=self.valley, roles=(Role.PROGRAM_ADMIN,)
        )
        self.login(valley_admin)
        self.confirm_identity()
        self.assertEqual(self.client.post(PAGE, {"confirmation": "Harbor"}).status_code, 400)
        self.assert_nothing_destroyed()
        self.assertEqual(self.note_of(self.valley_case), "Valley's note")
