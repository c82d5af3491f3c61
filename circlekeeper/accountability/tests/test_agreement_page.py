"""The agreement overview, a version's page and the printable agreement: what each shows, the audit events, the
query budgets (the same with one commitment as with many), escaped free text, and access (the case team only)."""

from django.urls import reverse

from circlekeeper.accountability import services
from circlekeeper.accountability.models import CommitmentKind
from circlekeeper.accountability.tests.helpers import survivor_view, walked
from circlekeeper.cases.models import TeamRole
from circlekeeper.lib import keys
from circlekeeper.testing import PersonaTestCase, audit_log, make_case

XSS = '<script>alert("x")</script>'


class AgreementPageTestCase(PersonaTestCase):
    def setUp(self):
        self.walk = walked(self.case, self.alice, self.sam)

    def url(self, name, *args):
        return reverse(f"accountability:{name}", args=[self.case.pk, *args])

    def page_with(self, commitments, checkins, name, *args):
        """The page's address on a case with this many commitments in force and check-ins on each."""
        version, made = self.walk.in_force(*({"supporter": self.walk.uncle} for _ in range(commitments)))
        for commitment in made:
            for n in range(checkins):
                self.walk.checkin(commitment, ("kept", "partly")[n % 2], note=f"n{n}")
        services.record_step(
            case=self.case, step=2, by=self.alice, commitments=made, checkins=list(made[0].checkins.all())
        )
        self.walk.draft()
        survivor_view(self.walk.survivor, by=self.ada)
        self.login(self.alice)
        url = self.url(name, *(version.number for _ in args))
        return url


