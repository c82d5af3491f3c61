"""Planted markers never leak (SECURITY.md 6, 11-13, 16 and "How it is tested").

A unique marker goes into every encrypted field of every protected model: one row of each, for each of the
access matrix's three cases (own, other team's, other organization's). Then:

(a) no marker appears in a copy of the database (the SQLite file, or a pg_dump), nor in any log record or SQL
    statement of a full pass of requests, nor in mail or the audit log;
(b) no page, error page, redirect or header served to a persona outside a case's team shows that case's
    markers, while the team does see them where its case page shows them (so the search means something).

Every URL of the access matrix is requested, so a new view is covered as soon as it is in the matrix; a new
protected model is planted as soon as it exists, or the factory in tests/leaks.py fails loudly.
"""

from __future__ import annotations

import base64
import datetime
import re
from typing import Any

from django.core import mail
from django.db import models
from django.db.models import Max
from django.test import TransactionTestCase
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accountability.models import AgreementVersion, CheckIn, SurvivorView
from circlekeeper.accountability.services import issue_progress_link
from circlekeeper.cases.choice import choose_track
from circlekeeper.cases.models import Case, CaseNote, CompelledDisclosure, ReleaseOfInformation
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.links import issue_link
from circlekeeper.instruments.models import InstrumentVersion, Response
from circlekeeper.lib.fields import EncryptedField, protected_models
from circlekeeper.safety.models import SafetyPlan
from circlekeeper.safety.services import _plan_for, lift_hold, save_plan
from circlekeeper.safety.tests.checks import run_check
from circlekeeper.testing import audit_log, ready_for_contact, sign_in
from tests import leaks

# Who, beyond a case's team, may see a protected field ("app.model.field" -> personas). A line here is a
# decision about confidentiality (SECURITY.md 1, 12, 13): give the reason beside it.
MAY_ALSO_SEE: dict[str, tuple[str, ...]] = {}

# Records of an organization's own community work (no case): who among that organization's staff may see a
# protected field. Planted beside each case, they are checked against the case's organization: staff of
# another organization, evaluators and network admins never see them.
SAME_ORGANIZATION: dict[str, tuple[str, ...]] = {
    # Events are recorded by the organization's case staff and program admins, who name the facilitators.
    "community.communityevent.follow_up": ("alice", "ada", "sam", "bob", "pat"),
    "community.facilitator.name": ("alice", "ada", "sam", "bob", "pat"),
    # Availability and supervision notes: supervisors and program admins only.
    "community.facilitator.availability": ("sam", "pat"),
    "community.supervisionnote.text": ("sam", "pat"),
}

# What the case page shows its team. These markers must appear there: proof that the search finds what a
# page shows. (Release purposes and compelled disclosures' recipient and legal basis are shown nowhere yet.)
SHOWN_ON_CASE_PAGE = ("cases.case.summary", "cases.casenote.text", "cases.releaseofinformation.recipient")


def plant_for_every_case(objects: Any) -> dict[str, leaks.Planted]:
    return {
        obj: leaks.plant_markers(case=getattr(objects, leaks.CASE_OF[obj]), author=getattr(objects, team[0]))
        for obj, team in leaks.TEAMS.items()
    }


def forbidden_for(persona: str, planted: dict[str, leaks.Planted]) -> dict[str, str]:
    """Markers this persona must never be served: marker -> where it was planted."""
    forbidden = {}
    for obj, plants in planted.items():
        if persona in leaks.TEAMS[obj]:
            continue
        same_organization = obj != "other_org"  # the own and other cases are Harbor's, as the staff personas
        for marker, where in plants.markers.items():
            if persona in MAY_ALSO_SEE.get(where, ()):
                continue
            if same_organization and persona in SAME_ORGANIZATION.get(where, ()):
                continue
            forbidden[marker] = f"{where} of the {obj} case"
    return forbidden


def every_marker(planted: dict[str, leaks.Planted]) -> dict[str, str]:
    return {m: f"{w} of the {obj} case" for obj, p in planted.items() for m, w in p.markers.items()}


