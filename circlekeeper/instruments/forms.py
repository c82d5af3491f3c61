"""Forms: one section of any instrument version built from its definition, and the staff forms around links.

`SectionForm` has one field per item skip logic shows (prefixed "q-", so an item code can never collide with
the page's own fields). Its validation mirrors the definition: required, min and max, number and date types,
choice codes, text validations and constraint expressions. "Prefer not to say" is a choice of choice items and
a checkbox beside every other kind of item. `rows()` describes what the templates draw, item by item, with
the ids that tie labels, help and errors to their inputs.
"""

from __future__ import annotations

import datetime
import decimal
import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from circlekeeper.instruments import expressions
from circlekeeper.instruments.definition import (
    NOT_ASKED,
    PNTS,
    TEXT_VALIDATIONS,
    choices_for,
    localized,
)
from circlekeeper.instruments.links import DEFAULT_EXPIRY_DAYS
from circlekeeper.instruments.models import Channel, Instrument, InstrumentVersion, Source
from circlekeeper.instruments.piping import pipe

PREFIX = "q"
PNTS_SUFFIX = "~pnts"  # "~" never appears in an item code, so this name cannot be an item's
SHORT_TEXT_MAX = 500
LONG_TEXT_MAX = 10_000
SCALE_MAX_POINTS = 11  # a slider with at most this many whole steps is asked as a row of radio buttons

TEXT_FORMATS = {
    "time": "HH:MM",
    "time_hh_mm_ss": "HH:MM:SS",
    "time_mm_ss": "MM:SS",
    "datetime_ymd": "YYYY-MM-DD HH:MM",
    "datetime_seconds_ymd": "YYYY-MM-DD HH:MM:SS",
    "zipcode": "12345",
}


def _blank(value: object) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _is_scale(item: dict[str, Any]) -> bool:
    low, high, step = item.get("min", 0), item.get("max", 100), item.get("step", 1)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, step)) or step <= 0:
        return False
    return (high - low) // step + 1 <= SCALE_MAX_POINTS


def _scale_values(item: dict[str, Any]) -> list[int]:
    return list(range(item.get("min", 0), item.get("max", 100) + 1, item.get("step", 1)))


