#!/usr/bin/env bash
# Export and upload benchmark, ours side by side with peers, in one command:
#  - local export: `pipeline export` of segment S1 (5 fields) from synthetic snapshots of BENCH_SIZES
#    profiles in BENCH_FORMATS, against DuckDB doing the same COPY on the same input (both outputs must
#    hold the same rows);
#  - a small export (about 1,000 members) end to end, for the fixed cost per run;
#  - multipart upload of one file to S3 emulators on loopback: our S3 destination against
#    @aws-sdk/lib-storage, same file, part size and concurrency.
# It measures wall time and peak RSS and verifies every output.
#
#   bash bench/run.sh
#   BENCH_SIZES="100000" BENCH_FORMATS="csv" BENCH_REPEAT=3 bash bench/run.sh
#
# Env knobs:
#   BENCH_SIZES        profile counts              (default "1000000 10000000")
#   BENCH_FORMATS      input formats, csv|parquet  (default "csv parquet")
#   BENCH_REPEAT       runs per measurement; fastest wall time, highest peak RSS reported (default 1)
#   BENCH_RESULTS_DIR  where the Markdown report goes (default bench/results)
#   BENCH_BUILD        aot|r2r: how the CLI is published (default aot: Native AOT, as shipped; needs a C
#                      toolchain, clang or gcc; r2r: the JIT runtime with ReadyToRun code)
#   BENCH_MEASURE      auto|time|python: GNU /usr/bin/time -v or bench/measure.py (default auto)
#   BENCH_MAX_BUSY     before each run, wait until other processes use less than this % of all CPUs
#                      (default 25; 100 = never wait) ...
#   BENCH_IDLE_WAIT    ... for at most this many seconds, then run anyway (default 300)
#   BENCH_PEERS        1 = run DuckDB next to every export (default 1)
#   BENCH_UPLOAD_MB    size of the upload test file in MiB; 0 = skip the upload benchmark (default 256)
#   BENCH_PART_MIB     part size for both upload clients (default 8; fauxqs accepts at most 11 MiB)
#   BENCH_UPLOAD_CONCURRENCY  parts in flight for both clients (default 4, lib-storage's default queueSize)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH_DIR")"
WORK="$BENCH_DIR/work"
BIN="$WORK/bin/pipeline"

SIZES="${BENCH_SIZES:-1000000 10000000}"
FORMATS="${BENCH_FORMATS:-csv parquet}"
REPEAT="${BENCH_REPEAT:-1}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$BENCH_DIR/results}"
MEASURE="${BENCH_MEASURE:-auto}"
BUILD="${BENCH_BUILD:-aot}"
MAX_BUSY="${BENCH_MAX_BUSY:-25}"
IDLE_WAIT="${BENCH_IDLE_WAIT:-300}"
PEERS="${BENCH_PEERS:-1}"
UPLOAD_MB="${BENCH_UPLOAD_MB:-256}"
PART_MIB="${BENCH_PART_MIB:-8}"
UPLOAD_CONCURRENCY="${BENCH_UPLOAD_CONCURRENCY:-4}"
SEGMENT="S1"
export NODE_NO_WARNINGS=1 # the AWS SDK's "node >= 22 from 2027" notice on every run
FIELDS="profileId,email,lastName,city,country"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "run.sh: FAILED: $*" >&2; exit 1; }

[[ "$BUILD" == aot || "$BUILD" == r2r ]] || die "BENCH_BUILD must be aot or r2r, got '$BUILD'"
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer, got '$REPEAT'"
[[ "$MAX_BUSY" =~ ^[0-9]+$ && "$IDLE_WAIT" =~ ^[0-9]+$ ]] || die "BENCH_MAX_BUSY and BENCH_IDLE_WAIT must be whole numbers"
[[ "$PEERS" == 0 || "$PEERS" == 1 ]] || die "BENCH_PEERS must be 0 or 1"
[[ "$UPLOAD_MB" =~ ^[0-9]+$ && "$PART_MIB" =~ ^[1-9][0-9]*$ && "$UPLOAD_CONCURRENCY" =~ ^[1-9][0-9]*$ ]] || die "BENCH_UPLOAD_MB, BENCH_PART_MIB and BENCH_UPLOAD_CONCURRENCY must be whole numbers"
for n in $SIZES; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZES holds '$n', not a profile count"; done
for f in $FORMATS; do [[ "$f" == csv || "$f" == parquet ]] || die "BENCH_FORMATS holds '$f'; use csv and/or parquet"; done