def response_bytes_of(response: Any) -> bytes:
    """A download's status and headers (its body, a zip, is searched once unzipped)."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.items())
    return f"{response.status_code}\n{headers}\n".encode()


def audit_log_text() -> str:
    return "\n".join(repr(row) for row in audit_log().order_by("sequence").values_list())


def mail_text() -> str:
    return "\n".join(message.message().as_string() for message in mail.outbox)


class MarkersInResponsesTests(leaks.MatrixObjects):
    planted: dict[str, leaks.Planted]

    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        cls.planted = plant_for_every_case(cls)

    def test_every_protected_model_has_a_planted_row_with_a_marker_in_each_encrypted_field(self):
        protected = {model: encrypted for model, encrypted, _indexes in protected_models()}
        self.assertTrue({Case, CaseNote, ReleaseOfInformation, CompelledDisclosure} <= protected.keys())
        for obj, planted in self.planted.items():
            self.assertEqual(set(planted.rows), set(protected), obj)
            case = getattr(self, leaks.CASE_OF[obj])
            for model, encrypted in protected.items():
                row = model._base_manager.get(pk=planted.rows[model].pk)
                self.assertEqual(getattr(row, "organization_id"), case.organization_id)
                for model_field in encrypted:
                    where = f"{model._meta.label_lower}.{model_field.name}"
                    marker = planted.marker(where)
                    # Read back through the field: the marker is really stored there, encrypted.
                    self.assertIn(marker, str(getattr(row, model_field.attname)), where)
                    self.assertIsInstance(model_field, EncryptedField)

    def test_the_factory_fails_loudly_on_a_field_it_cannot_fill(self):
        with self.assertRaisesMessage(leaks.LeakFactoryError, "teach tests/leaks.py"):
            leaks._plain_value(models.BinaryField(name="blob"), 1)

    def test_no_one_outside_a_case_team_is_served_its_markers_on_any_url(self):
        failures = []
        checked = 0
        for request, response in leaks.request_every_url(self.client, self):
            forbidden = forbidden_for(request.persona, self.planted)
            found = leaks.find_markers(leaks.response_bytes(response), forbidden)
            failures += [f"{request} ({response.status_code}): {forbidden[m]}" for m in sorted(found)]
            checked += 1
        self.assertEqual(failures, [])
        self.assertGreater(checked, 300)
        self.assertEqual(leaks.find_markers(audit_log_text(), every_marker(self.planted)), set())
        self.assertEqual(leaks.find_markers(mail_text(), every_marker(self.planted)), set())

    def test_no_reproducibility_bundle_carries_a_marker_or_an_outside_code(self):
        """Issue 21 Build 4: a dashboard's bundle holds rows, so it is searched for every planted marker, and for
        the outside codes of imported outcomes (encrypted; the bundle has no code of any kind)."""
        import io
        import time
        import zipfile

        from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
        from circlekeeper.evaluation.services import import_outcomes

        lines = ["participant_code,group,person_days,events,first_event_day"]
        codes = [f"Outside-Code-Marker-{number:03d}" for number in range(30)]
        for number, code in enumerate(codes):
            events = number % 3
            lines.append(
                f"{code},{'bip' if number % 2 else 'bip_circles'},{300 + number},{events},{50 if events else ''}"
            )
        import_outcomes(organization=self.harbor, file_name="o.csv", content="\n".join(lines).encode())
        sign_in(self.client, self.eve)
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time()
        session.save()
        immediate = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
        links: list[str] = []
        # The domains with bundled sections: scores, rate ratios and survival; retention; fidelity.
        for domain in ("recurrence", "retention", "fidelity"):
            page = reverse("evaluation:dashboard_domain", args=[domain])
            with self.settings(TASKS=immediate), self.captureOnCommitCallbacks(execute=True):
                self.client.get(page)
            shown = self.client.get(page).content.decode()
            found_links = set(
                re.findall(rf'href="(/evaluation/dashboard/{domain}/sections/\d+/bundle/)"', shown)
            )
            self.assertTrue(found_links, domain)
            links += sorted(found_links)
        forbidden = every_marker(self.planted) | dict.fromkeys(codes, "an imported outcome's outside code")
        for link in links:
            response = self.client.get(link)
            self.assertEqual(response.status_code, 200, link)
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                content = b"".join(archive.read(name) for name in archive.namelist())
            found = leaks.find_markers(response_bytes_of(response) + content, forbidden)
            self.assertEqual({forbidden[m] for m in found}, set(), link)

    def test_no_answer_of_the_redcap_api_carries_a_marker(self):
        """Issue 24: a token sees what the evaluator's export shows, so no planted identifying value at all."""
        from circlekeeper.api import services as api_services

        _token, raw = api_services.create_token(self.eve, organization=self.harbor, name="Leak test")
        forbidden = every_marker(self.planted)
        contents = (
            "project",
            "metadata",
            "instrument",
            "event",
            "arm",
            "formEventMapping",
            "exportFieldNames",
        )
        calls = [{"content": content, "format": fmt} for content in contents for fmt in ("json", "csv")]
        calls += [
            {"content": "record", "format": fmt, "rawOrLabel": how, "exportCheckboxLabel": "true"}
            for fmt in ("json", "csv")
            for how in ("raw", "label")
        ]
        answered = 0
        for call in calls:
            response = self.client.post(reverse("redcap_api"), {"token": raw, **call}, secure=True)
            self.assertIn(response.status_code, (200, 400), call)  # 400: no events when nothing was answered
            answered += response.status_code == 200
            found = leaks.find_markers(response.content, forbidden)
            self.assertEqual({forbidden[m] for m in found}, set(), call)
        self.assertGreaterEqual(answered, 10)
        # The results API: every domain's published numbers, computed at once (immediate task backend).
        from circlekeeper.evaluation.dashboards import DOMAINS

        immediate = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
        bearer = {"authorization": f"Bearer {raw}"}
        with self.settings(TASKS=immediate), self.captureOnCommitCallbacks(execute=True):
            self.client.get(reverse("api:v1_index"), secure=True, headers=bearer)
        for domain in DOMAINS:
            url = reverse("api:v1_dashboard", args=[domain.code])
            with self.settings(TASKS=immediate), self.captureOnCommitCallbacks(execute=True):
                self.client.get(url, secure=True, headers=bearer)
            response = self.client.get(url, secure=True, headers=bearer)
            self.assertEqual(response.status_code, 200, domain.code)
            found = leaks.find_markers(response.content, forbidden)
            self.assertEqual({forbidden[m] for m in found}, set(), domain.code)

    def _harm_person_reachable(self) -> Any:
        """The matrix's person who caused harm, once the survivor chose a track with contact and the hold the
        matrix opened is lifted (by the rules)."""
        participant = self.case.participants.get(label="Person B")
        survivor = self.case.participants.get(label="Survivor A")
        hold = self.case.safety_holds.get(lifted_at__isnull=True)
        # A hold lifts on a fresh check of each survivor concerned (the factory plants a survivor too).
        for each in self.case.participants.survivors():
            run_check(each, by=self.ada)
        lift_hold(hold=hold, by=self.sam, reason="Safe to go on")
        self.case.refresh_from_db()
        choose_track(
            case=self.case,
            survivor=survivor,
            track="indirect_dialogue",
            explained_by=self.alice,
            explained_on=timezone.localdate(),
            by=self.alice,
        )
        # What the contact policy asks before any contact with the other side (issue 17): a plan or a recorded
        # decline for each survivor, and a consenting safety monitor.
        # (The factory planted plan revisions without moving their plan's counter: bring it up to date first.)
        # Its planted revisions carry every field, "entered in error" too, so each survivor records a decline.
        for plan in SafetyPlan.objects.filter(participant__case=self.case):
            plan.revision = plan.revisions.aggregate(last=Max("number"))["last"] or 0
            plan.save(update_fields=["revision"])
        for each in self.case.participants.survivors():
            save_plan(survivor=each, revision=_plan_for(each).revision, by=self.alice, declined=True)
        ready_for_contact(self.case, by=self.alice)
        participant.refresh_from_db()
        return participant

    def test_a_participant_link_shows_nothing_of_the_case(self):
        """The person who caused harm may hold a survey link of their own (SECURITY.md 12): its pages, opened
        with a real token, show none of the markers, of any case."""
        participant = self._harm_person_reachable()
        _link, token = issue_link(
            participant=participant,
            version=InstrumentVersion.objects.get(pk=self.versions["own"]),
            purpose="T1",
            expires_at=timezone.now() + datetime.timedelta(days=7),
            by=self.alice,
            channel="email",
            when=timezone.now(),
        )
        self.client.logout()
        names = sorted(name for name in leaks.matrix.MATRIX if name.startswith("links:"))
        self.assertIn("links:open", names)
        opened = self.client.get(reverse("links:open", kwargs={"token": token}), follow=True)
        self.assertEqual(opened.status_code, 200)  # the link is really open: its pages are what it sees
        markers = every_marker(self.planted)
        failures = [
            f"links:open: {markers[m]}" for m in leaks.find_markers(leaks.response_bytes(opened), markers)
        ]
        for name in names:
            row = leaks.matrix.MATRIX[name]
            kwargs = {"token": token} if "token" in row.kwargs else row.kwargs
            url = reverse(name, kwargs=kwargs)
            for method in sorted({"get", row.method}):
                if method == "post":
                    response = self.client.post(url, row.data, follow=True)
                else:
                    response = self.client.get(url, follow=True)
                found = leaks.find_markers(leaks.response_bytes(response), markers)
                failures += [f"{method.upper()} {name} ({response.status_code}): {markers[m]}" for m in found]
        self.assertEqual(failures, [])

    def test_the_progress_page_of_the_person_who_caused_harm_shows_nothing_of_the_survivors(self):
        """Their own commitments and progress only (SECURITY.md 12): never the survivor's view of progress (its
        ratings and comments), check-in notes, or any other marker, of any case."""
        participant = self._harm_person_reachable()
        now = timezone.now()
        version = AgreementVersion.objects.get(agreement__case=self.case, number=1)
        version.frozen_at = version.affirmed_at = now
        version.save(update_fields=["frozen_at", "affirmed_at"])
        commitment = version.commitments.get()
        checkin_marker, view_marker = leaks.new_marker(), leaks.new_marker()
        CheckIn.objects.create(
            organization=self.harbor,
            commitment=commitment,
            status="kept",
            note=f"Survivor told us {checkin_marker}",
            reported_by="keeper",
            recorded_by=self.alice,
        )
        survivor = self.case.participants.get(label="Survivor A")
        load_builtins()
        response = Response.objects.create(
            organization=self.harbor,
            version=InstrumentVersion.objects.get(instrument__code="progress_view", instrument__owner=None),
            participant=survivor,
            case=self.case,
            purpose="progress_view",
            answers={"commitments_kept": "0", "harm_repaired": "0", "comments": view_marker},
            scores={"kept": 0, "repair": 0},
            status="submitted",
            submitted_at=now,
        )
        SurvivorView.objects.create(
            organization=self.harbor,
            case=self.case,
            participant=survivor,
            response=response,
            kept=0,
            repair=0,
        )
        _link, token = issue_progress_link(participant=participant, channel="email", by=self.alice, when=now)
        self.client.logout()
        page = self.client.get(reverse("progress:open", kwargs={"token": token}), follow=True)
        self.assertEqual(page.status_code, 200)
        html = leaks.response_bytes(page)
        self.assertIn(b"Attend the 26-week program", html)  # their own commitment: the page is really open
        markers = {
            **every_marker(self.planted),
            checkin_marker: "check-in note",
            view_marker: "survivor's view",
        }
        self.assertEqual({markers[m] for m in leaks.find_markers(html, markers)}, set())
        for survivor_only in (b"Survivor A", b"Not at all", b"survivor's view", b"Survivor's view"):
            self.assertNotIn(survivor_only, html)

    def test_each_team_sees_its_own_markers_on_its_case_page(self):
        for obj, team in leaks.TEAMS.items():
            case = getattr(self, leaks.CASE_OF[obj])
            for persona in team:
                self.client.logout()
                sign_in(self.client, getattr(self, persona))
                body = self.client.get(reverse("cases:detail", args=[case.pk])).content
                self.assertIn(case.reference.encode(), body)
                shown = {self.planted[obj].marker(where) for where in SHOWN_ON_CASE_PAGE}
                self.assertEqual(leaks.find_markers(body, shown), shown, f"{persona} on the {obj} case")
                # Never another case's markers, even for a team member.
                others = forbidden_for(persona, self.planted)
                self.assertEqual(leaks.find_markers(body, others), set(), persona)

    def test_the_search_finds_markers_in_every_form_it_looks_for(self):
        marker = leaks.new_marker()
        for form in (
            marker.upper(),
            marker.encode("utf-16-le"),
            marker.encode("utf-16-be"),
            b"\\x" + marker.encode().hex().encode(),
            b"x" + base64.b64encode(b"ab" + marker.encode()),
            base64.urlsafe_b64encode(b"a" + marker.encode()),
        ):
            self.assertEqual(leaks.find_markers(form, [marker]), {marker}, form)
        self.assertEqual(leaks.find_markers(marker[:-1], [marker]), set())


