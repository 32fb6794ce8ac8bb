#!/usr/bin/env bash
# The same scheduled export on both run-state backends (issue 9, "Measure"), in one command:
#  (a) SQLite (the embedded default): `pipeline run --once`, no PipelineStorage;
#  (b) Azure Storage against Azurite on loopback: `pipeline config push`, then `pipeline run --once` with
#      PipelineStorage set, so run state, stage queues and staging go through Tables, Queues and Blobs;
#      the snapshot read from a local file and (BENCH_AZ_BLOB_SOURCE=1) from an Azurite blob.
# One activation (segment S1, 5 fields, gzip CSV) of a `pipeline sample` snapshot (CSV.gz) to a local folder.
# Records wall time, CPU and peak RSS of the `run --once` process, counts every storage request of (b) by kind
# and operation from Azurite's --debug log, and checks that every run writes byte-identical files.
#
#   bash bench/azurite.sh
#   BENCH_AZ_SIZES="1000000 10000000" bash bench/azurite.sh
#
# Env knobs:
#   BENCH_AZ_SIZES        profile counts (default "1000000"; 10M adds ~1 min on 2 cores and a 400 MB input)
#   BENCH_AZ_BLOB_SOURCE  1 = also run (b) with the snapshot in an Azurite blob (default 1)
#   BENCH_AZ_BUILD        r2r|aot: how the CLI is published (default r2r: the JIT runtime with ReadyToRun code,
#                         quicker to publish; aot: Native AOT, as shipped, needs clang or gcc)
#   BENCH_AZ_PUBLISH      0 = reuse bench/work/azurite/bin from an earlier run (default 1)
#   BENCH_AZ_RESULTS_DIR  where the report goes (default bench/results; bench/results/tmp is git-ignored)
#   BENCH_AZ_MAX_BUSY     before each run, wait until other processes use less than this % of all CPUs
#                         (default 25; 100 = never wait) ...
#   BENCH_AZ_IDLE_WAIT    ... for at most this many seconds, then run anyway (default 300)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH_DIR")"
WORK="$BENCH_DIR/work/azurite"
BIN="$WORK/bin/pipeline"
SIZES="${BENCH_AZ_SIZES:-1000000}"
BLOB_SOURCE="${BENCH_AZ_BLOB_SOURCE:-1}"
BUILD="${BENCH_AZ_BUILD:-r2r}"
PUBLISH="${BENCH_AZ_PUBLISH:-1}"
RESULTS_DIR="${BENCH_AZ_RESULTS_DIR:-$BENCH_DIR/results}"
MAX_BUSY="${BENCH_AZ_MAX_BUSY:-25}"
IDLE_WAIT="${BENCH_AZ_IDLE_WAIT:-300}"
FIELDS='"profileId", "email", "lastName", "city", "country"' # bench/run.sh's five fields
# Azurite's development account: its key is published in Azurite's README and the same on every machine.
ACCOUNT=devstoreaccount1
ACCOUNT_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
AZURITE_JS="$REPO/tests/emulators/node_modules/azurite/dist/src/azurite.js"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "azurite.sh: FAILED: $*" >&2; exit 1; }

[[ "$BUILD" == aot || "$BUILD" == r2r ]] || die "BENCH_AZ_BUILD must be aot or r2r, got '$BUILD'"
[[ "$BLOB_SOURCE" == 0 || "$BLOB_SOURCE" == 1 ]] || die "BENCH_AZ_BLOB_SOURCE must be 0 or 1"
[[ "$PUBLISH" == 0 || "$PUBLISH" == 1 ]] || die "BENCH_AZ_PUBLISH must be 0 or 1"
[[ "$MAX_BUSY" =~ ^[0-9]+$ && "$IDLE_WAIT" =~ ^[0-9]+$ ]] || die "BENCH_AZ_MAX_BUSY and BENCH_AZ_IDLE_WAIT must be whole numbers"
for n in $SIZES; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "BENCH_AZ_SIZES holds '$n', not a profile count"; done
for tool in dotnet node npm python3 curl; do command -v "$tool" >/dev/null || die "$tool is needed on the PATH"; done
# GNU time gives the peak RSS of exactly the measured process; bench/measure.py (getrusage) is the fallback.
if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then MEASURE=time; else MEASURE=python; fi
# A PipelineStorage from the caller's shell would send run (a) to that account: (a) must run without one.
unset PipelineStorage "${!PipelineStorage__@}" 2>/dev/null || true
mkdir -p "$WORK"/{inputs,logs,runs}

