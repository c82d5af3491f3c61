"""safety_versions_by_kind (issue 23): the safety page reads the instruments it offers for every kind of check in
three queries. It must offer exactly what safety_versions gives each kind, in the same order: the built-in check
and screen, then the organization's own mapped instruments (as a full check or a screen), each at its latest
version, and never another organization's."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from circlekeeper.instruments.models import Source
from circlekeeper.instruments.services import save_version
from circlekeeper.safety import services
from circlekeeper.safety.models import CheckKind
from circlekeeper.safety.tests.checks import builtin_version
from circlekeeper.safety.tests.test_risk_instrument_pages import own_definition
from circlekeeper.testing import PersonaTestCase

LEVELS = {"l1": "low", "l2": "elevated", "l3": "high"}


class SafetyVersionsByKindTests(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        builtin_version("safety_check")
        builtin_version("immediate_danger")

        def own(code: str, organization, kind: str) -> None:
            first, _ = save_version(definition=own_definition(code), source=Source.MANUAL, owner=organization)
            definition = own_definition(code)
            definition["title"] = {"en": f"{code}, revised"}
            save_version(definition=definition, source=Source.MANUAL, owner=organization)  # a second version
            services.map_risk_instrument(
                organization_id=organization.pk,
                instrument=first.instrument,
                kind=kind,
                band="danger",
                level_map=LEVELS,
                by=cls.pat,
            )

        own("harbor_full", cls.harbor, CheckKind.FULL)
        own("harbor_screen", cls.harbor, CheckKind.SCREEN)
        own("harbor_full_two", cls.harbor, CheckKind.FULL)
        own("valley_full", cls.valley, CheckKind.FULL)

    def test_the_same_versions_in_the_same_order_as_each_kind_alone(self):
        for organization in (self.harbor, self.valley):
            expected = {kind: services.safety_versions(organization.pk, kind) for kind in CheckKind.values}
            self.assertEqual(services.safety_versions_by_kind(organization.pk), expected, organization)

    def test_each_at_its_latest_version_and_only_the_organizations_own(self):
        offered = services.safety_versions_by_kind(self.harbor.pk)
        full = [v.instrument.code for v in offered[CheckKind.FULL]]
        self.assertEqual(full, ["safety_check", "harbor_full", "harbor_full_two"])
        self.assertEqual(
            [v.instrument.code for v in offered[CheckKind.SCREEN]], ["immediate_danger", "harbor_screen"]
        )
        for version in offered[CheckKind.FULL][1:] + offered[CheckKind.SCREEN][1:]:
            self.assertEqual(version.number, 2)

    def test_three_queries_for_every_kind(self):
        with CaptureQueriesContext(connection) as queries:
            services.safety_versions_by_kind(self.harbor.pk)
        self.assertEqual(len(queries), 3)
