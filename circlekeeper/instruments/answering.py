"""Answering pages, shared by a participant's link and by staff entering answers on someone's behalf.

One section per page. A page's POST is validated and saved; when an answer on the page shows a question the
person has not seen yet, the same page comes back with it (this is how skip logic works without JavaScript);
otherwise the next shown section follows, then a review with "Submit". With htmx, `live()` redraws only the
items whose visibility the answers have just changed, as out-of-band swaps, and saves nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from circlekeeper.instruments import filling
from circlekeeper.instruments.definition import NOT_ASKED, PNTS, choices_for, iter_items, localized
from circlekeeper.instruments.events import event_answers
from circlekeeper.instruments.expressions import EventAnswers
from circlekeeper.instruments.forms import PNTS_SUFFIX, PREFIX, Row, SectionForm
from circlekeeper.instruments.models import InstrumentVersion, ParticipantLink, Response, ResponseStatus
from circlekeeper.instruments.piping import pipe
from circlekeeper.instruments.scoring import visible_items

SHOWN = "_shown"


@dataclass
class Answering:
    """One response being answered, and the addresses of its pages (the link's or the staff's)."""

    version: InstrumentVersion
    response: Response | None
    page_url: str
    live_url: str
    review_url: str
    context: dict[str, Any] = field(default_factory=dict)
    today: datetime.date = field(default_factory=timezone.localdate)
    # A link's response does not exist before its first save: then the link says who answers.
    link: ParticipantLink | None = None
    _events: tuple[int | None, EventAnswers] | None = field(default=None, repr=False)

    @property
    def definition(self) -> dict[str, Any]:
        return self.version.definition

    @property
    def answers(self) -> dict[str, Any]:
        return dict(self.response.answers or {}) if self.response else {}

    @property
    def events(self) -> EventAnswers:
        """The respondent's own answers at the other REDCap events the definition reads ([event][field])."""
        key = self.response.pk if self.response is not None else None
        if self._events is None or self._events[0] != key:
            self._events = (key, event_answers(self._respondent(), self.definition))
        return self._events[1]

    def _respondent(self) -> Response | None:
        if self.response is not None:
            return self.response
        if self.link is None:
            return None
        # Never saved: only who answers, where, and which version, for events.event_answers.
        return Response(
            organization_id=self.link.organization_id,
            version=self.version,
            participant_id=self.link.participant_id,
        )

    @property
    def language(self) -> str:
        """The chosen language if the instrument has it, else its default (every text falls back to it)."""
        current = translation.get_language() or ""
        languages = self.definition["languages"]
        for candidate in (current, current.split("-")[0]):
            if candidate in languages:
                return candidate
        return str(self.definition["default_language"])

    def section_url(self, position: int, **extra: str) -> str:
        return f"{self.page_url}?{urlencode({'section': position, **extra})}"


def position_of(value: str | None, definition: dict[str, Any]) -> int | None:
    try:
        position = int(value or "")
    except ValueError:
        return None
    return position if 0 <= position < len(definition["sections"]) else None


def posted_raw(answering: Answering, request: HttpRequest, position: int) -> dict[str, Any]:
    """The section's answers as typed, good enough for skip logic (its numbers read "1" and 1 alike)."""
    raw: dict[str, Any] = {}
    for item in answering.definition["sections"][position]["items"]:
        if item["type"] in NOT_ASKED:
            continue
        name = f"{PREFIX}-{item['code']}"
        if request.POST.get(name + PNTS_SUFFIX):
            value: Any = PNTS
        elif item["type"] == "multiple_choice":
            value = request.POST.getlist(name) or None
            if value and PNTS in value:
                value = PNTS
        else:
            value = request.POST.get(name, "").strip() or None
        raw[item["code"]] = value
    return raw