if [[ "$MEASURE" == auto ]]; then
  # GNU time (and BusyBox) understand -v; anything else falls back to the Python wrapper.
  if [[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1; then MEASURE=time; else MEASURE=python; fi
fi
[[ "$MEASURE" == time || "$MEASURE" == python ]] || die "BENCH_MEASURE must be auto, time or python"

bench_started=$(date +%s)
mkdir -p "$WORK"/{inputs,out,logs}

# ---------------------------------------------------------------------------------------------
# 1. Publish once; every measurement runs the published apphost (no `dotnet run`/build overhead).
# Others may be editing the tree: record what is being built at the moment it is built.
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$REPO" status --porcelain -- lib cli Directory.Build.props Directory.Packages.props 2>/dev/null | awk '{ print $2 }' | paste -sd' ' -)
[[ -z "$dirty" ]] || commit="$commit + uncommitted changes in: $dirty"
if [[ "$BUILD" == aot ]]; then
  command -v clang >/dev/null || command -v gcc >/dev/null \
    || die "Native AOT needs a C toolchain to link: install clang or gcc (apt-get install clang), or set BENCH_BUILD=r2r"
  publish_args=(-p:PublishAot=true)
  build_note="Native AOT"
else
  publish_args=(--self-contained false)
  build_note="ReadyToRun (JIT runtime)"
fi
log "Publishing cli/Pipeline.Cli (Release, $build_note) to bench/work/bin"
rm -rf "$WORK/bin"
(cd "$REPO" && dotnet publish cli/Pipeline.Cli -c Release -r linux-x64 "${publish_args[@]}" -o "$WORK/bin" -nologo -v quiet) >"$WORK/logs/publish.log" 2>&1 \
  || { cat "$WORK/logs/publish.log" >&2; die "dotnet publish failed"; }
[[ -x "$BIN" ]] || die "$BIN was not produced by dotnet publish"
if [[ "$PEERS" == 1 || "$UPLOAD_MB" -gt 0 ]]; then
  command -v node >/dev/null || die "node is needed for the peers (DuckDB, lib-storage); set BENCH_PEERS=0 BENCH_UPLOAD_MB=0 to run without them"
  if [[ ! -d "$BENCH_DIR/peers/node_modules/@duckdb/node-api" || ! -d "$BENCH_DIR/peers/node_modules/@aws-sdk/lib-storage" ]]; then
    # `npm install`, not `npm ci`: the lock can only list the DuckDB bindings this registry serves (linux-x64),
    # and `npm ci` rejects a lock without the other platforms' optional bindings. Versions are pinned exactly.
    log "Installing the peers (npm install --prefix bench/peers)"
    npm install --prefix "$BENCH_DIR/peers" --no-audit --no-fund >"$WORK/logs/npm-peers.log" 2>&1 || { cat "$WORK/logs/npm-peers.log" >&2; die "npm install --prefix bench/peers failed"; }
  fi
fi
if [[ "$UPLOAD_MB" -gt 0 ]]; then
  if [[ ! -d "$REPO/tests/emulators/node_modules/fauxqs" || ! -d "$REPO/tests/emulators/node_modules/s3rver" ]]; then
    # A fresh clone has no emulators yet: install them from their lock file, as the tests do.
    command -v npm >/dev/null || die "npm is needed to install the S3 emulators (tests/emulators); set BENCH_UPLOAD_MB=0 to skip the upload benchmark"
    log "Installing the S3 emulators (npm ci --prefix tests/emulators)"
    npm ci --prefix "$REPO/tests/emulators" --no-audit --no-fund >"$WORK/logs/npm-emulators.log" 2>&1 \
      || { cat "$WORK/logs/npm-emulators.log" >&2; die "npm ci --prefix tests/emulators failed"; }
  fi
  log "Publishing bench/upload (Release, $build_note) to bench/work/upload-bin"
  rm -rf "$WORK/upload-bin"
  (cd "$REPO" && dotnet publish bench/upload -c Release -r linux-x64 "${publish_args[@]}" -o "$WORK/upload-bin" -nologo -v quiet) >"$WORK/logs/publish-upload.log" 2>&1 \
    || { cat "$WORK/logs/publish-upload.log" >&2; die "dotnet publish bench/upload failed"; }
fi

# ---------------------------------------------------------------------------------------------
# 2. Inputs, cached under bench/work/inputs/N/{csv,parquet}. `pipeline sample` writes to a .tmp
#    file and renames it, so an existing file is a complete one.
input_path() { # N FORMAT
  if [[ "$2" == csv ]]; then echo "$WORK/inputs/$1/csv/profiles.csv.gz"; else echo "$WORK/inputs/$1/parquet/profiles.parquet"; fi
}

ensure_input() { # N FORMAT
  local path; path=$(input_path "$1" "$2")
  if [[ -s "$path" ]]; then log "Input cached: ${path#"$REPO"/}"; return; fi
  log "Generating $1 profiles as $2"
  "$BIN" sample --profiles "$1" --out "$(dirname "$path")" --format "$2" >"$WORK/logs/sample-$1-$2.log" 2>&1 \
    || { cat "$WORK/logs/sample-$1-$2.log" >&2; die "pipeline sample --profiles $1 --format $2 failed"; }
  [[ -s "$path" ]] || die "pipeline sample did not write $path"
}

# Reference numbers from the CSV (the generator is deterministic, so the Parquet file of the same
# size holds the same profiles): data rows, uncompressed bytes, and members of $SEGMENT.
# Cached as "rows bytes members" next to the input.
ensure_stats() { # N
  local stats="$WORK/inputs/$1/csv/stats-$SEGMENT.txt"
  if [[ ! -s "$stats" ]]; then
    log "Counting rows, uncompressed bytes and $SEGMENT members of the $1-profile CSV"
    # segments is the last column and never quoted (';'-separated ids), so $NF is safe even though
    # earlier fields hold quoted commas; LC_ALL=C makes length() count bytes.
    zcat "$(input_path "$1" csv)" | LC_ALL=C awk -F, -v seg="$SEGMENT" '
      { bytes += length($0) + 1 }
      NR > 1 { rows++; n = split($NF, s, ";"); for (i = 1; i <= n; i++) if (s[i] == seg) { members++; break } }
      END { printf "%d %d %d\n", rows, bytes, members }' >"$stats.tmp"
    mv "$stats.tmp" "$stats"
  fi
  cat "$stats"
}

# The machine may be shared: % of all CPUs busy over one second (from /proc/stat).
cpu_busy() {
  local a b
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 2; i <= n; i++) { d = y[i] - x[i]; total += d; if (i == 5 || i == 6) idle += d }  # idle + iowait
    printf "%.0f", (total > 0 ? 100 * (total - idle) / total : 0) }'
}

