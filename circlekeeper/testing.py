"""Test factories and the personas every test module shares.

Personas (STYLE.md): in Harbor, Alice (keeper), Ada (safety advocate) and Sam (supervisor) are on the team of
`case`; Bob is a Harbor keeper who is not on that team; Pat is Harbor's program admin and Eve its evaluator;
Charlie is a keeper at Valley, another organization, and must see nothing of Harbor. Nora is the network admin.
"""

from __future__ import annotations

import datetime
import itertools
import re
import time
from typing import Any

from django.test import Client, TestCase
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from circlekeeper.accounts.middleware import LOGIN_AT_KEY, RENEWED_AT_KEY
from circlekeeper.accounts.models import Membership, Network, Organization, Role, User
from circlekeeper.cases.models import (
    Case,
    CaseAssignment,
    Consent,
    ConsentKind,
    ContactChannel,
    ContactRules,
    HowGiven,
    Participant,
    ParticipantRole,
    TeamRole,
)
from circlekeeper.lib.audit import AuditEvent, AuditEventQuerySet, seal

PASSWORD = "correct horse battery staple"  # nosec B105
_counter = itertools.count(1)

# The hidden inputs whose values are new on every render: Django's CSRF token and the idempotency form token
# that the project's `{% csrf_token %}` renders beside it (lib/idempotency.py, lib/templatetags/form_tokens.py).
_PER_RENDER_TOKEN = re.compile(r'(name="(?:csrfmiddlewaretoken|form_token)" value=")[^"]*(")')


def without_form_tokens(page: Any) -> str:
    """A page's HTML (a response, bytes or str) with the values of its per-render token inputs blanked.

    Every test comparing two whole pages for equality compares them through this, so that only what the page
    says (not the fresh CSRF and form tokens of each POST form) can differ.
    """
    if hasattr(page, "content"):
        page = page.content
    if isinstance(page, bytes):
        page = page.decode()
    return _PER_RENDER_TOKEN.sub(r"\1\2", page)


def audit_log() -> AuditEventQuerySet:
    """Every audit event, the reads not yet sealed included: seals the pending events (lib.audit.seal), then
    returns AuditEvent.objects.all(). Tests read the log through this, not AuditEvent.objects."""
    seal()
    return AuditEvent.objects.all()


def make_network(**kwargs: Any) -> Network:
    n = next(_counter)
    kwargs.setdefault("name", f"Network {n}")
    kwargs.setdefault("slug", f"network-{n}")
    return Network.objects.create(**kwargs)


def make_organization(**kwargs: Any) -> Organization:
    n = next(_counter)
    if "network" not in kwargs:
        kwargs["network"] = make_network()
    kwargs.setdefault("name", f"Organization {n}")
    kwargs.setdefault("slug", f"org-{n}")
    kwargs.setdefault("case_prefix", f"O{n:03d}"[:5])
    return Organization.objects.create(**kwargs)


def make_user(
    email: str | None = None,
    *,
    organization: Organization | None = None,
    roles: tuple[str, ...] = (),
    **kwargs: Any,
) -> User:
    n = next(_counter)
    kwargs.setdefault("display_name", f"Person {n}")
    user = User.objects.create_user(email or f"person{n}@example.org", PASSWORD, **kwargs)
    for role in roles:
        if role == Role.NETWORK_ADMIN:
            assert organization is not None
            Membership.objects.create(user=user, network=organization.network, role=role)
        else:
            assert organization is not None
            Membership.objects.create(
                user=user, organization=organization, network=organization.network, role=role
            )
    return user


def make_case(organization: Organization, *, team: tuple[tuple[User, str], ...] = (), **kwargs: Any) -> Case:
    n = next(_counter)
    kwargs.setdefault("reference", f"{organization.case_prefix}-2026-{n:04d}")
    kwargs.setdefault("opened_on", datetime.date(2026, 3, 1))
    case = Case.objects.create(organization=organization, **kwargs)
    for user, role in team:
        CaseAssignment.objects.create(organization=organization, case=case, user=user, role=role)
    return case


def make_participant(case: Case, *, reachable: bool = True, **kwargs: Any) -> Participant:
    """A participant; `reachable` records consent to take part and be contacted, and rules allowing any contact."""
    kwargs.setdefault("role", ParticipantRole.SURVIVOR)
    kwargs.setdefault("label", f"{kwargs['role']} {Participant.objects.filter(case=case).count() + 1}")
    participant = Participant.objects.create(organization_id=case.organization_id, case=case, **kwargs)
    if reachable:
        make_reachable(participant)
    return participant


