"""Putting a service's refusal on the form it came from."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


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
