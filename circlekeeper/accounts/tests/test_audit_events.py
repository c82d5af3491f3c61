"""Sign-in, sign-out, the second factor and the people admin leave audit events, never the values typed."""

from __future__ import annotations

import datetime

import time_machine
from django.test import override_settings
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from circlekeeper.accounts.audit import typed_email_digest
from circlekeeper.accounts.models import Invitation
from circlekeeper.lib.audit import AuditEvent
from circlekeeper.testing import PASSWORD, PersonaTestCase, audit_log

LOGIN = reverse("accounts:login")
MARKER = "Zq7-planted-marker"
ADDRESS = "203.0.113.77"


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def other_code(device: TOTPDevice) -> str:
    return f"{(int(current_code(device)) + 1) % 1000000:06d}"


def later(*, seconds: int) -> time_machine.travel:
    return time_machine.travel(
        datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=seconds), tick=True
    )


def everything_logged() -> str:
    """Every column of every audit event, as one string to search for leaks."""
    fields = [f.attname for f in AuditEvent._meta.concrete_fields]
    return "\n".join(repr(row) for row in audit_log().values_list(*fields))


class AuditedTestCase(PersonaTestCase):
    def only_event(self, action: str) -> AuditEvent:
        events = list(audit_log().filter(action=action))
        self.assertEqual(len(events), 1, f"expected one {action} event, got {events}")
        return events[0]

    def assert_never_logged(self, *values: str) -> None:
        logged = everything_logged().lower()
        for value in values:
            self.assertNotIn(value.lower(), logged)


class SignInAuditTests(AuditedTestCase):
    def post_login(self, email: str, password: str):
        return self.client.post(
            LOGIN,
            {"username": email, "password": password},
            REMOTE_ADDR=ADDRESS,
            HTTP_USER_AGENT="TestBrowser/1",
        )

    @override_settings(REQUIRE_MFA=False)
    def test_a_sign_in_is_recorded_with_the_person_organization_roles_and_address(self):
        self.post_login("alice@harbor.example", PASSWORD)
        event = self.only_event("login.success")
        self.assertEqual(event.actor_id, self.alice.pk)
        self.assertEqual(event.actor_label, "alice@harbor.example")
        self.assertEqual(event.organization_id, self.harbor.pk)
        self.assertEqual(event.roles, "keeper")
        self.assertEqual(event.outcome, "ok")
        self.assertEqual(event.ip_address, ADDRESS)
        self.assertEqual(event.user_agent, "TestBrowser/1")
        self.assertEqual(event.path, LOGIN)
        self.assert_never_logged(PASSWORD)

    def test_a_failed_sign_in_keeps_neither_the_password_nor_the_email_typed(self):
        typed_email = f"{MARKER}@harbor.example"
        self.post_login(typed_email, f"{MARKER}-password")
        self.post_login("alice@harbor.example", f"{MARKER}-password")
        failures = list(audit_log().filter(action="login.failure").order_by("sequence"))
        self.assertEqual(len(failures), 2)
        for event in failures:
            self.assertIsNone(event.actor_id)
            self.assertIsNone(event.organization_id)
            self.assertEqual(event.outcome, "failed")
            self.assertEqual(event.ip_address, ADDRESS)
            self.assertEqual(event.object_type, "typed_email")
        self.assertEqual(failures[0].object_id, typed_email_digest(typed_email))
        self.assertEqual(failures[1].object_id, typed_email_digest("Alice@Harbor.example "))
        self.assert_never_logged(MARKER, "alice@harbor.example")

    @override_settings(REQUIRE_MFA=False, AXES_FAILURE_LIMIT=3)
    def test_a_lockout_is_recorded_as_refused(self):
        for _ in range(3):
            self.post_login("alice@harbor.example", MARKER)
        response = self.post_login("alice@harbor.example", PASSWORD)
        self.assertEqual(response.status_code, 429)
        locked = audit_log().filter(action="login.locked")
        self.assertTrue(locked.exists())
        self.assertEqual({e.outcome for e in locked}, {"refused"})
        self.assertEqual({e.object_id for e in locked}, {typed_email_digest("alice@harbor.example")})
        self.assertFalse(audit_log().filter(action="login.success").exists())
        self.assert_never_logged(MARKER, PASSWORD)

    def test_signing_out_is_recorded_for_the_person_who_signed_out(self):
        self.login(self.pat)
        self.client.post(reverse("accounts:logout"))
        event = self.only_event("logout")
        self.assertEqual(
            (event.actor_id, event.organization_id, event.roles),
            (self.pat.pk, self.harbor.pk, "program_admin"),
        )


