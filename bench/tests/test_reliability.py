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