def make_reachable(participant: Participant, **rules: Any) -> ContactRules:
    """Consent to take part and to be contacted, and safe-contact rules (any way, any time unless overridden)."""
    for kind in (ConsentKind.TAKE_PART, ConsentKind.CONTACT):
        Consent.objects.create(
            organization_id=participant.organization_id,
            participant=participant,
            kind=kind,
            how_given=HowGiven.ORAL,
            given_on=datetime.date(2026, 3, 1),
        )
    rules.setdefault("channels", [c for c in ContactChannel.values if c != ContactChannel.NAMED_PERSON])
    rules.setdefault("days", list(range(7)))
    contact_rules, _created = ContactRules.objects.update_or_create(
        participant=participant, defaults={"organization_id": participant.organization_id, **rules}
    )
    return contact_rules


def ready_for_contact(case: Case, by: User) -> None:
    """What the contact policy asks before staff arrange contact with the other side (PROTOCOL.md): each
    survivor's recorded safety plan (here their decision not to have one) and a consenting safety monitor."""
    from circlekeeper.safety.services import _plan_for, save_plan

    for survivor in case.participants.survivors():
        plan = _plan_for(survivor)
        if plan.revision == 0:  # no plan yet: record the survivor's decision not to have one
            save_plan(survivor=survivor, revision=0, by=by, declined=True)
    if not case.participants.filter(role=ParticipantRole.SAFETY_MONITOR).exists():
        make_participant(case, role=ParticipantRole.SAFETY_MONITOR, label="Monitor M")


def sign_in(client: Client, user: User) -> None:
    """Sign in as someone who has passed their second factor."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[LOGIN_AT_KEY] = session[RENEWED_AT_KEY] = time.time()  # as the sign-in page does
    session.save()


class PersonaTestCase(TestCase):
    network: Network
    harbor: Organization
    valley: Organization
    alice: User
    ada: User
    sam: User
    bob: User
    pat: User
    eve: User
    charlie: User
    nora: User
    case: Case
    other_team_case: Case
    valley_case: Case

    @classmethod
    def setUpTestData(cls) -> None:
        cls.network = make_network(name="Test Network", slug="test-network")
        cls.harbor = make_organization(network=cls.network, name="Harbor", slug="harbor", case_prefix="HAR")
        cls.valley = make_organization(network=cls.network, name="Valley", slug="valley", case_prefix="VAL")
        cls.alice = make_user(
            "alice@harbor.example", organization=cls.harbor, roles=(Role.KEEPER,), display_name="Alice"
        )
        cls.ada = make_user(
            "ada@harbor.example", organization=cls.harbor, roles=(Role.SAFETY_ADVOCATE,), display_name="Ada"
        )
        cls.sam = make_user(
            "sam@harbor.example", organization=cls.harbor, roles=(Role.SUPERVISOR,), display_name="Sam"
        )
        cls.bob = make_user(
            "bob@harbor.example", organization=cls.harbor, roles=(Role.KEEPER,), display_name="Bob"
        )
        cls.pat = make_user(
            "pat@harbor.example", organization=cls.harbor, roles=(Role.PROGRAM_ADMIN,), display_name="Pat"
        )
        cls.eve = make_user(
            "eve@harbor.example", organization=cls.harbor, roles=(Role.EVALUATOR,), display_name="Eve"
        )
        cls.charlie = make_user(
            "charlie@valley.example", organization=cls.valley, roles=(Role.KEEPER,), display_name="Charlie"
        )
        cls.nora = make_user(
            "nora@network.example", organization=cls.harbor, roles=(Role.NETWORK_ADMIN,), display_name="Nora"
        )
        cls.case = make_case(
            cls.harbor,
            reference="HAR-2026-0001",
            team=(
                (cls.alice, TeamRole.KEEPER),
                (cls.ada, TeamRole.SAFETY_ADVOCATE),
                (cls.sam, TeamRole.SUPERVISOR),
            ),
        )
        cls.other_team_case = make_case(
            cls.harbor, reference="HAR-2026-0002", team=((cls.bob, TeamRole.KEEPER),)
        )
        cls.valley_case = make_case(
            cls.valley, reference="VAL-2026-0001", team=((cls.charlie, TeamRole.KEEPER),)
        )

    def login(self, user: User) -> None:
        sign_in(self.client, user)
