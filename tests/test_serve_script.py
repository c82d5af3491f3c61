"""scripts/serve.sh supervises, it does not chain (issue 20 item 4): a worker that stops is started again, and
the web server is never stopped because of it. Run with stand-ins for gunicorn and the worker (a fake venv)."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404: the script under test
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
echo "worker $$ $*" >> "$FAKE_LOG"
exit 3
"""
FAKE_GUNICORN = """#!/usr/bin/env bash
echo "web $$" >> "$FAKE_LOG"
exec sleep 60
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_dead_worker_is_restarted_and_the_web_server_keeps_running(tmp_path: Path) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("gunicorn", FAKE_GUNICORN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "log"
    env = {**os.environ, "VENV": str(tmp_path / "venv"), "FAKE_LOG": str(log), "WORKER_RESTART_DELAY": "0.2"}
    script = subprocess.Popen(  # noqa: S603
        ["bash", str(ROOT / "scripts" / "serve.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        lines = log.read_text().splitlines()
        workers = [line for line in lines if line.startswith("worker") and "run_worker" in line]
        webs = [int(line.split()[1]) for line in lines if line.startswith("web")]
        assert len(workers) >= 3, lines  # it died each time and was started again
        assert len(webs) == 1 and _alive(webs[0]), "the web server was never stopped or restarted"
        assert script.poll() is None, "the script is still running"
    finally:
        script.send_signal(signal.SIGTERM)
        script.wait(timeout=20)
    deadline = time.monotonic() + 10
    while _alive(webs[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(webs[0]), "stopping the script stops the web server"
