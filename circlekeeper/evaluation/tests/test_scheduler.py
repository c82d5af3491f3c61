"""The evaluation scheduler with the clock moved by time-machine: windows open, links go out, the team is reminded and
windows close, each exactly once however often it runs; never back-filled; every contact through contact_allowed."""

import datetime

import time_machine
from django.core import mail
from django.db.models import Q

from circlekeeper.cases.models import (
    CaseStatus,
    CaseTask,
    ContactChannel,
    Participant,
    ParticipantRole,
    TaskKind,
    Track,
)
from circlekeeper.evaluation import scheduling
from circlekeeper.evaluation.models import Timepoint, TimepointStatus
from circlekeeper.evaluation.scheduling import run_scheduler
from circlekeeper.evaluation.tasks import evaluation_scheduler_task, pending_runs
from circlekeeper.evaluation.tests.schedule_helpers import (
    enrolled,
    local,
    rows,
    set_up_builtins,
    survivor_and_harm,
)
from circlekeeper.instruments import filling
from circlekeeper.instruments.links import find_usable_link, start_response
from circlekeeper.instruments.models import ParticipantLink, Response, ResponseStatus
from circlekeeper.safety.models import HoldReason
from circlekeeper.safety.services import open_hold
from circlekeeper.testing import PersonaTestCase, make_reachable, ready_for_contact

# Enrolled on Monday 2 March 2026: T0 opens that day and closes at the end of 16 March; T3 is due on 31 May,
# opens on 17 May and closes at the end of 14 June.
T3_OPENS = local(2026, 5, 17, 0, 30)
T3_DUE_PASSED = local(2026, 6, 1, 10)
T3_CLOSED = local(2026, 6, 15, 0, 30)


def links_to(participant):
    return ParticipantLink.objects.filter(participant=participant)


def timepoint_link_of(row):
    return Q(pk=row.link_id)


def evaluation_tasks(participant):
    return CaseTask.objects.filter(participant=participant, kind=TaskKind.EVALUATION_DUE)


