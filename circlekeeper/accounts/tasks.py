"""Background work of the accounts app, run by `manage.py db_worker`."""

from __future__ import annotations

from django_tasks import task

from circlekeeper.accounts import passwords


@task()
def send_reset_link_task(sealed_email: str) -> None:
    """Look the typed address up and email a reset link if an account has it. Returns nothing either way, so the
    task's stored result does not say whether the address had an account."""
    passwords.send_reset_link(passwords.open_email(sealed_email))
