"""Password hashing is bounded per process (issue 20: the site keeps answering during a burst of sign-ins).

The rule, from the issue and lib/password_checks.py: at most PASSWORD_CHECKS_AT_ONCE hashes run at a time in a
process; up to PASSWORD_CHECKS_WAITING more wait their turn (for at most PASSWORD_CHECK_WAIT_SECONDS); any other
is refused at once, and the person gets a clear 503 "too many sign-ins at once" page with Retry-After, never a
500, with nothing saved and no failed sign-in counted against them. Order and refusal are checked with threads
and events, not timings.
"""

from __future__ import annotations

import threading

from axes.models import AccessAttempt
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password
from django.test import SimpleTestCase, override_settings
from django.urls import reverse

from circlekeeper.accounts.audit import Action
from circlekeeper.lib import password_checks
from circlekeeper.lib.password_checks import PasswordChecksBusy
from circlekeeper.testing import PASSWORD, PersonaTestCase, audit_log

BOUNDED = ["circlekeeper.accounts.hashers.BoundedPBKDF2PasswordHasher"]
# A stored hash in the production format (pbkdf2_sha256): with few iterations, so that the test's own checks
# that do run are quick; the hasher hashes with whatever iterations the stored value names.
QUICK_ITERATIONS = 1000


def quick_hash(password: str) -> str:
    return PBKDF2PasswordHasher().encode(password, "testsalt0123456789", QUICK_ITERATIONS)


def wait_until(condition, what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"never happened: {what}")


@override_settings(PASSWORD_CHECKS_AT_ONCE=1, PASSWORD_CHECKS_WAITING=1, PASSWORD_CHECK_WAIT_SECONDS=60)
class TheTurnsTests(SimpleTestCase):
    def test_one_check_runs_one_waits_for_it_and_the_next_is_refused_at_once(self):
        entered: list[str] = []
        refused: list[str] = []
        release_first = threading.Event()
        first_in = threading.Event()

        def check(name: str, hold: threading.Event | None = None) -> None:
            try:
                with password_checks.slot():
                    entered.append(name)
                    if hold is not None:
                        first_in.set()
                        hold.wait(30)
            except PasswordChecksBusy:
                refused.append(name)

        first = threading.Thread(target=check, args=("first", release_first))
        first.start()
        self.assertTrue(first_in.wait(10))
        second = threading.Thread(target=check, args=("second",))
        second.start()
        wait_until(lambda: password_checks._slots.waiting == 1, "the second check waits for its turn")
        self.assertEqual(entered, ["first"], "the second check must not hash while the first does")
        third = threading.Thread(target=check, args=("third",))
        third.start()
        third.join(10)
        self.assertFalse(third.is_alive(), "the third is answered at once, not queued")
        self.assertEqual(refused, ["third"])
        release_first.set()
        first.join(10)
        second.join(10)
        self.assertEqual(entered, ["first", "second"], "the waiting check ran once the first was done")
        self.assertEqual(password_checks._slots.running, 0)

    @override_settings(PASSWORD_CHECKS_AT_ONCE=2, PASSWORD_CHECKS_WAITING=0)
    def test_as_many_run_together_as_the_setting_allows_and_no_more(self):
        barrier = threading.Barrier(3)  # two checks and the test: all meet while both hold a turn
        done = threading.Event()
        entered: list[str] = []

        def check(name: str) -> None:
            with password_checks.slot():
                entered.append(name)
                barrier.wait(10)
                done.wait(10)

        threads = [threading.Thread(target=check, args=(n,)) for n in ("a", "b")]
        for thread in threads:
            thread.start()
        barrier.wait(10)  # both inside at the same time: the bound is 2, not 1
        with self.assertRaises(PasswordChecksBusy), password_checks.slot():
            pass
        done.set()
        for thread in threads:
            thread.join(10)
        self.assertEqual(sorted(entered), ["a", "b"])

    @override_settings(PASSWORD_CHECK_WAIT_SECONDS=1)
    def test_a_waiting_check_gives_up_when_its_wait_is_over(self):
        with password_checks.slot():
            outcome: list[str] = []

            def check() -> None:
                try:
                    with password_checks.slot():
                        outcome.append("ran")
                except PasswordChecksBusy:
                    outcome.append("refused")

            waiter = threading.Thread(target=check)
            waiter.start()
            waiter.join(30)
        self.assertEqual(outcome, ["refused"])
        self.assertEqual(password_checks._slots.waiting, 0)

    @override_settings(PASSWORD_HASHERS=BOUNDED, PASSWORD_CHECKS_WAITING=0)
    def test_the_password_hasher_takes_a_turn_for_every_hash(self):
        stored = quick_hash("right")
        self.assertTrue(check_password("right", stored))
        with password_checks.slot(), self.assertRaises(PasswordChecksBusy):  # every turn is taken
            check_password("right", stored)
        self.assertTrue(check_password("right", stored))

    def test_the_project_hashes_passwords_with_the_bounded_pbkdf2_and_nothing_weaker(self):
        # The settings module itself (the tests swap in a fast hasher through django.conf.settings).
        from circlekeeper import settings as project_settings
        from circlekeeper.accounts.hashers import BoundedPBKDF2PasswordHasher

        self.assertEqual(project_settings.PASSWORD_HASHERS[0], BOUNDED[0])
        self.assertNotIn(
            "django.contrib.auth.hashers.PBKDF2PasswordHasher", project_settings.PASSWORD_HASHERS
        )
        self.assertGreaterEqual(BoundedPBKDF2PasswordHasher.iterations, 1_000_000)


