"""One transaction per request that may write, none for a read (circlekeeper/lib/requests.py).

Real commits (TransactionTestCase): what a request leaves behind is read after it, outside any transaction.
"""

from __future__ import annotations

from unittest import mock

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import TransactionTestCase, override_settings
from django.urls import include, path, reverse

from circlekeeper.accounts import audit as accounts_audit
from circlekeeper.accounts.models import Role
from circlekeeper.cases.models import CaseNote, TeamRole
from circlekeeper.lib.requests import AtomicUnsafeRequestsMiddleware
from circlekeeper.testing import PASSWORD, audit_log, make_case, make_organization, make_user, sign_in

STATE: dict[str, object] = {}


def _write_note_then(outcome: str):
    def view(request: HttpRequest) -> HttpResponse:
        STATE["in_transaction"] = connection.in_atomic_block
        case = STATE["case"]
        CaseNote.objects.create(
            organization_id=case.organization_id, case=case, author=request.user, text="x"
        )
        if outcome == "refuse":
            raise PermissionDenied
        return HttpResponse("ok")

    return view


@transaction.non_atomic_requests
def _non_atomic(request: HttpRequest) -> HttpResponse:
    STATE["in_transaction"] = connection.in_atomic_block
    return HttpResponse("ok")


urlpatterns = [
    path("write/", _write_note_then("answer")),
    path("write-then-refuse/", _write_note_then("refuse")),
    path("non-atomic/", _non_atomic),
    path("", include("circlekeeper.urls")),  # the error pages link to the project's own
]
handler403 = "circlekeeper.views.error_403"


class RequestTransactionTests(TransactionTestCase):
    def setUp(self) -> None:
        harbor = make_organization(name="Harbor", case_prefix="HAR")
        self.keeper = make_user("keeper@harbor.example", organization=harbor, roles=(Role.KEEPER,))
        self.case = make_case(harbor, team=((self.keeper, TeamRole.KEEPER),))
        STATE.clear()
        STATE["case"] = self.case
        sign_in(self.client, self.keeper)

    def test_the_middleware_is_last_and_request_transactions_are_its_alone(self):
        self.assertEqual(settings.MIDDLEWARE[-1], "circlekeeper.lib.requests.AtomicUnsafeRequestsMiddleware")
        self.assertFalse(settings.DATABASES["default"]["ATOMIC_REQUESTS"])

    @override_settings(ROOT_URLCONF=__name__)
    def test_a_post_runs_in_one_transaction_and_commits_when_it_answers(self):
        self.assertEqual(self.client.post("/write/").status_code, 200)
        self.assertIs(STATE["in_transaction"], True)
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), 1)

    @override_settings(ROOT_URLCONF=__name__)
    def test_a_post_that_raises_leaves_nothing_behind(self):
        self.assertEqual(self.client.post("/write-then-refuse/").status_code, 403)
        self.assertEqual(CaseNote.objects.filter(case=self.case).count(), 0)
        # The refusal handler ran after the rollback, so its own event stayed.
        self.assertTrue(audit_log().filter(action="access.refused").exists())

    @override_settings(ROOT_URLCONF=__name__)
    def test_a_get_runs_outside_any_transaction(self):
        self.assertEqual(self.client.get("/write/").status_code, 200)
        self.assertIs(STATE["in_transaction"], False)

    @override_settings(ROOT_URLCONF=__name__)
    def test_a_view_marked_non_atomic_is_left_alone_even_for_a_post(self):
        self.assertEqual(self.client.post("/non-atomic/").status_code, 200)
        self.assertIs(STATE["in_transaction"], False)

    def test_a_page_records_its_read_in_a_transaction_of_its_own_that_ends_before_the_page_is_built(self):
        """The audit chain head is locked only while the event is appended, not while the page renders: the
        pages of two people no longer wait for each other (issue 10, pages under load). Since issue 23 a read
        is a pending event (one INSERT, no head lock at all), written in autocommit before the page is built."""
        seen: list[tuple[bool, bool]] = []
        original = accounts_audit.record_pending

        def spy(*args, **kwargs):
            before = connection.in_atomic_block
            event = original(*args, **kwargs)
            seen.append((before, connection.in_atomic_block))
            return event

        with mock.patch.object(accounts_audit, "record_pending", spy):
            response = self.client.get(reverse("cases:detail", args=[self.case.pk]))
        self.assertEqual(response.status_code, 200)
        self.assertTrue(seen, "the case page records that it was read")
        self.assertEqual(set(seen), {(False, False)})
        self.assertTrue(transaction.get_autocommit())

    def test_the_middleware_calls_an_unsafe_view_inside_atomic(self):
        calls = []
        middleware = AtomicUnsafeRequestsMiddleware(lambda request: HttpResponse())

        def view(request):
            calls.append(connection.in_atomic_block)
            return HttpResponse("done")

        request = HttpRequest()
        request.method = "DELETE"
        self.assertEqual(middleware.process_view(request, view, (), {}).content, b"done")
        request.method = "GET"
        self.assertIsNone(middleware.process_view(request, view, (), {}))
        self.assertEqual(calls, [True])


