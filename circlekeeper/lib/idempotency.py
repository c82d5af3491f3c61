"""Every create is idempotent, by one mechanism (issue 20 item 3; SECURITY.md 24): a form token.

Each form carries a fresh random token: the project's `{% csrf_token %}` (lib/templatetags/form_tokens.py, a
template builtin) renders Django's CSRF field and a `form_token` field beside it, so every POST form in every
template has one, with no form able to forget it. In the request's own transaction
(lib/requests.AtomicUnsafeRequestsMiddleware), before the view runs, the token is claimed: a `FormSubmission`
row whose primary key is the token.

- The first submit claims it and the view runs. If the view answers with a redirect (the pattern of every
  successful create here: post, redirect, get) the row keeps where it redirected to and commits with the
  work; if not (a form error, a refusal) the claim is dropped, so the corrected form can be sent.
  A create that answers with a page instead (a participant's link, whose address is shown once) names where a
  repeat goes with `remember_result`.
- A second submit of the same form (a double click, a retry, the back button) finds the row and is sent to
  where the first went, with a message: the first result, shown again. Nothing is created twice.
- Two submits at the same moment: on PostgreSQL the second insert of the same key waits for the first
  transaction and then fails on the primary key (read the row, answer as above); on SQLite the write lock
  taken at BEGIN IMMEDIATE orders them. Either way exactly one runs the view.

A token is bound to whoever sent it first (the signed-in person, or none on a participant's link): someone
else's copy gets a refusal, never the other's result. Rows older than a day are deleted as new ones are made.
"""

from __future__ import annotations

import datetime
import re
import secrets
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils import timezone
from django.utils.translation import gettext as _

FIELD = "form_token"
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
KEEP_FOR = datetime.timedelta(days=1)
_RESULT = "_circlekeeper_form_result"


class FormSubmission(models.Model):
    token = models.CharField(max_length=64, primary_key=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    # Where the first submit was sent: a path on this site ("" while the first submit is still running).
    location = models.CharField(max_length=2000, blank=True)

    class Meta:
        app_label = "lib"
        indexes = [models.Index(fields=["submitted_at"], name="lib_formsub_time")]

    def __str__(self) -> str:
        return f"form {self.token[:8]}… → {self.location or '(running)'}"


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 bits


def token_of(request: HttpRequest) -> str:
    if request.method != "POST":
        return ""
    value = request.POST.get(FIELD, "")
    return value if _SHAPE.match(value) else ""


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def claim(request: HttpRequest, token: str) -> HttpResponseBase | None:
    """Claim the token for this request (None: go on and run the view), or the answer to a repeat."""
    now = timezone.now()
    try:
        with transaction.atomic():
            FormSubmission.objects.create(token=token, user_id=_user_id(request), submitted_at=now)
    except IntegrityError:
        first = FormSubmission.objects.filter(token=token).first()
        if first is None:  # the first submit failed and let go of it meanwhile: this one runs
            FormSubmission.objects.create(token=token, user_id=_user_id(request), submitted_at=now)
            return None
        return repeat(request, first)
    _forget_old(now)
    return None


def _forget_old(now: datetime.datetime) -> None:
    # Rows another request is deleting are skipped, so two requests never wait on each other here.
    old = FormSubmission.objects.filter(submitted_at__lt=now - KEEP_FOR).select_for_update(skip_locked=True)
    stale = list(old.values_list("pk", flat=True)[:200])
    if stale:
        FormSubmission.objects.filter(pk__in=stale).delete()


def repeat(request: HttpRequest, first: FormSubmission) -> HttpResponseBase:
    if first.user_id != _user_id(request):
        return HttpResponse(_("This form was sent by someone else. Open the page again."), status=409)
    if not first.location:
        return HttpResponse(_("This form is being saved. Wait a moment, then reload the page."), status=409)
    messages.info(
        request, _("This form had already been sent: here is what it saved. Nothing was saved twice.")
    )
    return HttpResponseRedirect(first.location)


def _refused(request: HttpRequest) -> bool:
    """A view that refuses and redirects says why in a warning or error message: that is no result to repeat."""
    queued = getattr(getattr(request, "_messages", None), "_queued_messages", [])
    return any(message.level >= messages.WARNING for message in queued)


def remember_result(request: HttpRequest, location: str) -> None:
    """For a create that answers with a page rather than a redirect (a link's address, shown once): where a
    repeat of the form is sent instead."""
    setattr(request, _RESULT, location)


def settle(request: HttpRequest, token: str, response: HttpResponseBase) -> None:
    """Keep the claim with where the first submit went when it succeeded (a redirect); drop it when not."""
    location = ""
    if 300 <= response.status_code < 400 and not _refused(request):
        location = response.get("Location", "")
    elif response.status_code == 200:
        location = getattr(request, _RESULT, "")
    if location:
        FormSubmission.objects.filter(token=token).update(location=location[:2000])
    else:
        FormSubmission.objects.filter(token=token).delete()


def changes_nothing(view: Any) -> Any:
    """Mark a POST view that only answers (an htmx redraw of a form as it is being filled in) and saves nothing:
    it claims no form token. It is sent the form's fields, its token among them, while the person is still
    answering; had it claimed the token, the form's own submit a moment later ("Save and continue" right after
    the last answer changed) would be told "this form is being saved" while the redraw ran."""
    view.changes_nothing = True
    return view


def run_once(request: HttpRequest, view: Any) -> HttpResponseBase:
    """Run `view()` at most once per form token; called inside the request's transaction."""
    token = token_of(request)
    if not token:
        return view()
    answer = claim(request, token)
    if answer is not None:
        return answer
    response = view()
    settle(request, token, response)
    return response