# Wait (bounded) for the CPUs to be quiet; sets BUSY to the last sample.
wait_for_quiet() {
  local waited=0
  BUSY=$(cpu_busy)
  while ((BUSY > MAX_BUSY && waited < IDLE_WAIT)); do
    ((waited == 0)) && log "  CPUs ${BUSY}% busy; waiting up to ${IDLE_WAIT}s for < ${MAX_BUSY}%"
    sleep 4; waited=$((waited + 5)); BUSY=$(cpu_busy)
  done
  ((BUSY <= MAX_BUSY)) || log "  still ${BUSY}% busy after ${IDLE_WAIT}s; measuring anyway"
}

# ---------------------------------------------------------------------------------------------
# 3. One measured export. Sets RUN_WALL (s), RUN_RSS_KIB, RUN_CPU (its user+sys s) and RUN_OTHERS
#    (% of all CPUs that other processes used meanwhile: the noise on a shared machine).
measure_export() { # SOURCE OUTDIR LOGFILE
  rm -rf "$2"
  measure_cmd "$3" "$BIN" export --source "$1" --segment "$SEGMENT" --fields "$FIELDS" --to "$2"
}

measure_cmd() { # LOGFILE CMD...
  local logfile=$1 rusage="$1.rusage" start end stat_before stat_after; shift
  local cmd=("$@")
  stat_before=$(head -1 /proc/stat)
  if [[ "$MEASURE" == time ]]; then
    start=$(date +%s%N)
    /usr/bin/time -v -o "$rusage" "${cmd[@]}" >"$logfile" 2>&1 || { cat "$logfile" >&2; die "failed: ${cmd[*]}"; }
    end=$(date +%s%N)
    RUN_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", (e - s) / 1e9 }')
    RUN_RSS_KIB=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$rusage")
    RUN_CPU=$(awk -F: '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$rusage")
  else
    python3 "$BENCH_DIR/measure.py" "$rusage" -- "${cmd[@]}" >"$logfile" 2>&1 || { cat "$logfile" >&2; die "failed: ${cmd[*]}"; }
    RUN_WALL=$(sed -n 's/^wall_s=//p' "$rusage")
    RUN_RSS_KIB=$(sed -n 's/^max_rss_kib=//p' "$rusage")
    RUN_CPU=$(sed -n 's/^cpu_s=//p' "$rusage")
  fi
  stat_after=$(head -1 /proc/stat)
  [[ -n "$RUN_WALL" && -n "$RUN_RSS_KIB" && -n "$RUN_CPU" ]] || die "could not read wall time / peak RSS / CPU time from $rusage"
  RUN_OTHERS=$(awk -v a="$stat_before" -v b="$stat_after" -v own="$RUN_CPU" -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" -v wall="$RUN_WALL" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 2; i <= n; i++) if (i != 5 && i != 6) busy += y[i] - x[i]   # all but idle and iowait
    others = 100 * (busy / hz - own) / (wall * cpus)
    printf "%.0f", (others < 0 ? 0 : others) }')
}

# ---------------------------------------------------------------------------------------------
# 4. Verify an output folder against its manifest and the reference counts. Sets OUT_ROWS,
#    OUT_READ, OUT_BYTES, OUT_FILES.
verify_output() { # OUTDIR EXPECTED_READ EXPECTED_MEMBERS
  local out=$1 expected_read=$2 expected_members=$3 manifest
  local manifests=("$out"/*.manifest.json)
  [[ ${#manifests[@]} -eq 1 && -f "${manifests[0]}" ]] || die "$out: expected exactly one *.manifest.json, found ${#manifests[@]}"
  manifest=${manifests[0]}

  # Manifest as plain lines: "totals FILES ROWS BYTES ROWSREAD ROWSSKIPPED", then "file KEY ROWS BYTES SHA256".
  local listing
  listing=$(python3 - "$manifest" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1], encoding="utf-8"))
t = m["totals"]
print("totals", t["files"], t["rows"], t["bytes"], t["rowsRead"], t["rowsSkipped"])
for f in m["files"]:
    print("file", f["key"], f["rows"], f["bytes"], f["sha256"])
EOF
  ) || die "$manifest is not a readable manifest"

  local _ files rows bytes read skipped
  read -r _ files rows bytes read skipped <<<"$(grep '^totals ' <<<"$listing")"

  local counted=0 sized=0 listed=0 key frows fbytes fsha path actual
  while read -r _ key frows fbytes fsha; do
    listed=$((listed + 1))
    path="$out/$key"
    [[ -f "$path" ]] || die "$manifest lists $key, which is not in $out"
    gzip -t "$path" || die "$path is not valid gzip"
    # Data rows = lines minus the header (no exported field contains a newline).
    actual=$(zcat "$path" | tail -n +2 | wc -l)
    [[ "$actual" -eq "$frows" ]] || die "$path has $actual data rows, the manifest says $frows"
    [[ $(stat -c %s "$path") -eq "$fbytes" ]] || die "$path is $(stat -c %s "$path") bytes, the manifest says $fbytes"
    [[ $(sha256sum "$path" | cut -d' ' -f1) == "$fsha" ]] || die "$path does not match the manifest's sha256"
    counted=$((counted + actual)); sized=$((sized + fbytes))
  done < <(grep '^file ' <<<"$listing")

  # Every data file in the folder must be in the manifest (a stray file would be a half-written one).
  local on_disk; on_disk=$(find "$out" -maxdepth 1 -type f -name '*.csv.gz' | wc -l)
  [[ "$on_disk" -eq "$listed" ]] || die "$out holds $on_disk .csv.gz files, the manifest lists $listed"
  # The local destination stages uploads under .incomplete/; after success nothing may be left there.
  if [[ -d "$out/.incomplete" ]] && [[ -n "$(ls -A "$out/.incomplete")" ]]; then die "$out/.incomplete still holds: $(ls -A "$out/.incomplete")"; fi
  [[ "$files" -eq "$listed" ]] || die "$manifest: totals.files=$files but it lists $listed files"
  [[ "$counted" -eq "$rows" ]] || die "$out: files hold $counted data rows, manifest totals.rows=$rows"
  [[ "$sized" -eq "$bytes" ]] || die "$out: files are $sized bytes, manifest totals.bytes=$bytes"
  [[ "$read" -eq "$expected_read" ]] || die "$manifest: totals.rowsRead=$read, the source has $expected_read rows"
  [[ "$skipped" -eq 0 ]] || die "$manifest: $skipped malformed rows skipped in generated data"
  [[ "$rows" -eq "$expected_members" ]] || die "$manifest: totals.rows=$rows, the source has $expected_members members of $SEGMENT"
  OUT_ROWS=$rows OUT_READ=$read OUT_BYTES=$bytes OUT_FILES=$files
}

# ---------------------------------------------------------------------------------------------
# Machine facts for the report.
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
[[ -n "$cpu_model" ]] || cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem_total=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
dotnet_sdk=$(cd "$REPO" && dotnet --version)
dotnet_runtime=$(dotnet --list-runtimes | awk '/^Microsoft.NETCore.App/ { v = $2 } END { print v }')

rows_md=()
peer_md=()
for n in $SIZES; do
  ensure_input "$n" csv   # always: it is the reference for row counts and uncompressed bytes
  for fmt in $FORMATS; do [[ "$fmt" == csv ]] || ensure_input "$n" "$fmt"; done
  read -r src_rows src_bytes src_members <<<"$(ensure_stats "$n")"
  first_content=""
  [[ "$src_rows" -eq "$n" ]] || die "the $n-profile CSV holds $src_rows data rows"

  for fmt in $FORMATS; do
    source=$(input_path "$n" "$fmt")
    input_bytes=$(stat -c %s "$source")
    best_wall="" worst_rss=0
    for ((r = 1; r <= REPEAT; r++)); do
      wait_for_quiet
      log "Export $n profiles from $fmt (run $r/$REPEAT; CPUs ${BUSY}% busy just before)"
      out="$WORK/out/$n-$fmt"
      measure_export "$source" "$out" "$WORK/logs/export-$n-$fmt-$r.log"
      verify_output "$out" "$n" "$src_members"
      log "  $RUN_WALL s, $RUN_CPU CPU s, peak RSS $((RUN_RSS_KIB / 1024)) MiB, others used ${RUN_OTHERS}% CPU meanwhile; $OUT_ROWS rows in $OUT_FILES file(s), verified"
      if [[ -z "$best_wall" ]] || awk -v a="$RUN_WALL" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then best_wall=$RUN_WALL best_cpu=$RUN_CPU best_others=$RUN_OTHERS; fi
      if ((RUN_RSS_KIB > worst_rss)); then worst_rss=$RUN_RSS_KIB; fi
    done
    # Both formats hold the same profiles, so their exports must hold the same rows (gzip member
    # boundaries differ, so compare the uncompressed content, not the files).
    content=$(zcat "$out"/*.csv.gz | sha256sum | cut -d' ' -f1)
    if [[ "$PEERS" == 1 ]]; then
      # DuckDB does the same work on the same file; its output must hold the same rows as ours.
      duck_best="" duck_rss=0
      duck_out="$WORK/out/$n-$fmt-duckdb"
      for ((r = 1; r <= REPEAT; r++)); do
        wait_for_quiet
        log "DuckDB: export $n profiles from $fmt (run $r/$REPEAT; CPUs ${BUSY}% busy just before)"
        rm -rf "$duck_out"; mkdir -p "$duck_out"
        measure_cmd "$WORK/logs/duckdb-$n-$fmt-$r.log" node "$BENCH_DIR/peers/duckdb-export.mjs" "$source" "$SEGMENT" "$FIELDS" "$duck_out/out.csv.gz"
        gzip -t "$duck_out/out.csv.gz" || die "DuckDB's $duck_out/out.csv.gz is not valid gzip"
        duck_rows=$(zcat "$duck_out/out.csv.gz" | tail -n +2 | wc -l)
        [[ "$duck_rows" -eq "$src_members" ]] || die "DuckDB exported $duck_rows rows from $fmt, the source has $src_members members of $SEGMENT"
        log "  $RUN_WALL s, $RUN_CPU CPU s, peak RSS $((RUN_RSS_KIB / 1024)) MiB, others used ${RUN_OTHERS}% CPU meanwhile"
        if [[ -z "$duck_best" ]] || awk -v a="$RUN_WALL" -v b="$duck_best" 'BEGIN { exit !(a < b) }'; then duck_best=$RUN_WALL duck_cpu=$RUN_CPU; fi
        if ((RUN_RSS_KIB > duck_rss)); then duck_rss=$RUN_RSS_KIB; fi
      done
      duck_content=$(zcat "$duck_out/out.csv.gz" | sha256sum | cut -d' ' -f1)
      if [[ "$duck_content" == "$content" ]]; then same="identical bytes"
      elif [[ "$(zcat "$duck_out/out.csv.gz" | sort | sha256sum)" == "$(zcat "$out"/*.csv.gz | sort | sha256sum)" ]]; then same="same rows, other order"
      else die "$n profiles from $fmt: DuckDB's rows differ from ours ($duck_out vs $out)"; fi
      peer_md+=("$(awk -v n="$n" -v fmt="$fmt" -v w="$best_wall" -v dw="$duck_best" -v c="$best_cpu" -v dc="$duck_cpu" -v rss="$worst_rss" -v drss="$duck_rss" -v rows="$OUT_ROWS" -v same="$same" '
        function commas(x,   s) { s = sprintf("%.0f", x); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([,]|$)/, ",&", s); return s }
        BEGIN {
          ratio = dw / w
          printf "| %s | %s | %.2f | %.2f | **%.2fx** %s | %.2f | %.2f | %.0f | %.0f | %s | %s |\n",
            commas(n), fmt, w, dw, ratio, (ratio >= 1.5 ? "(met)" : "(missed)"), c, dc, rss / 1024, drss / 1024, commas(rows), same
        }')")
    fi
    if [[ -n "${first_content:-}" ]]; then
      [[ "$content" == "$first_content" ]] || die "$n profiles: the $fmt export's content differs from the ${FORMATS%% *} export's"
    else first_content=$content; fi
    rows_md+=("$(awk -v n="$n" -v fmt="$fmt" -v in_b="$input_bytes" -v read="$OUT_READ" -v rows="$OUT_ROWS" \
      -v wall="$best_wall" -v raw="$src_bytes" -v out_b="$OUT_BYTES" -v rss="$worst_rss" -v cpu="$best_cpu" -v others="$best_others" '
      function commas(x,   s) { s = sprintf("%.0f", x); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([,]|$)/, ",&", s); return s }
      BEGIN {
        printf "| %s | %s | %.1f | %s | %s | %.2f | %.2f | %s | %.1f | %.1f | %.1f | %.0f | %s%% |\n",
          commas(n), fmt, in_b / 1e6, commas(read), commas(rows), wall, cpu, commas(read / wall),
          raw / 1e6 / wall, in_b / 1e6 / wall, out_b / 1e6, rss / 1024, others
      }')")
  done
done

# ---------------------------------------------------------------------------------------------
# Fixed costs. Per run: an export of about 1,000 members (5,750 profiles; S1 holds 17.4%) end to end,
# plan to manifest, as a process (runtime start-up included) and as the CLI reports it (engine only).
# Per chunk: the 1M CSV.gz export with 1 MiB chunks against 16 MiB chunks, same work otherwise.
SMALL=5750
ensure_input "$SMALL" csv
read -r _ _ small_members <<<"$(ensure_stats "$SMALL")"
small_walls=() small_engine=()
for ((r = 1; r <= REPEAT * 3; r++)); do
  wait_for_quiet
  measure_export "$(input_path "$SMALL" csv)" "$WORK/out/small" "$WORK/logs/export-small-$r.log"
  verify_output "$WORK/out/small" "$SMALL" "$small_members"
  small_walls+=("$RUN_WALL"); small_rss=$RUN_RSS_KIB
  # "... rows exported of N read, X MiB in 0.21 s (...)": the engine's own time
  small_engine+=("$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$WORK/logs/export-small-$r.log" | tail -1)")
done
small_line=$(printf '%s\n' "${small_walls[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f %.2f %.2f", a[1], a[int((NR + 1) / 2)], a[NR] }')
engine_line=$(printf '%s\n' "${small_engine[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f %.2f %.2f", a[1], a[int((NR + 1) / 2)], a[NR] }')
log "Small export ($small_members members): process wall min/median/max $small_line s; engine $engine_line s"

chunk_md=()
chunk_n=$(for n in $SIZES; do echo "$n"; done | sort -n | head -1)
read -r _ chunk_raw chunk_members <<<"$(ensure_stats "$chunk_n")"
for mib in 1 16; do
  best=""
  for ((r = 1; r <= REPEAT; r++)); do
    wait_for_quiet
    rm -rf "$WORK/out/chunks-$mib"
    measure_cmd "$WORK/logs/export-chunks-$mib-$r.log" "$BIN" export --source "$(input_path "$chunk_n" csv)" --segment "$SEGMENT" --fields "$FIELDS" --to "$WORK/out/chunks-$mib" --chunk-size "${mib}MiB"
    verify_output "$WORK/out/chunks-$mib" "$chunk_n" "$chunk_members"
    if [[ -z "$best" ]] || awk -v a="$RUN_WALL" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$RUN_WALL; best_c=$RUN_CPU; fi
  done
  chunks=$(awk -v b="$chunk_raw" -v m="$mib" 'BEGIN { c = b / (m * 1048576); printf "%d", (c == int(c) ? c : int(c) + 1) }')
  chunk_md+=("$mib $chunks $best $best_c")
  log "  ${mib} MiB chunks ($chunks): $best s, $best_c CPU s"
done
read -r _ c1 w1 cpu1 <<<"${chunk_md[0]}"; read -r _ c16 w16 cpu16 <<<"${chunk_md[1]}"
per_chunk=$(awk -v a="$w1" -v b="$w16" -v x="$c1" -v y="$c16" 'BEGIN { printf "%.1f", 1000 * (a - b) / (x - y) }')
per_chunk_cpu=$(awk -v a="$cpu1" -v b="$cpu16" -v x="$c1" -v y="$c16" 'BEGIN { printf "%.1f", 1000 * (a - b) / (x - y) }')

# ---------------------------------------------------------------------------------------------
# Upload: one file of UPLOAD_MB MiB as a multipart upload to each emulator on loopback, ours (bench/upload:
# the S3 destination the UploadPart stage uses) against @aws-sdk/lib-storage, same part size and parts in
# flight, alternating, each object read back and compared. Both clients in compatibility mode (checksums
# only where required): s3rver needs it, and fauxqs completes an empty object when CompleteMultipartUpload
# carries part checksums (tests/emulators/README.md), so default mode could not be verified there.
upload_md=()
EMU_PID="" EMU_FD=""
stop_emulator() {
  if [[ -n "$EMU_FD" ]]; then exec {EMU_FD}>&-; EMU_FD=""; fi
  if [[ -n "$EMU_PID" ]]; then wait "$EMU_PID" 2>/dev/null || true; EMU_PID=""; fi
}
trap stop_emulator EXIT
if [[ "$UPLOAD_MB" -gt 0 ]]; then
  upfile="$WORK/inputs/upload-${UPLOAD_MB}MiB.bin"
  if [[ ! -s "$upfile" ]]; then
    log "Writing a ${UPLOAD_MB} MiB test file of random bytes"
    head -c $((UPLOAD_MB * 1048576)) /dev/urandom >"$upfile.tmp" && mv "$upfile.tmp" "$upfile"
  fi
  part_bytes=$((PART_MIB * 1048576))
  for emu in fauxqs s3rver; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    endpoint="http://127.0.0.1:$port"
    fifo="$WORK/emulator.fifo"; rm -f "$fifo"; mkfifo "$fifo"
    emu_args=("$port"); [[ "$emu" == s3rver ]] && { rm -rf "$WORK/s3rver"; mkdir -p "$WORK/s3rver"; emu_args+=("$WORK/s3rver"); }
    # The launchers exit when their stdin closes: stop_emulator closes it.
    node "$REPO/tests/emulators/$emu.mjs" "${emu_args[@]}" <"$fifo" >"$WORK/logs/$emu.log" 2>&1 &
    EMU_PID=$!
    exec {EMU_FD}>"$fifo"
    for ((i = 0; i < 40; i++)); do node "$BENCH_DIR/peers/s3-upload.mjs" bucket "$endpoint" bench >/dev/null 2>&1 && break; sleep 0.5; done
    ((i < 40)) || { cat "$WORK/logs/$emu.log" >&2; die "$emu did not start on $endpoint"; }
    declare -A up_best=() up_rss=()
    for ((r = 1; r <= REPEAT; r++)); do
      for client in lib-storage ours; do
        wait_for_quiet
        key="$client-$r.bin"
        if [[ "$client" == ours ]]; then
          measure_cmd "$WORK/logs/upload-$emu-$client-$r.log" "$WORK/upload-bin/upload-bench" "$endpoint" bench "$key" "$upfile" "$part_bytes" "$UPLOAD_CONCURRENCY" compat
        else
          measure_cmd "$WORK/logs/upload-$emu-$client-$r.log" node "$BENCH_DIR/peers/s3-upload.mjs" upload "$endpoint" bench "$key" "$upfile" "$part_bytes" "$UPLOAD_CONCURRENCY" compat
        fi
        secs=$(python3 -c 'import json, sys; print(json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])["seconds"])' "$WORK/logs/upload-$emu-$client-$r.log")
        node "$BENCH_DIR/peers/s3-upload.mjs" verify "$endpoint" bench "$key" "$upfile" compat >/dev/null || die "$emu: the $client upload is not the file's bytes"
        log "  upload to $emu, $client (run $r/$REPEAT): $secs s in the client, $RUN_WALL s process, peak RSS $((RUN_RSS_KIB / 1024)) MiB; read back and verified"
        if [[ -z "${up_best[$client]:-}" ]] || awk -v a="$secs" -v b="${up_best[$client]}" 'BEGIN { exit !(a < b) }'; then up_best[$client]=$secs; fi
        if ((RUN_RSS_KIB > ${up_rss[$client]:-0})); then up_rss[$client]=$RUN_RSS_KIB; fi
      done
    done
    stop_emulator
    parts=$(( (UPLOAD_MB * 1048576 + part_bytes - 1) / part_bytes ))
    for client in lib-storage ours; do
      upload_md+=("$(awk -v emu="$emu" -v c="$client" -v mb="$UPLOAD_MB" -v pm="$PART_MIB" -v q="$UPLOAD_CONCURRENCY" -v parts="$parts" -v s="${up_best[$client]}" -v peer="${up_best[lib-storage]}" -v rss="${up_rss[$client]}" '
        BEGIN {
          ratio = peer / s
          printf "| %s | %s | %d | %d | %d | %d | %.2f | %.1f | %.0f | %.0f | %s |\n", emu, c, mb, pm, q, parts, s, parts / s, mb * 1048576 / 1e6 / s, rss / 1024,
            (c == "ours" ? sprintf("**%.2fx** %s", ratio, (ratio >= 1.0 ? "(met)" : "(missed)")) : "1.00x")
        }')")
    done
    unset up_best up_rss
  done
fi

# ---------------------------------------------------------------------------------------------
# 5./6. Report: printed and written to bench/results/DATE-local-export.md (an existing report is
#       never overwritten: a second run on the same day gets a -2, -3, ... suffix).
today=$(date +%F)
mkdir -p "$RESULTS_DIR"
report="$RESULTS_DIR/$today-local-export.md"
i=2; while [[ -e "$report" ]]; do report="$RESULTS_DIR/$today-local-export-$i.md"; i=$((i + 1)); done
elapsed=$(( $(date +%s) - bench_started ))
measure_note=$([[ "$MEASURE" == time ]] && echo "GNU \`/usr/bin/time -v\` (Maximum resident set size)" || echo "bench/measure.py (getrusage RUSAGE_CHILDREN ru_maxrss)")

{
  echo "# Local export benchmark, $today"
  echo
  echo "\`pipeline export --segment $SEGMENT --fields $FIELDS\` (gzip CSV out, default parallelism and chunk size)"
  echo "from synthetic \`pipeline sample\` snapshots; published Release build ($build_note, linux-x64); input files in the page cache."
  echo
  echo "- Date: $(date '+%Y-%m-%d %H:%M %Z')"
  echo "- Machine: $(nproc) CPUs ($cpu_model), $mem_total RAM, $(uname -sr)"
  echo "- .NET: SDK $dotnet_sdk, runtime Microsoft.NETCore.App $dotnet_runtime"
  echo "- Commit: $commit"
  echo "- Runs per measurement: $REPEAT (wall = fastest run, peak RSS = highest run)"
  echo "- Peak RSS measured with $measure_note"
  echo "- Every output verified: \`gzip -t\`, data rows per file = manifest, totals.rows = $SEGMENT members counted in the source, rowsRead = profiles, sizes and sha256 = manifest, nothing left in \`.incomplete/\`, and the CSV and Parquet exports hold identical content"
  echo "- Whole benchmark (including publish, input generation and verification): ${elapsed} s"
  echo
  echo "MB = 10^6 bytes. *Source MB/s* is the uncompressed CSV-equivalent size of the snapshot (the same"
  echo "profiles as plain CSV) divided by wall time, for both formats; *file MB/s* is the input file size on disk / wall time."
  echo "*CPU s* is the export's user + system CPU time ($(nproc) CPUs: at most $(nproc) x wall). *Others' CPU* is the share of all CPUs"
  echo "that other processes used during the reported run (noise; each run first waits up to ${IDLE_WAIT} s for the CPUs to be under ${MAX_BUSY}% busy)."
  echo
  echo "| Profiles | Input | Input MB | Rows read | Rows exported | Wall s | CPU s | Rows/s (read) | Source MB/s (uncompressed) | File MB/s (on disk) | Output MB | Peak RSS MiB | Others' CPU |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows_md[@]}"
  if ((${#peer_md[@]} > 0)); then
    echo
    echo "### Ours vs DuckDB (target: DuckDB's time / ours >= 1.5)"
    echo
    echo "DuckDB $(node -e 'console.log(require("'"$BENCH_DIR"'/peers/node_modules/@duckdb/node-api/package.json").version)' 2>/dev/null) (npm \`@duckdb/node-api\`, default threads = $(nproc)):"
    echo "\`COPY (SELECT $FIELDS FROM read_csv(..., all_varchar) / read_parquet(...) WHERE list_contains(...segments..., '$SEGMENT')) TO 'out.csv.gz' (FORMAT csv, HEADER, COMPRESSION gzip)\`"
    echo "(\`bench/peers/duckdb-export.mjs\`), measured as a process exactly like ours (node start-up included, about 0.1 s). Same runs-per-measurement rule."
    echo
    echo "| Profiles | Input | Ours wall s | DuckDB wall s | Speed-up | Ours CPU s | DuckDB CPU s | Ours peak MiB | DuckDB peak MiB | Rows | Outputs |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${peer_md[@]}"
  fi
  echo
  echo "### Fixed costs"
  echo
  echo "- Per run: export of $small_members members ($(printf "%'d" "$SMALL") profiles, CSV.gz) end to end (plan to manifest), $((REPEAT * 3)) runs: process wall min/median/max **$small_line s** (runtime start-up and exit included), of which the engine (as the CLI reports it) $engine_line s; peak RSS $((small_rss / 1024)) MiB."
  echo "- Per chunk: $(printf '%s' "$chunk_n" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') profiles CSV.gz with 1 MiB chunks (${c1} chunks) took $w1 s ($cpu1 CPU s), with 16 MiB chunks (${c16} chunks) $w16 s ($cpu16 CPU s): **$per_chunk ms wall, $per_chunk_cpu ms CPU per extra chunk** (staging write, state record, gzip member; noisy: a difference of two runs)."
  if ((${#upload_md[@]} > 0)); then
    echo
    echo "### Multipart upload: ours vs @aws-sdk/lib-storage (target: ours >= 1.0x)"
    echo
    echo "One ${UPLOAD_MB} MiB file of random bytes, ${PART_MIB} MiB parts, ${UPLOAD_CONCURRENCY} parts in flight for both, to each emulator on loopback (\`tests/emulators\`), alternating clients."
    echo "*Ours* is \`bench/upload\`: the S3 destination the UploadPart stage uses (part read into a pooled buffer, SHA-256, retry pipeline). *lib-storage* is"
    echo "\`Upload\` from @aws-sdk/lib-storage $(node -e 'console.log(require("'"$BENCH_DIR"'/peers/node_modules/@aws-sdk/lib-storage/package.json").version)' 2>/dev/null) over a file stream (\`bench/peers/s3-upload.mjs\`)."
    echo "Both in compatibility mode (checksums only where required; s3rver needs it, and fauxqs drops objects whose completion lists part checksums)."
    echo "Time = initiate to complete inside the client (best run); every object read back and compared with the file. Peak RSS is the client process. The emulator shares the 2 CPUs."
    echo
    echo "| Endpoint | Client | File MiB | Part MiB | In flight | Parts | Upload s | Parts/s | MB/s | Peak RSS MiB | Ours/peer |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${upload_md[@]}"
  fi
} >"$report"

echo
cat "$report"
echo
log "Report written to ${report#"$REPO"/}"
