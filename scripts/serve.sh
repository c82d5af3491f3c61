#!/usr/bin/env bash
# Runs the web server and the background worker together in the foreground; Ctrl-C stops both.
set -euo pipefail
BIN="${VENV:-.venv}/bin"
PORT="${PORT:-8000}"

# Queue the periodic tasks (the nightly retention purge, the hourly evaluation scheduler) if they are not
# queued yet; the worker then runs them.
"$BIN/python" manage.py schedule_tasks
"$BIN/python" manage.py run_evaluation_scheduler --queue

"$BIN/gunicorn" circlekeeper.wsgi:application --bind "127.0.0.1:${PORT}" --workers "${WEB_WORKERS:-3}" \
  --access-logfile - --forwarded-allow-ips "" \
  --logger-class circlekeeper.instruments.access_log.RedactingLogger &
web=$!
"$BIN/python" manage.py db_worker &
worker=$!

stop() {
  trap - INT TERM EXIT
  kill "$web" "$worker" 2>/dev/null || true
  wait "$web" "$worker" 2>/dev/null || true
}
trap stop INT TERM EXIT

echo "Circlekeeper is running at http://127.0.0.1:${PORT} (press Ctrl-C to stop)."
# Whichever of the two stops first brings the other down, so nothing keeps running half-alive.
wait -n "$web" "$worker"
