#!/usr/bin/env bash
# Pager on more than one process: two `pagerd api` and two `pagerd worker` on one PostgreSQL
# database. Every process is stateless; PostgreSQL holds everything. See README.md.
#
#   PAGER_DATABASE_URL=postgresql://pager:secret@db.example.com/pager ./run.sh
#
# Settings (environment):
#   PAGER_DATABASE_URL  required: a PostgreSQL database (15+) that all processes share
#   PAGER_API_PORTS     ports of the API processes (default "8081 8082"), one process each
#   PAGER_HOST          address they listen on (default 127.0.0.1)
#   PAGER_WORKERS       how many workers (default 2)
#   PAGERD              the pagerd command (default: pagerd on PATH, else this checkout's
#                       .venv/bin/pagerd, which `make run` or `make test` installs)
#   and every PAGER_* setting of Pager itself (PAGER_SMTP_URL, PAGER_PUBLIC_URL, ...),
#   which all processes read alike.
#
# Ctrl-C or SIGTERM stops every process cleanly. If one process dies, the others are
# stopped too and the script exits non-zero, so that a supervisor notices.
set -euo pipefail

: "${PAGER_DATABASE_URL:?set PAGER_DATABASE_URL to a PostgreSQL database, e.g. postgresql://pager@127.0.0.1/pager}"
case "$PAGER_DATABASE_URL" in
  postgres://* | postgresql://* | postgresql+psycopg://*) ;;
  *) echo "run.sh: PAGER_DATABASE_URL must be PostgreSQL: SQLite is for one process" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
PAGERD=${PAGERD:-$(command -v pagerd || echo "$here/../../.venv/bin/pagerd")}
HOST=${PAGER_HOST:-127.0.0.1}
API_PORTS=${PAGER_API_PORTS:-"8081 8082"}
WORKERS=${PAGER_WORKERS:-2}
export PAGER_DATABASE_URL

# Once, before anything serves (every process would also do it, safely, on its own).
"$PAGERD" migrate

pids=()
stop() {
  trap - INT TERM
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM

for port in $API_PORTS; do
  "$PAGERD" api --host "$HOST" --port "$port" &
  pids+=($!)
  echo "run.sh: pagerd api on http://$HOST:$port (pid $!)" >&2
done
for _ in $(seq "$WORKERS"); do
  "$PAGERD" worker &
  pids+=($!)
  echo "run.sh: pagerd worker (pid $!)" >&2
done

# Returns when any process ends; then the rest are stopped.
set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "run.sh: a process ended (exit $status); stopping the others" >&2
stop
exit $(( status == 0 ? 1 : status ))