class OverviewTests(AgreementPageTestCase):
    def test_before_any_agreement_the_page_offers_to_draft_one(self):
        self.login(self.alice)
        page = self.client.get(self.url("agreement"))
        self.assertContains(page, "No version has been affirmed by every party yet.")
        self.assertContains(page, self.url("draft"))
        self.assertTrue(
            audit_log()
            .filter(action="agreement.view", object_type="case", object_id=str(self.case.pk))
            .exists()
        )

    def test_the_page_shows_the_version_in_force_its_progress_the_draft_and_the_staircase(self):
        version, (one, two) = self.walk.in_force(
            {"description": "Go to the Tuesday group", "supporter": self.walk.uncle, "concerns": ["contact"]},
            {"kind": CommitmentKind.RESTITUTION, "description": "Pay back the rent"},
        )
        self.walk.checkin(one, "partly", note="Private note about Tuesday")
        services.record_step(case=self.case, step=2, by=self.alice, commitments=[one])
        services.record_step(case=self.case, step=1, by=self.alice, commitments=[two])
        draft = self.walk.draft()
        self.login(self.ada)
        page = self.client.get(self.url("agreement"))
        self.assertContains(page, "Go to the Tuesday group", count=2)  # in force, and copied into the draft
        self.assertContains(page, "Uncle")
        self.assertContains(page, "Partly kept")
        self.assertNotContains(page, "Private note about Tuesday")
        self.assertContains(page, "If broken: a safety hold (Contact with the survivor)")
        self.assertContains(page, self.url("checkin", one.pk))
        self.assertContains(page, self.url("commitment_edit", draft.commitments.get(number=one.number).pk))
        self.assertContains(page, self.url("commitment_add"))
        self.assertContains(page, "1 · Stop the immediate violence")
        self.assertContains(page, "(a step down)")
        self.assertContains(page, self.url("print", version.number))
        self.assertContains(page, self.url("version", draft.number))
        self.assertContains(
            page, reverse("instruments:response_start", args=[self.case.pk, self.walk.survivor.pk])
        )
        self.assertContains(page, 'id="views"')
        self.assertTrue(
            audit_log()
            .filter(action="agreement.view", object_type="agreement", object_id=str(version.agreement_id))
            .exists()
        )

    def test_the_page_says_when_the_two_views_disagree(self):
        _version, (commitment,) = self.walk.in_force({})
        self.walk.checkin(commitment, "kept")
        self.login(self.alice)
        self.assertNotContains(self.client.get(self.url("agreement")), "These disagree.")
        survivor_view(self.walk.survivor, by=self.ada, kept="0", repaired="dk")
        page = self.client.get(self.url("agreement"))
        self.assertContains(page, "These disagree.")
        self.assertContains(page, "100% kept")
        self.assertContains(page, "0 · Not at all")

    def test_free_text_is_escaped(self):
        _version, (commitment,) = self.walk.in_force({"description": XSS, "evidence": XSS})
        self.walk.checkin(commitment, "kept", note=XSS)
        self.login(self.alice)
        for url in (
            self.url("agreement"),
            self.url("version", 1),
            self.url("print", 1),
            self.url("checkin", commitment.pk),
        ):
            page = self.client.get(url)
            self.assertNotContains(page, XSS)
            self.assertContains(page, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")


class QueryBudgetTests(AgreementPageTestCase):
    # The agreement page asks the contact policy (issue 17): a fixed four queries more.
    # The views are reads (one pending audit event); the printed agreement is chained (three queries).
    BUDGETS = {"agreement": 23, "version": 11, "print": 12}

    def test_the_overview_takes_the_same_queries_with_one_commitment_or_many(self):
        self.assert_budget("agreement")

    def test_a_version_page_takes_the_same_queries_with_one_commitment_or_many(self):
        self.assert_budget("version", 1)

    def test_the_printed_agreement_takes_the_same_queries_with_one_commitment_or_many(self):
        self.assert_budget("print", 1)

    def assert_budget(self, name, *args):
        for commitments, checkins in ((1, 1), (6, 5)):
            with self.subTest(commitments=commitments, checkins=checkins):
                if commitments > 1:
                    # A second case with many more rows: the page must take exactly as many queries.
                    self.case = make_case(
                        self.harbor, team=((self.alice, TeamRole.KEEPER), (self.sam, TeamRole.SUPERVISOR))
                    )
                    self.walk = walked(self.case, self.alice, self.sam)
                url = self.page_with(commitments, checkins, name, *args)
                keys.clear_key_cache(everything=True)  # the keys as committed: cached for a request
                self.client.get(url)  # the session and the keys, as on any page after the first
                with self.assertNumQueries(self.BUDGETS[name]):
                    self.assertEqual(self.client.get(url).status_code, 200)


class AccessTests(AgreementPageTestCase):
    def test_anyone_off_the_team_gets_404_and_anonymous_visitors_are_sent_to_sign_in(self):
        version, (commitment,) = self.walk.in_force({})
        gets = [
            self.url("agreement"),
            self.url("version", version.number),
            self.url("print", version.number),
            self.url("draft"),
            self.url("commitment_add"),
            self.url("commitment_edit", commitment.pk),
            self.url("checkin", commitment.pk),
            self.url("step"),
        ]
        posts = [
            *gets[3:],
            self.url("commitment_remove", commitment.pk),
            self.url("affirm"),
            self.url("progress_link_issue", self.walk.harm.pk),
            self.url("progress_link_revoke", 1),
        ]
        before = version.lock_version
        for person in (self.bob, self.charlie, self.pat, self.eve, self.nora):
            self.login(person)
            for url in gets:
                self.assertEqual(self.client.get(url).status_code, 404, (person, url))
            for url in posts:
                self.assertEqual(
                    self.client.post(url, {"lock_version": before}).status_code, 404, (person, url)
                )
        self.client.logout()
        for url in gets:
            self.assertRedirects(self.client.get(url), f"{reverse('accounts:login')}?next={url}")
        version.refresh_from_db()
        self.assertEqual(version.lock_version, before)

    def test_another_cases_version_or_commitment_is_404_on_this_case(self):
        self.walk.in_force({})
        other = make_case(self.harbor, team=((self.alice, TeamRole.KEEPER), (self.sam, TeamRole.SUPERVISOR)))
        _v, (foreign,) = walked(other, self.alice, self.sam).in_force({})
        self.login(self.alice)
        self.assertEqual(self.client.get(self.url("checkin", foreign.pk)).status_code, 404)
        self.assertEqual(self.client.get(self.url("commitment_edit", foreign.pk)).status_code, 404)
        self.assertEqual(self.client.get(self.url("version", 2)).status_code, 404)
        # The survivor has no progress page: only a person who caused harm does.
        self.assertEqual(
            self.client.post(self.url("progress_link_issue", self.walk.survivor.pk)).status_code, 404
        )