def posted_form(answering: Answering, request: HttpRequest, position: int) -> tuple[SectionForm, set[str]]:
    """The section's form bound to what was posted, with the items the answers on this page show."""
    section = answering.definition["sections"][position]
    asked = filling.asked_codes(section)
    saved = {code: value for code, value in answering.answers.items() if code not in asked}
    overlay = {**saved, **posted_raw(answering, request, position)}
    section_codes = {item["code"] for item in section["items"]}
    visible = (
        set(visible_items(answering.definition, overlay, today=answering.today, events=answering.events))
        & section_codes
    )
    shown_before = set(request.POST.getlist(SHOWN)) & section_codes
    unseen = frozenset(code for code in asked if code in visible and code not in shown_before)
    form = SectionForm(
        request.POST,
        definition=answering.definition,
        section=section,
        visible=visible,
        language=answering.language,
        answers=saved,
        unseen=unseen,
        today=answering.today,
        events=answering.events,
    )
    return form, shown_before


def render_section(
    request: HttpRequest, answering: Answering, position: int, form: SectionForm, *, notice: str = ""
) -> HttpResponse:
    definition = answering.definition
    shown = filling.shown_sections(definition, {**answering.answers}, answering.today, answering.events) or [
        position
    ]
    previous = filling.neighbour(
        definition, answering.answers, answering.today, position, -1, answering.events
    )
    section = definition["sections"][position]
    context = {
        **answering.context,
        "answering": answering,
        "form": form,
        "rows": form.rows(),
        "position": position,
        "step": shown.index(position) + 1 if position in shown else 1,
        "steps": len(shown),
        "section_title": localized(section.get("title"), answering.language, definition),
        "description": localized(definition.get("description"), answering.language, definition)
        if position == shown[0]
        else "",
        "form_language": answering.language,
        "previous_url": answering.section_url(previous) if previous is not None else "",
        "notice": notice,
        "live": filling.has_live_logic(section),
    }
    return render(request, "instruments/answer/section.html", context)


def show_section(request: HttpRequest, answering: Answering) -> HttpResponse:
    definition, answers = answering.definition, answering.answers
    shown = filling.shown_sections(definition, answers, answering.today, answering.events)
    position = position_of(request.GET.get("section"), definition)
    if position is None or position not in shown:
        position = filling.resume_at(definition, answers, answering.today, answering.events)
        if position is None:
            if answering.response is not None:
                return redirect(answering.review_url)
            position = shown[0] if shown else 0
    visible = set(visible_items(definition, answers, today=answering.today, events=answering.events))
    form = SectionForm(
        definition=definition,
        section=definition["sections"][position],
        visible=visible,
        language=answering.language,
        answers=answers,
        today=answering.today,
        events=answering.events,
    )
    notice = (
        _("New questions appeared because of your answers. Please look at them.")
        if request.GET.get("new")
        else ""
    )
    return render_section(request, answering, position, form, notice=notice)


def save_section(
    request: HttpRequest, answering: Answering, start: Callable[[], Response]
) -> tuple[HttpResponse, Response | None]:
    """Validate and save the posted section; (the page to go to, the response saved or None if invalid).

    `start` makes the response on the first save: a link writes nothing until something is answered.
    """
    position = position_of(request.POST.get("section"), answering.definition)
    if position is None:
        return redirect(answering.page_url), None
    form, _shown_before = posted_form(answering, request, position)
    if not form.is_valid():
        return render_section(request, answering, position, form), None
    response = answering.response or start()
    filling.save_section(response=response, position=position, values=form.answers(), today=answering.today)
    answering.response = response
    if form.unseen:
        return redirect(answering.section_url(position, new="1")), response
    following = filling.neighbour(
        answering.definition, response.answers, answering.today, position, 1, answering.events
    )
    if following is None:
        return redirect(answering.review_url), response
    return redirect(answering.section_url(following)), response