@override_settings(
    PASSWORD_HASHERS=BOUNDED,
    PASSWORD_CHECKS_AT_ONCE=1,
    PASSWORD_CHECKS_WAITING=0,
    REQUIRE_MFA=False,
)
class UnderLoadTests(PersonaTestCase):
    def setUp(self) -> None:
        self.alice.password = quick_hash(PASSWORD)
        self.alice.save(update_fields=["password"])

    def test_a_sign_in_with_no_turn_free_gets_the_busy_page_not_a_500_and_is_no_failure(self):
        events = audit_log().count()
        with password_checks.slot():
            response = self.client.post(
                reverse("accounts:login"), {"username": "alice@harbor.example", "password": PASSWORD}
            )
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response["Retry-After"], str(password_checks.RETRY_AFTER_SECONDS))
        self.assertContains(response, "Too many sign-ins at once", status_code=503)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertFalse(AccessAttempt.objects.exists(), "a refusal under load is not a failed sign-in")
        self.assertFalse(audit_log().filter(action=Action.LOGIN_FAILURE).exists(), "nor audited as one")
        self.assertEqual(audit_log().count(), events)
        # A moment later, with a turn free, the same sign-in works.
        response = self.client.post(
            reverse("accounts:login"), {"username": "alice@harbor.example", "password": PASSWORD}
        )
        self.assertEqual(response.status_code, 302)

    def test_an_unknown_email_gets_the_same_busy_page(self):
        with password_checks.slot():
            response = self.client.post(
                reverse("accounts:login"), {"username": "nobody@harbor.example", "password": PASSWORD}
            )
        self.assertEqual(response.status_code, 503)
        self.assertContains(response, "Too many sign-ins at once", status_code=503)

    def test_a_password_change_under_load_saves_nothing_and_says_try_again(self):
        self.login(self.alice)
        before = self.alice.password
        with password_checks.slot():
            response = self.client.post(
                reverse("accounts:password_change"),
                {
                    "current_password": PASSWORD,
                    "new_password1": "a-new-long-passphrase-2026",
                    "new_password2": "a-new-long-passphrase-2026",
                    "token": "123456",
                },
            )
        self.assertEqual(response.status_code, 503)
        self.assertContains(response, "Too many sign-ins at once", status_code=503)
        self.alice.refresh_from_db()
        self.assertEqual(self.alice.password, before)
