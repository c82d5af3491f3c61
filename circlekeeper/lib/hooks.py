"""Hooks: where a lower app calls functions that apps above it own (ARCHITECTURE.md: imports never point up).

A setting lists the functions by dotted path (e.g. settings.RESPONSE_SUBMITTED_HANDLERS); the lower app calls
`hooks("RESPONSE_SUBMITTED_HANDLERS")` and each function in turn. Imported once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@functools.cache
def hooks(setting: str) -> tuple[Callable[..., Any], ...]:
    return tuple(import_string(path) for path in getattr(settings, setting))
