"""Putting a service's refusal on the form it came from; rendering a form once for all who see the same one."""

from __future__ import annotations

import hashlib
import json

from django import forms
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import get_language

RENDERED_FORM_SECONDS = 600


def add_service_errors(form: forms.Form, exc: ValidationError) -> bool:
    """Each error on its field (or on the form when the field is not on it); True if any named a field.

    A service raises ValidationError({field: message}) for what the person can correct, and a plain one for the
    case's state; views answer 400 for the first and 409 for the second.
    """
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return True
    form.add_error(None, exc)
    return False


def rendered_once(form: forms.Form, template_name: str) -> SafeString:
    """The form rendered by `template_name` (with `form` in its context, and nothing else), taken from the cache
    when the same form was rendered before: same fields, labels and choices, same data, same errors, same
    language. Django renders every option of every select through a template, which on a list page's filter
    form is a quarter of the request (issue 23); the key holds everything the HTML depends on, so a person only
    ever gets the HTML their own form would give (a team's names are in the choices, hence in the key)."""
    fields = [
        (
            name,
            str(field.label),
            str(field.help_text),
            [(str(value), str(label)) for value, label in getattr(field, "choices", ())],
            form.data.getlist(form.add_prefix(name))
            if hasattr(form.data, "getlist")
            else form.data.get(name),
        )
        for name, field in form.fields.items()
    ]
    errors = form.errors.get_json_data() if form.is_bound else None
    described = json.dumps(
        [template_name, get_language(), form.prefix, form.is_bound, fields, errors],
        default=str,
        sort_keys=True,
    )
    key = "rendered-form:" + hashlib.sha256(described.encode()).hexdigest()
    html = cache.get(key)
    if html is None:
        html = render_to_string(template_name, {"form": form})
        cache.set(key, html, RENDERED_FORM_SECONDS)
    # The cache keeps what render_to_string gave, a SafeString (pickled with its type): HTML the template engine
    # escaped. Anything else would be escaped again where it is shown, never trusted.
    return html
