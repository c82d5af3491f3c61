"""The accountability part of the demo network: agreements on the demo cases that reached the agreement stage (or
monitoring) on a track with contact, with commitments and supporters, the parties' affirmations, progress check-ins,
staircase steps, a second version on one case, and a survivor's view that disagrees with the keeper's on another.

Everything here is invented, and written through the real services in the order a keeper would, after the
dialogue the protocol demo held today: so nothing is dated before the meeting the agreement was reached in. No
case is moved to another stage here. Runs after `protocol.demo.seed_protocol` (and the built-in instruments).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from circlekeeper.accountability import services
from circlekeeper.accountability.models import (
    Agreement,
    AgreementVersion,
    Cadence,
    Commitment,
    CommitmentKind,
    Concern,
    HowAffirmed,
    ProgressStatus,
    ReportedBy,
)
from circlekeeper.accounts.models import Organization, Role, User
from circlekeeper.cases.models import (
    TRACK_CONTACT,
    Case,
    CaseStatus,
    Participant,
    ParticipantRole,
    Stage,
    Track,
)
from circlekeeper.demo.cases import ORGANIZATIONS
from circlekeeper.demo.protocol import builtin_version, demo_member
from circlekeeper.instruments import filling


@dataclass(frozen=True)
class DemoCommitment:
    kind: str
    description: str
    evidence: str
    cadence: str
    helper: str
    concerns: tuple[str, ...] = ()
    due_days: int | None = None
    survivor_wants_updates: bool = False


DEMO_COMMITMENTS = [
    DemoCommitment(
        CommitmentKind.STOP_BEHAVIOR,
        "Demo: no calls, texts or visits to her home; any message goes through the keeper.",
        "Demo: she tells her advocate if he reaches out; the safety monitor checks in every week.",
        Cadence.WEEKLY,
        ParticipantRole.SAFETY_MONITOR,
        concerns=(Concern.CONTACT, Concern.THREATS),
    ),
    DemoCommitment(
        CommitmentKind.ATTEND_PROGRAM,
        "Demo: attend the weekly group for people who have used violence, for 26 weeks.",
        "Demo: the group facilitator confirms attendance to the keeper each month.",
        Cadence.WEEKLY,
        ParticipantRole.HARM_SUPPORTER,
    ),
    DemoCommitment(
        CommitmentKind.RESTITUTION,
        "Demo: pay back the $600 taken from the joint account, $100 a month.",
        "Demo: transfer receipts shown to the keeper.",
        Cadence.MONTHLY,
        ParticipantRole.HARM_SUPPORTER,
        due_days=180,
        survivor_wants_updates=True,
    ),
    DemoCommitment(
        CommitmentKind.REPAIR_CHILDREN,
        "Demo: keep to the agreed times with the children, at the family centre only.",
        "Demo: the family centre's sign-in sheet.",
        Cadence.WEEKLY,
        ParticipantRole.SAFETY_MONITOR,
        concerns=(Concern.CHILDREN,),
    ),
]

# The progress recorded on each case, by commitment (in the order above): the first case has a commitment not kept
# (the group, not about safety: a review task) and a survivor's view that disagrees; the second gets a version 2.
DEMO_PROGRESS = [
    [ProgressStatus.KEPT, ProgressStatus.NOT_KEPT, ProgressStatus.PARTLY, ProgressStatus.KEPT],
    [ProgressStatus.KEPT, ProgressStatus.KEPT, ProgressStatus.KEPT, ProgressStatus.KEPT],
]


def _cases(organization: Organization) -> list[Case]:
    """Open cases at the agreement or monitoring stage, on a track with contact, not on hold, with no agreement."""
    cases = Case.objects.filter(
        organization=organization,
        status=CaseStatus.OPEN,
        stage__in=(Stage.AGREEMENT, Stage.MONITORING),
        on_hold=False,
    ).exclude(pk__in=Agreement.objects.values("case_id"))
    return [case for case in cases.order_by("id") if case.track and TRACK_CONTACT[Track(case.track)] > 0]


class _Story:
    def __init__(self, case: Case, keeper: User, advocate: User) -> None:
        self.case, self.keeper, self.advocate = case, keeper, advocate
        self.supporters = {p.role: p for p in reversed(services.eligible_supporters(case))}

    def draft_and_affirm(self) -> list[Commitment]:
        meetings = services.dialogue_meetings(self.case)
        joint = [m for m in meetings if m.is_joint]
        chosen = joint or meetings
        reached_in = chosen[0] if chosen else None
        version = services.draft_version(
            case=self.case, by=self.keeper, risk_reviewed=True, reached_in=reached_in
        )
        today = timezone.localdate()
        for item in DEMO_COMMITMENTS:
            version.refresh_from_db()
            services.add_commitment(
                version=version,
                by=self.keeper,
                lock_version=version.lock_version,
                kind=item.kind,
                description=item.description,
                evidence=item.evidence,
                supporter=self.supporters.get(item.helper),
                due_on=today + datetime.timedelta(days=item.due_days) if item.due_days else None,
                cadence=item.cadence,
                survivor_wants_updates=item.survivor_wants_updates,
                concerns=item.concerns,
            )
        self.affirm(version.pk)
        return list(Commitment.objects.filter(version=version).order_by("number"))

    def affirm(self, version_id: int) -> None:
        how = HowAffirmed.IN_MEETING if self.case.track == Track.DIRECT_DIALOGUE else HowAffirmed.ORAL
        version = AgreementVersion.objects.get(pk=version_id)
        for party in services.parties(self.case):
            services.record_affirmation(
                version=version, participant=party, affirmed_on=timezone.localdate(), how=how, by=self.keeper
            )

    def progress(self, commitments: list[Commitment], statuses: list[ProgressStatus]) -> None:
        for commitment, status in zip(commitments, statuses, strict=False):
            reporter = commitment.supporter
            reported_by = ReportedBy.KEEPER
            if reporter is not None:
                reported_by = (
                    ReportedBy.SAFETY_MONITOR
                    if reporter.role == ParticipantRole.SAFETY_MONITOR
                    else ReportedBy.SUPPORTER
                )
            services.record_checkin(
                commitment=commitment,
                status=status,
                reported_by=reported_by,
                reporter=reporter,
                note="Demo: reported at the weekly check-in.",
                by=self.keeper,
            )

    def steps(self, commitments: list[Commitment], *steps: int) -> None:
        for step in steps:
            services.record_step(
                case=self.case,
                step=step,
                commitments=commitments[: step + 1],
                note="Demo: he talks about what he did without blaming her.",
                by=self.keeper,
            )

    def second_version(self) -> list[Commitment]:
        """The restitution is changed at the survivor's request: a new version, affirmed again."""
        version = services.draft_version(case=self.case, by=self.keeper, risk_reviewed=True)
        restitution = Commitment.objects.get(version=version, kind=CommitmentKind.RESTITUTION)
        services.change_commitment(
            commitment=restitution,
            by=self.keeper,
            lock_version=version.lock_version,
            kind=restitution.kind,
            description="Demo: pay back the $600 taken from the joint account, $50 a month, straight to her bank.",
            evidence=restitution.evidence,
            supporter=restitution.supporter,
            due_on=timezone.localdate() + datetime.timedelta(days=365),
            cadence=restitution.cadence,
            survivor_wants_updates=True,
            concerns=restitution.concerns,
        )
        self.affirm(version.pk)
        return list(Commitment.objects.filter(version=version).order_by("number"))

    def survivor_view(self, kept: str, repaired: str) -> None:
        version = builtin_version(services.PROGRESS_VIEW_CODE)
        survivor = (
            Participant.objects.filter(case=self.case, role=ParticipantRole.SURVIVOR).order_by("id").first()
        )
        if survivor is None:
            return
        response = filling.start_entry(
            participant=survivor, version=version, purpose=services.PROGRESS_VIEW_CODE, by=self.advocate
        )
        today = timezone.localdate()
        answers = {"commitments_kept": kept, "harm_repaired": repaired}
        filling.save_section(response=response, position=0, values=answers, today=today)
        filling.save_section(
            response=response,
            position=1,
            values={
                "less_safe": "0",
                "comments": "Demo: he still goes quiet and cold when the children visit.",
            },
            today=today,
        )
        filling.submit(response=response, today=today)


