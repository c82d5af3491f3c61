"""SECURITY.md 15b: every URL that carries a token is redacted everywhere it could be written down: the access log,
Django's logs (404, CSRF, errors), audit events, and the Referer other sites would see.

The walk below goes over every URL pattern: a parameter that is not a number nor a known public word (a network's
short name, a dashboard domain) must be a token, and every token URL must come out of the one redaction function
without its token, so a new token URL that the function misses fails here.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
from collections.abc import Iterator

from django.test import Client, RequestFactory, TestCase
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from circlekeeper.lib.audit import record
from circlekeeper.lib.redaction import RedactingFilter, redact
from circlekeeper.testing import audit_log

# The URL parameters that are public words, not secrets.
PUBLIC_WORDS = {"slug", "domain"}
# Written here from the design (SECURITY.md 15b and the issue), not read from the code under test.
SECRET_PARAMETERS = {"token", "uidb64"}
KNOWN_TOKEN_URLS = {
    "links:open",  # a participant's survey link /s/<token>/
    "progress:open",  # the progress page link of the person who caused harm /p/<token>/
    "protocol:calendar_feed",  # a private calendar feed
    "accounts:invitation_open",  # an invitation
    "accounts:password_reset_confirm",  # a password reset link
    "accounts:email_confirm",  # the link confirming a new email address
}


def walk(patterns, namespace: str = "", prefix: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, inner, prefix + str(pattern.pattern))
        else:
            yield f"{namespace}{pattern.name}", prefix + str(pattern.pattern), pattern


def secret_parameters(route: str) -> list[str]:
    """The parameters of a route that may carry a secret: anything not an int and not a public word."""
    found = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", route):
        if converter == "int" or name in PUBLIC_WORDS:
            continue
        found.append(name)
    return found


def token_urls() -> dict[str, str]:
    """Every URL pattern with a secret parameter, built with fresh random values."""
    urls = {}
    for name, route, _pattern in walk(get_resolver().url_patterns):
        names = secret_parameters(route)
        if names:
            urls[name] = reverse(name, kwargs={n: secrets.token_urlsafe(24) for n in names})
    return urls


def values_in(url: str) -> list[str]:
    return [part for part in url.strip("/").split("/") if len(part) >= 16]


class TokenUrlWalkTests(TestCase):
    def test_the_token_urls_are_the_known_ones_and_named_as_tokens(self):
        urls = token_urls()
        self.assertEqual(set(urls), KNOWN_TOKEN_URLS)
        for name, route, _pattern in walk(get_resolver().url_patterns):
            for parameter in secret_parameters(route):
                self.assertIn(parameter, SECRET_PARAMETERS, f"{name}: name its secret parameter as a token")

    def test_every_token_url_is_redacted_in_every_shape_a_log_writes_it(self):
        for name, url in token_urls().items():
            secrets_here = values_in(url.replace(".ics", ""))
            self.assertTrue(secrets_here, name)
            for line in (
                f'127.0.0.1 - - "GET {url} HTTP/1.1" 404 0 "-" "Mozilla"',
                f"Not Found: {url}",
                f"Forbidden (CSRF cookie not set.): {url}",
                f"https://circles.example.org{url}",
                f"/accounts/login/?next={url.replace('/', '%2F')}",
            ):
                out = redact(line)
                for secret in secrets_here:
                    self.assertNotIn(secret, out, f"{name}: {line}")
                    self.assertNotIn(secret[:8], out, f"{name}: {line}")
                self.assertIn("…", out, name)

    def test_other_addresses_are_left_as_they_are(self):
        for line in ("GET /s/live/ HTTP/1.1", "/cases/12/participants/3/", "/n/test-network/impact/", "/s/"):
            self.assertEqual(redact(line), line)

    def test_an_audit_event_keeps_the_path_without_its_token(self):
        for name, url in token_urls().items():
            event = record(RequestFactory().get(url), action="link.open")
            for secret in values_in(url.replace(".ics", "")):
                self.assertNotIn(secret, event.path, name)
        self.assertEqual(audit_log().count(), len(KNOWN_TOKEN_URLS))


class DjangoLogTests(TestCase):
    def capture(self) -> tuple[io.StringIO, list[tuple[logging.Handler, object]]]:
        """Point every handler the settings configured on the root logger at one buffer."""
        buffer = io.StringIO()
        swapped = []
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and any(
                isinstance(f, RedactingFilter) for f in handler.filters
            ):
                swapped.append((handler, handler.setStream(buffer)))
        self.assertTrue(swapped, "no configured log handler redacts")
        return buffer, swapped

    def restore(self, swapped) -> None:
        for handler, stream in swapped:
            handler.setStream(stream)

    def test_every_configured_handler_redacts(self):
        for handler in logging.getLogger().handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue  # the test runner's own capture
            self.assertTrue(any(isinstance(f, RedactingFilter) for f in handler.filters), handler)

    def test_404_and_csrf_warnings_name_the_path_without_its_token(self):
        token = secrets.token_urlsafe(32)
        buffer, swapped = self.capture()
        try:
            self.assertEqual(Client().get(f"/s/{token}/").status_code, 404)
            self.assertEqual(Client().get(f"/p/{token}/").status_code, 404)
            strict = Client(enforce_csrf_checks=True)
            self.assertEqual(strict.post(f"/protocol/calendar/{token}.ics").status_code, 403)
            self.assertEqual(strict.post(f"/accounts/invitation/{token}/").status_code, 403)
        finally:
            self.restore(swapped)
        written = buffer.getvalue()
        self.assertIn("Forbidden", written)
        self.assertIn("/protocol/calendar/….ics", written)
        self.assertNotIn(token, written)
        self.assertNotIn(token[:8], written)

    def test_an_error_logged_with_arguments_is_redacted_too(self):
        token = secrets.token_urlsafe(32)
        buffer, swapped = self.capture()
        try:
            logging.getLogger("django.request").error("Internal Server Error: %s", f"/s/{token}/")
        finally:
            self.restore(swapped)
        self.assertIn("Internal Server Error: /s/…/", buffer.getvalue())
        self.assertNotIn(token, buffer.getvalue())


class RefererTests(TestCase):
    def test_token_pages_send_no_referrer_to_other_sites(self):
        for name, url in token_urls().items():
            response = Client().get(url)
            self.assertIn(response.headers.get("Referrer-Policy"), ("same-origin", "no-referrer"), name)
