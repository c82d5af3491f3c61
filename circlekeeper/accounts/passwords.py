"""Passwords are their owner's: changed with the current password and second factor, or reset by email.

A reset link is Django's token (it stops working once the password changes, i.e. after one use, and after
PASSWORD_RESET_TIMEOUT: 15 minutes). Asking for one always gives the same answer, whether or not the address has an
account; asking is throttled per address typed and per network address (counted from the audit log, which keeps a
keyed digest of the typed email, never the text). A completed reset ends every session of the person and leaves
their second factor as it was: losing that is a recovery code's job, or a confirmed re-enrolment.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from circlekeeper.accounts.audit import Action, audit, typed_email_digest
from circlekeeper.accounts.models import User, UserSession
from circlekeeper.lib import crypto
from circlekeeper.lib.audit import AuditEvent, Outcome
from circlekeeper.lib.links import public_link

WINDOW = datetime.timedelta(hours=1)


def reset_throttled(*, email: str, ip_address: str) -> bool:
    """Too many reset requests for this typed email, or from this address, in the last hour."""
    since = timezone.now() - WINDOW
    asked = AuditEvent.objects.filter(action=Action.PASSWORD_RESET_REQUEST, occurred_at__gte=since)
    if asked.filter(object_type="typed_email", object_id=typed_email_digest(email)).count() >= (
        settings.PASSWORD_RESET_PER_EMAIL_PER_HOUR
    ):
        return True
    return bool(
        ip_address
        and asked.filter(ip_address=ip_address).count() >= settings.PASSWORD_RESET_PER_ADDRESS_PER_HOUR
    )


def request_reset(request: HttpRequest, email: str, ip_address: str) -> bool:
    """Queue the reset email for this address (sent only if an active account has it). False when throttled."""
    if reset_throttled(email=email, ip_address=ip_address):
        audit(
            request,
            action=Action.PASSWORD_RESET_REQUEST,
            object_type="typed_email",
            object_id=typed_email_digest(email),
            outcome=Outcome.REFUSED,
        )
        return False
    audit(
        request,
        action=Action.PASSWORD_RESET_REQUEST,
        object_type="typed_email",
        object_id=typed_email_digest(email),
    )
    # The same work for every address (issue 19): whether an account has it is looked up by the background task,
    # so the answer takes as long, and runs the same queries, for an unknown address as for a known one.
    sealed = seal_email(email)
    transaction.on_commit(lambda: _enqueue_reset(sealed))
    return True


def _enqueue_reset(sealed: str) -> None:
    from circlekeeper.accounts.tasks import send_reset_link_task

    send_reset_link_task.enqueue(sealed)


# The typed address waits in the task queue's table until the worker takes it: sealed (AES-GCM under a key derived
# from the master key), so that table never holds, in clear, an address someone typed (which may be nobody's).
_SEAL_CONTEXT = crypto.Context(organization_id=0, model="password_reset", field="typed_email", row_id="task")


def _seal_key() -> bytes:
    return hmac.new(
        bytes(settings.MASTER_KEY), b"circlekeeper/password-reset-task/v1", hashlib.sha256
    ).digest()


def seal_email(email: str) -> str:
    token = crypto.encrypt(_seal_key(), 1, email.encode("utf-8"), _SEAL_CONTEXT)
    return base64.urlsafe_b64encode(token).decode("ascii")


def open_email(sealed: str) -> str:
    token = base64.urlsafe_b64decode(sealed.encode("ascii"))
    return crypto.decrypt({1: _seal_key()}, token, _SEAL_CONTEXT).decode("utf-8")


def send_reset_link(email: str) -> bool:
    """Email a reset link if an active account has this address (run by the worker). True when one was sent."""
    user = User.objects.filter(email=email, is_active=True).first()
    if user is None:
        return False
    path = reverse(
        "accounts:password_reset_confirm",
        args=[urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)],
    )
    body = render_to_string(
        "accounts/email/password_reset.txt",
        {"link": public_link(path), "minutes": settings.PASSWORD_RESET_TIMEOUT // 60},
    )
    send_mail(
        _("Reset your Circlekeeper password"),
        body,
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
        fail_silently=False,
    )
    return True


def user_for_reset(uidb64: str, token: str) -> User | None:
    """The person whose valid, unused, unexpired reset link this is."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


@transaction.atomic
def complete_reset(user: User, password: str) -> None:
    """Set the new password and end every session of this person. The second factor stays."""
    user.set_password(password)
    user.save(update_fields=["password"])
    user.end_sessions()


@transaction.atomic
def change_password(request: HttpRequest, user: User, password: str) -> None:
    """Set the new password; this session goes on (under a new key), every other session of the person ends."""
    from django.contrib.auth import update_session_auth_hash

    user.set_password(password)
    user.save(update_fields=["password"])
    update_session_auth_hash(request, user)
    request.session.save()
    UserSession.objects.filter(user_id=user.pk).exclude(session_key=request.session.session_key).delete()


EMAIL_CHANGE_SALT = "circlekeeper.accounts.email-change"
EMAIL_CHANGE_MAX_AGE = 24 * 3600


def request_email_change(user: User, new_email: str) -> None:
    """Send a link to the new address; the address changes only when its owner opens it (within a day, once)."""
    from django.core import signing

    token = signing.dumps(
        {"user": user.pk, "email": new_email, "old": user.email}, salt=EMAIL_CHANGE_SALT, compress=True
    )
    body = render_to_string(
        "accounts/email/email_change.txt",
        {"link": public_link(reverse("accounts:email_confirm", args=[token]))},
    )
    send_mail(
        _("Confirm your new email address"),
        body,
        settings.DEFAULT_FROM_EMAIL,
        [new_email],
        fail_silently=False,
    )


@transaction.atomic
def confirm_email_change(token: str) -> User | None:
    """The account whose address changed, or None for a link that is forged, expired, used or taken meanwhile."""
    from django.core import signing

    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_MAX_AGE)
    except signing.BadSignature:
        return None
    user = User.objects.select_for_update().filter(pk=data.get("user"), email=data.get("old")).first()
    if user is None or User.objects.filter(email=data.get("email")).exists():
        return None  # used once already (the old address no longer matches), or the new one is taken
    user.email = data["email"]
    user.save(update_fields=["email"])
    return user
