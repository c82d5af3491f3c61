"""The cache is shared by every web process of a machine (settings.CACHES): a release of suppressed aggregates or
a rendered form made by one gunicorn worker is read by the others instead of being made again (issue 23)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.test import SimpleTestCase

ROOT = Path(__file__).resolve().parent.parent


def in_a_new_process(code: str, **env: str) -> str:
    """Run `code` after django.setup() in a fresh Python process with these settings; its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "circlekeeper.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class SharedCacheTests(SimpleTestCase):
    def test_what_one_process_caches_another_reads(self):
        folder = self.enterContext(tempfile.TemporaryDirectory())
        in_a_new_process(
            "from django.core.cache import cache; cache.set('release', {'cells': [1, 2]}, 60)",
            CIRCLEKEEPER_CACHE_DIR=folder,
        )
        self.assertTrue(any(Path(folder).iterdir()))
        read = in_a_new_process(
            "from django.core.cache import cache; print(cache.get('release'))", CIRCLEKEEPER_CACHE_DIR=folder
        )
        self.assertEqual(read, "{'cells': [1, 2]}")

    def test_by_default_the_files_are_under_the_var_folder_and_empty_means_each_process_its_own(self):
        var = self.enterContext(tempfile.TemporaryDirectory())
        environment = {key: value for key, value in os.environ.items() if key != "CIRCLEKEEPER_CACHE_DIR"}
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup()\n"
                "from django.conf import settings; c = settings.CACHES['default']; "
                "print(c['BACKEND'].rsplit('.', 1)[-1], c.get('LOCATION', ''))",
            ],
            cwd=ROOT,
            env={
                **environment,
                "DJANGO_SETTINGS_MODULE": "circlekeeper.settings",
                "CIRCLEKEEPER_VAR_DIR": var,
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.strip(), f"FileBasedCache {Path(var) / 'cache'}")
        memory = in_a_new_process(
            "from django.conf import settings; print(settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1])",
            CIRCLEKEEPER_CACHE_DIR="",
        )
        self.assertEqual(memory, "LocMemCache")
