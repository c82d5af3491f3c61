"""Access helpers for the safety pages: one per object type, each built on the case's own helper.

Everything here is on a case, so anyone outside the case team gets 404 (never 403), as for the case itself.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest

from circlekeeper.accounts.access import program_admin_context
from circlekeeper.cases.access import get_case_for, get_participant_for
from circlekeeper.cases.models import Participant, ParticipantRole
from circlekeeper.safety.models import RiskInstrument, SafetyAlert, SafetyHold


def get_hold_for(request: HttpRequest, case_id: int, hold_id: int) -> SafetyHold:
    case = get_case_for(request, case_id)
    hold = SafetyHold.objects.for_organization(case.organization).filter(pk=hold_id, case=case).first()
    if hold is None:
        raise Http404
    hold.case = case
    return hold


def get_alert_for(request: HttpRequest, case_id: int, alert_id: int) -> SafetyAlert:
    case = get_case_for(request, case_id)
    alert = SafetyAlert.objects.for_organization(case.organization).filter(pk=alert_id, case=case).first()
    if alert is None:
        raise Http404
    alert.case = case
    return alert


def get_participant_to_check(request: HttpRequest, case_id: int, participant_id: int) -> Participant:
    """A participant a safety check may be run with: children are recorded, never asked (PROTOCOL.md)."""
    participant = get_participant_for(request, case_id, participant_id)
    if participant.role == ParticipantRole.CHILD:
        raise Http404
    return participant


def get_survivor_for_plan(request: HttpRequest, case_id: int, participant_id: int) -> Participant:
    """Only a survivor has a safety plan: any other participant's plan address is 404."""
    participant = get_participant_for(request, case_id, participant_id)
    if participant.role != ParticipantRole.SURVIVOR:
        raise Http404
    return participant


def get_risk_instrument_for(request: HttpRequest, mapping_id: int) -> RiskInstrument:
    """One of the program admin's organization's risk instrument mappings; 403 for anyone else."""
    _context, organization = program_admin_context(request)
    mapping = RiskInstrument.objects.for_organization(organization).filter(pk=mapping_id).first()
    if mapping is None:
        raise Http404
    return mapping