# ---------------------------------------------------------------------------------------------
# Azurite: one instance per measured run (in memory, so every run starts from an empty account).
AZ_PID=""
stop_azurite() {
  if [[ -n "$AZ_PID" ]] && kill -0 "$AZ_PID" 2>/dev/null; then
    kill "$AZ_PID" 2>/dev/null || true
    wait "$AZ_PID" 2>/dev/null || true
  fi
  AZ_PID=""
}
trap stop_azurite EXIT
trap 'exit 130' INT TERM # runs the EXIT trap

free_ports() { # prints three free loopback ports (released before Azurite binds them: a small race, retried below)
  python3 -c 'import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))'
}

# Starts Azurite with the issue's flags on free loopback ports; DEBUG_LOG (optional) turns on --debug, which logs
# every request with its operation: that is what the transactions are counted from. Sets AZ_PID, BLOB_ENDPOINT and
# CONNECTION (a PipelineStorage connection string).
start_azurite() { # LOGDIR [DEBUG_LOG]
  local logdir=$1 debug=${2:-} attempt ports blob queue table
  for attempt in 1 2 3; do
    read -r blob queue table <<<"$(free_ports)"
    local args=(--silent --inMemoryPersistence --disableTelemetry --skipApiVersionCheck
      --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1
      --blobPort "$blob" --queuePort "$queue" --tablePort "$table")
    [[ -z "$debug" ]] || args+=(--debug "$debug")
    node "$AZURITE_JS" "${args[@]}" >"$logdir/azurite.log" 2>&1 &
    AZ_PID=$!
    # Ready when all three services answer HTTP (any status: unsigned requests get 400/403).
    local waited=0
    while ((waited < 150)); do
      kill -0 "$AZ_PID" 2>/dev/null || break
      if curl -s -o /dev/null "http://127.0.0.1:$blob/" && curl -s -o /dev/null "http://127.0.0.1:$queue/" \
        && curl -s -o /dev/null "http://127.0.0.1:$table/"; then
        BLOB_ENDPOINT="http://127.0.0.1:$blob/$ACCOUNT"
        CONNECTION="DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$ACCOUNT_KEY;BlobEndpoint=$BLOB_ENDPOINT;QueueEndpoint=http://127.0.0.1:$queue/$ACCOUNT;TableEndpoint=http://127.0.0.1:$table/$ACCOUNT;"
        return 0
      fi
      sleep 0.2; waited=$((waited + 1))
    done
    log "  Azurite did not start (attempt $attempt, ports $blob $queue $table): $(tail -3 "$logdir/azurite.log" | paste -sd' ' -)"
    stop_azurite
  done
  die "Azurite would not start; see $logdir/azurite.log"
}

# ---------------------------------------------------------------------------------------------
# Set-up: emulators, the CLI, the inputs.
install_emulators() {
  [[ -f "$AZURITE_JS" ]] && return
  # A fresh clone has no emulators yet: install them from their lock file, as the tests and bench/run.sh do.
  log "Installing the emulators (npm ci --prefix tests/emulators)"
  npm ci --prefix "$REPO/tests/emulators" --no-audit --no-fund >"$WORK/logs/npm-emulators.log" 2>&1 \
    || { cat "$WORK/logs/npm-emulators.log" >&2; die "npm ci --prefix tests/emulators failed"; }
}

