from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from circlekeeper.accounts.access import staff_context


def shell(request: HttpRequest) -> dict[str, Any]:
    """What the page shell needs on every page: demo banner, quick exit, the signed-in person's context."""
    return {
        "demo_mode": settings.DEMO_MODE,
        "quick_exit_url": settings.QUICK_EXIT_URL,
        "staff": staff_context(request) if hasattr(request, "user") else None,
    }
