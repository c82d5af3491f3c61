"""The reliability bench's own arithmetic and its process finding (no server, no database): the probe's share
within 2 s and its failures, and that only our own serve.sh's worker is ever found to be killed."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404: processes started by the test itself
import sys
import time

from bench.reliability import probe_summary, worker_pids

SLEEPER = "import time; time.sleep(60)"


def test_a_probe_counts_answers_within_2_s_and_every_failure():
    answers = [(0.1, "200"), (1.9, "200"), (2.5, "200"), (0.2, "503"), (9.0, "no answer: TimeoutError")]
    summary = probe_summary(answers)
    assert summary["asked"] == 5
    assert summary["answered_within_2s"] == 2  # a slow 200 and any failure are not "answered within 2 s"
    assert summary["share_within_2s"] == 0.4
    assert summary["failed"] == {"503": 1, "no answer: TimeoutError": 1}
    assert summary["slowest_ms"] == 9000


def test_only_the_workers_started_under_our_script_are_found():
    ours = subprocess.Popen(  # noqa: S603 - a parent with a worker-looking child
        ["bash", "-c", f'"{sys.executable}" -c "{SLEEPER}" manage.py run_worker & wait'],  # noqa: S607
        start_new_session=True,
    )
    theirs = subprocess.Popen([sys.executable, "-c", SLEEPER, "manage.py", "run_worker"])  # noqa: S603
    found: list[int] = []
    try:
        for _ in range(100):
            found = worker_pids(ours.pid)
            if found:
                break
            time.sleep(0.05)
        assert len(found) == 1
        assert theirs.pid not in found
        assert worker_pids(theirs.pid) == []  # a process is not its own descendant
    finally:
        for pid in found:  # the child, by its id
            os.kill(pid, signal.SIGKILL)
        for process in (ours, theirs):
            process.kill()
            process.wait()


def test_the_summary_reads_what_the_reliability_run_wrote():
    import json
    from pathlib import Path

    from bench.run import summary

    written = json.loads(
        (Path(__file__).resolve().parents[1] / "results" / "2026-12-07-sqlite.json").read_text()
    )
    text = summary({"reliability": written["measurements"]["reliability"]})
    assert "/healthz answered within 2 s" in text
    assert "the case list" in text
    assert "a task queued after the kill ran in" in text


def test_the_restart_command_is_the_operators_own_else_pg_ctlcluster():
    import pytest

    from bench.reliability import restart_command

    given = "su postgres -c \"pg_ctl -D /tmp/pgpriv/data -o '-p 5441 -k /tmp/pgpriv' restart\""
    # Split as a shell would: the quoted command stays one argument of su.
    assert restart_command({"BENCH_PG_RESTART_COMMAND": given, "BENCH_PG_CLUSTER": "16 main"}) == [
        "su",
        "postgres",
        "-c",
        "pg_ctl -D /tmp/pgpriv/data -o '-p 5441 -k /tmp/pgpriv' restart",
    ]
    assert restart_command({"BENCH_PG_CLUSTER": "15 main"}) == ["pg_ctlcluster", "15", "main", "restart"]
    with pytest.raises(RuntimeError, match="BENCH_PG_RESTART_COMMAND"):
        restart_command({"BENCH_PG_CLUSTER": "main"})


def test_the_503s_are_told_apart_by_their_page():
    from pathlib import Path

    from bench.reliability import _which_503

    templates = Path(__file__).resolve().parents[2] / "templates"
    assert _which_503(503, (templates / "503_database.html").read_text()) == "database unavailable"
    assert _which_503(503, (templates / "503_busy.html").read_text()) == "too many sign-ins"
    assert _which_503(503, "Service Unavailable") == "other 503"
    assert _which_503(200, "The site cannot reach its database") == ""


def test_the_summary_reads_a_recovery_step_run_alone():
    import json
    from pathlib import Path

    from bench.run import summary

    written = json.loads(
        (
            Path(__file__).resolve().parents[1] / "results" / "2026-12-07-postgresql-private-restart.json"
        ).read_text()
    )
    text = summary({"reliability": written["measurements"]["reliability"]})
    assert "sign-in burst" not in text
    assert "server restarted: su postgres -c" in text
    assert "a task queued after it ran in" in text