class SchedulerTestCase(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        set_up_builtins()

    def setUp(self):
        self.survivor, self.harm = survivor_and_harm(self.case)
        type(self.case).objects.filter(pk=self.case.pk).update(track=Track.DIRECT_DIALOGUE)
        self.case.refresh_from_db()
        ready_for_contact(self.case, self.alice)
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            self.enrollment = enrolled(self.case, self.alice)

    def run_at(self, moment):
        # Invitations go out when the run's transaction commits (issue 20).
        with time_machine.travel(moment, tick=False), self.captureOnCommitCallbacks(execute=True):
            return run_scheduler(moment)

    def finish_t0(self):
        """Answer T0 for both, so that later steps look at one timepoint only."""
        Timepoint.objects.filter(code="T0").update(status=TimepointStatus.CANCELLED)


class IdempotenceTests(SchedulerTestCase):
    def test_enrolment_makes_the_rows_of_the_anchors_reached_for_the_roles_asked(self):
        survivor_t0 = {row.instrument.code for row in rows(self.survivor, "T0")}
        harm_t0 = {row.instrument.code for row in rows(self.harm, "T0")}
        self.assertEqual(
            survivor_t0,
            {
                "outcome_safety",
                "outcome_recurrence",
                "outcome_healing",
                "outcome_family_wellbeing",
                "outcome_connectedness",
            },
        )
        self.assertEqual(harm_t0, {"outcome_accountability", "outcome_connectedness"})
        # T1 and T2 wait for the case to reach preparation and the agreement.
        self.assertEqual({row.code for row in rows(self.survivor)}, {"T0", "T3", "T4", "T5"})
        self.assertTrue(all(row.status == TimepointStatus.SCHEDULED for row in rows(self.survivor)))

    def test_running_twice_at_the_same_instant_issues_nothing_twice(self):
        moment = local(2026, 3, 2, 10)
        first = self.run_at(moment)
        self.assertEqual(first.emails, 2)
        self.assertEqual(first.links, 7)
        snapshot = (
            Timepoint.objects.count(),
            ParticipantLink.objects.count(),
            CaseTask.objects.count(),
            len(mail.outbox),
            list(Timepoint.objects.order_by("id").values_list("status", "link_id", "reminded_at")),
        )
        second = self.run_at(moment)
        self.assertEqual(
            (second.made, second.opened, second.emails, second.links, second.tasks), (0, 0, 0, 0, 0)
        )
        self.assertEqual(
            snapshot,
            (
                Timepoint.objects.count(),
                ParticipantLink.objects.count(),
                CaseTask.objects.count(),
                len(mail.outbox),
                list(Timepoint.objects.order_by("id").values_list("status", "link_id", "reminded_at")),
            ),
        )

    def test_moving_the_clock_through_a_window_opens_reminds_and_closes_it_exactly_once(self):
        self.finish_t0()
        self.run_at(local(2026, 5, 16, 23, 0))
        self.assertEqual(mail.outbox, [])
        self.assertTrue(all(r.status == TimepointStatus.SCHEDULED for r in rows(self.survivor, "T3")))

        # The window opens: one email per person, one link per questionnaire.
        for _ in range(2):
            self.run_at(T3_OPENS)
        t3 = rows(self.survivor, "T3")
        self.assertEqual({r.status for r in t3}, {TimepointStatus.OPEN})
        self.assertEqual(len(mail.outbox), 2)
        self.assertEqual(sorted(m.to[0] for m in mail.outbox), ["harm@example.org", "survivor@example.org"])
        self.assertEqual(links_to(self.survivor).count(), len(t3))
        self.assertTrue(all(r.link is not None and r.link.expires_at == r.closes_at for r in t3))
        self.assertFalse(evaluation_tasks(self.survivor).exists())

        # It is due and unanswered: the team is reminded once.
        for _ in range(2):
            self.run_at(T3_DUE_PASSED)
        self.assertEqual(evaluation_tasks(self.survivor).count(), 1)
        self.assertEqual(evaluation_tasks(self.harm).count(), 1)
        self.assertTrue(all(r.reminded_at == T3_DUE_PASSED for r in rows(self.survivor, "T3")))
        self.assertEqual(len(mail.outbox), 2)

        # It closes unanswered: missed, once; its links stop working; the team's task is done.
        report = self.run_at(T3_CLOSED)
        self.assertEqual(report.missed, len(t3) + len(rows(self.harm, "T3")))
        again = self.run_at(T3_CLOSED)
        self.assertEqual(again.missed, 0)
        t3 = rows(self.survivor, "T3")
        self.assertEqual({r.status for r in t3}, {TimepointStatus.MISSED})
        self.assertTrue(all(r.missed_at == T3_CLOSED for r in t3))
        self.assertTrue(all(r.link is not None and r.link.revoked_at == T3_CLOSED for r in t3))
        self.assertIsNotNone(evaluation_tasks(self.survivor).get().done_at)
        self.assertEqual(len(mail.outbox), 2)

    def test_a_window_the_scheduler_slept_through_is_missed_not_opened(self):
        self.run_at(local(2026, 3, 20, 10))  # T0 closed at the end of 16 March
        self.assertEqual({r.status for r in rows(self.survivor, "T0")}, {TimepointStatus.MISSED})
        self.assertEqual(mail.outbox, [])
        self.assertFalse(ParticipantLink.objects.exists())

    def test_a_second_delivery_of_a_delivered_timepoint_does_nothing(self):
        """What a concurrent run finds once it gets the row lock: the link is there already."""
        self.run_at(local(2026, 3, 2, 10))
        report = scheduling.SchedulerReport()
        with time_machine.travel(local(2026, 3, 2, 10), tick=False):
            scheduling._deliver_safely((self.survivor.pk, "T0"), local(2026, 3, 2, 10), report)
        self.assertEqual((report.emails, report.links, report.tasks), (0, 0, 0))
        self.assertEqual(len(mail.outbox), 2)

    def test_rows_made_again_are_not_doubled(self):
        before = Timepoint.objects.count()
        with time_machine.travel(local(2026, 3, 3), tick=False):
            made = scheduling.sync_enrollments([self.enrollment], now=local(2026, 3, 3))
        self.assertEqual(made, 0)
        self.assertEqual(Timepoint.objects.count(), before)

    def test_the_background_task_runs_the_scheduler_and_queues_the_next_hour(self):
        with time_machine.travel(local(2026, 3, 2, 10, 5), tick=False):
            result = evaluation_scheduler_task.call()
        self.assertEqual(result["emails"], 2)
        self.assertEqual(pending_runs().count(), 1)
        self.assertEqual(pending_runs().get().run_after, local(2026, 3, 2, 11, 0))


class ContactTests(SchedulerTestCase):
    def test_when_no_channel_is_allowed_the_team_gets_one_task_and_no_link_goes_out(self):
        make_reachable(self.survivor, channels=[ContactChannel.PHONE_CALL, ContactChannel.IN_PERSON])
        for _ in range(2):
            self.run_at(local(2026, 3, 2, 10))
        self.assertFalse(links_to(self.survivor).exists())
        self.assertNotIn("survivor@example.org", [m.to[0] for m in mail.outbox])
        task = evaluation_tasks(self.survivor).get()
        self.assertEqual(task.due_on, datetime.date(2026, 3, 2))
        self.assertEqual(task.case, self.case)
        # The reminder when it is due is that same task, not a second one.
        self.run_at(local(2026, 3, 4, 10))
        self.assertEqual(evaluation_tasks(self.survivor).count(), 1)

    def test_outside_the_allowed_hours_nothing_is_sent_and_the_next_run_sends_it(self):
        make_reachable(self.survivor, from_time=datetime.time(17), until_time=datetime.time(19))
        self.run_at(local(2026, 3, 2, 10))
        self.assertFalse(links_to(self.survivor).exists())
        self.assertFalse(evaluation_tasks(self.survivor).exists())
        self.run_at(local(2026, 3, 2, 17, 30))
        self.assertEqual(links_to(self.survivor).count(), 5)
        self.assertEqual([m.to[0] for m in mail.outbox].count("survivor@example.org"), 1)

    def test_without_an_email_address_the_team_gets_the_task(self):
        Participant.objects.filter(pk=self.survivor.pk).update(email_index=None)
        survivor = Participant.objects.get(pk=self.survivor.pk)
        survivor.email = None
        survivor.save()
        self.run_at(local(2026, 3, 2, 10))
        self.assertFalse(links_to(survivor).exists())
        self.assertEqual(evaluation_tasks(survivor).count(), 1)

    def test_a_safety_hold_stops_everything_to_the_person_who_caused_harm_until_it_is_lifted(self):
        open_hold(case=self.case, reason=HoldReason.RISK, by=self.ada)
        self.run_at(local(2026, 3, 2, 10))
        self.assertFalse(links_to(self.harm).exists())
        self.assertNotIn("harm@example.org", [m.to[0] for m in mail.outbox])
        self.assertFalse(evaluation_tasks(self.harm).exists())
        self.run_at(local(2026, 3, 4, 10))  # due, and still on hold: no reminder either
        self.assertFalse(evaluation_tasks(self.harm).exists())
        # The survivor's questionnaires went out as usual.
        self.assertEqual(links_to(self.survivor).count(), 5)

        type(self.case).objects.filter(pk=self.case.pk).update(on_hold=False)  # a supervisor lifted it
        self.run_at(local(2026, 3, 5, 10))
        self.assertEqual(links_to(self.harm).count(), 2)
        self.assertEqual([m.to[0] for m in mail.outbox].count("harm@example.org"), 1)

    def test_the_email_names_nobody_and_not_what_it_is_about(self):
        self.run_at(local(2026, 3, 2, 10))
        self.assertEqual(len(mail.outbox), 2)
        for message in mail.outbox:
            text = (message.subject + "\n" + message.body).lower()
            for word in (
                "rosa",
                "survivorname",
                "hank",
                "harmname",
                "harbor",
                "violence",
                "harm",
                "safety",
                "abuse",
                "evaluation",
                "survivor a",
                "person who caused",
            ):
                self.assertNotIn(word, text)
            self.assertIn("/s/", message.body)
        # The link in the email opens the questionnaire.
        token = mail.outbox[0].body.split("/s/")[1].split("/")[0]
        self.assertIsNotNone(find_usable_link(token, now=local(2026, 3, 2, 11)))


class AnswersTests(SchedulerTestCase):
    def answer(self, link, moment):
        with time_machine.travel(moment, tick=False):
            response = start_response(link=link)
            response.answers = {
                "names_harm": "4",
                "no_excuses": "4",
                "not_my_fault": "2",
                "effects_on_them": "4",
            }
            response.save(update_fields=["answers"])
            filling.submit(response=response, today=moment.date(), link=link)
        return response

    def test_an_answer_through_the_link_completes_the_timepoint(self):
        self.run_at(local(2026, 3, 2, 10))
        row = Timepoint.objects.get(
            participant=self.harm, code="T0", instrument__code="outcome_accountability"
        )
        response = self.answer(row.link, local(2026, 3, 3, 10))
        row.refresh_from_db()
        self.assertEqual(row.status, TimepointStatus.COMPLETED)
        self.assertEqual(row.response, response)
        self.assertEqual(row.completed_at, local(2026, 3, 3, 10))

    def test_an_answer_after_the_window_closed_is_never_filed_under_it(self):
        self.run_at(local(2026, 3, 2, 10))
        row = Timepoint.objects.get(
            participant=self.harm, code="T0", instrument__code="outcome_accountability"
        )
        with time_machine.travel(local(2026, 3, 10, 10), tick=False):
            entry = scheduling.start_staff_entry(timepoint=row, by=self.alice)
            entry.answers = {
                "names_harm": "4",
                "no_excuses": "4",
                "not_my_fault": "2",
                "effects_on_them": "4",
            }
            entry.save(update_fields=["answers"])
        self.run_at(local(2026, 3, 17, 9))  # closed at the end of 16 March
        row.refresh_from_db()
        self.assertEqual(row.status, TimepointStatus.MISSED)
        self.assertIsNone(row.response)
        self.assertIsNone(find_usable_link("x", now=local(2026, 3, 17, 9)))
        self.assertIsNotNone(ParticipantLink.objects.get(timepoint_link_of(row)).revoked_at)
        # Staff finish entering the answers later: kept as a response, never filed under the missed timepoint.
        with time_machine.travel(local(2026, 3, 18, 10), tick=False):
            filling.submit(response=entry, today=datetime.date(2026, 3, 18))
        row.refresh_from_db()
        self.assertEqual(row.status, TimepointStatus.MISSED)
        self.assertIsNone(row.response)
        self.assertEqual(Response.objects.get(pk=entry.pk).status, ResponseStatus.SUBMITTED)
        self.assertFalse(
            Timepoint.objects.filter(Q(response=entry) | Q(status=TimepointStatus.COMPLETED)).exists()
        )
        # And the scheduler never changes it back.
        self.run_at(local(2026, 3, 19, 9))
        row.refresh_from_db()
        self.assertEqual(row.status, TimepointStatus.MISSED)

    def test_answers_entered_by_staff_complete_the_timepoint_and_stop_its_link(self):
        self.run_at(local(2026, 3, 2, 10))
        row = Timepoint.objects.get(
            participant=self.harm, code="T0", instrument__code="outcome_accountability"
        )
        with time_machine.travel(local(2026, 3, 3, 10), tick=False):
            entry = scheduling.start_staff_entry(timepoint=row, by=self.alice)
            entry.answers = {
                "names_harm": "4",
                "no_excuses": "4",
                "not_my_fault": "2",
                "effects_on_them": "4",
            }
            entry.save(update_fields=["answers"])
            filling.submit(response=entry, today=datetime.date(2026, 3, 3))
        row.refresh_from_db()
        self.assertEqual((row.status, row.response_id), (TimepointStatus.COMPLETED, entry.pk))
        self.assertIsNotNone(ParticipantLink.objects.get(timepoint_link_of(row)).revoked_at)


class EnrolmentEndsTests(SchedulerTestCase):
    def test_a_withdrawal_ends_the_enrolment_and_cancels_what_is_not_open(self):
        self.run_at(local(2026, 3, 2, 10))
        type(self.case).objects.filter(pk=self.case.pk).update(status=CaseStatus.WITHDRAWN)
        report = self.run_at(local(2026, 3, 3, 10))
        self.assertEqual(report.ended, 1)
        self.enrollment.refresh_from_db()
        self.assertEqual(self.enrollment.ended_at, local(2026, 3, 3, 10))
        self.assertEqual({r.status for r in rows(self.survivor, "T3")}, {TimepointStatus.CANCELLED})
        # The survivor may still answer what is open to them; nothing goes on with the other side.
        self.assertEqual({r.status for r in rows(self.survivor, "T0")}, {TimepointStatus.OPEN})
        self.assertEqual({r.status for r in rows(self.harm, "T0")}, {TimepointStatus.CANCELLED})
        self.assertFalse(any(link.is_usable(local(2026, 3, 3, 11)) for link in links_to(self.harm)))
        self.assertEqual(self.run_at(local(2026, 5, 20)).opened, 0)

    def test_withdrawn_consent_to_take_part_stops_that_persons_timepoints_at_the_next_run(self):
        self.run_at(local(2026, 3, 2, 10))
        self.harm.consents.filter(kind="take_part").update(revoked_at=local(2026, 3, 2, 12))
        self.run_at(local(2026, 3, 2, 13))
        self.assertEqual({r.status for r in rows(self.harm)}, {TimepointStatus.CANCELLED})
        self.assertFalse(any(link.is_usable(local(2026, 3, 2, 14)) for link in links_to(self.harm)))
        self.assertEqual({r.status for r in rows(self.survivor, "T0")}, {TimepointStatus.OPEN})


class AnchorTests(SchedulerTestCase):
    def test_reaching_preparation_schedules_t1_at_the_next_run(self):
        from circlekeeper.protocol.models import Transition, TransitionKind

        Transition.objects.create(
            organization=self.harbor,
            case=self.case,
            kind=TransitionKind.ADVANCE,
            from_stage="mapping_support",
            to_stage="preparation",
            by=self.alice,
            at=local(2026, 4, 1, 15),
        )
        self.assertEqual(rows(self.survivor, "T1"), [])
        self.run_at(local(2026, 4, 1, 16))
        t1 = rows(self.survivor, "T1")
        self.assertEqual({r.instrument.code for r in t1}, {"outcome_safety", "experience_of_process"})
        self.assertEqual({r.status for r in t1}, {TimepointStatus.OPEN})
        self.assertEqual(t1[0].opens_at, local(2026, 4, 1, 0))
        self.assertEqual(scheduling.due_day(t1[0]), datetime.date(2026, 4, 8))
        self.assertEqual(scheduling.last_day(t1[0]), datetime.date(2026, 4, 29))
        self.assertEqual(
            {r.instrument.code for r in rows(self.harm, "T1")},
            {"outcome_accountability", "experience_of_process"},
        )

    def test_a_participant_who_joins_later_gets_only_the_windows_still_to_close(self):
        with time_machine.travel(local(2026, 4, 20), tick=False):
            from circlekeeper.testing import make_participant

            supporter = make_participant(self.case, role=ParticipantRole.SURVIVOR, label="Survivor 2")
        self.run_at(local(2026, 4, 20, 10))
        self.assertEqual({r.code for r in rows(supporter)}, {"T3", "T4", "T5"})


class SentAfterCommitTests(SchedulerTestCase):
    """Issue 20: an invitation is emailed after the run's transaction commits, never from a run that rolls back
    (a survivor would get a link that was never saved, then a second email with another)."""

    def test_a_delivery_that_rolls_back_sends_no_email_and_the_next_run_sends_one_per_person(self):
        from unittest import mock

        from circlekeeper.evaluation import scheduling

        with mock.patch.object(scheduling, "record", side_effect=RuntimeError("the commit failed")):
            report = self.run_at(local(2026, 3, 2, 10))
        self.assertEqual(mail.outbox, [])
        self.assertEqual(report.failed, 2)
        self.assertFalse(Timepoint.objects.filter(link__isnull=False).exists())

        self.run_at(local(2026, 3, 2, 10, 5))
        self.assertEqual(sorted(m.to[0] for m in mail.outbox), sorted({m.to[0] for m in mail.outbox}))
        self.assertEqual(len(mail.outbox), 2)
