from __future__ import annotations

import re
from unittest import mock

from django.db import OperationalError
from django.test import Client, override_settings
from django.urls import reverse

from circlekeeper.testing import PersonaTestCase


class SecurityHeaderTests(PersonaTestCase):
    def test_every_page_has_a_strict_content_security_policy(self):
        for url in ("/", reverse("accounts:login"), "/no-such-page/"):
            csp = self.client.get(url)["Content-Security-Policy"]
            directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
            self.assertEqual(directives["default-src"], "'none'")
            self.assertEqual(directives["script-src"], "'self'")
            self.assertEqual(directives["style-src"], "'self'")
            self.assertEqual(directives["frame-ancestors"], "'none'")
            self.assertNotIn("unsafe-inline", csp)

    def test_pages_refuse_framing_and_referrers(self):
        response = self.client.get("/")
        self.assertEqual(response["X-Frame-Options"], "DENY")
        # Other sites get no referrer; same-origin keeps the browser's Origin header real for CSRF checks.
        self.assertEqual(response["Referrer-Policy"], "same-origin")
        self.assertIn('<meta name="referrer" content="same-origin">', response.content.decode())
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")

    def test_signed_in_pages_are_never_stored(self):
        self.login(self.alice)
        for url in (
            reverse("dashboard"),
            reverse("cases:list"),
            reverse("cases:detail", args=[self.case.pk]),
        ):
            cache_control = self.client.get(url)["Cache-Control"]
            self.assertIn("no-store", cache_control)
            self.assertIn("private", cache_control)

    def test_no_page_has_inline_script_or_style(self):
        self.login(self.alice)
        for url in (
            "/",
            reverse("dashboard"),
            reverse("cases:list"),
            reverse("cases:detail", args=[self.case.pk]),
        ):
            html = self.client.get(url).content.decode()
            self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)[^>]*>", url)
            self.assertNotIn("<style", html, url)
            self.assertNotRegex(html, r"\sstyle=", url)
            self.assertNotRegex(html, r"\son[a-z]+=", url)

    def test_no_page_loads_anything_from_another_site(self):
        self.login(self.alice)
        for url in ("/", reverse("dashboard"), reverse("cases:list")):
            html = self.client.get(url).content.decode()
            for attribute in re.findall(r'(?:src|href)="([^"]+)"', html):
                if "quick-exit" in attribute:
                    continue
                self.assertFalse(
                    attribute.startswith(("http:", "https:", "//")) and "google" not in attribute, attribute
                )

    @override_settings(HTTPS=True, SECURE_HSTS_SECONDS=31536000, SECURE_SSL_REDIRECT=True)
    def test_https_deployments_send_hsts(self):
        response = self.client.get("/", secure=True)
        self.assertEqual(response["Strict-Transport-Security"], "max-age=31536000")
        self.assertEqual(self.client.get("/").status_code, 301)


class PublicHomeTests(PersonaTestCase):
    def test_the_home_page_explains_the_options_with_a_quick_exit_first(self):
        response = self.client.get("/")
        html = response.content.decode()
        self.assertContains(response, "You choose")
        body = html[html.index("<body") :]
        first_link = re.search(r"<a\b[^>]*>", body).group(0)
        self.assertIn('id="quick-exit"', first_link)
        self.assertContains(response, "does not erase your browser history")
        self.assertContains(response, 'src="/static/js/quick-exit.js"')

    def test_the_404_page_carries_the_quick_exit_first(self):
        # A survivor may land on it from a mistyped or expired link (issue 18).
        for person in (None, self.alice):
            if person:
                self.login(person)
            response = self.client.get("/no-such-page/")
            body = response.content.decode()[response.content.decode().index("<body") :]
            self.assertEqual(response.status_code, 404)
            self.assertIn('id="quick-exit"', re.search(r"<a\b[^>]*>", body).group(0))
            self.assertContains(response, 'src="/static/js/quick-exit.js"', status_code=404)

    def test_staff_pages_do_not_carry_the_public_quick_exit(self):
        self.login(self.alice)
        self.assertNotContains(self.client.get(reverse("dashboard")), 'id="quick-exit"')

    def test_the_page_shell_has_a_skip_link_landmarks_and_one_h1(self):
        self.login(self.alice)
        for url in (
            "/",
            reverse("dashboard"),
            reverse("cases:list"),
            reverse("cases:detail", args=[self.case.pk]),
        ):
            html = self.client.get(url).content.decode()
            self.assertIn('<a class="skip-link" href="#main">', html)
            self.assertIn('<main id="main"', html)
            self.assertIn("<header", html)
            self.assertIn("<footer", html)
            self.assertEqual(html.count("<h1"), 1, url)

    @override_settings(DEMO_MODE=True)
    def test_demo_mode_shows_a_banner_on_every_page(self):
        self.assertContains(self.client.get("/"), "Demo data")
        self.assertContains(self.client.get(reverse("accounts:login")), "Demo data")

    def test_without_demo_mode_there_is_no_banner(self):
        self.assertNotContains(self.client.get("/"), "Demo data")