class MarkersOutsideTheAppTests(TransactionTestCase):
    """Committed data, so that a copy made outside this connection (pg_dump) sees what a backup would."""

    def type_markers_into_forms(self, objects: leaks.MatrixObjects) -> dict[str, str]:
        """Alice records a note, a release and a compelled disclosure through the pages, with fresh markers."""
        typed = {
            name: leaks.new_marker() for name in ("note", "recipient", "purpose", "disclosed to", "basis")
        }
        sign_in(self.client, objects.alice)
        case, participant = objects.case.pk, objects.children["own"]["participant_id"]
        today = timezone.localdate()
        posts: list[tuple[str, dict[str, Any]]] = [
            (reverse("cases:note_add", args=[case]), {"text": typed["note"]}),
            (
                reverse("cases:release_add", args=[case, participant]),
                {
                    "recipient": typed["recipient"],
                    "information": ["name", "contact"],
                    "purpose": typed["purpose"],
                    "how_given": "signed",
                    "affirmed_on": today.isoformat(),
                    "expires_on": (today + datetime.timedelta(days=365)).isoformat(),
                },
            ),
            (
                reverse("cases:compelled_add", args=[case, participant]),
                {
                    "recipient": typed["disclosed to"],
                    "legal_basis": typed["basis"],
                    "information": ["name"],
                    "disclosed_on": today.isoformat(),
                },
            ),
        ]
        for url, data in posts:
            self.assertEqual(self.client.post(url, data).status_code, 302, url)
        # A refused form shows the typed text back to the one who typed it; it must go nowhere else.
        refused = {**posts[1][1], "expires_on": "2000-01-01"}
        self.assertEqual(self.client.post(posts[1][0], refused).status_code, 200)
        self.client.logout()
        return {marker: f"typed into a form as the {name}" for name, marker in typed.items()}

    def crash_the_case_page(self, objects: leaks.MatrixObjects) -> bytes:
        """The team's case page failing half-way (a ciphertext copied from another row): its error page."""
        token = CaseNote.objects.filter(case=objects.case).values_list("text", flat=True).first()
        Case.objects.filter(pk=objects.case.pk).update(summary=token)
        sign_in(self.client, objects.alice)
        self.client.raise_request_exception = False
        response = self.client.get(reverse("cases:detail", args=[objects.case.pk]))
        self.client.raise_request_exception = True
        self.assertEqual(response.status_code, 500)
        return leaks.response_bytes(response)

    def test_a_full_pass_leaves_no_marker_in_logs_mail_the_audit_log_or_a_database_copy(self):
        with leaks.all_logs() as logs:
            objects = leaks.committed_matrix_objects()
            planted = plant_for_every_case(objects)
            typed = self.type_markers_into_forms(objects)
            served = sum(1 for _request in leaks.request_every_url(self.client, objects))
            error_page = self.crash_the_case_page(objects)
        markers = {**every_marker(planted), **typed}
        self.assertGreater(served, 300)
        self.assertEqual(
            sorted(markers[m] for m in leaks.find_markers(error_page, markers)), [], "error page"
        )
        log_text = "\n".join(logs)
        self.assertIn(objects.case.reference, log_text)  # the SQL statements were logged, with parameters
        self.assertIn("DecryptionError", log_text)  # and the crash, with its traceback
        self.assertEqual(sorted(markers[m] for m in leaks.find_markers(log_text, markers)), [], "in the logs")
        self.assertEqual(sorted(markers[m] for m in leaks.find_markers(mail_text(), markers)), [], "in mail")
        audit = audit_log_text()
        self.assertIn("case.view", audit)
        self.assertEqual(
            sorted(markers[m] for m in leaks.find_markers(audit, markers)), [], "in the audit log"
        )

        copy = leaks.database_copy()
        # The copy is a real one: it holds the references in clear and the summary's ciphertext.
        self.assertIn(objects.case.reference.encode(), copy)
        token = bytes(Case.objects.filter(pk=objects.case.pk).values_list("summary", flat=True).get())
        self.assertTrue(token in copy or token.hex().encode() in copy)
        self.assertEqual(
            sorted(markers[m] for m in leaks.find_markers(copy, markers)), [], "in the database copy"
        )
