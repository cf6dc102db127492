#!/usr/bin/env bash
# livecat nightly ingest: cron wrapper (environment, single-instance lock, log, report).
#
# crontab example (every night at 02:30, as the livecat user):
#   30 2 * * *  /opt/livecat/scripts/livecat-nightly.sh
#
# Configuration (environment, or /etc/livecat/nightly.env when it exists):
#   LIVECAT_VENV              virtualenv holding livecat        (default: <repo>/.venv)
#   LIVECAT_DATABASE_URL      the database (unset: livecat's embedded PostgreSQL)
#   LIVECAT_HOME              data directory: cache, reports     (default: livecat's own)
#   LIVECAT_NIGHTLY_CATALOGS  comma-separated catalogs          (default: livecat's list)
#   LIVECAT_2SXPS_URL, LIVECAT_LSXPS_URL   Swift source-table URLs (enable those catalogs)
#   LIVECAT_LOG_DIR           log + report directory             (default: $LIVECAT_HOME/logs
#                                                                 or ~/.local/state/livecat)
#   LIVECAT_NIGHTLY_ARGS      extra arguments, e.g. "--mirror /data/mirror"
#
# Exit status: that of `livecat nightly` (1 when any catalog or the curate recheck
# step failed), or 75 (EX_TEMPFAIL) when another nightly run still holds the lock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
if [[ -r /etc/livecat/nightly.env ]]; then
    set -a; . /etc/livecat/nightly.env; set +a
fi
venv="${LIVECAT_VENV:-$repo/.venv}"
if [[ -x "$venv/bin/livecat" ]]; then
    PATH="$venv/bin:$PATH"
fi
command -v livecat >/dev/null || { echo "livecat-nightly: livecat not found (set LIVECAT_VENV)" >&2; exit 1; }

log_dir="${LIVECAT_LOG_DIR:-${LIVECAT_HOME:+$LIVECAT_HOME/logs}}"
log_dir="${log_dir:-${XDG_STATE_HOME:-$HOME/.local/state}/livecat}"
mkdir -p "$log_dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
log="$log_dir/nightly-$stamp.log"
report="$log_dir/nightly-$stamp.jsonl"

# one nightly at a time (the loader's locks also stop two ingests of a catalog)
exec 9>"$log_dir/nightly.lock"
if ! flock -n 9; then
    echo "livecat-nightly: another nightly run holds $log_dir/nightly.lock; exiting" >&2
    exit 75
fi

export PYTHONUNBUFFERED=1
status=0
# shellcheck disable=SC2086
# livecat nightly ingests what changed, then flags the curator decisions whose source
# moved or changed class (curate recheck) itself
livecat nightly --report "$report" ${LIVECAT_NIGHTLY_ARGS:-} >"$log" 2>&1 || status=$?
ln -sfn "$(basename "$log")" "$log_dir/nightly-latest.log"
ln -sfn "$(basename "$report")" "$log_dir/nightly-latest.jsonl"
# keep 60 days of logs and reports
find "$log_dir" -maxdepth 1 -name 'nightly-*T*Z.*' -mtime +60 -delete 2>/dev/null || true
if [[ $status -ne 0 ]]; then
    echo "livecat-nightly: failed (exit $status); see $log and $report" >&2
fi
exit $status