class ErrorPageTests(PersonaTestCase):
    def test_forbidden_pages_render_in_the_shell(self):
        self.login(self.eve)
        response = self.client.get(reverse("cases:list"))
        self.assertContains(response, "You cannot open this page", status_code=403)
        self.assertContains(response, 'href="#main"', status_code=403)

    def test_server_errors_render_a_plain_page_in_the_shell(self):
        client = Client(raise_request_exception=False)
        with mock.patch("circlekeeper.views.render", side_effect=RuntimeError("boom")):
            response = client.get("/")
        self.assertEqual(response.status_code, 500)
        self.assertContains(response, "Something went wrong", status_code=500)
        self.assertNotContains(response, "boom", status_code=500)

    def test_the_error_pages_say_their_language_and_speak_it(self):
        # A Spanish reader gets every error page in Spanish, and the page says so to their screen reader
        # (the 500 page used to declare lang="en" whatever it said).
        from django.template import loader
        from django.utils import translation

        pages = {
            "500.html": "Algo salió mal",
            "503_busy.html": "Demasiadas personas están entrando a la vez",
            "503_database.html": "El sitio no puede comunicarse con su base de datos",
        }
        for name, heading in pages.items():
            with self.subTest(page=name), translation.override("es"):
                html = loader.get_template(name).render({})
                self.assertIn('<html lang="es">', html)
                self.assertIn(f"<h1>{heading}</h1>", html)
                self.assertIn(f"<title>{heading} · Circlekeeper</title>", html)
                self.assertIn('href="#main"', html)
                self.assertNotIn("Something went wrong", html)


class CsrfTests(PersonaTestCase):
    def test_a_form_posted_without_its_token_is_refused_in_the_shell(self):
        client = Client(enforce_csrf_checks=True)
        response = client.post(
            reverse("accounts:login"), {"username": "alice@harbor.example", "password": "x"}
        )
        self.assertContains(response, "This form has expired", status_code=403)
        self.assertNotIn("<style", response.content.decode())

    def test_a_cross_site_origin_is_refused(self):
        client = Client(enforce_csrf_checks=True)
        page = client.get(reverse("accounts:login"))
        token = page.cookies["csrftoken"].value
        response = client.post(
            reverse("accounts:login"),
            {"username": "alice@harbor.example", "password": "x", "csrfmiddlewaretoken": token},
            HTTP_ORIGIN="https://evil.example",
        )
        self.assertEqual(response.status_code, 403)


class HealthTests(PersonaTestCase):
    def test_it_reports_ok_when_the_database_answers(self):
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 200)
        self.assertEqual((response.json()["status"], response.json()["database"]), ("ok", "ok"))

    def test_it_reports_503_when_the_database_does_not_answer(self):
        with mock.patch("circlekeeper.lib.health.connection.cursor", side_effect=OperationalError("down")):
            response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["database"], "unavailable")


class LanguageTests(PersonaTestCase):
    def test_spanish_is_served_when_chosen(self):
        self.client.post(reverse("set_language"), {"language": "es", "next": "/"})
        response = self.client.get(reverse("accounts:login"))
        self.assertContains(response, '<html lang="es">')
        self.assertContains(response, "Acceso del personal")
