"""Every create is idempotent (issue 20 item 3, SECURITY.md 24), by one mechanism: the form token that
`{% csrf_token %}` renders, claimed in the request's transaction (circlekeeper/lib/idempotency.py).

The rule, from the issue: the same form sent twice (a double click, a retry, the back button) creates one
thing, and the second submit is shown the first one's result. Each create form below is read from its page as a
browser would (its hidden fields and defaults, the token among them), filled in, and sent twice.
"""

from __future__ import annotations

import datetime
import threading
import time
import unittest
from html.parser import HTMLParser
from pathlib import Path

from django.db import connection, models
from django.template import Context, Template
from django.test import RequestFactory, TransactionTestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import CaseNote, Consent, Participant, ParticipantRole, TeamRole
from circlekeeper.community.models import CommunityEvent
from circlekeeper.instruments.models import ParticipantLink, Response
from circlekeeper.lib.idempotency import FIELD, FormSubmission, new_token
from circlekeeper.protocol.models import Meeting, MeetingKind
from circlekeeper.protocol.tests.walk import Walk
from circlekeeper.safety.models import SafetyPlan
from circlekeeper.testing import PersonaTestCase, make_case, make_organization, make_user, sign_in

ROOT = Path(__file__).resolve().parent.parent


class _Forms(HTMLParser):
    """The POST forms of a page: their action and the values a browser would send without any typing."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._form = {"action": a.get("action") or "", "fields": {}, "choices": {}}
            self.forms.append(self._form)
        if self._form is None:
            return
        fields, name = self._form["fields"], a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("radio", "checkbox"):
                if a.get("type") == "radio":  # a checkbox left alone is a valid answer; a radio group is not
                    self._form["choices"].setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    fields.setdefault(name, []).append(a.get("value", "on"))
            else:
                fields[name] = [a.get("value", "")]
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            self._form["choices"].setdefault(self._select, []).append(a.get("value", ""))
            if "selected" in a:
                fields[self._select] = [a.get("value", "")]
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = [""]

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] = [data]

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


class EveryCreateIsIdempotentTests(PersonaTestCase):
    def setUp(self) -> None:
        self.login(self.alice)

    def form(self, page: str, action: str) -> dict[str, list[str]]:
        answer = self.client.get(page)
        self.assertEqual(answer.status_code, 200, page)
        parser = _Forms()
        parser.feed(answer.content.decode())
        matching = [f for f in parser.forms if (f["action"] or page) == action]
        self.assertTrue(matching, f"no form posting to {action} on {page}")
        form = matching[0]
        self.assertIn(FIELD, form["fields"], f"the form posting to {action} carries no form token")
        data = dict(form["fields"])
        for name, options in form["choices"].items():  # an unanswered radio or select: its first real option
            if not any(data.get(name, [""])):
                data[name] = [next((o for o in options if o), "")]
        return data

    def post_twice(
        self, page: str, action: str, model: type[models.Model], *, shown_at: str = "", **values
    ) -> None:
        data = self.form(page, action)
        data.update({k: v if isinstance(v, list) else [v] for k, v in values.items()})
        before = model.objects.count()
        first = self.client.post(action, data)
        errors = [line.strip() for line in first.content.decode().splitlines() if "error" in line.lower()]
        self.assertEqual(first.status_code, 200 if shown_at else 302, f"{action}: {errors}")
        self.assertEqual(model.objects.count(), before + 1, f"{action}: the first submit creates one")
        second = self.client.post(action, data)
        self.assertEqual(model.objects.count(), before + 1, f"{action}: the second submit creates nothing")
        self.assertEqual(
            (second.status_code, second["Location"]), (302, shown_at or first["Location"]), action
        )
        shown = self.client.get(second["Location"])
        self.assertContains(shown, "Nothing was saved twice")
        self.assertNotContains(shown, "Someone else changed")

    def test_notes_participants_and_consents(self):
        case_page = reverse("cases:detail", args=[self.case.pk])
        self.post_twice(
            case_page,
            reverse("cases:note_add", args=[self.case.pk]),
            CaseNote,
            text="Called back on Tuesday.",
        )
        add = reverse("cases:participant_add", args=[self.case.pk])
        self.post_twice(add, add, Participant, role=ParticipantRole.SURVIVOR, label="Survivor A")
        survivor = Participant.objects.get(case=self.case, label="Survivor A")
        add = reverse("cases:consent_add", args=[self.case.pk, survivor.pk])
        self.post_twice(add, add, Consent, given_on=timezone.localdate().isoformat())

    def test_safety_checks_plans_meetings_and_links(self):
        walk = Walk(self.case, self.alice, self.sam)
        walk.to_preparation()
        survivor = walk.survivor
        safety_page = reverse("safety:case", args=[self.case.pk])
        self.post_twice(
            safety_page, reverse("safety:check_start", args=[self.case.pk, survivor.pk]), Response
        )
        edit = reverse("safety:plan_edit", args=[self.case.pk, survivor.pk])
        plan = SafetyPlan.objects.get(participant=survivor)
        revision_before = plan.revision
        data = self.form(edit, edit)
        data["people_to_call"] = ["My sister, and the neighbour"]
        first = self.client.post(edit, data)
        second = self.client.post(edit, data)
        self.assertEqual((first.status_code, second.status_code), (302, 302))
        self.assertEqual(second["Location"], first["Location"])
        plan.refresh_from_db()
        self.assertEqual(plan.revision, revision_before + 1, "saved once")
        shown = self.client.get(second["Location"])
        self.assertNotContains(shown, "Someone else changed")
        self.assertContains(shown, "Nothing was saved twice")

        meetings = reverse("protocol:meetings", args=[self.case.pk])
        day = timezone.localdate() + datetime.timedelta(days=4)
        self.post_twice(
            meetings,
            meetings,
            Meeting,
            kind=MeetingKind.PREPARATION,
            day=day.isoformat(),
            time="10:00",
            invitees=[str(survivor.pk)],
            place="Library",
        )
        issue = reverse("instruments:link_issue", args=[self.case.pk, survivor.pk])
        self.post_twice(
            issue,
            issue,
            ParticipantLink,
            purpose="Follow-up",
            # The address is shown once, on the first answer; a repeat goes to the participant on the case page.
            shown_at=f"{reverse('cases:detail', args=[self.case.pk])}#participant-{survivor.pk}",
        )

    def test_community_events(self):
        self.login(self.pat)
        add = reverse("community:event_add")
        self.post_twice(add, add, CommunityEvent, title="Circle night", language="en")

    def test_agreement_drafts_and_commitments(self):
        from circlekeeper.accountability.models import AgreementVersion, Commitment
        from circlekeeper.accountability.tests.helpers import walked

        walk = walked(self.case, self.alice, self.sam)
        circle = walk.circle()
        agreement = reverse("accountability:agreement", args=[self.case.pk])
        draft = reverse("accountability:draft", args=[self.case.pk])
        self.post_twice(draft, draft, AgreementVersion, reached_in=str(circle.pk), risk_reviewed="on")
        add = reverse("accountability:commitment_add", args=[self.case.pk])
        self.post_twice(
            add,
            add,
            Commitment,
            kind="stop_behavior",
            description="No calls or messages to her",
            supporter=str(walk.uncle.pk),
            cadence="weekly",
            evidence="The uncle checks the phone log with him on Sundays",
        )
        self.assertEqual(self.client.get(agreement).status_code, 200)


class CreatesAnsweredWithAPageTests(PersonaTestCase):
    """Creates whose success is a page, not a redirect: a secret shown once (an API token, recovery codes), or
    "we sent you an email". A second submit is sent to where the first result lives, with the "already sent"
    message; the secret is neither made again nor shown again, and no second email goes out."""

    form = EveryCreateIsIdempotentTests.form

    def test_an_api_token_is_made_once_and_shown_once(self):
        from circlekeeper.accounts.reauth import REAUTHENTICATED_AT_KEY
        from circlekeeper.api.models import ApiToken

        self.login(self.eve)
        session = self.client.session
        session[REAUTHENTICATED_AT_KEY] = time.time()
        session.save()
        tokens = reverse("api:tokens")
        data = self.form(tokens, tokens)
        data["name"] = ["PyCap on my laptop"]
        first = self.client.post(tokens, data)
        self.assertEqual(first.status_code, 200)
        made = ApiToken.objects.get(user=self.eve)
        second = self.client.post(tokens, data)
        self.assertEqual(
            ApiToken.objects.filter(user=self.eve).count(), 1, "the second submit makes no token"
        )
        self.assertEqual((second.status_code, second["Location"]), (302, f"{tokens}#token-{made.pk}"))
        shown = self.client.get(second["Location"])
        self.assertContains(shown, "Nothing was saved twice")
        self.assertContains(shown, f'id="token-{made.pk}"')
        self.assertNotContains(shown, "Your new token", msg_prefix="the secret is not shown again")

    @override_settings(REQUIRE_MFA=False)
    def test_recovery_codes_are_made_once_and_the_authenticator_is_not_replaced(self):
        from django_otp.oath import totp
        from django_otp.plugins.otp_static.models import StaticToken
        from django_otp.plugins.otp_totp.models import TOTPDevice

        newcomer = make_user("newcomer@harbor.example", organization=self.harbor, roles=(Role.KEEPER,))
        from circlekeeper.accounts.middleware import LOGIN_AT_KEY, RENEWED_AT_KEY

        self.client.force_login(newcomer)  # signed in with a password, no authenticator yet
        session = self.client.session
        session[LOGIN_AT_KEY] = session[RENEWED_AT_KEY] = time.time()
        session.save()
        setup = reverse("accounts:mfa_setup")
        data = self.form(setup, setup)
        device = TOTPDevice.objects.get(user=newcomer, confirmed=False)
        data["token"] = [
            f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"
        ]
        first = self.client.post(setup, data)
        self.assertEqual(first.status_code, 200)
        codes = set(StaticToken.objects.filter(device__user=newcomer).values_list("token", flat=True))
        self.assertTrue(codes)
        second = self.client.post(setup, data)
        self.assertEqual((second.status_code, second["Location"]), (302, reverse("accounts:account")))
        self.assertEqual(
            set(StaticToken.objects.filter(device__user=newcomer).values_list("token", flat=True)),
            codes,
            "the second submit makes no new recovery codes",
        )
        self.assertEqual(
            list(TOTPDevice.objects.filter(user=newcomer).values_list("pk", "confirmed")), [(device.pk, True)]
        )
        shown = self.client.get(second["Location"])
        self.assertContains(shown, "Nothing was saved twice")
        for code in codes:
            self.assertNotContains(shown, code)

    @override_settings(TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}})
    def test_a_password_reset_request_sends_one_email(self):
        # The reset's email is sent by a task queued after commit (the same work for every address): run it now.
        from django.core import mail

        self.client.logout()
        reset = reverse("accounts:password_reset")
        data = self.form(reset, reset)
        data["email"] = ["alice@harbor.example"]
        with self.captureOnCommitCallbacks(execute=True):
            first = self.client.post(reset, data)
        self.assertEqual(first.status_code, 200)
        self.assertEqual(len(mail.outbox), 1)
        with self.captureOnCommitCallbacks(execute=True):
            second = self.client.post(reset, data)
        self.assertEqual(len(mail.outbox), 1, "the second submit sends no second link")
        self.assertEqual((second.status_code, second["Location"]), (302, f"{reset}?asked=1"))
        shown = self.client.get(second["Location"])
        self.assertContains(shown, "Nothing was saved twice")
        sent = "a link to reset its password is on its way"
        self.assertContains(first, sent)
        self.assertContains(shown, sent)


class TheMechanismTests(PersonaTestCase):
    def test_every_csrf_token_renders_a_fresh_form_token(self):
        request = RequestFactory().get("/")
        request.META["CSRF_COOKIE"] = "x" * 64
        from django.middleware.csrf import get_token

        get_token(request)
        html = Template("{% csrf_token %}|{% csrf_token %}").render(
            Context({"csrf_token": get_token(request)})
        )
        first, second = html.split("|")
        self.assertIn(f'name="{FIELD}"', first)
        self.assertNotEqual(
            first.split(f'name="{FIELD}" value="')[1], second.split(f'name="{FIELD}" value="')[1]
        )

    def test_every_post_form_in_the_templates_has_the_csrf_tag_and_so_a_token(self):
        missing = []
        for path in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("circlekeeper/*/templates/**/*.html")]:
            text = path.read_text()
            for chunk in text.lower().split("<form")[1:]:
                body = chunk.split("</form>")[0]
                if 'method="post"' in body.split(">")[0] and "{% csrf_token %}" not in body:
                    missing.append(str(path.relative_to(ROOT)))
        self.assertEqual(missing, [])

    def test_a_form_that_failed_can_be_sent_again_with_its_token(self):
        self.login(self.alice)
        url = reverse("cases:note_add", args=[self.case.pk])
        token = "t" * 32
        self.assertEqual(self.client.post(url, {"text": "", FIELD: token}).status_code, 400)
        self.assertFalse(
            FormSubmission.objects.filter(token=token).exists(), "a refused submit holds no claim"
        )
        self.assertEqual(self.client.post(url, {"text": "now with text", FIELD: token}).status_code, 302)
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), 1)

    def test_someone_elses_token_gets_a_refusal_not_their_result(self):
        self.login(self.alice)
        url = reverse("cases:note_add", args=[self.case.pk])
        token = "u" * 32
        self.client.post(url, {"text": "mine", FIELD: token})
        self.login(self.ada)
        answer = self.client.post(url, {"text": "theirs", FIELD: token})
        self.assertEqual(answer.status_code, 409)
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), 1)


@unittest.skipUnless(
    connection.vendor == "postgresql",
    "SQLite's in-memory test database shares one cache with table locks and no busy timeout; a real SQLite file "
    "orders the two by BEGIN IMMEDIATE (CI runs this on PostgreSQL)",
)
class SubmittedTwiceAtOnceTests(TransactionTestCase):
    """The same form sent twice at the same moment (a double click): real commits, one connection per thread."""

    def test_two_submits_at_once_make_one_note_and_both_see_it(self):
        harbor = make_organization(name="Harbor", case_prefix="HAR")
        keeper = make_user("keeper@harbor.example", organization=harbor, roles=(Role.KEEPER,))
        case = make_case(harbor, team=((keeper, TeamRole.KEEPER),))
        clients = [self.client_class(), self.client_class()]
        for client in clients:
            sign_in(client, keeper)
        url = reverse("cases:note_add", args=[case.pk])
        data = {"text": "Double-clicked note", FIELD: new_token()}
        start, answers, errors = threading.Barrier(2), [], []

        def submit(client) -> None:
            try:
                start.wait(timeout=20)
                answer = client.post(url, data)
                answers.append((answer.status_code, answer.get("Location", "")))
            except Exception as exc:  # noqa: BLE001 - counted below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=submit, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(CaseNote.objects.filter(case=case).count(), 1)
        self.assertEqual(len(answers), 2)
        self.assertEqual({status for status, _ in answers}, {302})
        self.assertEqual(len({location for _, location in answers}), 1, "both are shown the same note")
