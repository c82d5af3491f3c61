"""The survivor's choice of track (PROTOCOL.md): every option in plain language, and recording a choice.

The words here are read aloud or shown to a survivor, in English or Spanish: short sentences, no jargon.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.accounts.models import User
from circlekeeper.cases.models import (
    TRACK_CONTACT,
    Case,
    CaseAssignment,
    ConsentKind,
    EventKind,
    Participant,
    Track,
    TrackChoice,
    record_event,
)
from circlekeeper.lib.hooks import hooks


@dataclass(frozen=True)
class TrackOption:
    track: Track
    summary: Promise
    involves: tuple[Promise, ...]
    contact: Promise

    @property
    def code(self) -> str:
        return self.track.value

    @property
    def label(self) -> str:
        return str(self.track.label)


CHANGE_LATER = gettext_lazy(
    "You can change your mind at any time, by telling any of us, even just by saying so. If you stop, "
    "it stops at once. You keep getting support whatever you choose."
)

OPTIONS = (
    TrackOption(
        Track.SUPPORT_ONLY,
        gettext_lazy("Support for you, and nothing with the person who caused harm."),
        (
            gettext_lazy("We make a safety plan with you and keep it up to date."),
            gettext_lazy("We help you get what you need: advocacy, services, people on your side."),
            gettext_lazy("We can help you bring together your own circle of support."),
        ),
        gettext_lazy("No contact with the person who caused harm."),
    ),
    TrackOption(
        Track.COMMUNITY_ACCOUNTABILITY,
        gettext_lazy(
            "People you trust and a keeper work with the person who caused harm. You do not have to be there."
        ),
        (
            gettext_lazy("The keeper and your circle meet the person who caused harm without you."),
            gettext_lazy("They work on stopping the harm and on commitments you can see kept or broken."),
            gettext_lazy("You decide what is shared with them, and you hear how it is going."),
        ),
        gettext_lazy("Indirect contact, through the keeper and your circle."),
    ),
    TrackOption(
        Track.INDIRECT_DIALOGUE,
        gettext_lazy("You and the person who caused harm exchange messages without meeting."),
        (
            gettext_lazy("The keeper carries messages between you, or someone speaks in your place."),
            gettext_lazy("You choose what to say and what to hear."),
            gettext_lazy("You never have to be in the same room."),
        ),
        gettext_lazy("Indirect contact, through the keeper."),
    ),
    TrackOption(
        Track.DIRECT_DIALOGUE,
        gettext_lazy(
            "A circle or meeting with you, the person who caused harm and supporters for each of you."
        ),
        (
            gettext_lazy("We prepare with each of you separately first, for as long as it takes."),
            gettext_lazy(
                "It only happens when safety checks are clear, a safety monitor is named and a supervisor agrees."
            ),
            gettext_lazy("It stops at once if you ask, or if anyone is threatened or pressured."),
        ),
        gettext_lazy("Direct contact, in a meeting the keeper leads."),
    ),
    TrackOption(
        Track.REFERRAL_OUT,
        gettext_lazy("We connect you with another service that fits what you need."),
        (
            gettext_lazy("For example a shelter, legal advocacy or counseling."),
            gettext_lazy("Police or courts only if you want them."),
            gettext_lazy("You can come back to us at any time."),
        ),
        gettext_lazy("Whatever contact you decide on; none through us."),
    ),
)


@transaction.atomic
def choose_track(
    *,
    case: Case,
    survivor: Participant,
    track: str,
    explained_by: User,
    explained_on: datetime.date,
    by: User,
    in_their_words: str = "",
) -> TrackChoice:
    """Record the survivor's choice; the history keeps every earlier one.

    Refused: a track with more contact with the person who caused harm while a safety hold is open, and a
    track with any contact without the survivor's current consent to take part.
    """
    locked = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
    if survivor.case_id != locked.pk or not survivor.is_survivor:
        raise ValidationError({"survivor": _("Choose the survivor of this case.")})
    if track not in Track.values:
        raise ValidationError({"track": _("Choose one of the tracks.")})
    if explained_on > timezone.localdate():
        raise ValidationError({"explained_on": _("This date is in the future.")})
    if not CaseAssignment.objects.filter(case=locked, user=explained_by).exists():
        raise ValidationError({"explained_by": _("Choose someone on the case team.")})
    latest = TrackChoice.objects.filter(case=locked).first()
    if (
        latest is not None
        and (
            latest.track,
            latest.survivor_id,
            latest.explained_by_id,
            latest.explained_on,
            latest.recorded_by_id,
        )
        == (track, survivor.pk, explained_by.pk, explained_on, by.pk)
        and (latest.in_their_words or "") == in_their_words.strip()
        and locked.track == track
    ):
        # The same choice sent twice (a double click, a retry) is one record (SECURITY.md 24).
        return latest
    current = TRACK_CONTACT[Track(locked.track)] if locked.track else 0
    wanted = TRACK_CONTACT[Track(track)]
    if wanted > current and locked.on_hold:
        raise ValidationError(
            {
                "track": _(
                    "The case is on a safety hold: a track with more contact with the person who caused harm "
                    "cannot be chosen until a supervisor lifts the hold."
                )
            }
        )
    if wanted > 0 and not survivor.has_consent(ConsentKind.TAKE_PART):
        raise ValidationError(
            {
                "track": _(
                    "Record the survivor's consent to take part first: a track with contact with the person "
                    "who caused harm needs it."
                )
            }
        )
    if track != locked.track:
        for check in hooks("TRACK_CHANGE_CHECKS"):
            check(case=locked, track=track)
    choice = TrackChoice(
        organization_id=locked.organization_id,
        case=locked,
        track=track,
        previous_track=locked.track,
        survivor=survivor,
        explained_by=explained_by,
        explained_on=explained_on,
        in_their_words=in_their_words.strip() or None,
        recorded_by=by,
    )
    choice.full_clean()
    choice.save()
    locked.track = track
    locked.save(update_fields=["track"])
    case.track = track
    record_event(locked, EventKind.TRACK_CHOSEN, by=by, track=track, previous=choice.previous_track)
    if choice.previous_track != track:
        for handler in hooks("TRACK_CHANGED_HANDLERS"):
            handler(case=locked, previous=choice.previous_track, by=by)
    return choice
