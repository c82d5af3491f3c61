"""Gunicorn's access log, without participants' link tokens.

A link is opened once at /s/<token>/ (then the browser moves on to /s/). The access log would still write that
one request line: here the token becomes "…" in every atom of the line, so a log file opens no questionnaire.
`scripts/serve.sh` runs gunicorn with `--logger-class circlekeeper.instruments.access_log.RedactingLogger`.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# /s/ followed by anything longer than the page names there (live/, review/, done/): a token, real or forged.
_TOKEN = re.compile(r"((?:^|\s|://[^/\s]+)/s/)[^/?#\s\"]{8,}")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1…", text)


class RedactingLogger(Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