def _number(value: decimal.Decimal | int | float) -> int | float:
    """A JSON number: whole numbers as int, others as float."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _date_bound(value: object, today: datetime.date) -> datetime.date | None:
    if value == "today":
        return today
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    return None


class DecimalAnswerField(forms.DecimalField):
    """A decimal typed either way: 2.5 or 2,5 (the Spanish decimal comma)."""

    widget = forms.TextInput

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().replace(" ", "")
            if "," in value and "." not in value:
                value = value.replace(",", ".")
        return super().to_python(value)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {"inputmode": "decimal"}


@dataclass
class Option:
    id: str
    value: str
    label: str
    checked: bool


@dataclass
class ItemView:
    """One asked item as the templates draw it."""

    code: str
    kind: str  # radio, checkbox, input, textarea
    label: str
    help: str
    heading: str
    required: bool
    bound: forms.BoundField
    options: list[Option] = field(default_factory=list)
    pnts: forms.BoundField | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return f"item-{self.code}"

    @property
    def input_id(self) -> str:
        return self.bound.id_for_label

    @property
    def help_id(self) -> str:
        return f"{self.bound.auto_id}-help" if self.help else ""

    @property
    def error_id(self) -> str:
        return f"{self.bound.auto_id}-error" if self.errors else ""

    @property
    def described_by(self) -> str:
        return " ".join(i for i in (self.help_id, self.error_id) if i)


@dataclass
class Row:
    """One thing on the page: an item, a text, a matrix group, or the empty place of a hidden item."""

    kind: str  # item, descriptive, group, hidden
    code: str
    item: ItemView | None = None
    text: str = ""
    heading: str = ""
    legend: str = ""
    members: list[Row] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return f"group-{self.code}" if self.kind == "group" else f"item-{self.code}"

    @property
    def codes(self) -> set[str]:
        """The codes on screen in this row (what the page lists as shown)."""
        if self.kind == "group":
            return set().union(*(member.codes for member in self.members))
        return set() if self.kind == "hidden" else {self.code}


class _GroupRadioSelect(forms.RadioSelect):
    # Errors in the summary link to the first choice: a radio group has no single input to point at.
    def id_for_label(self, id_: str, index: str | None = None) -> str:
        return f"{id_}_0" if id_ else ""


class _GroupCheckboxSelect(forms.CheckboxSelectMultiple):
    def id_for_label(self, id_: str, index: str | None = None) -> str:
        return f"{id_}_0" if id_ else ""


class SectionForm(forms.Form):
    """The items of one section that skip logic shows, validated as the definition says."""

    use_required_attribute = False  # the server checks; browsers' own bubbles skip the error summary

    def __init__(
        self,
        data: Any = None,
        *,
        definition: dict[str, Any],
        section: dict[str, Any],
        visible: set[str],
        language: str,
        answers: dict[str, Any],
        unseen: frozenset[str] = frozenset(),
        today: datetime.date | None = None,
        events: expressions.EventAnswers | None = None,
    ) -> None:
        super().__init__(data, prefix=PREFIX)
        self.events = events  # the same person's answers at other REDCap events ([event][field])
        self.definition = definition
        self.section = section
        self.visible = visible
        self.language = language
        self.saved = answers
        self.unseen = unseen
        self.today = today or timezone.localdate()
        self.items = [
            item for item in section["items"] if item["code"] in visible and item["type"] not in NOT_ASKED
        ]
        for item in self.items:
            self.fields[item["code"]] = self._field(item)
            if item.get("readonly"):
                # @READONLY: shown with what it holds (or its default); a posted value is never read.
                field = self.fields[item["code"]]
                field.disabled = True
                saved = self.saved.get(item["code"])
                field.initial = self._default(item) if _blank(saved) else saved
            if item.get("prefer_not_to_say") and not self._choice_like(item):
                self.fields[item["code"] + PNTS_SUFFIX] = forms.BooleanField(
                    label=gettext_lazy("Prefer not to say"), required=False
                )
        if data is None:
            self.initial = self._initial()

    # -- building

    def text(self, value: dict[str, str] | None) -> str:
        """A text in the form's language, with [field] and [field:label] piped from this response's own
        answers (never anyone else's: `answers` are the response being filled)."""
        return pipe(
            localized(value, self.language, self.definition),
            self.definition,
            self.saved,
            self.language,
            self.events,
        )

    def _default(self, item: dict[str, Any]) -> Any:
        """The answer a question starts with (REDCap @DEFAULT, @TODAY, @NOW), or None."""
        default = item.get("default")
        if not default:
            return None
        if default == "today":
            return self.today.isoformat()
        if default == "now":
            return timezone.localtime().strftime("%Y-%m-%d %H:%M")
        if item["type"] == "multiple_choice":
            return [code.strip() for code in default.split(",") if code.strip()]
        return default

    def _choice_like(self, item: dict[str, Any]) -> bool:
        return item["type"] in ("single_choice", "multiple_choice", "yes_no") or (
            item["type"] == "slider" and _is_scale(item)
        )

    def _choices(self, item: dict[str, Any]) -> list[tuple[str, str]]:
        if item["type"] == "slider":
            values = _scale_values(item)
            anchors = [self.text(anchor) for anchor in item.get("anchors", [])]
            ends = (
                [values[0], values[-1]]
                if len(anchors) == 2
                else [values[0], values[len(values) // 2], values[-1]]
            )
            named = dict(zip(ends, anchors, strict=False))
            choices = [(str(v), f"{v} – {named[v]}" if v in named else str(v)) for v in values]
            if item.get("prefer_not_to_say"):
                choices.append((PNTS, _("Prefer not to say")))
            return choices
        return [
            (c["code"], self.text(c.get("label")) or c["code"]) for c in choices_for(self.definition, item)
        ]

    def _field(self, item: dict[str, Any]) -> forms.Field:
        kind = item["type"]
        label = self.text(item.get("label")) or item["code"]
        common: dict[str, Any] = {"label": label, "required": False}
        low, high = item.get("min"), item.get("max")
        if kind == "slider":  # a slider always has a range: 0 to 100 unless it says otherwise
            low, high = item.get("min", 0), item.get("max", 100)
        if kind == "multiple_choice":
            return forms.MultipleChoiceField(
                choices=self._choices(item), widget=_GroupCheckboxSelect, **common
            )
        if self._choice_like(item):
            return forms.ChoiceField(choices=self._choices(item), widget=_GroupRadioSelect, **common)
        if kind == "integer" or (kind == "slider" and isinstance(item.get("step", 1), int)):
            attrs = {"inputmode": "numeric", "autocomplete": "off"}
            return forms.IntegerField(
                min_value=low, max_value=high, widget=forms.TextInput(attrs=attrs), **common
            )
        if kind in ("decimal", "slider"):
            step = item.get("step")
            return DecimalAnswerField(
                min_value=decimal.Decimal(str(low)) if low is not None else None,
                max_value=decimal.Decimal(str(high)) if high is not None else None,
                step_size=decimal.Decimal(str(step)) if step else None,
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
                **common,
            )
        if kind == "date":
            attrs = {"type": "date"}
            for key in ("min", "max"):
                bound = _date_bound(item.get(key), self.today)
                if bound:
                    attrs[key] = bound.isoformat()
            return forms.DateField(
                input_formats=["%Y-%m-%d"],
                widget=forms.DateInput(attrs=attrs),
                error_messages={"invalid": _("Enter the date as YYYY-MM-DD, for example 2026-03-31.")},
                **common,
            )
        if kind == "long_text":
            return forms.CharField(
                max_length=LONG_TEXT_MAX, widget=forms.Textarea(attrs={"rows": 5}), **common
            )
        validation = item.get("validation")
        widget: forms.Widget = forms.TextInput(attrs={"autocomplete": "off"})
        if validation == "email":
            widget = forms.EmailInput(attrs={"autocomplete": "off"})
        elif validation == "phone":
            widget = forms.TextInput(attrs={"type": "tel", "autocomplete": "off"})
        return forms.CharField(max_length=SHORT_TEXT_MAX, widget=widget, **common)

    def _initial(self) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for item in self.items:
            code = item["code"]
            value = self.saved.get(code)
            if _blank(value):
                value = self._default(item)
            if _blank(value):
                continue
            if value == PNTS and not self._choice_like(item):
                initial[code + PNTS_SUFFIX] = True
            elif value == PNTS and item["type"] == "multiple_choice":
                initial[code] = [PNTS]
            elif isinstance(value, int | float) and not isinstance(value, bool):
                initial[code] = str(value)
            else:
                initial[code] = value
        return initial

    # -- validating

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        context = {code: value for code, value in self.saved.items() if not _blank(value) and value != PNTS}
        values: dict[str, Any] = {}
        for item in self.items:
            code = item["code"]
            if code in self.unseen:
                # Shown just now by an answer on this page: asked on the next round, never refused unseen.
                self.errors.pop(code, None)
                continue
            value = self._value(item, cleaned)
            if value is None:
                continue  # an error was added
            values[code] = value
            if not _blank(value) and value != PNTS:
                context[code] = value
        for item in self.items:
            code = item["code"]
            if code in values and not self.errors.get(code):
                self._check(item, values[code], context)
        self.values = values
        return cleaned

    def _value(self, item: dict[str, Any], cleaned: dict[str, Any]) -> Any:
        """The answer as stored: a code, codes, a number, ISO date or text; PNTS; "" when left blank."""
        code = item["code"]
        if cleaned.get(code + PNTS_SUFFIX):
            # "Prefer not to say" wins over anything typed beside it.
            self.errors.pop(code, None)
            return PNTS
        if code in self.errors:
            return None
        value = cleaned.get(code)
        if item["type"] == "multiple_choice":
            value = list(value or [])
            if PNTS in value:
                if len(value) > 1:
                    self.add_error(code, _("Choose “Prefer not to say” on its own, or only other answers."))
                    return None
                return PNTS
            exclusive = [choice for choice in value if choice in item.get("exclusive", [])]
            if exclusive and len(value) > 1:
                # @NONEOFTHEABOVE: "none of the above" is chosen on its own.
                labels = dict(self._choices(item))
                self.add_error(
                    code,
                    _("Choose “%(choice)s” on its own, or only other answers.")
                    % {"choice": labels.get(exclusive[0], exclusive[0])},
                )
                return None
            order = [c for c, _label in self._choices(item)]
            value = sorted(value, key=order.index)
        elif item["type"] == "slider" and self._choice_like(item) and isinstance(value, str) and value:
            value = int(value)
        elif isinstance(value, decimal.Decimal | int) and not isinstance(value, bool):
            value = _number(value)
        elif isinstance(value, datetime.date):
            value = value.isoformat()
        elif isinstance(value, str):
            value = value.strip()
        return "" if _blank(value) else value

    def _check(self, item: dict[str, Any], value: Any, context: dict[str, Any]) -> None:
        code = item["code"]
        if _blank(value):
            if item.get("required") and not item.get("readonly"):
                message = (
                    _("Answer this question, or choose “Prefer not to say”.")
                    if item.get("prefer_not_to_say")
                    else _("Answer this question.")
                )
                self.add_error(code, message)
            return
        if value == PNTS:
            return
        if item["type"] == "date":
            low, high = _date_bound(item.get("min"), self.today), _date_bound(item.get("max"), self.today)
            day = datetime.date.fromisoformat(value)
            if low and day < low:
                self.add_error(code, _("Enter a date on or after %(date)s.") % {"date": low.isoformat()})
                return
            if high and day > high:
                self.add_error(code, _("Enter a date on or before %(date)s.") % {"date": high.isoformat()})
                return
        if item["type"] == "short_text":
            validation = item.get("validation")
            if validation in ("datetime_ymd", "datetime_seconds_ymd"):
                value = value.replace("T", " ")
            pattern = TEXT_VALIDATIONS.get(validation or "")
            if pattern and not re.fullmatch(pattern, value):
                hint = TEXT_FORMATS.get(validation or "")
                message = (
                    _("Write it in the form %(format)s.") % {"format": hint}
                    if hint
                    else _("This does not look like a valid answer here.")
                )
                self.add_error(code, message)
                return
            for key, wrong in (("min", lambda a, b: a < b), ("max", lambda a, b: a > b)):
                bound = item.get(key)
                if isinstance(bound, str) and bound != "today" and wrong(value, bound):
                    self.add_error(
                        code,
                        _("This answer is outside the range %(min)s to %(max)s.")
                        % {
                            "min": item.get("min", "…"),
                            "max": item.get("max", "…"),
                        },
                    )
                    return
        constraint = item.get("constraint")
        if constraint:
            try:
                holds = expressions.parse(constraint).is_true(
                    context, today=self.today, self_value=value, events=self.events
                )
            except expressions.ExpressionError:
                holds = True  # a broken definition must not stop a person from answering
            if not holds:
                self.add_error(
                    code, self.text(item.get("constraint_message")) or _("This answer is not possible here.")
                )

    def answers(self) -> dict[str, Any]:
        """What to save: each item asked on this page (not the ones it has just shown), "" mapped to None."""
        return {code: (None if value == "" else value) for code, value in self.values.items()}

    # -- drawing

    def rows(self, *, show_errors: bool = True) -> list[Row]:
        """Every item of the section in order; matrix groups together; hidden items as empty places."""
        rows: list[Row] = []
        groups: dict[str, Row] = {}
        for item in self.section["items"]:
            code = item["code"]
            if item["type"] == "calculated":
                continue
            if code not in self.visible:
                row = Row("hidden", code)
            elif item["type"] == "descriptive":
                row = Row(
                    "descriptive",
                    code,
                    text=self.text(item.get("label")),
                    heading=self.text(item.get("heading")),
                )
            else:
                row = Row("item", code, item=self._view(item, show_errors))
            group = item.get("matrix_group")
            if group and item["type"] != "descriptive":
                if group not in groups:
                    groups[group] = Row("group", group)
                    rows.append(groups[group])
                groups[group].members.append(row)
            else:
                rows.append(row)
        for row in groups.values():
            visible = [member for member in row.members if member.kind != "hidden"]
            first = self.items_by_code().get(row.members[0].code, {})
            heading = self.text(first.get("heading"))
            if heading and row.members[0].item:
                row.members[0].item.heading = ""
            multiple = bool(visible and visible[0].item and visible[0].item.kind == "checkbox")
            row.legend = heading or (
                _("For each statement, choose every answer that applies.")
                if multiple
                else _("For each statement, choose one answer.")
            )
            if not visible:
                row.kind, row.legend = "hidden_group", ""
        return rows

    def items_by_code(self) -> dict[str, dict[str, Any]]:
        return {item["code"]: item for item in self.section["items"]}

    def _view(self, item: dict[str, Any], show_errors: bool) -> ItemView:
        code = item["code"]
        bound = self[code]
        kind = (
            "checkbox"
            if item["type"] == "multiple_choice"
            else "radio"
            if self._choice_like(item)
            else "textarea"
            if item["type"] == "long_text"
            else "input"
        )
        errors = (
            [str(e) for e in bound.errors]
            if show_errors and self.is_bound and code not in self.unseen
            else []
        )
        help_text = self.text(item.get("help"))
        hint = TEXT_FORMATS.get(item.get("validation") or "") if item["type"] == "short_text" else None
        if hint:
            help_text = " ".join(t for t in (help_text, _("Format: %(format)s") % {"format": hint}) if t)
        anchors = [self.text(anchor) for anchor in item.get("anchors", [])]
        if anchors and item["type"] == "slider" and kind != "radio":
            low, high = item.get("min", 0), item.get("max", 100)
            points = [low, high] if len(anchors) == 2 else [low, (low + high) / 2, high][: len(anchors)]
            described = " · ".join(
                f"{_number(decimal.Decimal(str(p)))} = {a}" for p, a in zip(points, anchors, strict=False)
            )
            help_text = " ".join(t for t in (help_text, described) if t)
        view = ItemView(
            code=code,
            kind=kind,
            label=str(bound.label or code),
            help=help_text,
            heading=self.text(item.get("heading")),
            required=bool(item.get("required")),
            bound=bound,
            errors=errors,
        )
        if kind in ("radio", "checkbox"):
            chosen = bound.value()
            chosen_set = {str(v) for v in chosen} if isinstance(chosen, list | tuple) else {str(chosen)}
            view.options = [
                Option(f"{bound.auto_id}_{n}", value, label, value in chosen_set)
                for n, (value, label) in enumerate(self._choices(item))
            ]
        else:
            attrs = bound.field.widget.attrs
            attrs.pop("aria-describedby", None)
            if view.described_by:
                attrs["aria-describedby"] = view.described_by
        if code + PNTS_SUFFIX in self.fields:
            view.pnts = self[code + PNTS_SUFFIX]
        return view


# --- staff forms ---------------------------------------------------------------------------------


def _version_label(version: InstrumentVersion) -> str:
    return _("%(name)s, version %(number)s") % {"name": version.instrument.name, "number": version.number}


class _VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return _version_label(obj)


def versions_for(organization: Any) -> Any:
    return (
        InstrumentVersion.objects.filter(instrument__in=Instrument.objects.available_to(organization))
        .select_related("instrument")
        .order_by("instrument__name", "-number")
    )


class IssueLinkForm(forms.Form):
    version = _VersionChoiceField(
        label=gettext_lazy("Questionnaire"), queryset=InstrumentVersion.objects.none()
    )
    purpose = forms.CharField(
        label=gettext_lazy("Purpose"),
        max_length=60,
        help_text=gettext_lazy("For example the timepoint: “T0 intake” or “3 months”."),
    )
    expires_on = forms.DateField(
        label=gettext_lazy("Works until"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("The link stops working at the end of this day."),
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("How it will be sent"), choices=Channel.choices, widget=forms.RadioSelect
    )
    send_later = forms.BooleanField(
        label=gettext_lazy(
            "If now is outside the times they may be contacted, send it at the next allowed time"
        ),
        required=False,
        help_text=gettext_lazy("The link is created now; the next page says from when it may be sent."),
    )

    def __init__(self, *args: Any, organization: Any, today: datetime.date, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"expires_on": today + datetime.timedelta(days=DEFAULT_EXPIRY_DAYS)})
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = versions_for(organization)  # type: ignore[attr-defined]
        self.today = today

    def expires_at(self) -> datetime.datetime:
        """The end of the chosen day, in the organization's time zone."""
        day: datetime.date = self.cleaned_data["expires_on"] + datetime.timedelta(days=1)
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())

    def clean_expires_on(self) -> datetime.date:
        value: datetime.date = self.cleaned_data["expires_on"]
        if value < self.today:
            raise forms.ValidationError(_("Choose today or a later day."))
        return value


class LinkCodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=40,
        help_text=gettext_lazy(
            "The code you were given, for example ABCDE-FGHJK. Capitals or not, with or without the dash."
        ),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class StartResponseForm(forms.Form):
    version = _VersionChoiceField(
        label=gettext_lazy("Questionnaire"), queryset=InstrumentVersion.objects.none()
    )
    purpose = forms.CharField(label=gettext_lazy("Purpose"), max_length=60)

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = versions_for(organization)  # type: ignore[attr-defined]


MAX_UPLOAD_BYTES = 5 * 1024 * 1024


_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _is_xlsform_file(content: bytes) -> bool:
    """An .xlsx (zip), an .xls (OLE2) or a UTF-8 CSV text: the three kinds pyxform reads."""
    if content.startswith((b"PK\x03\x04", _XLS_MAGIC)):
        return True
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text and bool(text.strip())


class ImportForm(forms.Form):
    source = forms.ChoiceField(
        label=gettext_lazy("Kind of file"),
        choices=[(Source.REDCAP.value, Source.REDCAP.label), (Source.XLSFORM.value, Source.XLSFORM.label)],
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        label=gettext_lazy("File"), help_text=gettext_lazy("A .csv, .xlsx or .xls file of at most 5 MB.")
    )
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("Optional: a short code for the instrument. The file name is used if empty."),
    )
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200, required=False)
    language = forms.ChoiceField(
        label=gettext_lazy("Language of a REDCap dictionary"),
        choices=[("en", gettext_lazy("English")), ("es", gettext_lazy("Spanish"))],
        initial="en",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        source = cleaned.get("source")
        if upload is None or source is None:
            return cleaned
        if upload.size > MAX_UPLOAD_BYTES:
            self.add_error("file", _("The file is larger than 5 MB."))
            return cleaned
        content = upload.read()
        # The type is checked by content, not by name: an XLSForm is a zip (.xlsx), an OLE2 file (.xls) or
        # CSV text, as the import_xlsform command takes it; a dictionary is text.
        if source == Source.XLSFORM and not _is_xlsform_file(content):
            self.add_error(
                "file", _("This is not an XLSForm: an .xlsx or .xls workbook, or a CSV text file.")
            )
        elif source == Source.REDCAP:
            try:
                content.decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("file", _("This is not a CSV text file (UTF-8)."))
        cleaned["content"] = content
        return cleaned