publish_cli() {
  commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  local dirty
  dirty=$(git -C "$REPO" status --porcelain -- lib cli Directory.Build.props Directory.Packages.props 2>/dev/null | awk '{ print $2 }' | paste -sd' ' -)
  [[ -z "$dirty" ]] || commit="$commit + uncommitted changes in: $dirty"
  local publish_args
  if [[ "$BUILD" == aot ]]; then
    command -v clang >/dev/null || command -v gcc >/dev/null || die "Native AOT needs clang or gcc; or set BENCH_AZ_BUILD=r2r"
    publish_args=(-p:PublishAot=true); build_note="Native AOT"
  else
    publish_args=(--self-contained false); build_note="ReadyToRun (JIT runtime)"
  fi
  if [[ "$PUBLISH" == 0 && -x "$BIN" ]]; then
    build_note=$(sed -n 1p "$WORK/bin/.build" 2>/dev/null || echo "unknown build"); commit=$(sed -n 2p "$WORK/bin/.build" 2>/dev/null || echo unknown)
    log "Reusing bench/work/azurite/bin (BENCH_AZ_PUBLISH=0): $build_note, $commit"
    return
  fi
  log "Publishing cli/Pipeline.Cli (Release, $build_note) to bench/work/azurite/bin"
  rm -rf "$WORK/bin"
  (cd "$REPO" && dotnet publish cli/Pipeline.Cli -c Release -r linux-x64 "${publish_args[@]}" -o "$WORK/bin" -nologo -v quiet) >"$WORK/logs/publish.log" 2>&1 \
    || { cat "$WORK/logs/publish.log" >&2; die "dotnet publish failed"; }
  [[ -x "$BIN" ]] || die "$BIN was not produced by dotnet publish"
  printf '%s\n%s\n' "$build_note" "$commit" >"$WORK/bin/.build"
}

ensure_input() { # N -> prints the snapshot's path (generated once; `sample` writes a .tmp and renames it)
  local path="$WORK/inputs/$1/profiles.csv.gz"
  if [[ ! -s "$path" ]]; then
    log "Generating $1 profiles (CSV.gz)"
    "$BIN" sample --profiles "$1" --out "$WORK/inputs/$1" >"$WORK/logs/sample-$1.log" 2>&1 \
      || { cat "$WORK/logs/sample-$1.log" >&2; die "pipeline sample --profiles $1 failed"; }
  fi
  echo "$path"
}

# One activation, due exactly once: a `once` slot fixed when the script starts, so every run (SQLite or Azure)
# exports the same slot and names its files the same. Absolute paths: a published config resolves relative
# paths against the reader's working folder.
write_config() { # DIR SOURCE_PATH_OR_URL
  mkdir -p "$1"
  cat >"$1/pipeline.json" <<EOF
{
  "state": { "path": "$1/.pipeline/state.db" },
  "staging": { "path": "$1/.pipeline/staging" },
  "sources": { "profiles": { "path": "$2" } },
  "destinations": { "local": { "type": "local", "path": "$1/out" } },
  "activations": [
    {
      "id": "s1-bench", "source": "profiles", "segment": "S1",
      "fields": [$FIELDS],
      "destination": "local", "prefix": "s1-bench/", "format": "csv", "compression": "gzip", "mode": "full",
      "schedule": { "once": "$SLOT", "timeZone": "UTC" }
    }
  ]
}
EOF
}

