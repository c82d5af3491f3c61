#!/usr/bin/env bash
# Runs the web server and the background worker together in the foreground; Ctrl-C stops both.
#
# Supervised, not chained (issue 20): when the worker stops (killed, out of memory, a bug) it is started again
# after WORKER_RESTART_DELAY seconds, and the web server keeps answering meanwhile. Only the web server's own
# exit (or Ctrl-C) ends the script. The worker queues the periodic tasks itself each time it starts and survives
# database outages on its own (circlekeeper/lib/worker.py). For several processes, see deploy/.
set -uo pipefail
BIN="${VENV:-.venv}/bin"
PORT="${PORT:-8000}"
DELAY="${WORKER_RESTART_DELAY:-5}"

"$BIN/gunicorn" circlekeeper.wsgi:application --bind "127.0.0.1:${PORT}" --workers "${WEB_WORKERS:-3}" \
  --threads "${WEB_THREADS:-4}" \
  --access-logfile - --forwarded-allow-ips "" \
  --logger-class circlekeeper.instruments.access_log.RedactingLogger &
web=$!

supervise_worker() {
  local child=""
  trap '[ -n "$child" ] && kill "$child" 2>/dev/null; exit 0' TERM INT
  while true; do
    "$BIN/python" manage.py run_worker &
    child=$!
    wait "$child"
    status=$?
    echo "The background worker stopped (exit ${status}); starting it again in ${DELAY} s." >&2
    sleep "$DELAY" &
    wait $!
  done
}
supervise_worker &
supervisor=$!

stop() {
  trap - INT TERM EXIT
  kill "$supervisor" "$web" 2>/dev/null || true
  wait "$supervisor" "$web" 2>/dev/null || true
}
trap stop INT TERM EXIT

echo "Circlekeeper is running at http://127.0.0.1:${PORT} (press Ctrl-C to stop)."
# The web server's exit ends everything; the worker's never does (it is restarted above).
wait "$web"
