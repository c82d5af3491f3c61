"""`{% csrf_token %}`, extended: Django's CSRF field and a fresh form token (lib/idempotency.py) beside it.

Registered as a template builtin (settings.TEMPLATES), so it replaces Django's tag in every template: every POST
form carries a token without any template having to remember one.
"""

from __future__ import annotations

from django import template
from django.template.base import Parser, Token
from django.template.context import Context
from django.template.defaulttags import CsrfTokenNode
from django.utils.html import format_html
from django.utils.safestring import SafeString

from circlekeeper.lib.idempotency import FIELD, new_token

register = template.Library()


class CsrfAndFormTokenNode(CsrfTokenNode):
    def render(self, context: Context) -> SafeString | str:
        csrf = super().render(context)
        if not csrf:
            return csrf
        return format_html('{}<input type="hidden" name="{}" value="{}">', csrf, FIELD, new_token())


@register.tag
def csrf_token(parser: Parser, token: Token) -> CsrfAndFormTokenNode:
    return CsrfAndFormTokenNode()
