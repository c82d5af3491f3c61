"""Forms of the plan and schedule pages: plain forms, so that nobody sets a field they should not."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from circlekeeper.accounts.models import Organization
from circlekeeper.cases.models import ParticipantRole
from circlekeeper.evaluation.models import Anchor, EvaluationPlan, PlanTimepoint
from circlekeeper.evaluation.scheduling import ASKABLE_ROLES, TimepointChange
from circlekeeper.instruments.models import Instrument

# Offsets up to three years: the longest follow-up EVALUATION.md names is 24 months.
MAX_DAYS = 3 * 366


class EnrolForm(forms.Form):
    plan = forms.ModelChoiceField(
        queryset=EvaluationPlan.objects.none(), label=_("Evaluation plan"), empty_label=None
    )
    enrolled_on = forms.DateField(
        label=_("Enrolled on"),
        help_text=_("The intake timepoint (T0) is counted from this day."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, plans: list[EvaluationPlan], today: datetime.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan_field: Any = self.fields["plan"]
        plan_field.queryset = EvaluationPlan.objects.filter(pk__in=[plan.pk for plan in plans])
        plan_field.label_from_instance = lambda plan: (
            _("%(name)s (your network's shared plan)") % {"name": plan.name} if plan.network_id else plan.name
        )
        if plans:
            self.fields["plan"].initial = plans[0].pk
        self.fields["enrolled_on"].initial = today


class TimepointForm(forms.Form):
    lock_version = forms.IntegerField(widget=forms.HiddenInput)
    code = forms.CharField(
        label=_("Code"),
        max_length=10,
        help_text=_("A short code that analyses and exports use, e.g. T3."),
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9_-]+$", _("Use letters, digits, dashes or underscores only, e.g. T3.")
            )
        ],
    )
    label = forms.CharField(label=_("Label"), max_length=100)
    anchor = forms.ChoiceField(label=_("Counted from"), choices=Anchor.choices)
    offset_days = forms.IntegerField(
        label=_("Due, days after the anchor"), min_value=-MAX_DAYS, max_value=MAX_DAYS
    )
    opens_days_before = forms.IntegerField(
        label=_("Opens, days before it is due"), min_value=0, max_value=MAX_DAYS
    )
    closes_days_after = forms.IntegerField(
        label=_("Closes, days after it is due"), min_value=0, max_value=MAX_DAYS
    )
    instruments = forms.ModelMultipleChoiceField(
        queryset=Instrument.objects.none(),
        label=_("Questionnaires"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Built-in questionnaires are asked only of the people they were written for (for example, felt "
            "safety of the survivor, taking responsibility of the person who caused harm)."
        ),
    )
    roles = forms.MultipleChoiceField(
        label=_("Asked of"),
        choices=[(role.value, role.label) for role in ASKABLE_ROLES],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Children are never asked."),
    )

    def __init__(
        self,
        *args: Any,
        organization: Organization | None,
        plan: EvaluationPlan,
        timepoint: PlanTimepoint | None = None,
        **kwargs: Any,
    ) -> None:
        data = args[0] if args else kwargs.get("data")
        if timepoint is not None and data is None:
            kwargs["initial"] = {
                "code": timepoint.code,
                "label": timepoint.label,
                "anchor": timepoint.anchor,
                "offset_days": timepoint.offset_days,
                "opens_days_before": timepoint.opens_days_before,
                "closes_days_after": timepoint.closes_days_after,
                "instruments": [i.pk for i in timepoint.instruments.all()],
                "roles": list(timepoint.roles or []),
            }
        super().__init__(*args, **kwargs)
        self.fields["lock_version"].initial = plan.lock_version
        instruments: Any = self.fields["instruments"]
        # A network's shared plan (organization None) offers only the shared questionnaires: every organization
        # of the network has those, and none of its own.
        instruments.queryset = Instrument.objects.available_to(organization).order_by("name", "id")
        if timepoint is None and not self.is_bound:
            self.fields["roles"].initial = [ParticipantRole.SURVIVOR.value]

    def change(self) -> TimepointChange:
        data = self.cleaned_data
        return TimepointChange(
            code=data["code"],
            label=data["label"],
            anchor=data["anchor"],
            offset_days=data["offset_days"],
            opens_days_before=data["opens_days_before"],
            closes_days_after=data["closes_days_after"],
            instruments=list(data["instruments"]),
            roles=list(data["roles"]),
        )


class LockForm(forms.Form):
    """A POST that changes a plan without other fields (retiring a timepoint): only the version it was read at."""

    lock_version = forms.IntegerField(widget=forms.HiddenInput)
