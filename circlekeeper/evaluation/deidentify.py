"""k-anonymity of the evaluator's row data (issue 21, Build 2; SECURITY.md, EVALUATION.md "Exports").

A person in the row data is seen through quasi-identifiers: their organization, track and role, and the month
of each of their rows (each timepoint due, each questionnaire answered). Coded names do not help when 40% of
people are unique on those alone. So before any row leaves (the data page and every export), every person's
quasi-identifiers are generalized until each person shares them with at least k - 1 others (k is the setting
CIRCLEKEEPER_DEIDENTIFICATION_K, default 5):

1. if anyone is in a group smaller than k, months become quarters for everyone (2026-03 → 2026-Q1);
2. the people still in a group smaller than k lose their periods (shown empty), then their track, then their
   role (local suppression: an empty value is a value of its own, so they only match others so treated);
3. anyone still in a group smaller than k (a pattern of timepoints nobody else has) is left out of the rows.

The plan is made once over everything the scope's row exports show of each person — the timepoint table and
the answers to every instrument — because the participant code is the same in every file, and a person unique
in two files joined must be protected in each. Nothing here decrypts anything: only codes, tracks, roles,
timepoint codes and dates are read. `Plan.summary` says what was done, the k achieved and the share of records
altered, for the data page and each export's codebook.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from circlekeeper.cases.models import ParticipantRole
from circlekeeper.evaluation.dataset import Coder, Scope, month_of, timepoints_frame
from circlekeeper.instruments.models import Response, ResponseStatus

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_K = 5
# A withheld value, in every column it replaces (a track, a role, a month or quarter).
SUPPRESSED = "suppressed"
# The quasi-identifiers of a row, besides the participant's code: the kind of row it is (an instrument's code,
# or "due" for the timepoint table), its timepoint and its month.
ROW_COLUMNS = ["participant", "organization", "track", "role", "source", "timepoint", "month"]


def required_k() -> int:
    return int(getattr(settings, "CIRCLEKEEPER_DEIDENTIFICATION_K", DEFAULT_K))


def quarter_of(month: str) -> str:
    """'2026-03' → '2026-Q1'; an empty month stays empty."""
    if not month or month == SUPPRESSED:
        return month
    year, number = month.split("-")
    return f"{year}-Q{(int(number) - 1) // 3 + 1}"


@dataclass(frozen=True)
class Person:
    """What a person's rows show: their track and role (SUPPRESSED when withheld), whether their periods are
    withheld, and whether they are left out."""

    track: str
    role: str
    periods_withheld: bool = False
    dropped: bool = False


@dataclass
class Plan:
    k: int
    quarters: bool
    people: dict[str, Person] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def period(self, month: str, person: Person) -> str:
        if person.periods_withheld:
            return SUPPRESSED
        return quarter_of(month) if self.quarters else month

    def apply(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The row as it may leave, or None when its person is left out. A person the plan does not know (a row
        written after it was made) is left out: nobody is shown unprotected."""
        person = self.people.get(row["participant"])
        if person is None or person.dropped:
            return None
        return row | {
            "track": person.track,
            "role": person.role,
            "month": self.period(row.get("month") or "", person),
        }

    def apply_all(self, rows: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        for row in rows:
            shown = self.apply(row)
            if shown is not None:
                yield shown


def _signatures(rows: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
    """Each person's quasi-identifiers as one text: organization, track, role and every (source, timepoint,
    period) they have, in order."""
    pattern = (
        rows.assign(item=rows["source"] + "|" + rows["timepoint"] + "|" + rows["period"])
        .groupby("participant")["item"]
        .agg(lambda items: "§".join(sorted(items)))
    )
    return people["organization"] + "¦" + people["track"] + "¦" + people["role"] + "¦" + pattern


def _group_sizes(rows: pd.DataFrame, people: pd.DataFrame) -> pd.Series:
    """k of each person: how many people share their quasi-identifiers (pandas groupby)."""
    signature = _signatures(rows, people)
    return signature.groupby(signature).transform("size")


def make_plan(rows: pd.DataFrame, k: int | None = None) -> Plan:
    """The generalization of `rows` (ROW_COLUMNS, one per row any export shows) until every person kept has
    k ≥ `k` (see the module's docstring)."""
    k = required_k() if k is None else k
    if rows.empty:
        return Plan(k=k, quarters=False, summary=_summary(k, None, 0, 0, 0, 0, False, {}))
    rows = rows[ROW_COLUMNS].astype(str).copy()
    people = rows.groupby("participant")[["organization", "track", "role"]].first()
    rows["period"] = rows["month"]
    sizes = _group_sizes(rows, people)
    quarters = bool((sizes < k).any())
    if quarters:
        rows["period"] = rows["month"].map(quarter_of)
        sizes = _group_sizes(rows, people)
    withheld: dict[str, int] = {"periods": 0, "tracks": 0, "roles": 0}
    periods_withheld = set()
    for step in ("periods", "tracks", "roles"):
        small = sizes.index[sizes < k]
        if small.empty:
            break
        withheld[step] = len(small)
        if step == "periods":
            periods_withheld.update(small)
            rows.loc[rows["participant"].isin(small), "period"] = SUPPRESSED
        else:
            people.loc[small, "track" if step == "tracks" else "role"] = SUPPRESSED
        sizes = _group_sizes(rows, people)
    dropped = set(sizes.index[sizes < k])
    kept_sizes = sizes[sizes >= k]
    plan = Plan(k=k, quarters=quarters)
    for participant, person in people.iterrows():
        plan.people[str(participant)] = Person(
            track=str(person["track"]),
            role=str(person["role"]),
            periods_withheld=participant in periods_withheld,
            dropped=participant in dropped,
        )
    altered_people = periods_withheld | dropped | set(people.index[people["track"] == SUPPRESSED])
    altered_people |= set(people.index[people["role"] == SUPPRESSED])
    altered = int(rows["participant"].isin(altered_people).sum())
    achieved = int(kept_sizes.min()) if len(kept_sizes) else None
    plan.summary = _summary(k, achieved, len(people), len(dropped), len(rows), altered, quarters, withheld)
    return plan


def _summary(
    k: int,
    achieved: int | None,
    people: int,
    dropped: int,
    records: int,
    altered: int,
    quarters: bool,
    withheld: dict[str, int],
) -> dict[str, Any]:
    return {
        "k_required": k,
        "k_achieved": achieved,
        "people": people,
        "people_dropped": dropped,
        "records": records,
        "records_altered": altered,
        "share_altered": altered / records if records else 0.0,
        "percent_altered": round(100 * altered / records, 1) if records else 0.0,
        "quarters": quarters,
        "periods_withheld": withheld.get("periods", 0),
        "tracks_withheld": withheld.get("tracks", 0),
        "roles_withheld": withheld.get("roles", 0),
    }


# The summary's entries as they go into a codebook, in this order.
SUMMARY_KEYS = (
    "k_required",
    "k_achieved",
    "share_altered",
    "quarters",
    "periods_withheld",
    "tracks_withheld",
    "roles_withheld",
    "people_dropped",
    "records_altered",
    "records",
)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What was done to reach k-anonymity, in sentences of the active language: what each export's codebook
    and file notes say (the data page says the same, _k_anonymity.html)."""
    k = summary["k_required"]
    lines = [
        _(
            "De-identification: every person in these rows shares their organization, track, role and the "
            "periods of their rows with at least %(k)s people in all (k-anonymity, k required = %(k)s)."
        )
        % {"k": k}
    ]
    if summary["k_achieved"] is None:
        lines.append(_("k achieved: no one could be shown."))
    else:
        lines.append(
            _("k achieved: %(k)s (the smallest group of people who look alike).")
            % {"k": summary["k_achieved"]}
        )
    if summary["quarters"]:
        lines.append(_("Months are coarsened to quarters for everyone (for example 2026-Q1)."))
    else:
        lines.append(_("Months are kept: everyone already shared them with enough others."))
    for key, singular, plural in (
        (
            "periods_withheld",
            "The periods of %(n)s person are shown as “suppressed”.",
            "The periods of %(n)s people are shown as “suppressed”.",
        ),
        (
            "tracks_withheld",
            "The track of %(n)s person is shown as “suppressed”.",
            "The track of %(n)s people is shown as “suppressed”.",
        ),
        (
            "roles_withheld",
            "The role of %(n)s person is shown as “suppressed”.",
            "The role of %(n)s people is shown as “suppressed”.",
        ),
    ):
        if summary[key]:
            lines.append(ngettext(singular, plural, summary[key]) % {"n": summary[key]})
    if summary["people_dropped"]:
        lines.append(
            ngettext(
                "%(n)s person is left out: their pattern of timepoints is shared with too few others.",
                "%(n)s people are left out: their pattern of timepoints is shared with too few others.",
                summary["people_dropped"],
            )
            % {"n": summary["people_dropped"]}
        )
    lines.append(
        _(
            "Records altered beyond the coarsening (a value suppressed, or left out): %(altered)s of %(records)s "
            "(%(percent)s %%)."
        )
        % {
            "altered": summary["records_altered"],
            "records": summary["records"],
            "percent": summary["percent_altered"],
        }
    )
    return lines


def summary_label(summary: dict[str, Any]) -> str:
    """The summary in one short line (a Stata file label holds 80 characters)."""
    return _("k-anonymity: k %(achieved)s (k %(k)s required), %(percent)s %% of records altered") % {
        "achieved": "-" if summary["k_achieved"] is None else summary["k_achieved"],
        "k": summary["k_required"],
        "percent": summary["percent_altered"],
    }


def scope_rows(scope: Scope) -> pd.DataFrame:
    """Everything the scope's row exports show of each person (ROW_COLUMNS): each timepoint due (the timepoint
    table) and each questionnaire answered (the instruments' tables), without reading any answer."""
    import pandas as pd

    code = Coder(scope.evaluation)
    slugs = {organization.pk: organization.slug for organization in scope.organizations}
    due = timepoints_frame(scope)
    frames = [
        pd.DataFrame(
            {
                "participant": due["participant"],
                "organization": due["organization"],
                "track": due["track"],
                "role": due["role"],
                "source": "due",
                "timepoint": due["timepoint"],
                "month": due["month"],
            },
            columns=ROW_COLUMNS,
        )
    ]
    answered = (
        Response.objects.filter(
            organization_id__in=scope.organization_ids,
            status=ResponseStatus.SUBMITTED,
            participant__isnull=False,
            case__isnull=False,
            case__organization_id__in=scope.organization_ids,
        )
        .exclude(participant__role=ParticipantRole.CHILD)
        .values_list(
            "participant__uid",
            "organization_id",
            "case__track",
            "participant__role",
            "version__instrument__code",
            "timepoint__code",
            "submitted_at",
        )
        .order_by()
    )
    frames.append(
        pd.DataFrame(
            [
                (code(uid), slugs[organization], track, role, source, timepoint or "", month_of(submitted))
                for uid, organization, track, role, source, timepoint, submitted in answered.iterator()
            ],
            columns=ROW_COLUMNS,
        )
    )
    return pd.concat(frames, ignore_index=True)


def plan_for(scope: Scope, k: int | None = None) -> Plan:
    return make_plan(scope_rows(scope), k)