# ---------------------------------------------------------------------------------------------
# Measurement: wall time, CPU and peak RSS of one command (the CLI process itself, no wrapper).
measure_cmd() { # LOGFILE CMD...
  local logfile=$1 rusage="$1.rusage" start end stat_before stat_after az_before az_after; shift
  wait_for_quiet
  stat_before=$(head -1 /proc/stat); az_before=$(azurite_ticks)
  if [[ "$MEASURE" == time ]]; then
    start=$(date +%s%N)
    /usr/bin/time -v -o "$rusage" "$@" >"$logfile" 2>&1 || { cat "$logfile" >&2; die "failed: $*"; }
    end=$(date +%s%N)
    RUN_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", (e - s) / 1e9 }')
    RUN_RSS_MIB=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); printf "%.0f", $2 / 1024 }' "$rusage")
    RUN_CPU=$(awk -F: '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$rusage")
  else
    python3 "$BENCH_DIR/measure.py" "$rusage" -- "$@" >"$logfile" 2>&1 || { cat "$logfile" >&2; die "failed: $*"; }
    RUN_WALL=$(sed -n 's/^wall_s=//p' "$rusage" | awk '{ printf "%.2f", $1 }')
    RUN_RSS_MIB=$(sed -n 's/^max_rss_kib=//p' "$rusage" | awk '{ printf "%.0f", $1 / 1024 }')
    RUN_CPU=$(sed -n 's/^cpu_s=//p' "$rusage")
  fi
  stat_after=$(head -1 /proc/stat); az_after=$(azurite_ticks)
  RUN_AZ_CPU=$(awk -v a="$az_before" -v b="$az_after" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
  # Others' share of all CPUs during the run: everything busy minus the CLI and Azurite (the machine may be shared).
  RUN_OTHERS=$(awk -v a="$stat_before" -v b="$stat_after" -v own="$RUN_CPU" -v az="$RUN_AZ_CPU" -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" -v wall="$RUN_WALL" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 2; i <= n; i++) if (i != 5 && i != 6) busy += y[i] - x[i]
    o = 100 * (busy / hz - own - az) / (wall * cpus); printf "%.0f", (o < 0 ? 0 : o) }')
}

# CPU ticks Azurite has used so far (all its threads); 0 when it is not running.
azurite_ticks() {
  if [[ -n "$AZ_PID" && -r "/proc/$AZ_PID/stat" ]]; then
    sed 's/^.*) //' "/proc/$AZ_PID/stat" | awk '{ print $12 + $13 }' # utime + stime, after the "(comm)" field
  else echo 0; fi
}

# The machine may be shared: % of all CPUs busy over one second, recorded next to each run.
cpu_busy() {
  local a b
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
    for (i = 2; i <= n; i++) { d = y[i] - x[i]; t += d; if (i == 5 || i == 6) idle += d }
    printf "%.0f", (t > 0 ? 100 * (t - idle) / t : 0) }'
}

# Wait (bounded) until the CPUs are quiet before a measured run: a CI job may be sharing the machine.
wait_for_quiet() {
  local waited=0 busy
  busy=$(cpu_busy)
  while ((busy > MAX_BUSY && waited < IDLE_WAIT)); do
    ((waited > 0)) || log "    CPUs ${busy}% busy; waiting up to ${IDLE_WAIT}s for < ${MAX_BUSY}%"
    sleep 4; waited=$((waited + 5)); busy=$(cpu_busy)
  done
  ((busy <= MAX_BUSY)) || log "    still ${busy}% busy after ${IDLE_WAIT}s; measuring anyway"
}

