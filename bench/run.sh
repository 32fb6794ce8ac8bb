#!/usr/bin/env bash
# Local export benchmark: `pipeline export` of segment S1 (5 fields) from synthetic snapshots of
# BENCH_SIZES profiles in BENCH_FORMATS, measuring wall time and peak RSS, verifying every output.
#
#   bash bench/run.sh
#   BENCH_SIZES="100000" BENCH_FORMATS="csv" BENCH_REPEAT=3 bash bench/run.sh
#
# Env knobs:
#   BENCH_SIZES        profile counts              (default "1000000 10000000")
#   BENCH_FORMATS      input formats, csv|parquet  (default "csv parquet")
#   BENCH_REPEAT       runs per measurement; fastest wall time, highest peak RSS reported (default 1)
#   BENCH_RESULTS_DIR  where the Markdown report goes (default bench/results)
#   BENCH_MEASURE      auto|time|python: GNU /usr/bin/time -v or bench/measure.py (default auto)
#   BENCH_MAX_BUSY     before each run, wait until other processes use less than this % of all CPUs
#                      (default 25; 100 = never wait) ...
#   BENCH_IDLE_WAIT    ... for at most this many seconds, then run anyway (default 300)
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
MAX_BUSY="${BENCH_MAX_BUSY:-25}"
IDLE_WAIT="${BENCH_IDLE_WAIT:-300}"
SEGMENT="S1"
FIELDS="profileId,email,lastName,city,country"

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "run.sh: FAILED: $*" >&2; exit 1; }

[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer, got '$REPEAT'"
[[ "$MAX_BUSY" =~ ^[0-9]+$ && "$IDLE_WAIT" =~ ^[0-9]+$ ]] || die "BENCH_MAX_BUSY and BENCH_IDLE_WAIT must be whole numbers"
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
log "Publishing cli/Pipeline.Cli (Release) to bench/work/bin"
(cd "$REPO" && dotnet publish cli/Pipeline.Cli -c Release -o "$WORK/bin" -nologo -v quiet) >"$WORK/logs/publish.log" 2>&1 \
  || { cat "$WORK/logs/publish.log" >&2; die "dotnet publish failed"; }
[[ -x "$BIN" ]] || die "$BIN was not produced by dotnet publish"

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
  local source=$1 out=$2 logfile=$3 rusage="$3.rusage" start end stat_before stat_after
  rm -rf "$out"
  local cmd=("$BIN" export --source "$source" --segment "$SEGMENT" --fields "$FIELDS" --to "$out")
  stat_before=$(head -1 /proc/stat)
  if [[ "$MEASURE" == time ]]; then
    start=$(date +%s%N)
    /usr/bin/time -v -o "$rusage" "${cmd[@]}" >"$logfile" 2>&1 || { cat "$logfile" >&2; die "export failed: ${cmd[*]}"; }
    end=$(date +%s%N)
    RUN_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", (e - s) / 1e9 }')
    RUN_RSS_KIB=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$rusage")
    RUN_CPU=$(awk -F: '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$rusage")
  else
    python3 "$BENCH_DIR/measure.py" "$rusage" -- "${cmd[@]}" >"$logfile" 2>&1 || { cat "$logfile" >&2; die "export failed: ${cmd[*]}"; }
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
  echo "from synthetic \`pipeline sample\` snapshots; published Release build; input files in the page cache."
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
} >"$report"

echo
cat "$report"
echo
log "Report written to ${report#"$REPO"/}"
