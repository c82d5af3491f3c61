"""One redaction for every URL that carries a token (SECURITY.md 15b), wherever a URL could be written down.

A URL pattern carries a token when one of its parameters is named in TOKEN_PARAMETERS. `redact` finds every such
pattern in a text (a log line, a path, a Referer) and puts "…" where the token was; the patterns come from the URL
configuration itself, so a new token URL is redacted the day it is added. It is applied to gunicorn's access log
(instruments.access_log), to every Django log record (RedactingFilter, on every handler in settings.LOGGING: the
404 and CSRF warnings and error reports), and to the path kept in audit events (lib.audit.record). Browsers send
no Referer to other sites (Referrer-Policy: same-origin), and the token pages that show anything move their token
into the session and redirect to a page without it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

# Parameters whose values are secrets (a link's token) or name a person in a secret link (the reset link's user).
TOKEN_PARAMETERS = frozenset({"token", "uidb64"})
REDACTED = "…"
_SEPARATOR = r"(?:/|%2[fF])"
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^()]*)\)")


def _strip(regex: str) -> str:
    return regex.removeprefix("^").removesuffix(r"\Z").removesuffix("$")


def _walk(patterns: list, prefix: str) -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        here = prefix + _strip(pattern.pattern.regex.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, here)
        else:
            yield here, pattern


def token_patterns() -> list[tuple[str, str]]:
    """(route regex, name) of every URL pattern with a token parameter."""
    found = []
    for regex, pattern in _walk(get_resolver().url_patterns, ""):
        names = set(re.findall(r"\(\?P<(\w+)>", regex))
        if names & TOKEN_PARAMETERS:
            found.append((regex, pattern.name or regex))
    return found


def _searchable(regex: str) -> str:
    """A route regex made to find the route inside any text: after a slash, with encoded slashes, tokens captured."""
    parts = [_SEPARATOR]
    last = 0
    secrets = 0
    for match in _GROUP.finditer(regex):
        parts.append(regex[last : match.start()].replace("/", _SEPARATOR))
        if match.group("name") in TOKEN_PARAMETERS:
            secrets += 1
            # A token is long; shorter words there are the pages that follow a link (/s/live/), not secrets.
            length = "{8,}" if match.group("name") == "token" else "+"
            parts.append(rf"(?P<secret{secrets}>[^/\s?#&\"'%]{length})")
        else:
            parts.append(r"[^/\s?#&\"']+")
        last = match.end()
    parts.append(regex[last:].replace("/", _SEPARATOR))
    return "".join(parts)


@functools.cache
def _compiled() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(_searchable(regex)) for regex, _name in token_patterns())


def redact(text: str) -> str:
    """The text with the token of every token-carrying URL in it replaced by "…"."""
    if not text:
        return text
    for pattern in _compiled():
        text = pattern.sub(_blank_secrets, text)
    return text


def _blank_secrets(match: re.Match[str]) -> str:
    whole = match.group(0)
    start = match.start()
    pieces = []
    last = 0
    for name, value in match.groupdict().items():
        if name.startswith("secret") and value is not None:
            s, e = match.span(name)
            pieces.append(whole[last : s - start])
            pieces.append(REDACTED)
            last = e - start
    pieces.append(whole[last:])
    return "".join(pieces)


class RedactingFilter(logging.Filter):
    """On every log handler: the record's message, with its arguments put in, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
