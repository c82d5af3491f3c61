"""Time to first event: Kaplan-Meier against a hand-worked example with censoring; the log-rank test on a known set."""

import pandas as pd
import pytest

from circlekeeper.evaluation.analysis import AnalysisError, survival

# Six people: first event at day 2, 4, 5 and 8; censored (follow-up ended, no event) at day 3 and 5.
SIX = pd.DataFrame(
    {
        "arm": ["circles"] * 6,
        "day": [2, 3, 4, 5, 5, 8],
        "event": [True, False, True, True, False, True],
    }
)
# Worked by hand, S(t) = product over event times of (1 - events / at risk):
#   day 2: 6 at risk, 1 event      -> 5/6
#   day 3: censored, nothing changes (5 left at risk)
#   day 4: 4 at risk, 1 event      -> 5/6 * 3/4 = 0.625
#   day 5: 3 at risk (the one censored at day 5 still counts), 1 event -> 0.625 * 2/3 = 0.41667
#   day 8: 1 at risk, 1 event      -> 0
BY_HAND = {1: 1.0, 2: 5 / 6, 3: 5 / 6, 4: 0.625, 6: 0.625 * 2 / 3, 8: 0.0}

# Freireich et al. (1963), remission times in weeks (MASS::gehan): 6-MP against placebo, 0 = censored.
# R's survdiff gives chi-squared 16.8 on 1 df, p = 4.17e-05; survfit gives medians 23 and 8.
MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
MP_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
GEHAN = pd.DataFrame(
    {"treat": ["6-MP"] * 21 + ["placebo"] * 21, "weeks": MP + PLACEBO, "relapse": MP_EVENT + [1] * 21}
)


def test_the_kaplan_meier_estimate_equals_the_hand_worked_one():
    result = survival(SIX, "arm", "day", "event", at=list(BY_HAND))
    [group] = result["groups"]
    assert (group["n"], group["events"]) == (6, 4)
    assert group["survival_at"] == pytest.approx(BY_HAND)


def test_the_median_is_the_first_day_the_estimate_falls_below_one_half():
    [group] = survival(SIX, "arm", "day", "event")["groups"]
    assert group["median_days"] == 5


def test_a_median_never_reached_is_none():
    few_events = pd.DataFrame({"arm": ["a"] * 4, "day": [10, 12, 15, 20], "event": [0, 1, 0, 0]})
    [group] = survival(few_events, "arm", "day", "event", at=[11, 12])["groups"]
    assert group["median_days"] is None
    # Day 12: the one censored at day 10 is no longer at risk, so 1 event among 3.
    assert group["survival_at"] == pytest.approx({11: 1.0, 12: 2 / 3})


def test_survival_beyond_everyone_s_follow_up_is_not_estimated():
    [group] = survival(SIX, "arm", "day", "event", at=[8, 9, 365])["groups"]
    assert group["survival_at"] == {8: 0.0, 9: None, 365: None}


def test_the_log_rank_test_and_medians_match_the_published_values_for_the_gehan_data():
    result = survival(GEHAN, "treat", "weeks", "relapse", at=[10])
    assert result["logrank_p"] == pytest.approx(4.169e-05, rel=1e-3)
    assert [(g["group"], g["n"], g["events"], g["median_days"]) for g in result["groups"]] == [
        ("6-MP", 21, 9, 23.0),
        ("placebo", 21, 21, 8.0),
    ]
    assert (result["n"], result["events"]) == (42, 30)


def test_one_group_has_no_log_rank_test():
    assert survival(SIX, "arm", "day", "event")["logrank_p"] is None


def test_negative_days_or_an_event_that_is_not_true_or_false_are_refused():
    with pytest.raises(AnalysisError, match="day must be a number of days of 0 or more"):
        survival(SIX.assign(day=[-1, 3, 4, 5, 5, 8]), "arm", "day", "event")
    with pytest.raises(AnalysisError, match="event must be true or false"):
        survival(SIX.assign(event=[2, 0, 1, 1, 0, 1]), "arm", "day", "event")
    with pytest.raises(AnalysisError, match="event is empty in 1 rows"):
        survival(SIX.assign(event=[None, 0, 1, 1, 0, 1]), "arm", "day", "event")