def live(request: HttpRequest, answering: Answering) -> HttpResponse:
    """htmx: redraw only the items of this page whose visibility the answers so far have changed."""
    position = position_of(request.POST.get("section"), answering.definition)
    if position is None:
        return HttpResponse(status=400)
    form, shown_before = posted_form(answering, request, position)
    changed: list[Row] = []
    added = removed = 0
    for row in form.rows(show_errors=False):
        members = {m.code for m in row.members} if row.members else {row.code}
        before = shown_before & members
        if row.codes != before:
            changed.append(row)
            added += len(row.codes - before)
            removed += len(before - row.codes)
    note = ""
    if added:
        note = _("A new question appeared below.") if added == 1 else _("New questions appeared below.")
    elif removed:
        note = _("A question was taken away.") if removed == 1 else _("Some questions were taken away.")
    return render(
        request,
        "instruments/answer/live.html",
        {"rows": changed, "note": note, "form_language": answering.language},
    )


def summary(answering: Answering) -> list[dict[str, Any]]:
    """The shown sections with their shown items and answers in words, for the review and response pages."""
    definition, answers, language = answering.definition, answering.answers, answering.language
    response = answering.response
    if response is not None and response.status == ResponseStatus.SUBMITTED:
        # As submitted: what was skipped then stays skipped, whatever today() says now.
        skipped = set(response.skipped or [])
        visible = {item["code"] for _section, item in iter_items(definition) if item["code"] not in skipped}
    else:
        visible = set(visible_items(definition, answers, today=answering.today, events=answering.events))
    sections = []
    for position, section in enumerate(definition["sections"]):
        items = [
            {
                "label": pipe(
                    localized(item.get("label"), language, definition),
                    definition,
                    answers,
                    language,
                    answering.events,
                )
                or item["code"],
                "answer": answer_text(definition, item, answers.get(item["code"]), language),
                "answered": answers.get(item["code"]) is not None,
            }
            for item in section["items"]
            if item["code"] in visible and item["type"] not in NOT_ASKED and not item.get("hidden")
        ]
        if items:
            sections.append(
                {
                    "title": localized(section.get("title"), language, definition),
                    "items": items,
                    "url": answering.section_url(position),
                }
            )
    return sections


def answer_text(definition: dict[str, Any], item: dict[str, Any], value: Any, language: str) -> str:
    if value is None or value == "" or value == []:
        return _("Not answered")
    if value == PNTS:
        return _("Prefer not to say")
    if item["type"] in ("single_choice", "multiple_choice", "yes_no"):
        labels = {
            c["code"]: localized(c.get("label"), language, definition) or c["code"]
            for c in choices_for(definition, item)
        }
        codes = value if isinstance(value, list) else [value]
        return ", ".join(labels.get(str(code), str(code)) for code in codes)
    return str(value)


def review(request: HttpRequest, answering: Answering) -> HttpResponse:
    if answering.response is None:
        return redirect(answering.page_url)
    context = {**answering.context, "answering": answering, "sections": summary(answering)}
    return render(request, "instruments/answer/review.html", context)


def ready_to_submit(answering: Answering) -> HttpResponse | None:
    """A redirect to the section still to answer, or None when the response can be submitted."""
    if answering.response is None:
        return redirect(answering.page_url)
    position = filling.resume_at(answering.definition, answering.answers, answering.today, answering.events)
    if position is not None:
        return redirect(answering.section_url(position))
    return None


def scored(definition: dict[str, Any], scores: dict[str, Any], language: str) -> list[dict[str, str]]:
    """Each score and band of the definition with its value in words."""
    scoring = definition.get("scoring") or {}
    rows = []
    for score in scoring.get("scores", []):
        value = scores.get(score["code"])
        rows.append(
            {
                "label": localized(score.get("label"), language, definition) or score["code"],
                "value": _("Not enough answers")
                if value is None
                else f"{value:g}"
                if isinstance(value, float)
                else str(value),
            }
        )
    for band in scoring.get("bands", []):
        level = scores.get(band["code"])
        labels = {
            lv["code"]: localized(lv.get("label"), language, definition) or lv["code"]
            for lv in band["levels"]
        }
        rows.append(
            {
                "label": localized(band.get("label"), language, definition) or band["code"],
                "value": _("Not enough answers") if level is None else labels.get(level, str(level)),
            }
        )
    return rows
