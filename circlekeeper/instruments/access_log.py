"""Gunicorn's access log, without participants' link tokens.

A link is opened once at /s/<token>/ (then the browser moves on to /s/). The access log would still write that
one request line: here the token of every token-carrying URL (lib.redaction: /s/, /p/, calendar feeds,
invitations, password resets) becomes "…" in every atom of the line, so a log file opens nothing.
`scripts/serve.sh` runs gunicorn with `--logger-class circlekeeper.instruments.access_log.RedactingLogger`.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from circlekeeper.lib.redaction import redact


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
