from django.core.exceptions import ValidationError
from django.db import connection

from circlekeeper.cases.models import Case, CaseNote
from circlekeeper.cases.services import add_case_note
from circlekeeper.testing import PersonaTestCase


class CaseNoteTests(PersonaTestCase):
    def test_it_adds_a_note_whose_text_is_stored_encrypted(self):
        note = add_case_note(case=self.case, author=self.alice, text="She wants to wait until spring.")
        self.assertEqual(note.organization_id, self.harbor.pk)
        loaded = CaseNote.objects.get(pk=note.pk)
        self.assertEqual(loaded.text, "She wants to wait until spring.")
        self.assertEqual(loaded.author, self.alice)
        with connection.cursor() as cursor:
            cursor.execute("SELECT text FROM cases_casenote WHERE id = %s", [note.pk])
            self.assertNotIn(b"spring", bytes(cursor.fetchone()[0]))
        self.assertNotIn("spring", str(loaded))

    def test_it_refuses_an_empty_note(self):
        with self.assertRaises(ValidationError):
            add_case_note(case=self.case, author=self.alice, text="")
        self.assertFalse(CaseNote.objects.exists())

    def test_notes_are_listed_by_organization_and_case_in_order(self):
        first = add_case_note(case=self.case, author=self.alice, text="first")
        second = add_case_note(case=self.case, author=self.ada, text="second")
        add_case_note(case=self.valley_case, author=self.charlie, text="elsewhere")
        notes = CaseNote.objects.for_organization(self.harbor).filter(case=self.case)
        self.assertEqual(list(notes), [first, second])
        self.assertEqual([n.text for n in self.case.notes.all()], ["first", "second"])


class CaseSummaryTests(PersonaTestCase):
    def test_the_summary_is_encrypted_and_every_case_has_its_own_uid(self):
        case = Case.objects.get(pk=self.case.pk)
        self.assertIsNone(case.summary)
        case.summary = "What happened, in her words."
        case.save(update_fields=["summary"])
        self.assertEqual(Case.objects.get(pk=case.pk).summary, "What happened, in her words.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT summary FROM cases_case WHERE id = %s", [case.pk])
            self.assertNotIn(b"her words", bytes(cursor.fetchone()[0]))
        uids = list(Case.objects.values_list("uid", flat=True))
        self.assertEqual(len(set(uids)), len(uids))
