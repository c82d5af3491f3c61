"""Access helpers for the accountability pages, each built on the case's own helper (off the team: 404, never
403). The whole case team may read and write here."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from circlekeeper.accountability.models import AgreementVersion, Commitment, ProgressLink
from circlekeeper.cases.access import get_case_for
from circlekeeper.cases.models import Participant, ParticipantRole


def get_version_for(request: HttpRequest, case_id: int, number: int) -> AgreementVersion:
    """A version (by its number) of the agreement of a case the signed-in person may see, or 404."""
    case = get_case_for(request, case_id)
    version = (
        AgreementVersion.objects.for_organization(case.organization)
        .filter(agreement__case=case, number=number)
        .select_related("agreement", "reached_in", "drafted_by")
        .first()
    )
    if version is None:
        raise Http404
    version.agreement.case = case
    return version


def get_commitment_for(request: HttpRequest, case_id: int, commitment_id: int) -> Commitment:
    """A commitment, in any version, of the agreement of a case the signed-in person may see, or 404."""
    case = get_case_for(request, case_id)
    commitment = (
        Commitment.objects.for_organization(case.organization)
        .filter(pk=commitment_id, version__agreement__case=case)
        .select_related("version__agreement", "supporter")
        .first()
    )
    if commitment is None:
        raise Http404
    commitment.version.agreement.case = case
    return commitment


def get_harm_participant_for(request: HttpRequest, case_id: int, participant_id: int) -> Participant:
    """A person who caused harm on the case: only they have a progress page; anyone else's address is 404."""
    case = get_case_for(request, case_id)
    participant = case.participants.filter(
        pk=participant_id, role=ParticipantRole.PERSON_WHO_CAUSED_HARM
    ).first()
    if participant is None:
        raise Http404
    participant.case = case
    return participant


def get_progress_link_for(request: HttpRequest, case_id: int, link_id: int) -> ProgressLink:
    case = get_case_for(request, case_id)
    link = ProgressLink.objects.for_organization(case.organization).filter(pk=link_id, case=case).first()
    if link is None:
        raise Http404
    link.case = case
    return link
