"""The access matrix: every URL of the project × every persona × own case / other case / other organization.

A URL that is not listed in MATRIX makes `test_every_url_is_in_the_matrix` fail, so no new view can skip
its access rules. Each row says, for one URL, what each persona gets (SECURITY.md 11).
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from circlekeeper.accountability.models import Agreement, AgreementVersion, Commitment, ProgressLink
from circlekeeper.accounts.models import Membership, User
from circlekeeper.api import services as api_services
from circlekeeper.cases.models import CaseNote, CaseTask, ReleaseOfInformation, TrackChoice
from circlekeeper.community.models import CommunityEvent, DirectoryEntry, Facilitator, ReadinessRequirement
from circlekeeper.evaluation.models import Enrollment, EvaluationPlan, PlanTimepoint, Timepoint
from circlekeeper.evaluation.scheduling import default_network_plan_for
from circlekeeper.instruments.builtins import load_builtins
from circlekeeper.instruments.links import issue_link
from circlekeeper.instruments.models import Response, Source
from circlekeeper.instruments.services import save_version
from circlekeeper.instruments.tests.helpers import make_definition
from circlekeeper.protocol.services import schedule_meeting
from circlekeeper.safety.models import RiskInstrument
from circlekeeper.safety.services import open_hold, save_plan
from circlekeeper.support.models import PodMember, PodTie
from circlekeeper.testing import PersonaTestCase, make_participant, sign_in

SIGNED_IN = ("alice", "ada", "sam", "bob", "charlie", "eve", "pat", "nora")
CASE_TEAM = ("alice", "ada", "sam")
CASE_WORKERS = ("alice", "ada", "sam", "bob", "charlie")
EVERYONE = (*SIGNED_IN, "anonymous")
# URLs whose objects belong to a case (own case, another team's, another organization's).
CASE_URLS = (
    "cases:",
    "instruments:",
    "safety:",
    "protocol:",
    "accountability:",
    "support:",
    "evaluation:case_",
    "evaluation:timepoint_entry",
    "community:case_",
)
# Safety URLs that name no case (a program admin's settings).
NOT_CASE_URLS = (
    "safety:risk_instruments",
    "safety:risk_instrument_delete",
    "protocol:calendar",
    "protocol:calendar_feed",
)
# Extra fields a crafted POST might add; every endpoint must ignore them.
SMUGGLED = {
    "organization": "{valley}",
    "organization_id": "{valley}",
    "role": "network_admin",
    "is_superuser": "1",
}


@dataclass
class Row:
    """One URL: how to build it for an object, which method, and the status each persona gets."""

    method: str = "get"
    # Object kinds this URL takes: "none", or "own" / "other" / "other_org" (a case, or a person).
    objects: tuple[str, ...] = ("none",)
    # status[(persona, object)] -> expected status; built by the helpers below.
    status: Callable[[str, str], int] = lambda persona, obj: 200
    data: dict[str, str] = field(default_factory=dict)
    # Path arguments of a URL that names no object (a participant's link token).
    kwargs: dict[str, str] = field(default_factory=dict)


def public(code: int = 200) -> Callable[[str, str], int]:
    return lambda persona, obj: code


def signed_in(
    ok: int = 200, allowed: tuple[str, ...] = SIGNED_IN, denied: int = 403
) -> Callable[[str, str], int]:
    def status(persona: str, obj: str) -> int:
        if persona == "anonymous":
            return 302
        return ok if persona in allowed else denied

    return status


def case_object(ok: int = 200) -> Callable[[str, str], int]:
    owners = {"own": CASE_TEAM, "other": ("bob",), "other_org": ("charlie",)}

    def status(persona: str, obj: str) -> int:
        if persona == "anonymous":
            return 302
        return ok if persona in owners[obj] else 404

    return status


def team_role_object(ok: int, roles: tuple[str, ...]) -> Callable[[str, str], int]:
    """Like case_object, but only these personas among the team may act; the rest of the team gets 403."""
    team_status = case_object(ok)

    def status(persona: str, obj: str) -> int:
        code = team_status(persona, obj)
        return 403 if persona != "anonymous" and code == ok and persona not in roles else code

    return status


def member_object(ok: int = 200) -> Callable[[str, str], int]:
    def status(persona: str, obj: str) -> int:
        if persona == "anonymous":
            return 302
        if persona != "pat":
            return 403
        return ok if obj == "own" else 404

    return status


HARBOR_STAFF = ("alice", "ada", "sam", "bob", "pat")
# Community URLs naming an organization's object, and the argument that names it.
COMMUNITY_OBJECTS = {
    "community:event_detail": "event_id",
    "community:event_edit": "event_id",
    "community:training_record": "event_id",
    "community:facilitator_detail": "facilitator_id",
    "community:facilitator_edit": "facilitator_id",
    "community:supervision_note_add": "facilitator_id",
    "community:readiness_remove": "requirement_id",
}


def org_object(ok: int, allowed: tuple[str, ...]) -> Callable[[str, str], int]:
    """An organization's object (an event, a facilitator): staff of another organization get 404, the
    roles not allowed 403, evaluators and network admins 403 before anything is looked up."""

    def status(persona: str, obj: str) -> int:
        if persona == "anonymous":
            return 302
        if persona in ("eve", "nora"):
            return 403
        own_org = "other_org" if persona == "charlie" else "own"
        if obj != own_org:
            return 404
        return ok if persona in allowed else 403

    return status


def harbor_admin_object(ok: int, allowed: tuple[str, ...]) -> Callable[[str, str], int]:
    """A Harbor roster object: only these roles, and only their own organization's (404 for another's)."""

    def status(persona: str, obj: str) -> int:
        if persona == "anonymous":
            return 302
        if persona not in allowed:
            return 403
        return ok if obj == "own" else 404

    return status


def case_supervisor_object(ok: int) -> Callable[[str, str], int]:
    """Only the case's supervisor (Sam, on the own case's team); 404 for other cases; 403 for other roles."""

    def status(persona: str, obj: str) -> int:
        if persona == "anonymous":
            return 302
        if persona != "sam":
            return 403
        return ok if obj == "own" else 404

    return status


MATRIX: dict[str, Row] = {
    "home": Row(status=public()),
    "healthz": Row(status=public()),
    "set_language": Row(method="post", status=public(302), data={"language": "es", "next": "/"}),
    "dashboard": Row(status=signed_in()),
    "accounts:login": Row(status=lambda persona, obj: 200 if persona == "anonymous" else 302),
    "accounts:logout": Row(method="post", status=public(302)),
    "accounts:mfa_setup": Row(status=signed_in()),
    "accounts:mfa_verify": Row(status=signed_in()),
    "accounts:switch_organization": Row(
        method="post",
        status=lambda persona, obj: {"anonymous": 302, "nora": 404}.get(persona, 302),
        data={"organization": "{own_org_of_persona}"},
    ),
    "accounts:member_list": Row(status=signed_in(allowed=("pat",))),
    "accounts:member_add": Row(status=signed_in(allowed=("pat",))),
    "accounts:member_change": Row(objects=("own", "other_org"), status=member_object()),
    "accounts:member_set_active": Row(
        method="post", objects=("own", "other_org"), status=member_object(302), data={"active": "1"}
    ),
    "accounts:member_second_factor": Row(
        method="post", objects=("own", "other_org"), status=member_object(302), data={"step": "confirm"}
    ),
    "accounts:audit": Row(status=signed_in(allowed=("pat",))),
    # Crypto-shredding: the program admin only, who confirms who they are first (302 to re-authenticate).
    "accounts:shred_organization": Row(status=signed_in(302, allowed=("pat",))),
    # A person's own account (issue 19): every signed-in person has one; invitation and reset pages open only
    # with a valid token (a forged one, or none in the session, is a 404 for everyone).
    "accounts:invitation_withdraw": Row(
        method="post",
        status=lambda persona, obj: {"anonymous": 302, "pat": 404}.get(persona, 403),
        kwargs={"invitation_id": "999999"},
    ),
    "accounts:invitation": Row(status=public(404)),
    "accounts:invitation_open": Row(status=public(404), kwargs={"token": "forged-" + "x" * 36}),
    "accounts:account": Row(status=signed_in()),
    "accounts:password_change": Row(status=signed_in()),
    "accounts:email_change": Row(status=signed_in()),
    # Passkeys: the list asks for a fresh re-authentication first (302 to it); renaming or removing a passkey
    # that is not one's own is a 404 (none of these ids is anybody's). The JSON ceremonies answer 403 to anyone
    # not signed in (never passwordless) and to anyone not freshly re-authenticated (adding); completing a
    # sign-in that was never begun is a 400.
    "accounts:passkeys": Row(status=signed_in(ok=302)),
    "accounts:passkey_rename": Row(
        method="post", status=signed_in(ok=404), kwargs={"passkey_id": "999999"}, data={"name": "x"}
    ),
    "accounts:passkey_remove": Row(method="post", status=signed_in(ok=404), kwargs={"passkey_id": "999999"}),
    "otp_webauthn:credential-registration-begin": Row(method="post", status=public(403)),
    "otp_webauthn:credential-registration-complete": Row(method="post", status=public(403)),
    "otp_webauthn:credential-authentication-begin": Row(
        method="post", status=lambda persona, obj: 403 if persona == "anonymous" else 200
    ),
    "otp_webauthn:credential-authentication-complete": Row(
        method="post", status=lambda persona, obj: 403 if persona == "anonymous" else 400
    ),
    "otp_webauthn:js-i18n-catalog": Row(status=public()),
    "accounts:email_confirm": Row(status=public(404), kwargs={"token": "forged-" + "x" * 36}),
    "accounts:password_reset": Row(status=public()),
    "accounts:password_reset_set": Row(status=public(404)),
    "accounts:password_reset_confirm": Row(
        status=public(404), kwargs={"uidb64": "MQ", "token": "forged-" + "x" * 32}
    ),
    "cases:list": Row(status=signed_in(allowed=CASE_WORKERS)),
    "cases:referral_new": Row(status=signed_in(allowed=CASE_WORKERS)),
    "cases:intake": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:detail": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:retention": Row(status=signed_in(allowed=("pat",))),
    "cases:note_add": Row(
        method="post",
        objects=("own", "other", "other_org"),
        status=case_object(302),
        data={"text": "met at noon"},
    ),
    "cases:participant_add": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:release_add": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:compelled_add": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:release_revoke": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302)
    ),
    "cases:task_done": Row(method="post", objects=("own", "other", "other_org"), status=case_object(302)),
    "cases:known": Row(status=signed_in(allowed=CASE_WORKERS)),
    "cases:participant_detail": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:participant_details": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:consent_add": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:consent_withdraw": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302), data={"how": "oral"}
    ),
    "cases:contact_rules": Row(objects=("own", "other", "other_org"), status=case_object()),
    "cases:track_choice": Row(objects=("own", "other", "other_org"), status=case_object()),
    "safety:case": Row(objects=("own", "other", "other_org"), status=case_object()),
    "safety:check_start": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302), data={"kind": "full"}
    ),
    "safety:report_violence": Row(objects=("own", "other", "other_org"), status=case_object()),
    # Only a supervisor on the team lifts a hold; the rest of the team is refused (Bob and Charlie are keepers).
    "safety:hold_lift": Row(objects=("own", "other", "other_org"), status=team_role_object(200, ("sam",))),
    # The case's supervisor and safety advocate acknowledge its alerts, never a keeper.
    "safety:alert_ack": Row(
        method="post", objects=("own", "other", "other_org"), status=team_role_object(302, ("sam", "ada"))
    ),
    "safety:plan": Row(objects=("own", "other", "other_org"), status=case_object()),
    "safety:plan_edit": Row(objects=("own", "other", "other_org"), status=case_object()),
    "safety:plan_review": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302), data={"revision": "1"}
    ),
    "safety:plan_history": Row(objects=("own", "other", "other_org"), status=case_object()),
    "safety:plan_revision": Row(objects=("own", "other", "other_org"), status=case_object()),
    "safety:plan_print": Row(objects=("own", "other", "other_org"), status=case_object()),
    "safety:risk_instruments": Row(status=signed_in(allowed=("pat",))),
    "safety:risk_instrument_delete": Row(
        method="post", objects=("own", "other_org"), status=member_object(302)
    ),
    "protocol:case": Row(objects=("own", "other", "other_org"), status=case_object()),
    # Without htmx the fragment sends the browser to the protocol page.
    "protocol:checklist": Row(objects=("own", "other", "other_org"), status=case_object(302)),
    # An empty form (no stage it was sent from): refused, nothing moves.
    "protocol:advance": Row(method="post", objects=("own", "other", "other_org"), status=case_object(400)),
    "protocol:withdraw": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:refer_out": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:approve": Row(objects=("own", "other", "other_org"), status=team_role_object(200, ("sam",))),
    "protocol:meetings": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:meeting": Row(objects=("own", "other", "other_org"), status=case_object()),
    # Empty forms: refused as incomplete (400), never written.
    "protocol:meeting_check": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(400)
    ),
    "protocol:meeting_held": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(400)
    ),
    "protocol:acknowledge": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(400)
    ),
    "protocol:meeting_cancel": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302)
    ),
    "protocol:timeline": Row(objects=("own", "other", "other_org"), status=case_object()),
    # The other side reached out themselves (issue 17): the case team reads and records; a POST is checked the
    # same way in protocol/tests/test_reach_out.py (another team's 404, nothing written).
    "protocol:reach_out": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:timeline_more": Row(objects=("own", "other", "other_org"), status=case_object()),
    # Correcting mistakes: confirmation pages for the team; reopening for the case's supervisor only.
    "protocol:participant_error": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:consent_error": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:meeting_error": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:note_error": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:choice_error": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:plan_revision_error": Row(objects=("own", "other", "other_org"), status=case_object()),
    "protocol:reopen": Row(objects=("own", "other", "other_org"), status=team_role_object(200, ("sam",))),
    "protocol:calendar": Row(status=signed_in(allowed=CASE_WORKERS)),
    "protocol:calendar_feed": Row(status=public(404), kwargs={"token": "forged-" + "x" * 36}),
    "instruments:instrument_list": Row(status=signed_in(allowed=("pat",))),
    "instruments:instrument_import": Row(status=signed_in(allowed=("pat",))),
    # Own: a version the organization may use; other_org: one another organization imported.
    "instruments:version_detail": Row(objects=("own", "other_org"), status=member_object()),
    "instruments:case_questionnaires": Row(objects=("own", "other", "other_org"), status=case_object()),
    "instruments:link_issue": Row(objects=("own", "other", "other_org"), status=case_object()),
    "instruments:link_revoke": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302)
    ),
    "instruments:response_start": Row(objects=("own", "other", "other_org"), status=case_object()),
    "instruments:response_detail": Row(objects=("own", "other", "other_org"), status=case_object()),
    "instruments:response_answer": Row(objects=("own", "other", "other_org"), status=case_object()),
    "instruments:response_live": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(), data={"section": "0"}
    ),
    "instruments:response_review": Row(objects=("own", "other", "other_org"), status=case_object()),
    # A participant's link pages: a forged token, or no link opened in this session, gives the same 404 to all.
    "links:open": Row(status=public(404), kwargs={"token": "forged-" + "x" * 36}),
    "links:page": Row(status=public(404)),
    "links:live": Row(method="post", status=public(404), data={"section": "0"}),
    "links:review": Row(status=public(404)),
    "links:done": Row(status=public(200)),
    # The form for a code read out in person: anyone may open it; a wrong code is the same 404 as a wrong link.
    "links:code": Row(status=public(200)),
    "support:pods": Row(objects=("own", "other", "other_org"), status=case_object()),
    "support:map": Row(objects=("own", "other", "other_org"), status=case_object()),
    "support:member_add": Row(objects=("own", "other", "other_org"), status=case_object()),
    "support:member_edit": Row(objects=("own", "other", "other_org"), status=case_object()),
    # Empty forms: refused as incomplete (400), never written.
    "support:tie_add": Row(method="post", objects=("own", "other", "other_org"), status=case_object(400)),
    "support:tie_remove": Row(method="post", objects=("own", "other", "other_org"), status=case_object(302)),
    "accountability:agreement": Row(objects=("own", "other", "other_org"), status=case_object()),
    "accountability:version": Row(objects=("own", "other", "other_org"), status=case_object()),
    "accountability:print": Row(objects=("own", "other", "other_org"), status=case_object()),
    "accountability:draft": Row(objects=("own", "other", "other_org"), status=case_object()),
    "accountability:commitment_add": Row(objects=("own", "other", "other_org"), status=case_object()),
    "accountability:commitment_edit": Row(objects=("own", "other", "other_org"), status=case_object()),
    "accountability:commitment_remove": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302)
    ),
    "accountability:checkin": Row(objects=("own", "other", "other_org"), status=case_object()),
    "accountability:affirm": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(400)
    ),
    "accountability:step": Row(objects=("own", "other", "other_org"), status=case_object()),
    # The person who caused harm's own progress link: these cases are on hold, so it is refused (409), not made.
    "accountability:progress_link_issue": Row(
        method="post",
        objects=("own", "other", "other_org"),
        status=case_object(409),
        data={"channel": "email"},
    ),
    "accountability:progress_link_revoke": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302)
    ),
    # Evaluation plans are the program admin's; a case's timepoints are its team's (evaluators are on no team).
    "evaluation:plan": Row(status=signed_in(allowed=("pat",))),
    "evaluation:plan_timepoint_add": Row(status=signed_in(allowed=("pat",))),
    "evaluation:plan_timepoint_edit": Row(objects=("own", "other_org"), status=member_object()),
    "evaluation:plan_timepoint_retire": Row(
        method="post", objects=("own", "other_org"), status=member_object(302)
    ),
    # The network's shared plan: its network admins.
    "evaluation:network_plan": Row(status=signed_in(allowed=("nora",)), kwargs={"slug": "test-network"}),
    "evaluation:network_plan_timepoint_add": Row(
        status=signed_in(allowed=("nora",)), kwargs={"slug": "test-network"}
    ),
    "evaluation:network_plan_timepoint_edit": Row(objects=("own",), status=signed_in(allowed=("nora",))),
    "evaluation:network_plan_timepoint_retire": Row(
        method="post", objects=("own",), status=signed_in(302, allowed=("nora",))
    ),
    "evaluation:due": Row(status=signed_in(allowed=CASE_WORKERS)),
    "evaluation:case_schedule": Row(objects=("own", "other", "other_org"), status=case_object()),
    # Keepers and supervisors on the team enrol a case; enrolling needs a plan and a date: an empty form is
    # refused (400), never written.
    "evaluation:case_enrol": Row(
        method="post",
        objects=("own", "other", "other_org"),
        status=team_role_object(400, ("alice", "sam", "bob", "charlie")),
    ),
    "evaluation:case_enrolment_end": Row(
        method="post",
        objects=("own", "other", "other_org"),
        status=team_role_object(302, ("alice", "sam", "bob", "charlie")),
    ),
    "evaluation:timepoint_entry": Row(
        method="post", objects=("own", "other", "other_org"), status=case_object(302)
    ),
    # The network's public pages: open to everyone, signed in or not; an unknown network is a 404.
    "public:directory": Row(status=public(), kwargs={"slug": "test-network"}),
    "public:impact": Row(status=public(), kwargs={"slug": "test-network"}),
    # A program admin's own directory entry and sharing decisions; an empty decision is refused (400).
    "community:directory_edit": Row(status=signed_in(allowed=("pat",))),
    "community:directory_submit": Row(method="post", status=signed_in(302, allowed=("pat",))),
    "community:sharing": Row(status=signed_in(allowed=("pat",))),
    "community:impact_decide": Row(method="post", status=signed_in(400, allowed=("pat",))),
    "community:pool_decide": Row(method="post", status=signed_in(400, allowed=("pat",))),
    # The network hub: the network's admins and its organizations' evaluators; approvals: its admins only.
    "community:hub": Row(status=signed_in(allowed=("nora", "eve")), kwargs={"slug": "test-network"}),
    "community:directory_review_list": Row(
        status=signed_in(allowed=("nora",)), kwargs={"slug": "test-network"}
    ),
    "community:network_threshold": Row(
        method="post", status=signed_in(400, allowed=("nora",)), kwargs={"slug": "test-network"}
    ),
    "community:directory_review": Row(objects=("own",), status=signed_in(allowed=("nora",))),
    # Confirming one's identity again (before exports): anyone signed in.
    "accounts:reauthenticate": Row(status=signed_in()),
    # De-identified rows are for evaluators only; exports also ask them to confirm who they are first (302).
    "evaluation:deidentified_data": Row(status=signed_in(allowed=("eve",))),
    "evaluation:exports": Row(status=signed_in(302, allowed=("eve",))),
    # The REDCap-compatible API: a session grants nothing (a token does), and plain HTTP is refused first.
    "api:redcap": Row(method="post", status=public(403), data={"content": "record", "format": "json"}),
    "redcap_api": Row(method="post", status=public(403), data={"content": "record", "format": "json"}),
    "api:tokens": Row(status=signed_in(allowed=("eve", "nora"))),
    # Eve's token: she revokes it; a network admin (who holds tokens too) finds no such token of hers.
    "api:revoke": Row(
        method="post",
        objects=("own",),
        status=lambda persona, obj: {"anonymous": 302, "eve": 302, "nora": 404}.get(persona, 403),
    ),
    # The results API: a session grants nothing, plain HTTP is refused; its description is public.
    "api:v1_index": Row(status=public(403)),
    "api:v1_dashboard": Row(status=public(403), kwargs={"domain": "safety"}),
    "api:v1_schema": Row(status=public()),
    "api:v1_docs": Row(status=public()),
    # Community events: the organization's case staff and program admins record them; evaluators never.
    "community:event_list": Row(status=signed_in(allowed=(*HARBOR_STAFF, "charlie"))),
    "community:event_add": Row(status=signed_in(allowed=(*HARBOR_STAFF, "charlie"))),
    "community:event_detail": Row(
        objects=("own", "other_org"), status=org_object(200, (*HARBOR_STAFF, "charlie"))
    ),
    "community:event_edit": Row(
        objects=("own", "other_org"), status=org_object(200, (*HARBOR_STAFF, "charlie"))
    ),
    # Recording someone's training: supervisors and program admins; an empty form is refused (400).
    "community:training_record": Row(
        method="post", objects=("own", "other_org"), status=org_object(400, ("sam", "pat"))
    ),
    # The facilitator roster: program admins keep it, supervisors read it and write supervision notes.
    "community:facilitator_list": Row(status=signed_in(allowed=("sam", "pat"))),
    "community:facilitator_add": Row(status=signed_in(allowed=("pat",))),
    "community:facilitator_detail": Row(
        objects=("own", "other_org"), status=harbor_admin_object(200, ("sam", "pat"))
    ),
    "community:facilitator_edit": Row(objects=("own", "other_org"), status=member_object()),
    "community:supervision_note_add": Row(
        method="post", objects=("own", "other_org"), status=harbor_admin_object(400, ("sam", "pat"))
    ),
    "community:readiness": Row(status=signed_in(allowed=("sam", "pat"))),
    "community:readiness_remove": Row(method="post", objects=("own", "other_org"), status=member_object(302)),
    # Only the case's supervisor puts a facilitator on its team or takes them off.
    "community:case_facilitators": Row(
        objects=("own", "other", "other_org"), status=case_supervisor_object(200)
    ),
    "community:case_facilitator_remove": Row(
        method="post", objects=("own", "other", "other_org"), status=case_supervisor_object(302)
    ),
    "community:funder_report": Row(status=signed_in(allowed=("sam", "pat", "eve"))),
    # A file leaving the system: confirm who you are first (the export guard's re-authentication).
    "community:funder_report_csv": Row(status=signed_in(302, allowed=("sam", "pat", "eve"))),
    # Aggregates (suppressed): the organization's evaluators, program admins and supervisors; a network's:
    # its admins and its organizations' evaluators.
    "evaluation:dashboard": Row(status=signed_in(allowed=("eve", "pat", "sam"))),
    "evaluation:dashboard_domain": Row(
        status=signed_in(allowed=("eve", "pat", "sam")), kwargs={"domain": "safety"}
    ),
    # A published analysis as a reproducibility bundle: de-identified rows, so the organization's evaluators
    # only, after confirming who they are (the export guard); no network has one (reports to a network are
    # aggregate only).
    "evaluation:dashboard_bundle": Row(
        status=signed_in(302, allowed=("eve",)), kwargs={"domain": "recurrence", "section": "0"}
    ),
    "evaluation:network_dashboard": Row(
        status=signed_in(allowed=("eve", "nora")), kwargs={"slug": "test-network"}
    ),
    "evaluation:network_dashboard_domain": Row(
        status=signed_in(allowed=("eve", "nora")), kwargs={"slug": "test-network", "domain": "retention"}
    ),
    # The participant's progress pages: a forged token, or no link opened in this session: the same 404 for all.
    "progress:open": Row(status=public(404), kwargs={"token": "forged-" + "x" * 36}),
    "progress:page": Row(status=public(404)),
}


def all_url_names() -> set[str]:
    def walk(patterns: list[Any], namespace: str) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern):
                assert pattern.name, f"every URL needs a name to be in the access matrix: {pattern.pattern}"
                yield f"{namespace}{pattern.name}"

    return set(walk(get_resolver().url_patterns, ""))


class AccessMatrixTests(PersonaTestCase):
    maxDiff = None
    children: dict[str, dict[str, int]]
    risk_instruments: dict[str, int]

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        # Each case gets a participant, a release and a task, so URLs naming them can be tried across cases.
        cls.children = {}
        # Ids of URLs whose argument names are shared with other objects (participant_id, link_id).
        cls.harm_ids: dict[str, int] = {}
        cls.progress_links: dict[str, int] = {}
        cls.plan_timepoints: dict[str, int] = {}
        cls.network_plan_timepoint = default_network_plan_for(cls.network).timepoints.get(code="T3").pk
        cls.directory_entry = DirectoryEntry.objects.create(organization=cls.harbor, status="submitted").pk
        cls.api_token = api_services.create_token(cls.eve, organization=cls.harbor, name="Matrix")[0].pk
        cls.community_ids: dict[str, dict[str, int]] = {
            "event_id": {},
            "facilitator_id": {},
            "requirement_id": {},
        }
        for obj, organization, author in (
            ("own", cls.harbor, cls.pat),
            ("other_org", cls.valley, cls.charlie),
        ):
            cls.community_ids["event_id"][obj] = CommunityEvent.objects.create(
                organization=organization,
                kind="keeper_training",
                title="Keeper training",
                date=datetime.date(2026, 2, 1),
                language="en",
                hours=6,
                competencies=["circle_keeping"],
                created_by=author,
            ).pk
            cls.community_ids["facilitator_id"][obj] = Facilitator.objects.create(
                organization=organization, name="Volunteer V", role="volunteer_keeper"
            ).pk
            cls.community_ids["requirement_id"][obj] = ReadinessRequirement.objects.create(
                organization=organization, competency="circle_keeping", minimum_hours=4
            ).pk
        plans: dict[int, EvaluationPlan] = {}
        shared, _new = save_version(definition=make_definition(), source=Source.MANUAL, owner=None)
        valleys, _new = save_version(
            definition=make_definition(code="valley"), source=Source.MANUAL, owner=cls.valley
        )
        cls.versions = {"own": shared.pk, "other_org": valleys.pk}
        load_builtins()  # the safety check, which safety:check_start starts
        cls.risk_instruments = {
            obj: RiskInstrument.objects.create(
                organization=organization,
                instrument=instrument,
                band="risk",
                level_map={"low": "low", "high": "high"},
                created_by=cls.pat,
            ).pk
            for obj, organization, instrument in (
                (
                    "own",
                    cls.harbor,
                    save_version(
                        definition=make_definition(code="harbor_licensed"),
                        source=Source.MANUAL,
                        owner=cls.harbor,
                    )[0].instrument,
                ),
                ("other_org", cls.valley, valleys.instrument),
            )
        }
        for obj, case in (("own", cls.case), ("other", cls.other_team_case), ("other_org", cls.valley_case)):
            participant = make_participant(case, role="survivor", label="Survivor A")
            consent = participant.consents.get(kind="contact")
            hold = open_hold(case=case, reason="new_violence", by=cls.alice, details="Pushed on Sunday")
            save_plan(survivor=participant, revision=0, by=cls.alice, signals="He starts drinking")
            meeting = schedule_meeting(
                case=case,
                kind="preparation",
                starts_at=datetime.datetime(2099, 1, 1, 10, tzinfo=datetime.UTC),
                invitees=[participant],
                by=cls.alice,
                place="Room 2",
            )
            link, _token = issue_link(
                participant=participant,
                version=shared,
                purpose="T0",
                expires_at=datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC),
                by=cls.alice,
                channel="email",
                when=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            )
            response = Response.objects.create(
                organization=case.organization,
                version=shared,
                participant=participant,
                case=case,
                purpose="T0",
                entered_by_staff=cls.alice,
            )
            release = ReleaseOfInformation.objects.create(
                organization=case.organization,
                participant=participant,
                recipient="County court",
                fields=["name"],
                purpose="hearing",
                how_given="signed",
                affirmed_on=datetime.date(2026, 1, 1),
                expires_on=datetime.date(2036, 1, 1),
                recorded_by=cls.alice,
            )
            task = CaseTask.objects.create(
                organization=case.organization,
                case=case,
                kind="notify_compelled_disclosure",
                due_on=release.affirmed_on,
            )
            harm = make_participant(case, role="person_who_caused_harm", label="Person B")
            member = PodMember.objects.create(
                organization=case.organization,
                case=case,
                side="survivor",
                label="Aunt R",
                relationship="her aunt",
                stance="ally",
                added_by=cls.alice,
            )
            friend = PodMember.objects.create(
                organization=case.organization,
                case=case,
                side="survivor",
                label="Friend T",
                relationship="a friend",
                stance="ally",
                added_by=cls.alice,
            )
            tie = PodTie.objects.create(
                organization=case.organization, case=case, a=member, b=friend, added_by=cls.alice
            )
            agreement = Agreement.objects.create(organization=case.organization, case=case)
            version = AgreementVersion.objects.create(
                organization=case.organization, agreement=agreement, number=1, drafted_by=cls.alice
            )
            commitment = Commitment.objects.create(
                organization=case.organization,
                version=version,
                number=1,
                kind="attend_program",
                description="Attend the 26-week program",
                evidence="The program's attendance letter",
                cadence="weekly",
            )
            progress_link = ProgressLink.objects.create(
                organization=case.organization,
                case=case,
                participant=harm,
                channel="email",
                token_hash=f"{obj:x<64}",
                issued_by=cls.alice,
                expires_at=datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC),
            )
            plan = plans.get(case.organization_id)
            if plan is None:
                plan = plans[case.organization_id] = EvaluationPlan.objects.create(
                    organization=case.organization, name="Plan"
                )
                cls.plan_timepoints["own" if case.organization_id == cls.harbor.pk else "other_org"] = (
                    PlanTimepoint.objects.create(
                        plan=plan, code="T0", label="Intake", anchor="enrolment", roles=["survivor"]
                    ).pk
                )
            enrollment = Enrollment.objects.create(
                organization=case.organization, case=case, plan=plan, enrolled_on=datetime.date(2026, 1, 1)
            )
            timepoint = Timepoint.objects.create(
                organization=case.organization,
                enrollment=enrollment,
                case=case,
                participant=participant,
                plan_timepoint=plan.timepoints.get(),
                code="T0",
                instrument=shared.instrument,
                opens_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
                due_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
                closes_at=datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC),
                status="open",
            )
            cls.harm_ids[obj] = harm.pk
            cls.progress_links[obj] = progress_link.pk
            cls.children[obj] = {
                "participant_id": participant.pk,
                "release_id": release.pk,
                "task_id": task.pk,
                "link_id": link.pk,
                "response_id": response.pk,
                "consent_id": consent.pk,
                "hold_id": hold.pk,
                "alert_id": hold.alerts.get().pk,
                "number": 1,
                "meeting_id": meeting.pk,
                "member_id": member.pk,
                "tie_id": tie.pk,
                "commitment_id": commitment.pk,
                "timepoint_id": timepoint.pk,
                "facilitator_id": cls.community_ids["facilitator_id"]["own"],
                "note_id": CaseNote.objects.create(
                    organization=case.organization, case=case, author=cls.alice, text="A note"
                ).pk,
                "choice_id": TrackChoice.objects.create(
                    organization=case.organization,
                    case=case,
                    track="support_only",
                    survivor=participant,
                    explained_by=cls.alice,
                    explained_on=datetime.date(2026, 3, 1),
                    recorded_by=cls.alice,
                ).pk,
            }

    def test_every_url_is_in_the_matrix(self):
        names = all_url_names()
        self.assertEqual(names - MATRIX.keys(), set(), "add these URLs to the access matrix")
        self.assertEqual(MATRIX.keys() - names, set(), "these matrix rows name URLs that no longer exist")

    def object_id(self, name: str, obj: str) -> int:
        if name.startswith(CASE_URLS) and name not in NOT_CASE_URLS:
            return {"own": self.case, "other": self.other_team_case, "other_org": self.valley_case}[obj].pk
        return {"own": self.alice, "other_org": self.charlie}[obj].pk

    def url_for(self, name: str, obj: str) -> str:
        if obj == "none":
            return reverse(name, kwargs=MATRIX[name].kwargs)
        if name == "instruments:version_detail":
            return reverse(name, kwargs={"version_id": self.versions[obj]})
        if name == "safety:risk_instrument_delete":
            return reverse(name, kwargs={"mapping_id": self.risk_instruments[obj]})
        community_object = COMMUNITY_OBJECTS.get(name)
        if community_object is not None:
            return reverse(name, kwargs={community_object: self.community_ids[community_object][obj]})
        if name in ("evaluation:network_plan_timepoint_edit", "evaluation:network_plan_timepoint_retire"):
            return reverse(name, kwargs={"slug": "test-network", "timepoint_id": self.network_plan_timepoint})
        if name == "community:directory_review":
            return reverse(name, kwargs={"slug": "test-network", "entry_id": self.directory_entry})
        if name in ("evaluation:plan_timepoint_edit", "evaluation:plan_timepoint_retire"):
            return reverse(name, kwargs={"timepoint_id": self.plan_timepoints[obj]})
        if name == "api:revoke":
            return reverse(name, kwargs={"token_id": self.api_token})
        if name == "accountability:progress_link_issue":
            return reverse(
                name, kwargs={"case_id": self.object_id(name, obj), "participant_id": self.harm_ids[obj]}
            )
        if name == "accountability:progress_link_revoke":
            return reverse(
                name, kwargs={"case_id": self.object_id(name, obj), "link_id": self.progress_links[obj]}
            )
        if not name.startswith(CASE_URLS):
            return reverse(name, kwargs={"user_id": self.object_id(name, obj)})
        children = self.children[obj].items()
        pairs = itertools.combinations(children, 2)
        for extra in ({}, *({key: value} for key, value in children), *(dict(pair) for pair in pairs)):
            try:
                return reverse(name, kwargs={"case_id": self.object_id(name, obj), **extra})
            except NoReverseMatch:
                continue
        raise AssertionError(f"cannot build {name} for {obj}")

    def fill(self, data: dict[str, str], persona: str) -> dict[str, str]:
        own = {"charlie": self.valley.pk}.get(persona, self.harbor.pk)
        values = {"valley": self.valley.pk, "own_org_of_persona": own}
        return {key: value.format(**values) for key, value in {**SMUGGLED, **data}.items()}

    def test_every_persona_gets_the_expected_status_on_every_url(self):
        people: dict[str, User | None] = {name: getattr(self, name) for name in SIGNED_IN}
        people["anonymous"] = None
        memberships_before = set(
            Membership.objects.values_list("user_id", "organization_id", "role", "is_active")
        )
        failures = []
        for name, row in sorted(MATRIX.items()):
            for persona, user in people.items():
                for obj in row.objects:
                    self.client.logout()
                    if user is not None:
                        sign_in(self.client, user)
                    url = self.url_for(name, obj)
                    if row.method == "post":
                        response = self.client.post(url, self.fill(row.data, persona))
                    else:
                        response = self.client.get(url)
                    expected = row.status(persona, obj)
                    if response.status_code != expected:
                        failures.append(
                            f"{name} [{obj}] as {persona}: {response.status_code}, expected {expected}"
                        )
        self.assertEqual(failures, [])
        memberships_after = set(
            Membership.objects.values_list("user_id", "organization_id", "role", "is_active")
        )
        self.assertEqual(memberships_before, memberships_after, "a crafted POST changed someone's roles")
        self.assertFalse(User.objects.filter(is_superuser=True).exists())

    def test_post_only_urls_refuse_get(self):
        self.login(self.pat)
        for name, row in MATRIX.items():
            if row.method == "post" and name != "set_language":
                url = self.url_for(name, row.objects[0])
                self.assertEqual(self.client.get(url).status_code, 405, name)

    def test_anonymous_visitors_are_sent_to_sign_in_never_shown_data(self):
        for name, row in MATRIX.items():
            for obj in row.objects:
                if row.status("anonymous", obj) == 302 and row.method == "get":
                    response = self.client.get(self.url_for(name, obj))
                    self.assertTrue(response["Location"].startswith(reverse("accounts:login")), name)