class SecondFactorAuditTests(AuditedTestCase):
    def sign_in_with_password(self) -> None:
        self.assertEqual(
            self.client.post(LOGIN, {"username": "alice@harbor.example", "password": PASSWORD}).status_code,
            302,
        )

    def test_setting_up_the_second_factor_is_recorded_when_it_fails_and_when_it_works(self):
        self.sign_in_with_password()
        self.client.get(reverse("accounts:mfa_setup"))
        device = TOTPDevice.objects.get(user=self.alice, confirmed=False)
        self.client.post(reverse("accounts:mfa_setup"), {"token": other_code(device)})
        failed = self.only_event("mfa.setup")
        self.assertEqual((failed.actor_id, failed.outcome), (self.alice.pk, "failed"))
        with later(seconds=10):
            code = current_code(device)
            self.client.post(reverse("accounts:mfa_setup"), {"token": code})
        outcomes = list(
            audit_log().filter(action="mfa.setup").order_by("sequence").values_list("outcome", flat=True)
        )
        self.assertEqual(outcomes, ["failed", "ok"])
        self.assert_never_logged(code, device.key)

    def test_entering_a_code_is_recorded_when_it_fails_and_when_it_works(self):
        device = TOTPDevice.objects.create(user=self.alice, name="phone", confirmed=True)
        self.sign_in_with_password()
        self.client.post(reverse("accounts:mfa_verify"), {"token": other_code(device)})
        with later(seconds=10):
            code = current_code(device)
            self.client.post(reverse("accounts:mfa_verify"), {"token": code})
        events = list(audit_log().filter(action="mfa.verify").order_by("sequence"))
        self.assertEqual([e.outcome for e in events], ["failed", "ok"])
        self.assertEqual({e.actor_id for e in events}, {self.alice.pk})
        self.assertEqual({e.organization_id for e in events}, {self.harbor.pk})
        self.assert_never_logged(code)


class PeopleAdminAuditTests(AuditedTestCase):
    def test_inviting_changing_and_deactivating_a_person_is_recorded_without_what_was_typed(self):
        self.login(self.pat)
        self.client.post(
            reverse("accounts:member_add"),
            {"email": f"new.keeper@{MARKER.lower()}.example", "roles": ["keeper"]},
        )
        invitation = Invitation.objects.get()
        person = self.bob
        change = reverse("accounts:member_change", args=[person.pk])
        self.client.post(change, {"display_name": f"{MARKER} renamed", "roles": ["keeper", "evaluator"]})
        active = reverse("accounts:member_set_active", args=[person.pk])
        self.client.post(active, {"active": "0"})
        self.client.post(active, {"active": "1"})
        sent = audit_log().get(action="invitation.send")
        self.assertEqual((sent.object_type, sent.object_id), ("invitation", str(invitation.pk)))
        events = list(audit_log().filter(action__startswith="member.").order_by("sequence"))
        self.assertEqual(
            [e.action for e in events],
            ["member.change", "member.deactivate", "member.activate"],
        )
        for event in events:
            self.assertEqual((event.object_type, event.object_id), ("user", str(person.pk)))
        for event in [sent, *events]:
            self.assertEqual((event.actor_id, event.organization_id), (self.pat.pk, self.harbor.pk))
            self.assertEqual((event.roles, event.outcome), ("program_admin", "ok"))
        self.assert_never_logged(MARKER)
        self.assert_never_logged(MARKER.lower())

    def test_a_refused_change_is_not_recorded_as_done(self):
        self.login(self.pat)
        self.client.post(reverse("accounts:member_set_active", args=[self.pat.pk]), {"active": "0"})
        self.assertFalse(audit_log().filter(action__startswith="member.").exists())