def seed_accountability(now: datetime.datetime | None = None) -> int:
    """Agreements and progress on the demo cases at the agreement or monitoring stage; returns the cases seeded.

    Idempotent: a case that has an agreement is left alone. `now` is accepted for symmetry with the other demo
    seeds; everything is recorded at the time it runs, after the dialogue the protocol demo held.
    """
    seeded = 0
    for _name, slug, _prefix in ORGANIZATIONS:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            continue
        keeper = demo_member(organization, Role.KEEPER)
        advocate = demo_member(organization, Role.SAFETY_ADVOCATE)
        if keeper is None or advocate is None:
            continue
        with transaction.atomic():
            for index, case in enumerate(_cases(organization)[: len(DEMO_PROGRESS)]):
                story = _Story(case, keeper, advocate)
                commitments = story.draft_and_affirm()
                story.progress(commitments, DEMO_PROGRESS[index])
                if index == 0:
                    story.steps(commitments, 1)
                    # The group again, a week on: partly kept. The survivor sees it less well than the record.
                    story.progress(commitments[1:2], [ProgressStatus.PARTLY])
                    story.survivor_view(kept="1", repaired="1")
                else:
                    story.steps(commitments, 1, 2)
                    story.progress(story.second_version(), [ProgressStatus.KEPT, ProgressStatus.KEPT])
                seeded += 1
    return seeded
