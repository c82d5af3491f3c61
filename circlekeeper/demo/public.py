"""The demo network's public side: approved directory entries (Valley has an edit waiting for approval) and the
impact page's decisions (Harbor and Valley shown, Bridge hidden). Idempotent: run it as often as you like.

It goes through the services, as a program admin and the network admin would.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from circlekeeper.accounts.models import Organization, User
from circlekeeper.cases.models import Track
from circlekeeper.community import directory, impact
from circlekeeper.community.models import DirectoryEntry, EntryStatus, ImpactDecision

NETWORK_ADMIN = "network@network.example"
# How long before seeding the demo's impact decisions are dated: before any of the demo's history.
DECIDED_BEFORE = datetime.timedelta(days=3 * 365)

ENTRIES: dict[str, dict[str, Any]] = {
    "harbor": {
        "summary_en": (
            "Support for survivors of harm at home, and, when a survivor wants it, circles with the person who "
            "caused harm and people from both sides. We prepare with each person separately first."
        ),
        "summary_es": (
            "Apoyo para sobrevivientes de daño en el hogar y, cuando la persona sobreviviente lo desea, círculos "
            "con la persona que causó el daño y gente de ambos lados. Primero nos preparamos con cada persona "
            "por separado."
        ),
        "tracks": [Track.SUPPORT_ONLY, Track.INDIRECT_DIALOGUE, Track.DIRECT_DIALOGUE, Track.REFERRAL_OUT],
        "languages": ["English", "Spanish"],
        "areas": ["Harbor City", "East Bay"],
        "how_to_reach_en": (
            "Call or text 555-0142 from a phone that is not shared, if you can. Say only your first name; we "
            "will ask how and when it is safe to call you back. You can hang up at any time."
        ),
        "how_to_reach_es": (
            "Llame o envíe un mensaje al 555-0142 desde un teléfono que no comparta, si puede. Diga solo su "
            "nombre de pila; le preguntaremos cómo y cuándo es seguro devolverle la llamada. Puede colgar en "
            "cualquier momento."
        ),
        "hours_en": "Monday to Friday, 9 am to 7 pm; Saturday mornings",
        "hours_es": "De lunes a viernes, de 9 a 19 h; sábados por la mañana",
        "cost_en": "Free",
        "cost_es": "Gratis",
        "works_with_harm": True,
    },
    "valley": {
        "summary_en": (
            "Safety planning, advocacy and community accountability: trained volunteers and the person's own "
            "community work with the person who caused harm. Survivors do not need to take part in it."
        ),
        "summary_es": (
            "Plan de seguridad, acompañamiento y responsabilidad comunitaria: personas voluntarias capacitadas y "
            "la comunidad de la persona trabajan con quien causó el daño. Las personas sobrevivientes no tienen "
            "que participar."
        ),
        "tracks": [Track.SUPPORT_ONLY, Track.COMMUNITY_ACCOUNTABILITY, Track.REFERRAL_OUT],
        "languages": ["English", "Spanish", "Tagalog"],
        "areas": ["Valley County"],
        "how_to_reach_en": (
            "Use the contact form at the Valley library's help desk, or call 555-0177. If someone is listening, "
            "you can ask about 'the Tuesday group' and we will know to keep it short."
        ),
        "how_to_reach_es": (
            "Use el formulario de contacto en el mostrador de ayuda de la biblioteca del valle, o llame al "
            "555-0177. Si alguien está escuchando, puede preguntar por «el grupo del martes» y lo haremos breve."
        ),
        "hours_en": "Tuesday to Saturday, 10 am to 6 pm",
        "hours_es": "De martes a sábado, de 10 a 18 h",
        "cost_en": "Free; donations welcome",
        "cost_es": "Gratis; se aceptan donativos",
        "works_with_harm": True,
    },
    "bridge": {
        "summary_en": (
            "Support for survivors and their children: safety planning, a support circle of people you choose, "
            "and help reaching shelters, legal advocates and counseling."
        ),
        "summary_es": (
            "Apoyo para sobrevivientes y sus hijas e hijos: plan de seguridad, un círculo de apoyo con personas "
            "que usted elige, y ayuda para llegar a refugios, asesoría legal y consejería."
        ),
        "tracks": [Track.SUPPORT_ONLY, Track.REFERRAL_OUT],
        "languages": ["English", "Spanish", "Vietnamese"],
        "areas": ["Bridgeport", "Harbor City"],
        "how_to_reach_en": (
            "Walk in at the family resource center (ask for 'Bridge') or call 555-0199. We never leave "
            "messages unless you tell us it is safe."
        ),
        "how_to_reach_es": (
            "Venga al centro de recursos familiares (pregunte por «Bridge») o llame al 555-0199. Nunca dejamos "
            "mensajes a menos que usted nos diga que es seguro."
        ),
        "hours_en": "Monday to Thursday, 8 am to 5 pm",
        "hours_es": "De lunes a jueves, de 8 a 17 h",
        "cost_en": "Free",
        "cost_es": "Gratis",
        "works_with_harm": False,
    },
}
# Valley's change after approval, waiting for the network admin: it is not public until approved.
VALLEY_EDIT = {
    "hours_en": "Tuesday to Saturday, 10 am to 6 pm; Thursday evenings until 8 pm",
    "hours_es": "De martes a sábado, de 10 a 18 h; los jueves hasta las 20 h",
}
IMPACT = {
    "harbor": (True, "The board agreed to share pooled numbers with small counts hidden."),
    "valley": (True, "Shared so that funders and the community see the network's work."),
    "bridge": (False, "Our numbers are small this year; we will review this next year."),
}


def _admin_of(organization: Organization) -> User:
    return User.objects.get(email=f"admin@{organization.slug}.example")


@transaction.atomic
def seed_public() -> int:
    """Make the demo's entries and impact decisions where they are missing; returns how many entries were made."""
    network_admin = User.objects.get(email=NETWORK_ADMIN)
    made = 0
    for slug, data in ENTRIES.items():
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            continue
        admin = _admin_of(organization)
        if not DirectoryEntry.objects.filter(organization=organization, published_at__isnull=False).exists():
            entry = directory.entry_of(organization)
            entry = directory.save_draft(
                organization=organization, by=admin, data=data, lock_version=entry.lock_version
            )
            entry = directory.submit(organization=organization, by=admin, lock_version=entry.lock_version)
            entry = directory.approve(entry=entry, by=network_admin, lock_version=entry.lock_version)
            made += 1
            if slug == "valley":
                entry = directory.save_draft(
                    organization=organization,
                    by=admin,
                    data={**data, **VALLEY_EDIT},
                    lock_version=entry.lock_version,
                )
                directory.submit(organization=organization, by=admin, lock_version=entry.lock_version)
        if not ImpactDecision.objects.filter(organization=organization).exists():
            shown, reason = IMPACT[slug]
            decision = impact.record_impact_decision(
                organization=organization, shown=shown, reason=reason, by=admin
            )
            # A decision counts from the quarter after it was made (impact.py): the demo's programs decided
            # before their demo history began, so its public page has numbers on the day it is seeded.
            ImpactDecision.objects.filter(pk=decision.pk).update(at=timezone.now() - DECIDED_BEFORE)
    return made


def waiting_for_approval() -> list[str]:
    """The demo organizations with an edit waiting (for the README and the tests)."""
    return sorted(
        DirectoryEntry.objects.filter(status=EntryStatus.SUBMITTED).values_list(
            "organization__slug", flat=True
        )
    )
