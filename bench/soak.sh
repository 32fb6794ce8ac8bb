#!/usr/bin/env bash
# Fault soak (issue 13, item 12): repeated scheduled exports (`pipeline run --once`) to a local folder and to an S3
# emulator (fauxqs behind a fault-injecting proxy), with random `kill -9`, S3 errors, resets and stalls, a full disk
# and two processes racing; after every iteration lost and duplicated rows, leftover staging and `.incomplete/`
# files, orphaned multipart uploads, false failures and manifests are counted. All must be 0: the script exits 1
# otherwise, naming what was wrong and the command that replays it. Details: bench/README.md, "Fault soak".
#
#   bash bench/soak.sh
#   SOAK_SEED=1234 SOAK_ITERATIONS=8 bash bench/soak.sh
#
# Env knobs:
#   SOAK_SEED            seed of every random choice (default: a random one, printed first)
#   SOAK_ITERATIONS      iterations, two activations each (default 24: a few minutes on 2 cores)
#   SOAK_PROFILES        profiles in the generated source (default 500000; cached under bench/work/soak/inputs)
#   SOAK_S3_FAULT_RATE   share of S3 requests that get a fault, from iteration 2 on (default 0.2)
#   SOAK_SCENARIOS       which scenarios, comma-separated: plain,kill,race,diskfull (default all)
#   SOAK_MAX_SLOW_MS     longest stall of a slow S3 answer (default 3000)
#   SOAK_MAX_CONSECUTIVE most faults in a row for one S3 request, below the product's 6 retries (default 3)
#   SOAK_S3_OPERATIONS   only fault these S3 operations, comma-separated (e.g. CreateMultipartUpload; default all)
#   SOAK_S3_KINDS        only these faults: 503,500,reset-before,reset-after,slow (default all)
#   SOAK_MAX_KILLS       at most this many kills per kill iteration (default 3)
#   SOAK_MAX_RERUNS      reruns allowed to finish an iteration's runs (default 8)
#   SOAK_PROCESS_TIMEOUT seconds after which a CLI process counts as hung (default 180)
#   SOAK_BUILD           aot|r2r: how the CLI is published (default aot, as shipped; needs clang or gcc)
#   SOAK_PUBLISH         0 = reuse bench/work/soak/bin from an earlier soak instead of publishing (default 1)
#   SOAK_RESULTS_DIR     where the report goes (default bench/results; bench/results/tmp is git-ignored)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH_DIR")"
WORK="$BENCH_DIR/work/soak"
BUILD="${SOAK_BUILD:-aot}"
PUBLISH="${SOAK_PUBLISH:-1}"
PROFILES="${SOAK_PROFILES:-500000}"
export NODE_NO_WARNINGS=1 # the AWS SDK's "node >= 22 from 2027" notice on every call

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "soak.sh: FAILED: $*" >&2; exit 1; }

[[ "$BUILD" == aot || "$BUILD" == r2r ]] || die "SOAK_BUILD must be aot or r2r, got '$BUILD'"
[[ "$PUBLISH" == 0 || "$PUBLISH" == 1 ]] || die "SOAK_PUBLISH must be 0 or 1"
[[ "$PROFILES" =~ ^[1-9][0-9]*$ ]] || die "SOAK_PROFILES must be a positive whole number, got '$PROFILES'"
for tool in dotnet node npm python3; do command -v "$tool" >/dev/null || die "$tool is needed on the PATH"; done
mkdir -p "$WORK/logs"

# 1. The S3 emulator (and the AWS SDK the soak reads back with) from tests/emulators, as the tests install them.
if [[ ! -d "$REPO/tests/emulators/node_modules/fauxqs" || ! -d "$REPO/tests/emulators/node_modules/@aws-sdk/client-s3" ]]; then
  log "Installing the emulators (npm ci --prefix tests/emulators)"
  npm ci --prefix "$REPO/tests/emulators" --no-audit --no-fund >"$WORK/logs/npm-emulators.log" 2>&1 \
    || { cat "$WORK/logs/npm-emulators.log" >&2; die "npm ci --prefix tests/emulators failed"; }
fi

# 2. The CLI, published like bench/run.sh does: `kill -9` must hit the CLI process itself, not a `dotnet run` wrapper.
commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$REPO" status --porcelain -- lib cli Directory.Build.props Directory.Packages.props 2>/dev/null | awk '{ print $2 }' | paste -sd' ' -)
[[ -z "$dirty" ]] || commit="$commit + uncommitted changes in: $dirty"
if [[ "$BUILD" == aot ]]; then
  command -v clang >/dev/null || command -v gcc >/dev/null \
    || die "Native AOT needs a C toolchain to link: install clang or gcc, or set SOAK_BUILD=r2r"
  publish_args=(-p:PublishAot=true); build_note="Native AOT"
else
  publish_args=(--self-contained false); build_note="ReadyToRun (JIT runtime)"
fi
if [[ "$PUBLISH" == 1 || ! -x "$WORK/bin/pipeline" ]]; then
  log "Publishing cli/Pipeline.Cli (Release, $build_note) to bench/work/soak/bin"
  rm -rf "$WORK/bin"
  (cd "$REPO" && dotnet publish cli/Pipeline.Cli -c Release -r linux-x64 "${publish_args[@]}" -o "$WORK/bin" -nologo -v quiet) >"$WORK/logs/publish.log" 2>&1 \
    || { cat "$WORK/logs/publish.log" >&2; die "dotnet publish failed"; }
  printf '%s\n%s\n' "$build_note" "$commit" >"$WORK/bin/.soak-build"  # what this binary is, for a later SOAK_PUBLISH=0
else
  log "Reusing bench/work/soak/bin (SOAK_PUBLISH=0): $(paste -sd' ' "$WORK/bin/.soak-build" 2>/dev/null || echo 'unknown build')"
fi
[[ -x "$WORK/bin/pipeline" ]] || die "$WORK/bin/pipeline was not produced by dotnet publish"

# 3. The source, generated once per size (`pipeline sample` writes a .tmp file and renames it: an existing file is whole).
source="$WORK/inputs/$PROFILES/profiles.csv.gz"
if [[ ! -s "$source" ]]; then
  log "Generating $PROFILES profiles"
  "$WORK/bin/pipeline" sample --profiles "$PROFILES" --out "$(dirname "$source")" >"$WORK/logs/sample.log" 2>&1 \
    || { cat "$WORK/logs/sample.log" >&2; die "pipeline sample failed"; }
fi

# 4. The soak (bench/soak/soak.py): iterations, checks, report.
built_as=$(sed -n 1p "$WORK/bin/.soak-build" 2>/dev/null || true); built_at=$(sed -n 2p "$WORK/bin/.soak-build" 2>/dev/null || true)
context=$(python3 -c 'import json, sys; print(json.dumps({"build": sys.argv[1], "commit": sys.argv[2], "dotnet": sys.argv[3], "node": sys.argv[4]}))' \
  "${built_as:-unknown build}" "${built_at:-unknown}" "$(cd "$REPO" && dotnet --version)" "$(node --version)")
exec python3 "$BENCH_DIR/soak/soak.py" "$source" "$context"
