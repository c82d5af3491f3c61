"""Links that leave the site (emails, links handed to participants, calendar feeds) start with settings.PUBLIC_URL:
never with the Host header of whoever made the request, which an attacker could choose."""

from __future__ import annotations

from django.conf import settings


def public_link(path: str) -> str:
    return f"{settings.PUBLIC_URL.rstrip('/')}{path}"
