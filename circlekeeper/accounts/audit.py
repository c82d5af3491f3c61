"""The apps' door to the audit log: one call per event, with the signed-in person's organization and roles.

Reads (READ_ACTIONS: opening a page that changes nothing) go to lib.audit.record_pending, without the chain
head's lock, and are sealed into the chain within seconds; everything else (every change, sign-ins, refusals,
exports, downloads, prints, look-ups) is appended to the chain at once by lib.audit.record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axes.helpers import get_client_ip_address
from django.db import models
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.access import staff_context
from circlekeeper.accounts.models import Role, normalize_email
from circlekeeper.lib.audit import AuditEvent, Outcome, PendingAuditEvent, record, record_pending


class Action(models.TextChoices):
    LOGIN_SUCCESS = "login.success", _("Signed in")
    LOGIN_FAILURE = "login.failure", _("Sign-in failed")
    LOGIN_LOCKED = "login.locked", _("Sign-in locked after too many tries")
    LOGOUT = "logout", _("Signed out")
    MFA_SETUP = "mfa.setup", _("Two-factor setup")
    MFA_VERIFY = "mfa.verify", _("Two-factor code")
    ACCESS_REFUSED = "access.refused", _("Access refused")
    FORM_REFUSED = "form.refused", _("Form refused (expired or from another site)")
    CASE_LIST = "case.list", _("Opened the case list")
    CASE_VIEW = "case.view", _("Opened a case")
    CASE_OPEN = "case.open", _("Opened a new referral")
    INTAKE_VIEW = "case.intake.view", _("Opened a case's intake")
    INTAKE_SAVE = "case.intake.save", _("Recorded or changed a case's intake")
    ENTERED_IN_ERROR = "case.entered_in_error", _("Marked a record as entered in error")
    CASE_REOPEN = "protocol.reopen", _("Reopened a case")
    MEMBER_ADD = "member.add", _("Added a person")
    MEMBER_CHANGE = "member.change", _("Changed a person's name or roles")
    INVITATION_SEND = "invitation.send", _("Invited a person")
    INVITATION_WITHDRAW = "invitation.withdraw", _("Withdrew an invitation")
    INVITATION_ACCEPT = "invitation.accept", _("Accepted an invitation")
    ACCOUNT_CREATE = "account.create", _("Made their account from an invitation")
    ACCOUNT_CHANGE = "account.change", _("Changed their own name")
    PASSWORD_CHANGE = "password.change", _("Changed their password")
    PASSWORD_RESET_REQUEST = "password.reset_request", _("Asked for a password reset link")
    PASSWORD_RESET = "password.reset", _("Reset their password by email")
    PASSKEY_ADD = "passkey.add", _("Added a passkey")
    PASSKEY_RENAME = "passkey.rename", _("Renamed a passkey")
    PASSKEY_REMOVE = "passkey.remove", _("Removed a passkey")
    MFA_RESET_REQUEST = "mfa.reset_request", _("Started the re-enrolment of a person's second factor")
    MFA_RESET_CONFIRM = "mfa.reset_confirm", _("Confirmed the re-enrolment of a person's second factor")
    MEMBER_ACTIVATE = "member.activate", _("Reactivated a person")
    MEMBER_DEACTIVATE = "member.deactivate", _("Deactivated a person")
    AUDIT_VIEW = "audit.view", _("Opened the audit log")
    ORGANIZATION_SHRED = "organization.shred", _("Destroyed the organization's keys (crypto-shredding)")
    NOTE_ADD = "case.note.add", _("Added a case note")
    PARTICIPANT_ADD = "participant.add", _("Added a participant")
    RELEASE_ADD = "release.add", _("Recorded a release of information")
    RELEASE_REVOKE = "release.revoke", _("Revoked a release of information")
    DISCLOSURE_COMPELLED = "disclosure.compelled", _("Recorded a compelled disclosure")
    TASK_DONE = "task.done", _("Completed a task")
    RETENTION_PURGE = "retention.purge", _("Erased what the retention rules say")
    RETENTION_CHANGE = "retention.change", _("Changed the retention rules")
    CONTACT_AGREEMENT = "participant.contact", _("Recorded whether a participant agreed to be contacted")
    LINK_ISSUE = "link.issue", _("Issued a survey link")
    LINK_REVOKE = "link.revoke", _("Revoked a survey link")
    RESPONSE_START = "response.start", _("Started entering answers on a participant's behalf")
    RESPONSE_SAVE = "response.save", _("Saved answers to a questionnaire")
    RESPONSE_SUBMIT = "response.submit", _("Submitted a questionnaire")
    RESPONSE_VIEW = "response.view", _("Opened a questionnaire response")
    INSTRUMENT_IMPORT = "instrument.import", _("Imported an instrument")
    PARTICIPANT_VIEW = "participant.view", _("Opened a participant's details")
    DETAILS_CHANGE = "participant.details", _("Changed a participant's identifying details")
    KNOWN_LOOKUP = "participant.lookup", _("Looked up whether a person is already known")
    CONSENT_ADD = "consent.add", _("Recorded a consent")
    CONSENT_WITHDRAW = "consent.withdraw", _("Recorded a withdrawal of consent")
    CONTACT_RULES_CHANGE = "contact.rules", _("Changed safe-contact rules")
    TRACK_CHOOSE = "track.choose", _("Recorded the survivor's choice of track")
    SAFETY_VIEW = "safety.view", _("Opened a case's safety page")
    CHECK_START = "safety.check.start", _("Started a safety check")
    VIOLENCE_REPORT = "safety.violence", _("Reported new violence")
    HOLD_LIFT = "safety.hold.lift", _("Lifted a safety hold")
    ALERT_ACK = "safety.alert.ack", _("Acknowledged a safety alert")
    PLAN_VIEW = "safety.plan.view", _("Opened a safety plan")
    PLAN_SAVE = "safety.plan.save", _("Saved a safety plan")
    PLAN_REVIEW = "safety.plan.review", _("Recorded a safety plan review")
    PLAN_PRINT = "safety.plan.print", _("Printed a safety plan")
    SAFETY_DASHBOARD = "safety.dashboard", _("Opened the dashboard with the team's safety lists")
    RISK_INSTRUMENT_CHANGE = "safety.instrument", _("Changed which instruments give risk levels")
    STAGE_VIEW = "protocol.view", _("Opened a case's stage and next steps")
    STAGE_ADVANCE = "protocol.advance", _("Moved a case to its next stage")
    CASE_WITHDRAW = "protocol.withdraw", _("Recorded the survivor's withdrawal")
    CASE_REFER_OUT = "protocol.refer_out", _("Referred a case out")
    REACH_OUT_RECORD = "protocol.reach_out", _("Recorded that the other side reached out themselves")
    REACH_OUT_LIST = "protocol.reach_out.list", _("Opened the contacts the other side made themselves")
    JOINT_APPROVE = "protocol.approve", _("Approved a joint dialogue")
    MEETING_LIST = "meeting.list", _("Opened a case's meetings")
    MEETING_SCHEDULE = "meeting.schedule", _("Scheduled a meeting")
    MEETING_VIEW = "meeting.view", _("Opened a meeting")
    MEETING_CHECK = "meeting.check", _("Recorded a meeting safety check-in or check-out")
    MEETING_HELD = "meeting.held", _("Recorded a meeting as held")
    MEETING_CANCEL = "meeting.cancel", _("Cancelled a meeting")
    ACKNOWLEDGMENT_ADD = "meeting.acknowledgment", _("Recorded an acknowledgment of responsibility")
    CALENDAR_TOKEN = "calendar.token", _("Made or stopped a private calendar feed")
    CALENDAR_FEED = "calendar.feed", _("A private calendar feed was read")
    TIMELINE_VIEW = "timeline.view", _("Opened a case's timeline")
    AGREEMENT_VIEW = "agreement.view", _("Opened an agreement")
    AGREEMENT_DRAFT = "agreement.draft", _("Drafted an agreement version")
    AGREEMENT_AFFIRM = "agreement.affirm", _("Recorded a party's affirmation of an agreement")
    AGREEMENT_PRINT = "agreement.print", _("Printed an agreement")
    COMMITMENT_CHECKIN = "commitment.checkin", _("Recorded progress on a commitment")
    STAIRCASE_STEP = "staircase.step", _("Recorded a staircase step")
    PROGRESS_LINK_ISSUE = "progress_link.issue", _("Issued a progress page link")
    PROGRESS_LINK_REVOKE = "progress_link.revoke", _("Revoked a progress page link")
    PROGRESS_LINK_OPEN = "progress_link.open", _("A participant opened their progress page")
    POD_VIEW = "pod.view", _("Opened the support networks")
    POD_EDIT = "pod.edit", _("Changed a support network")
    OUTCOME_IMPORT = "outcome.import", _("Imported external outcomes")
    EVALUATION_REPORT = "evaluation.report", _("Ran an evaluation report")
    EVALUATION_PLAN_CHANGE = "evaluation.plan", _("Changed an evaluation plan")
    EVALUATION_ENROL = "evaluation.enrol", _("Enrolled a case in an evaluation, or ended its enrolment")
    EVALUATION_SCHEDULE_VIEW = "evaluation.schedule_view", _("Opened a case's evaluation timepoints")
    EVALUATION_LINK = "evaluation.link", _("Issued an evaluation questionnaire link")
    EVALUATION_DASHBOARD_VIEW = "evaluation.dashboard", _("Opened an evaluation dashboard")
    EVALUATION_DATA_VIEW = "evaluation.data", _("Opened the de-identified evaluation data")
    EVALUATION_EXPORT = "evaluation.export", _("Exported evaluation data")
    REDCAP_RECORDS_IMPORT = "redcap.records", _("Imported REDCap records as responses")
    REAUTHENTICATED = "auth.reauthenticated", _("Confirmed their identity again")
    REAUTHENTICATION_FAILURE = "auth.reauthentication_failure", _("Failed to confirm their identity again")
    COMMUNITY_EVENT_VIEW = "community.event.view", _("Opened a community event or training")
    COMMUNITY_EVENT_SAVE = "community.event.save", _("Recorded or changed a community event or training")
    FACILITATOR_VIEW = "community.facilitator.view", _("Opened the facilitator roster or a facilitator")
    FACILITATOR_SAVE = "community.facilitator.save", _("Added or changed a community facilitator")
    SUPERVISION_NOTES_VIEW = "community.supervision.view", _("Read a facilitator's supervision notes")
    SUPERVISION_NOTE_ADD = "community.supervision.add", _("Added a supervision note")
    TRAINING_RECORD = "community.training", _("Recorded a facilitator's part in a training")
    READINESS_CHANGE = "community.readiness", _("Changed what a facilitator needs before a dialogue")
    FACILITATOR_TEAM = "community.team", _("Added or removed a community facilitator on a case team")
    FUNDER_REPORT = "community.funder_report", _("Opened or downloaded a funder report")
    DIRECTORY_SAVE = "community.directory.save", _("Saved a draft of a directory entry")
    DIRECTORY_SUBMIT = "community.directory.submit", _("Sent a directory entry for approval")
    DIRECTORY_REVIEW = "community.directory.review", _("Approved or returned a directory entry")
    IMPACT_DECISION = (
        "community.impact.decision",
        _("Decided whether to show results on the public impact page"),
    )
    POOL_DECISION = "community.pool.decision", _("Decided whether to join the network's pooled data")
    HUB_VIEW = "community.hub.view", _("Opened the network hub")
    NETWORK_SETTINGS = "community.network.settings", _("Changed a network's settings")
    API_TOKEN_CREATE = "api.token.create", _("Made an API token")
    API_TOKEN_REVOKE = "api.token.revoke", _("Revoked an API token")
    API_CALL = "api.call", _("Called the API with a token")


# Page views that change nothing. Not here, so chained at once: every change; sign-in and account events;
# refusals (any action whose outcome is not OK is chained too); exports and downloads (evaluation.export, the
# funder report "opened or downloaded", the calendar feed, API calls, evaluation reports); prints
# (safety.plan.print, agreement.print); and participant.lookup, a search for whether a person is known.
READ_ACTIONS = frozenset(
    {
        Action.CASE_LIST,
        Action.CASE_VIEW,
        Action.INTAKE_VIEW,
        Action.AUDIT_VIEW,
        Action.RESPONSE_VIEW,
        Action.PARTICIPANT_VIEW,
        Action.SAFETY_VIEW,
        Action.PLAN_VIEW,
        Action.SAFETY_DASHBOARD,
        Action.STAGE_VIEW,
        Action.REACH_OUT_LIST,
        Action.MEETING_LIST,
        Action.MEETING_VIEW,
        Action.TIMELINE_VIEW,
        Action.AGREEMENT_VIEW,
        Action.PROGRESS_LINK_OPEN,
        Action.POD_VIEW,
        Action.EVALUATION_SCHEDULE_VIEW,
        Action.EVALUATION_DASHBOARD_VIEW,
        Action.EVALUATION_DATA_VIEW,
        Action.COMMUNITY_EVENT_VIEW,
        Action.FACILITATOR_VIEW,
        Action.SUPERVISION_NOTES_VIEW,
        Action.HUB_VIEW,
    }
)


def is_read(action: str, outcome: str = Outcome.OK) -> bool:
    """Whether an event is a read, recorded pending rather than chained at once."""
    return outcome == Outcome.OK and action in READ_ACTIONS


def record_event(request: HttpRequest | None, **kwargs: Any) -> AuditEvent | PendingAuditEvent:
    """lib.audit.record, or record_pending for a read (same arguments)."""
    if is_read(kwargs["action"], kwargs.get("outcome", Outcome.OK)):
        return record_pending(request, **kwargs)
    return record(request, **kwargs)


OBJECT_TYPES = {
    "case": _("Case"),
    "user": _("Person"),
    "invitation": _("Invitation"),
    "typed_email": _("Typed email (digest)"),
    "lookup": _("Kinds of identifier looked up"),
    "participant": _("Participant"),
    "release": _("Release of information"),
    "task": _("Task"),
    "purge": _("Purge"),
    "retention_policy": _("Retention rules"),
    "participant_link": _("Survey link"),
    "response": _("Questionnaire response"),
    "instrument_version": _("Instrument version"),
    "consent": _("Consent"),
    "intake": _("Intake"),
    "note": _("Note"),
    "contact_rules": _("Safe-contact rules"),
    "track_choice": _("Choice of track"),
    "safety_hold": _("Safety hold"),
    "safety_alert": _("Safety alert"),
    "safety_plan": _("Safety plan"),
    "risk_instrument": _("Risk instrument"),
    "meeting": _("Meeting"),
    "transition": _("Stage transition"),
    "approval": _("Joint-dialogue approval"),
    "calendar": _("Calendar feed"),
    "agreement": _("Agreement"),
    "commitment": _("Commitment"),
    "staircase_step": _("Staircase step"),
    "progress_link": _("Progress page link"),
    "pod_member": _("Support network member"),
    "import_batch": _("Outcome import"),
    "evaluation_report": _("Evaluation report"),
    "community_event": _("Community event or training"),
    "facilitator": _("Community facilitator"),
    "supervision_note": _("Supervision note"),
    "training_record": _("Training record"),
    "readiness_requirement": _("Readiness requirement"),
    "funder_report": _("Funder report"),
    "directory_entry": _("Directory entry"),
    "impact_decision": _("Public impact decision"),
    "pool_decision": _("Pooled data decision"),
    "network": _("Network"),
    "evaluation_plan": _("Evaluation plan"),
    "plan_timepoint": _("Evaluation plan timepoint"),
    "enrollment": _("Evaluation enrolment"),
    "timepoint": _("Evaluation timepoint"),
    "due_list": _("Evaluation questionnaires due"),
    "instrument": _("Questionnaire"),
    "evaluation_export": _("Evaluation export"),
    "api_token": _("API token"),
    "redcap_records": _("REDCap records import"),
    "evaluation_dashboard": _("Evaluation dashboard"),
    "organization": _("Organization"),
}


def audit(
    request: HttpRequest,
    *,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    outcome: str = Outcome.OK,
    actor: Any = None,
) -> AuditEvent | PendingAuditEvent:
    """Record one event for this request, in the signed-in person's active organization with their roles there.

    A read (READ_ACTIONS) is recorded pending, the rest chained at once (the module's text)."""
    context = staff_context(request) if hasattr(request, "user") else None
    return record_event(
        request,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        organization_id=context.organization.pk if context and context.organization else None,
        roles=context.roles if context else (),
        actor=actor,
        # The address the sign-in throttle sees, so that the two always agree (proxies included).
        ip_address=get_client_ip_address(request) or "",
    )


def typed_email_digest(email: str) -> str:
    """A keyed digest of the email typed into a failed sign-in, never the text itself.

    The text may be a mistyped password, or the address of someone who is not staff. The digest still lets
    an investigation count repeated tries on one name (and, holding the server's key, test a given address).
    """
    return salted_hmac(
        "circlekeeper.audit.typed-email", normalize_email(email), algorithm="sha256"
    ).hexdigest()[:32]


def audit_sign_in_failure(
    request: HttpRequest, email: str, *, action: str = Action.LOGIN_FAILURE
) -> AuditEvent | PendingAuditEvent:
    outcome = Outcome.REFUSED if action == Action.LOGIN_LOCKED else Outcome.FAILED
    digest = typed_email_digest(email) if email else ""
    return audit(
        request, action=action, object_type="typed_email" if digest else "", object_id=digest, outcome=outcome
    )


def audit_refusal(
    request: HttpRequest, *, action: str = Action.ACCESS_REFUSED
) -> AuditEvent | PendingAuditEvent:
    """A refused request (403, 404, failed CSRF check), naming the object when the URL names exactly one."""
    match = getattr(request, "resolver_match", None)
    kwargs = match.kwargs if match else {}
    ids = [(key.removesuffix("_id"), value) for key, value in kwargs.items() if key.endswith("_id")]
    object_type, object_id = ids[0] if len(ids) == 1 else ("", "")
    return audit(
        request, action=action, object_type=object_type, object_id=object_id, outcome=Outcome.REFUSED
    )


@dataclass(frozen=True)
class EventRow:
    """One event as the audit page shows it: codes turned into words, nothing fetched per row."""

    event: AuditEvent
    action: str
    roles: str
    object_type: str


def describe(event: AuditEvent) -> EventRow:
    role_labels = dict(Role.choices)
    return EventRow(
        event=event,
        action=str(dict(Action.choices).get(event.action, event.action)),
        roles=", ".join(str(role_labels.get(role, role)) for role in event.roles.split(",") if role),
        object_type=str(OBJECT_TYPES.get(event.object_type, event.object_type)),
    )
