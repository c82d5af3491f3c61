"""The demo app sits above the whole dependency chain (ARCHITECTURE.md: community, evaluation → accountability,
support → protocol → safety → instruments → cases → accounts → lib; issue 23: the demo and benchmark data
generator gets one home so each domain app holds only its domain). It may import every app; no product module
imports it, and no domain app keeps a demo module of its own."""

import ast
from pathlib import Path

from django.test import SimpleTestCase

PACKAGE = Path(__file__).resolve().parents[2]  # circlekeeper/
DEMO = PACKAGE / "demo"


def product_modules() -> list[Path]:
    """Every Python module of the product outside the demo app, tests left out (tests may seed the demo)."""
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if DEMO not in path.parents and "tests" not in path.relative_to(PACKAGE).parts
    ]


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


class DemoDependencyDirectionTests(SimpleTestCase):
    def test_the_product_modules_are_found(self):
        # The walk itself must see the product, or the next test would pass on nothing.
        found = {str(path.relative_to(PACKAGE)) for path in product_modules()}
        self.assertIn("cases/views.py", found)
        self.assertIn("lib/audit.py", found)
        self.assertGreater(len(found), 100)

    def test_no_product_module_imports_the_demo_app(self):
        offenders = sorted(
            f"{path.relative_to(PACKAGE)} imports {name}"
            for path in product_modules()
            for name in imported_names(path)
            if name == "circlekeeper.demo" or name.startswith("circlekeeper.demo.")
        )
        self.assertEqual(offenders, [])

    def test_no_domain_app_keeps_demo_data_modules(self):
        leftovers = sorted(
            str(path.relative_to(PACKAGE))
            for path in product_modules()
            if path.name in {"demo.py", "scale.py", "public_demo.py", "schedule_demo.py"}
            or path.name == "seed_demo.py"
        )
        self.assertEqual(leftovers, [])