# Appends one row to the results table: backend, source, counted?, wall, CPU, RSS, files, rows, busy.
record() { # N BACKEND SOURCE DEBUG DIR
  local out="$5/out" manifest rows files
  manifest=$(find "$out" -name '*.manifest.json' | head -1)
  [[ -n "$manifest" ]] || die "$out has no manifest"
  read -r files rows < <(python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["totals"]; print(t["files"], t["rows"])' "$manifest")
  ROWS+=("| ${1} | $2 | $3 | $4 | $RUN_WALL | $RUN_CPU | $RUN_RSS_MIB | $RUN_AZ_CPU | $files | $rows | ${RUN_OTHERS}% |")
}

# (a) SQLite: the embedded default.
run_sqlite() { # N SOURCE
  local dir="$WORK/runs/$1/sqlite"
  rm -rf "$dir"; write_config "$dir" "$2"
  log "  (a) SQLite, local file: pipeline run --once"
  measure_cmd "$dir/run.log" "$BIN" run --config "$dir/pipeline.json" --once
  record "$1" SQLite "local file" "-" "$dir"
}

# (b) Azure Storage on a fresh Azurite. COUNT=1 runs Azurite with --debug and counts the run's requests.
run_azure() { # N SOURCE_KIND(file|blob) SNAPSHOT COUNT
  local n=$1 kind=$2 snapshot=$3 count=$4 dir="$WORK/runs/$1/azure-$2" source debug="" mark=0 counted=no
  if [[ "$count" == 1 ]]; then dir="$dir-counted"; debug="$dir/azurite-debug.log"; counted="yes (--debug)"; fi
  rm -rf "$dir"; mkdir -p "$dir"
  start_azurite "$dir" "$debug"
  if [[ "$kind" == blob ]]; then
    # The snapshot as one block blob in a container of its own; its upload is set-up, not counted.
    python3 "$BENCH_DIR/azurite/blob.py" put "$BLOB_ENDPOINT" "$ACCOUNT" "$ACCOUNT_KEY" snapshots profiles.csv.gz "$snapshot" \
      || die "could not upload the snapshot to Azurite"
    source="$BLOB_ENDPOINT/snapshots/profiles.csv.gz"
  else
    source=$snapshot
  fi
  write_config "$dir" "$source"
  (cd "$dir" && PipelineStorage="$CONNECTION" "$BIN" config push --config "$dir/pipeline.json") >"$dir/push.log" 2>&1 \
    || { cat "$dir/push.log" >&2; die "pipeline config push failed"; }
  # Count from here on: Azurite's log may still be appending the push's last lines, so let it settle first.
  if [[ -n "$debug" ]]; then sleep 1; mark=$(stat -c %s "$debug"); fi
  log "  (b) Azure Storage (Azurite, counted: $counted), snapshot from a $kind: pipeline run --once"
  # Without --config: the run takes its activation from the published config, as on Azure.
  # Run from the run's folder, as an operator would (the config's paths are absolute anyway); `env` execs the CLI,
  # so GNU time still measures the CLI process itself.
  pushd "$dir" >/dev/null
  measure_cmd "$dir/run.log" env PipelineStorage="$CONNECTION" "$BIN" run --once
  popd >/dev/null
  grep -q '^Backend: Azure Storage' "$dir/run.log" || die "$dir/run.log does not say it ran on the Azure backend"
  record "$n" "Azure (Azurite)" "$kind" "$counted" "$dir"
  # What is left on the account after a successful run: staging must be empty.
  python3 "$BENCH_DIR/azurite/blob.py" list "$BLOB_ENDPOINT" "$ACCOUNT" "$ACCOUNT_KEY" staging >"$dir/staging-left.txt"
  [[ ! -s "$dir/staging-left.txt" ]] || log "  WARNING: $(wc -l <"$dir/staging-left.txt") staging blobs left after the run (listed in $dir/staging-left.txt)"
  (cd "$dir" && PipelineStorage="$CONNECTION" "$BIN" runs) >"$dir/runs.log" 2>&1 || true
  if [[ -n "$debug" ]]; then
    sleep 1 # the last responses' log lines
    python3 "$BENCH_DIR/azurite/count_requests.py" "$debug" "$mark" "$dir/requests.json" >"$dir/requests.md"
    COUNTS+=("#### $n profiles, snapshot from a $kind"$'\n\n'"$(cat "$dir/requests.md")"$'\n')
  fi
  stop_azurite
}

# Every run of one size must have written the same data files, byte for byte (manifests differ: run ids, times).
compare_outputs() { # N
  local ref="$WORK/runs/$1/sqlite/out" dir f rel
  for dir in "$WORK/runs/$1"/azure-*; do
    [[ -d "$dir/out" ]] || continue
    diff <(cd "$ref" && find . -type f ! -name '*.manifest.json' | sort) <(cd "$dir/out" && find . -type f ! -name '*.manifest.json' | sort) >/dev/null \
      || die "$dir/out holds other files than $ref"
    while read -r rel; do
      cmp -s "$ref/$rel" "$dir/out/$rel" || die "$dir/out/$rel differs from the SQLite run's"
    done < <(cd "$ref" && find . -type f ! -name '*.manifest.json')
    CHECKS+=("- $1 profiles: $(basename "$dir") wrote the same $(cd "$ref" && find . -type f ! -name '*.manifest.json' | wc -l) data file(s) as SQLite, byte for byte (cmp)")
  done
}

# ---------------------------------------------------------------------------------------------
install_emulators
publish_cli
# A `once` slot an hour ago on the hour (UTC): due now, the same for every run of this script.
SLOT=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:00)
ROWS=(); COUNTS=(); CHECKS=()
for n in $SIZES; do
  snapshot=$(ensure_input "$n")
  log "$n profiles ($(du -h "$snapshot" | cut -f1) CSV.gz), slot $SLOT UTC"
  run_sqlite "$n" "$snapshot"
  run_azure "$n" file "$snapshot" 0   # timed: Azurite without --debug
  run_azure "$n" file "$snapshot" 1   # counted: the same run with Azurite logging every request
  if [[ "$BLOB_SOURCE" == 1 ]]; then
    run_azure "$n" blob "$snapshot" 0
    run_azure "$n" blob "$snapshot" 1
  fi
  compare_outputs "$n"
