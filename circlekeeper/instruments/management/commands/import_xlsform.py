from __future__ import annotations

from typing import Any

from circlekeeper.instruments.management.commands._importing import ImportCommand
from circlekeeper.instruments.models import Source


class Command(ImportCommand):
    help = (
        "Import an XLSForm (.xlsx) as a new instrument version: one section per group, label::language "
        "columns as languages. A form that cannot be read is rejected whole, naming the sheet and row."
    )
    source = Source.XLSFORM

    def handle(self, *args: Any, **options: Any) -> None:
        self.import_file(options)
