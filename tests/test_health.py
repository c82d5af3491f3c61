"""/healthz tells the truth (issue 20 item 5): each part the site needs, 503 (never 500) when one is down, and a
server that will not start with a master key that cannot unwrap the stored keys."""

from __future__ import annotations

import datetime
import os
import secrets
from pathlib import Path
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import TestCase, override_settings
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from circlekeeper import settings as project_settings
from circlekeeper.lib import keys
from circlekeeper.lib.heartbeat import WorkerHeartbeat
from circlekeeper.testing import PersonaTestCase

OTHER_KEY = secrets.token_bytes(32)


@task()
def nothing() -> None:
    return None


class HealthTests(PersonaTestCase):
    def setUp(self) -> None:
        keys.keyring_for(self.harbor.pk)  # an organization key is stored, as on any site in use
        keys.clear_key_cache(everything=True)

    def health(self):
        answer = self.client.get("/healthz")
        return answer.status_code, answer.json()

    def test_all_well_reports_each_part(self):
        status, body = self.health()
        self.assertEqual(status, 200)
        self.assertEqual((body["status"], body["database"], body["master_key"]), ("ok", "ok", "ok"))
        self.assertEqual(set(body["worker"]), {"status", "last_heartbeat_seconds"})
        self.assertEqual(body["queue"], {"oldest_waiting_seconds": None, "stuck_running": 0})
        self.assertIn("last_backup_seconds", body["backup"])

    def test_a_wrong_master_key_is_a_503_naming_the_problem(self):
        with override_settings(MASTER_KEY=OTHER_KEY):
            status, body = self.health()
        self.assertEqual(status, 503)
        self.assertIn("cannot unwrap", body["master_key"])
        self.assertIn("CIRCLEKEEPER_MASTER_KEY_FILE", body["master_key"])

    def test_the_server_refuses_to_start_with_a_wrong_master_key(self):
        keys.refuse_a_wrong_master_key()  # the right key: starts
        with (
            override_settings(MASTER_KEY=OTHER_KEY),
            self.assertRaisesMessage(ImproperlyConfigured, "will not start"),
        ):
            keys.refuse_a_wrong_master_key()
        self.assertIn(
            "refuse_a_wrong_master_key()",
            Path(project_settings.BASE_DIR / "circlekeeper" / "wsgi.py").read_text(),
        )

    def test_a_database_outage_is_a_503_with_a_session_cookie_too(self):
        self.login(self.alice)
        self.assertIn("sessionid", self.client.cookies)
        with mock.patch.object(
            CursorWrapper, "execute", side_effect=OperationalError("server closed the connection")
        ):
            status, body = self.health()
        self.assertEqual((status, body["database"]), (503, "unavailable"))

    def test_work_waiting_with_no_live_worker_is_a_503_and_a_live_worker_answers_it(self):
        result = nothing.enqueue()
        DBTaskResult.objects.filter(pk=result.id).update(
            run_after=timezone.now() - datetime.timedelta(minutes=20)
        )
        status, body = self.health()
        self.assertEqual((status, body["worker"]["status"]), (503, "down"))
        self.assertGreaterEqual(body["queue"]["oldest_waiting_seconds"], 20 * 60)
        WorkerHeartbeat.objects.create(worker_id="w1", beat_at=timezone.now(), started_at=timezone.now())
        status, body = self.health()
        self.assertEqual((status, body["worker"]["status"]), (200, "ok"))

    def test_a_task_stuck_running_under_a_dead_worker_is_counted(self):
        result = nothing.enqueue()
        DBTaskResult.objects.filter(pk=result.id).update(
            status=TaskResultStatus.RUNNING,
            started_at=timezone.now() - datetime.timedelta(hours=1),
            worker_ids=["gone"],
        )
        status, body = self.health()
        self.assertEqual((status, body["queue"]["stuck_running"]), (503, 1))

    def test_the_last_backups_age_is_reported(self):
        folder = Path(project_settings.VAR_DIR) / "health-test-backups"
        folder.mkdir(exist_ok=True)
        archive = folder / "circlekeeper-1.ckbackup"
        archive.write_bytes(b"x")
        an_hour_ago = timezone.now().timestamp() - 3600
        os.utime(archive, (an_hour_ago, an_hour_ago))
        with override_settings(BACKUP_DIR=folder):
            _status, body = self.health()
        self.assertAlmostEqual(body["backup"]["last_backup_seconds"], 3600, delta=60)


class DemoKeyTests(TestCase):
    def test_demo_mode_never_replaces_a_missing_master_key_when_a_database_exists(self):
        folder = Path(project_settings.VAR_DIR) / "demo-key-test"
        folder.mkdir(exist_ok=True)
        database = folder / "circlekeeper.sqlite3"
        database.write_bytes(b"")
        with self.assertRaisesMessage(ImproperlyConfigured, str(folder / "master_key")):
            project_settings._demo_secret(folder / "master_key", 32, guard=database)
        self.assertFalse((folder / "master_key").exists())

    def test_an_unreadable_var_dir_names_the_path_and_the_fix(self):
        with (
            mock.patch.object(Path, "exists", side_effect=PermissionError(13, "Permission denied")),
            self.assertRaisesMessage(ImproperlyConfigured, "CIRCLEKEEPER_VAR_DIR"),
        ):
            project_settings._demo_secret(Path("/nowhere/master_key"), 32)