class CpuHeavyStepsOutsideTheWriteTransactionTests(TransactionTestCase):
    """Issue 20: a password hash (~0.2 s of PBKDF2) or a file's parsing never runs while a transaction is open.

    On SQLite every transaction starts with BEGIN IMMEDIATE and holds the database's one write lock until it
    ends: a burst of sign-ins inside the write lock made every other writer (and the worker) time out.
    """

    def setUp(self) -> None:
        self.harbor = make_organization(name="Harbor", case_prefix="HAR")
        self.keeper = make_user("keeper@harbor.example", organization=self.harbor, roles=(Role.KEEPER,))
        self.seen: list[bool] = []

    def _spy_on(self, target, attribute):
        original = getattr(target, attribute)
        seen = self.seen

        def spy(*args, **kwargs):
            seen.append(connection.in_atomic_block)
            return original(*args, **kwargs)

        return mock.patch.object(target, attribute, spy)

    def test_signing_in_checks_the_password_with_no_transaction_open_and_writes_after(self):
        from django.contrib.auth.base_user import AbstractBaseUser

        with self._spy_on(AbstractBaseUser, "check_password"):
            answer = self.client.post(
                reverse("accounts:login"), {"username": "keeper@harbor.example", "password": PASSWORD}
            )
        self.assertEqual(answer.status_code, 302)
        self.assertEqual(self.seen, [False])
        self.assertEqual(int(self.client.session["_auth_user_id"]), self.keeper.pk)
        self.assertTrue(audit_log().filter(action="login.success", actor_id=self.keeper.pk))

    def test_a_wrong_password_is_checked_with_no_transaction_open_and_its_failure_is_recorded(self):
        from django.contrib.auth.base_user import AbstractBaseUser

        with self._spy_on(AbstractBaseUser, "check_password"):
            answer = self.client.post(
                reverse("accounts:login"), {"username": "keeper@harbor.example", "password": "not it at all"}
            )
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(self.seen, [False])
        self.assertTrue(audit_log().filter(action="login.failure"))

    def test_confirming_the_password_again_checks_it_with_no_transaction_open(self):
        from django.contrib.auth.base_user import AbstractBaseUser

        sign_in(self.client, self.keeper)
        with self._spy_on(AbstractBaseUser, "check_password"):
            answer = self.client.post(
                reverse("accounts:reauthenticate"), {"password": PASSWORD, "token": "000000"}
            )
        self.assertEqual(answer.status_code, 400)  # the code is wrong; both are always checked
        self.assertEqual(self.seen, [False])
        self.assertTrue(audit_log().filter(action="auth.reauthentication_failure"))

    def test_an_imported_file_is_read_with_no_transaction_open_and_saved_with_its_event(self):
        from circlekeeper.instruments import importing
        from circlekeeper.instruments.models import InstrumentVersion
        from circlekeeper.instruments.tests.test_instrument_pages import dictionary_file

        admin = make_user("pat@harbor.example", organization=self.harbor, roles=(Role.PROGRAM_ADMIN,))
        sign_in(self.client, admin)
        upload = dictionary_file("record_id,intake,,text,Record ID,,,,,,,,,,,,,\n")
        with self._spy_on(importing, "read_dictionary"):
            page = self.client.post(
                reverse("instruments:instrument_import"),
                {"source": "redcap", "language": "en", "code": "", "title": "Intake", "file": upload},
            )
        self.assertEqual(page.status_code, 200)
        self.assertEqual(self.seen, [False])
        version = InstrumentVersion.objects.get()
        self.assertTrue(audit_log().filter(action="instrument.import", object_id=str(version.pk)))

    def test_sqlite_waits_for_the_write_lock_long_enough_for_a_burst(self):
        if connection.vendor != "sqlite":
            self.assertEqual(connection.vendor, "postgresql")  # row locks wait as long as they must there
            return
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            (milliseconds,) = cursor.fetchone()
        # 200 sign-ins' writes at a few ms each queue for well under this; 5 s was what timed out (issue 20).
        self.assertGreaterEqual(milliseconds, 20_000)