done

# ---------------------------------------------------------------------------------------------
# Report: printed and written to bench/results/DATE-azurite.md (never overwriting: -2, -3, ...).
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
report=$(cat <<EOF
# Azure Storage backend (Azurite) vs SQLite, $(date -u '+%Y-%m-%d %H:%M UTC')

- Machine: $(nproc) vCPU ${cpu_model:-unknown CPU}, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
- .NET $(dotnet --version), node $(node --version), Azurite $(node -p "require('$REPO/tests/emulators/node_modules/azurite/package.json').version")
- Commit: $commit; CLI: $build_note; measured with $([[ "$MEASURE" == time ]] && echo 'GNU time -v' || echo 'bench/measure.py')
- Command: \`BENCH_AZ_SIZES="$SIZES" BENCH_AZ_BLOB_SOURCE=$BLOB_SOURCE BENCH_AZ_BUILD=$BUILD$([[ "$PUBLISH" == 0 ]] && echo " BENCH_AZ_PUBLISH=0" || true) bash bench/azurite.sh\`
- Export: \`pipeline run --once\`, one activation (S1, fields ${FIELDS//\"/}, gzip CSV, default tuning) of a \`pipeline sample\`
  CSV.gz snapshot, to a local folder. Azurite in memory on loopback, a fresh instance per run.
- Wall time, CPU and peak RSS are the \`pipeline run --once\` process's (Azurite's own CPU and memory are not included).
  *Counted* runs had Azurite's \`--debug\` log on (every request logged: slower); the other runs are the timing ones.
  *Azurite CPU s*: the emulator's CPU time during the run. *Others' CPU*: the share of all CPUs that other processes
  used during the run (the machine may be shared; each run first waits, up to ${IDLE_WAIT} s, for < ${MAX_BUSY}% busy).

| Profiles | Backend | Snapshot | Counted | Wall s | CPU s | Peak RSS MiB | Azurite CPU s | Files | Rows | Others' CPU |
|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${ROWS[@]}")

Checks:
$(printf '%s\n' "${CHECKS[@]}")

### Storage requests of one \`pipeline run --once\` (Azure backend), from Azurite's --debug log

One request is one storage transaction (a table \`\$batch\` is one request). \`config push\` and the blob snapshot's
upload are set-up and not counted; the \`run --once\` includes its start-up checks and the queue polling until done.

$(printf '%s\n' "${COUNTS[@]}")
EOF
)
echo "$report"
mkdir -p "$RESULTS_DIR"
base="$RESULTS_DIR/$(date -u +%Y-%m-%d)-azurite"; file="$base.md"; i=2
while [[ -e "$file" ]]; do file="$base-$i.md"; i=$((i + 1)); done
echo "$report" >"$file"
log "Report written to ${file#"$REPO"/}"
