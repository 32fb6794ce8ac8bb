#!/usr/bin/env python3
"""Fault soak for the `pipeline` CLI (issue 13, item 12). Started by bench/soak.sh, which installs and publishes first.

Every iteration adds two activations to one config (a local-folder one and an S3 one, both scheduled `once` a
minute ago, so the next `run --once` exports them), then drives `run --once` through one scenario:

  plain     one `run --once`
  kill      1-3 times: start `run --once`, `kill -9` it at a random moment; then rerun until it finishes
  race      two `run --once` processes on the same config at (almost) the same moment; in half of them the
            two race to resume runs whose first process was killed
  diskfull  the local destination's partial file is a symlink to /dev/full (every write: ENOSPC); the run must
            fail clearly (exit 1, "disk is full", a retry command); then the disk is "freed" and
            `pipeline retry RUN_ID` or `pipeline run --activation ID --slot TIME` (chosen at random) must deliver

and the S3 activation always goes through s3-fault-proxy.mjs, which answers a share of the requests with 503,
500, connection resets before or after fauxqs did the work, or slow answers (never more faults in a row for one
request than the product's retries absorb, so every failed run is a finding, not bad luck).

After each iteration everything is checked independently of the product's code: the delivered files are read
back (local: from the folder; S3: downloaded from fauxqs with the AWS SDK for JavaScript) and their rows compared
with the segment members computed here from the source; manifests, staging, `.incomplete/`, the proxy's record
of multipart uploads and every process's exit code are counted. Any count above 0 fails the soak.

Randomness comes from SOAK_SEED (printed first): the same seed replays the same scenarios, segments, kill moments
(as fractions of the measured duration of an uninterrupted run) and fault decisions. What a kill interrupts and which
of several concurrent requests gets a fault also depend on timing, so a replay is close, not identical.
"""
import collections
import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
WORK = BENCH / "work" / "soak"
SCENARIOS = ["plain", "kill", "race", "diskfull"]

# The exports: what the local and the S3 activation of every iteration deliver. The S3 one is uncompressed and
# split at 6 MiB so a run has one multipart file (5 MiB parts) and one single-put file; the local one is gzip CSV
# with a renamed column. LOCAL_FILE_NAME is spelled out because the disk-full fault needs the file's key.
LOCAL_FIELDS = ["profileId", "email", {"source": "lastName", "header": "last_name"}, "city", "country"]
S3_FIELDS = ["profileId", "email", "phone", "firstName", "lastName", "city", "country", "updatedAt"]
LOCAL_FILE_NAME = "{activation}_{runTime:yyyyMMdd'T'HHmmss'Z'}_{index:3}"
BUCKET, S3_PREFIX = "soak", "exports/"


def env_int(name, default):
    value = os.environ.get(name, str(default))
    if not re.fullmatch(r"\d+", value):
        sys.exit(f"soak: {name} must be a whole number, got '{value}'")
    return int(value)


def env_float(name, default):
    try:
        return float(os.environ.get(name, str(default)))
    except ValueError:
        sys.exit(f"soak: {name} must be a number, got '{os.environ[name]}'")


@dataclass
class Settings:
    seed: int
    iterations: int = env_int("SOAK_ITERATIONS", 24)
    profiles: int = env_int("SOAK_PROFILES", 500_000)
    s3_fault_rate: float = env_float("SOAK_S3_FAULT_RATE", 0.2)
    max_slow_ms: int = env_int("SOAK_MAX_SLOW_MS", 3000)
    max_consecutive: int = env_int("SOAK_MAX_CONSECUTIVE", 3)
    # Restrict S3 faults to some operations / kinds (comma-separated; default all): to replay a finding by hand.
    s3_operations: str = os.environ.get("SOAK_S3_OPERATIONS", "")
    s3_kinds: str = os.environ.get("SOAK_S3_KINDS", "")
    scenarios: str = os.environ.get("SOAK_SCENARIOS", ",".join(SCENARIOS))
    max_kills: int = env_int("SOAK_MAX_KILLS", 3)
    max_reruns: int = env_int("SOAK_MAX_RERUNS", 8)
    process_timeout: int = env_int("SOAK_PROCESS_TIMEOUT", 180)
    results_dir: Path = Path(os.environ.get("SOAK_RESULTS_DIR", str(BENCH / "results")))
    build: str = os.environ.get("SOAK_BUILD", "aot")
    bin: Path = Path(os.environ.get("SOAK_BIN", str(WORK / "bin" / "pipeline")))


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------------------------------------------
# Emulator and proxy: children whose stdin we hold; closing it stops them (the launchers' contract).

class Loopback:
    def __init__(self, logs: Path, seed: int):
        env = {**os.environ, "NODE_NO_WARNINGS": "1"}
        self.fauxqs = self._start_fauxqs(logs, env)
        self.proxy = subprocess.Popen(["node", str(BENCH / "soak" / "s3-fault-proxy.mjs"), self.direct, str(seed), str(logs / "s3-requests.jsonl")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(logs / "proxy.log", "w"), env=env, text=True)
        first = self.proxy.stdout.readline()
        if not first:
            sys.exit(f"soak: the fault proxy did not start (see {logs / 'proxy.log'})")
        self.endpoint = f"http://127.0.0.1:{json.loads(first)['port']}"
        node(["bucket", self.direct, BUCKET])

    def _start_fauxqs(self, logs, env):
        # A free port is picked, released and then bound by node: another process may take it in between, so retry.
        for _ in range(5):
            port = free_port()
            proc = subprocess.Popen(["node", str(REPO / "tests" / "emulators" / "fauxqs.mjs"), str(port)], stdin=subprocess.PIPE,
                                    stdout=open(logs / "fauxqs.log", "w"), stderr=subprocess.STDOUT, env=env)
            self.direct = f"http://127.0.0.1:{port}"
            for _ in range(60):
                if proc.poll() is not None:
                    break
                try:
                    urllib.request.urlopen(self.direct, timeout=1)
                    return proc
                except urllib.error.HTTPError:
                    return proc  # any HTTP answer: it is listening
                except OSError:
                    time.sleep(0.25)
            stop(proc)
        sys.exit(f"soak: fauxqs did not start (see {logs / 'fauxqs.log'})")

    def configure(self, **values):
        return self._call("/__soak/config", json.dumps(values).encode())

    def stats(self):
        return self._call("/__soak/stats")

    def _call(self, path, body=None):
        with urllib.request.urlopen(urllib.request.Request(self.endpoint + path, data=body), timeout=30) as answer:
            return json.load(answer)

    def close(self):
        for proc in (self.proxy, self.fauxqs):
            stop(proc)


def stop(proc):
    try:
        proc.stdin.close()
        proc.wait(timeout=10)
    except Exception:
        proc.kill()  # our own child, by its handle


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(args):
    out = subprocess.run(["node", str(BENCH / "soak" / "s3-mirror.mjs"), *args], capture_output=True, text=True,
                         env={**os.environ, "NODE_NO_WARNINGS": "1"})
    if out.returncode != 0:
        raise RuntimeError(f"s3-mirror.mjs {' '.join(args)} failed: {out.stderr.strip()}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


# ------------------------------------------------------------------------------------------------------------------
# The CLI as processes: every one logged to its own files, with a timeout that counts as a hang.

@dataclass
class Process:
    name: str
    args: list
    popen: subprocess.Popen
    started: float
    stdout_path: Path
    stderr_path: Path
    exit_code: int | None = None
    seconds: float = 0.0
    killed: bool = False
    hung: bool = False

    @property
    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def failed_runs(self):
        """Run ids of the FAILED lines: what this process told its caller did not finish."""
        return re.findall(r"^FAILED \S+ \(run (\S+)\)", self.stderr, re.MULTILINE)


class Cli:
    def __init__(self, settings: Settings, workspace: Path, logs: Path):
        self.settings, self.workspace, self.logs = settings, workspace, logs
        # Without PipelineStorage*: a shell that exported it would silently move the soak onto an Azure Storage backend.
        inherited = {k: v for k, v in os.environ.items() if not k.lower().startswith("pipelinestorage")}
        self.env = {**inherited, "AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak", "AWS_EC2_METADATA_DISABLED": "true"}
        self.count = 0

    def start(self, name, *args):
        self.count += 1
        stem = self.logs / f"{self.count:04d}-{name}"
        out, err = Path(f"{stem}.out"), Path(f"{stem}.err")
        argv = [str(self.settings.bin), *args, "--config", str(self.workspace / "pipeline.json")]
        popen = subprocess.Popen(argv, cwd=self.workspace, env=self.env, stdout=open(out, "w"), stderr=open(err, "w"), stdin=subprocess.DEVNULL)
        return Process(name, list(args), popen, time.monotonic(), out, err)

    def wait(self, p: Process):
        try:
            p.popen.wait(timeout=max(1, self.settings.process_timeout - (time.monotonic() - p.started)))
        except subprocess.TimeoutExpired:
            p.hung = True
            os.kill(p.popen.pid, signal.SIGKILL)  # our own child, by its pid
            p.popen.wait()
        p.exit_code, p.seconds = p.popen.returncode, time.monotonic() - p.started
        return p

    def run(self, name, *args):
        return self.wait(self.start(name, *args))

    def kill_after(self, p: Process, delay):
        """kill -9 after `delay` seconds unless the process is done by then; True if the kill landed."""
        try:
            p.popen.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(p.popen.pid, signal.SIGKILL)
            p.killed = True
        self.wait(p)
        return p.killed


# ------------------------------------------------------------------------------------------------------------------
# The expected audience, computed here from the source (not with the product's code).

def field_names(fields):
    sources = [f if isinstance(f, str) else f["source"] for f in fields]
    headers = [f if isinstance(f, str) else f["header"] for f in fields]
    return sources, headers


class Source:
    def __init__(self, path: Path):
        self.path = path
        self.rows = None
        self._cache = {}

    def members(self, segment, fields):
        """Counter of the rows (tuples of the fields, in order) of every profile in `segment`."""
        key = (segment, json.dumps(fields))
        if key not in self._cache:
            if self.rows is None:
                with gzip.open(self.path, "rt", encoding="utf-8", newline="") as f:
                    self.rows = list(csv.DictReader(f))
            sources, _ = field_names(fields)
            self._cache[key] = collections.Counter(
                tuple(r[c] for c in sources) for r in self.rows if segment in r["segments"].split(";"))
        return self._cache[key]


# ------------------------------------------------------------------------------------------------------------------
# The soak itself.

@dataclass
class Counts:
    """What the checks found. Every field must be 0 at the end."""
    lost_rows: int = 0
    duplicated_rows: int = 0
    leftover_staging_files: int = 0
    leftover_incomplete_files: int = 0
    orphaned_uploads: int = 0
    false_failures: int = 0
    manifest_problems: int = 0
    unfinished_runs: int = 0
    unexpected_failures: int = 0
    unclear_disk_full: int = 0
    failed_retries: int = 0
    missing_summaries: int = 0
    hung_processes: int = 0
    crashed_processes: int = 0


@dataclass
class Injected:
    kills: int = 0
    kills_missed: int = 0   # the process had finished before its kill time: nothing was injected
    races: int = 0
    disk_full: int = 0
    s3: dict = field(default_factory=dict)  # from the proxy, by kind


class Soak:
    def __init__(self, settings: Settings, source_path: Path):
        self.s = settings
        self.rng = random.Random(settings.seed)
        self.workspace = WORK / "run"
        shutil.rmtree(self.workspace, ignore_errors=True)
        self.logs = self.workspace / "logs"
        self.logs.mkdir(parents=True)
        self.out = self.workspace / "out"
        self.mirror = self.workspace / "mirror"
        self.source = Source(source_path)
        self.counts = Counts()
        self.injected = Injected()
        self.problems = []          # (iteration, text)
        self.iterations = []        # per-iteration records for the report
        self.durations = []         # seconds of uninterrupted `run --once` processes: the kill window
        self.rows_checked = 0
        self.files_checked = 0
        self.delivered_keys = {}    # S3 key -> bytes, as seen right after each iteration
        self.reported_uploads = set()
        self.reported_leftovers = set()
        self.notes = []             # (iteration, text): odd but harmless, reported without failing the soak
        self.loopback = Loopback(self.logs, settings.seed)
        self.cli = Cli(settings, self.workspace, self.logs)
        self.config = {
            "state": {"path": ".pipeline/state.db"},
            "staging": {"path": ".pipeline/staging"},
            # Small chunks: a 500k-profile source gives ~10 chunks, so kills land between and inside many of them.
            "tuning": {"chunkSize": "2MiB", "partSize": "5MiB"},
            "sources": {"profiles": {"path": str(source_path)}},
            "destinations": {
                "local": {"type": "local", "path": "out"},
                "s3": {"type": "s3", "bucket": BUCKET, "prefix": S3_PREFIX, "region": "us-east-1", "endpoint": self.loopback.endpoint},
            },
            "activations": [],
        }

    def problem(self, iteration, counter, text, amount=1):
        setattr(self.counts, counter, getattr(self.counts, counter) + amount)
        self.problems.append((iteration, f"{counter}: {text}"))
        log(f"  PROBLEM ({counter}): {text}")

    # -- one iteration --------------------------------------------------------------------------------------------

    def add_activations(self, n):
        """Two new activations due now: `once` a minute ago (the latest passed slot), so `run --once` exports them."""
        slot = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
        local_segment = self.rng.choice(["S1", "S2", "S3"])
        common = {"source": "profiles", "format": "csv", "mode": "full", "schedule": {"once": slot.strftime("%Y-%m-%dT%H:%M:%SZ")},
                  "retry": {"attempts": 3, "backoff": "10s"}}
        local = {"id": f"i{n:03d}-local", "segment": local_segment, "fields": LOCAL_FIELDS, "destination": "local",
                 "prefix": f"i{n:03d}-local/", "compression": "gzip", "fileName": LOCAL_FILE_NAME, "maxFileSize": "1TB", **common}
        s3 = {"id": f"i{n:03d}-s3", "segment": "S1", "fields": S3_FIELDS, "destination": "s3",
              "prefix": f"i{n:03d}-s3/", "compression": "none", "maxFileSize": "6MiB", **common}
        self.config["activations"] += [local, s3]
        (self.workspace / "pipeline.json").write_text(json.dumps(self.config, indent=1))
        return slot, [local, s3]

    @staticmethod
    def run_id(activation, slot):
        """The product's documented deterministic run id (activation-slot-hash); needed to place the disk-full fault."""
        utc = slot.strftime("%Y%m%dT%H%M%SZ")
        return f"{activation}-{utc}-{hashlib.sha256(f'{activation}|{utc}'.encode()).hexdigest()[:8]}"

    def iteration(self, n, scenario):
        started = time.monotonic()
        stats_before = self.loopback.stats()
        slot, activations = self.add_activations(n)
        runs = {a["id"]: self.run_id(a["id"], slot) for a in activations}
        local_run = runs[activations[0]["id"]]
        procs = []
        expected_failures = set()
        note = ""
        last = []  # the scenario's final processes (see finish)

        if scenario == "plain":
            p = self.cli.run("run", "run", "--once")
            procs.append(p)
            last = [p]
            if p.exit_code == 0 and not p.hung:
                self.durations.append(p.seconds)
        elif scenario == "kill":
            kills = self.rng.randint(1, self.s.max_kills)
            delays = []
            for k in range(kills):
                # A random moment within the time an uninterrupted run takes (plus a little: some kills miss, and a
                # rerun that only finishes a killed run's remaining work often ends before its kill).
                delay = self.rng.uniform(0.0, 1.15) * self.kill_window()
                delays.append(f"{delay:.2f}s")
                p = self.cli.start(f"kill{k + 1}", "run", "--once")
                landed = self.cli.kill_after(p, delay)
                procs.append(p)
                last = [p]
                if landed:
                    self.injected.kills += 1
                else:
                    # It ran to its end: the runs are done (or failed), so another kill would hit an idle process.
                    self.injected.kills_missed += 1
                    delays[-1] += "(missed)"
                    break
            note = "kills at " + ", ".join(delays)
        elif scenario == "race":
            self.injected.races += 1
            if self.rng.random() < 0.5:
                # The racers resume: the runs were started by a process killed at a random moment.
                delay = self.rng.uniform(0.0, 1.0) * self.kill_window()
                p = self.cli.start("race-killed", "run", "--once")
                if self.cli.kill_after(p, delay):
                    self.injected.kills += 1
                    note = f"after a kill at {delay:.2f}s, "
                else:
                    self.injected.kills_missed += 1
                    note = f"after a kill at {delay:.2f}s (missed), "
                procs.append(p)
            offset = self.rng.uniform(0.0, 0.3)
            a = self.cli.start("raceA", "run", "--once")
            time.sleep(offset)
            b = self.cli.start("raceB", "run", "--once")
            procs += [self.cli.wait(a), self.cli.wait(b)]
            last = [a, b]
            note += f"second process {offset:.2f}s later"
        elif scenario == "diskfull":
            self.injected.disk_full += 1
            links = self.fill_disk(activations[0], slot, local_run)
            p = self.cli.run("diskfull", "run", "--once")
            procs.append(p)
            expected_failures.add(local_run)
            self.check_disk_full_failure(n, p, local_run, activations[0])
            for link in links:  # "free the disk"; a failed run deletes its partial file itself, so most are gone
                if link.is_symlink():
                    link.unlink()
            # Both ways an operator re-runs a failed run: the run id, or the activation and slot.
            if self.rng.random() < 0.5:
                retry = ["retry", local_run]
            else:
                retry = ["run", "--activation", activations[0]["id"], "--slot", slot.strftime("%Y-%m-%dT%H:%M:%SZ")]
            r = self.cli.run("retry", *retry)
            procs.append(r)
            last = [p, r]
            if r.exit_code != 0 or f"OK {activations[0]['id']} (run {local_run})" not in r.stdout:
                self.problem(n, "failed_retries", f"`pipeline {' '.join(retry)}` after freeing the disk exited {r.exit_code}: {tail(r)}")
            note = f"then `{retry[0]} {retry[1]}`"

        procs += self.finish(n, runs, last)
        self.check_processes(n, procs, runs, expected_failures)
        self.check_deliveries(n, slot, activations, runs)
        self.check_leftovers(n)
        stats_after = self.loopback.stats()
        s3_faults = diff_counts(stats_before["faults"], stats_after["faults"])
        s3_faults_by_operation = diff_counts(stats_before["faultsByOperation"], stats_after["faultsByOperation"])
        s3_requests = sum(stats_after["requests"].values()) - sum(stats_before["requests"].values())
        for kind, c in s3_faults.items():
            self.injected.s3[kind] = self.injected.s3.get(kind, 0) + c
        self.check_uploads(n, stats_after)
        seconds = time.monotonic() - started
        record = {"n": n, "scenario": scenario, "note": note, "processes": len(procs), "s3_requests": s3_requests, "s3_faults": s3_faults_by_operation,
                  "seconds": round(seconds, 1), "cli_seconds": round(sum(p.seconds for p in procs), 1),
                  "exit_codes": [p.exit_code for p in procs], "problems": sum(1 for i, _ in self.problems if i == n)}
        self.iterations.append(record)
        faults = ", ".join(f"{k} {v}" for k, v in sorted(s3_faults_by_operation.items())) or "none"
        log(f"iteration {n}/{self.s.iterations} {scenario:8s} {seconds:5.1f}s  exits {record['exit_codes']}  S3 faults: {faults}"
            f"{'  ' + note if note else ''}{'  PROBLEMS: ' + str(record['problems']) if record['problems'] else ''}")

    def kill_window(self):
        return statistics.median(self.durations) if self.durations else 2.0

    def fill_disk(self, activation, slot, run_id):
        """
        A full disk for the local run: its partial files out/.incomplete/UPLOADID.partial become symlinks to /dev/full,
        where every write fails with ENOSPC (as in LocalFolderDestinationTests). The upload id is the one the local
        destination documents: sha256(run id + "\\n" + key), first 32 hex digits. The run has one file (maxFileSize 1TB);
        a few more indexes are covered in case it splits.
        """
        folder = self.out / ".incomplete"
        folder.mkdir(parents=True, exist_ok=True)
        utc = slot.strftime("%Y%m%dT%H%M%SZ")
        links = []
        for index in range(1, 4):
            key = f"{activation['prefix']}{activation['id']}_{utc}_{index:03d}.csv.gz"
            upload_id = hashlib.sha256(f"{run_id}\n{key}".encode()).hexdigest()[:32]
            link = folder / f"{upload_id}.partial"
            link.symlink_to("/dev/full")
            links.append(link)
        return links

    def check_disk_full_failure(self, n, p, run_id, activation):
        """The run must fail clearly: exit 1, a FAILED line for this run saying the disk is full, a retry command, no manifest."""
        err = p.stderr
        clear = (p.exit_code == 1 and run_id in p.failed_runs() and "disk is full" in err and f"pipeline retry {run_id}" in err)
        if not clear:
            self.problem(n, "unclear_disk_full", f"run --once on a full disk exited {p.exit_code}; expected exit 1 with a FAILED line for "
                                                 f"{run_id} naming the full disk and a retry command; got: {tail(p)}")
        if list((self.out / activation["prefix"]).glob("*.manifest.json")):
            self.problem(n, "unclear_disk_full", f"{run_id} wrote a manifest although its file could not be written")

    def finish(self, n, runs, last):
        """
        Rerun `run --once` until this iteration's runs have finished; a run that failed is retried explicitly.
        `last` are the scenario's final processes: when they all ran to their end and exited 0, every run must be
        finished already (a 0 exit that leaves an export undelivered is counted, not papered over by the rerun).
        """
        procs = []
        for _ in range(self.s.max_reruns):
            pending = {r: self.summary(r).get("status", "missing") for r in runs.values()}
            pending = {r: status for r, status in pending.items() if status != "succeeded"}
            if not pending:
                return procs
            if last and all(p.exit_code == 0 and not p.killed and not p.hung for p in last):
                for r, status in pending.items():
                    self.problem(n, "unfinished_runs", f"{', '.join(p.name for p in last)} exited 0 but {r} is {status}")
            failed = [r for r, status in pending.items() if status == "failed"]
            if failed:
                last = [self.cli.run("retry-failed", "retry", r) for r in failed]
            else:
                last = [self.cli.run("rerun", "run", "--once")]
            procs += last
        for r in (r for r in runs.values() if self.summary(r).get("status") != "succeeded"):
            self.problem(n, "unfinished_runs", f"{r} is not succeeded after {self.s.max_reruns} reruns (summary: {self.summary(r) or 'missing'})")
        return procs

    def summary(self, run_id):
        path = self.workspace / ".pipeline" / "runs" / f"{run_id}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    # -- checks ---------------------------------------------------------------------------------------------------

    def check_processes(self, n, procs, runs, expected_failures):
        """Exit codes: 0, 1 only for a failure that happened, -9 only from our kills; anything else is counted."""
        for p in procs:
            if p.hung:
                self.problem(n, "hung_processes", f"`{' '.join(p.args)}` ({p.name}) ran longer than {self.s.process_timeout} s and was killed")
                continue
            if p.killed:
                continue
            if p.exit_code not in (0, 1):
                self.problem(n, "crashed_processes", f"`{' '.join(p.args)}` ({p.name}) exited {p.exit_code}: {tail(p)}")
                continue
            if p.exit_code == 0:
                if p.failed_runs():
                    self.problem(n, "false_failures", f"{p.name} exited 0 but printed FAILED for {p.failed_runs()}")
                continue
            named = set(p.failed_runs()) or set(runs.values())
            for run_id in named - expected_failures:
                attempt = self.summary(run_id).get("attempt")
                if attempt == 1:
                    # Recorded as succeeded on its first attempt: it never failed, yet this process said it did.
                    self.problem(n, "false_failures", f"{p.name} exited 1 (FAILED {run_id}) although the run succeeded on attempt 1: {tail(p)}")
                else:
                    self.problem(n, "unexpected_failures", f"{run_id} failed without an injected full disk (attempt {attempt}): {tail(p)}")

    def check_deliveries(self, n, slot, activations, runs):
        for activation in activations:
            run_id = runs[activation["id"]]
            if not self.summary(run_id):
                self.problem(n, "missing_summaries", f".pipeline/runs/{run_id}.json is missing")
            if activation["destination"] == "local":
                root = self.out
            else:
                root = self.mirror
                for o in node(["mirror", self.loopback.direct, BUCKET, S3_PREFIX + activation["prefix"], str(self.mirror)]):
                    self.delivered_keys[o["key"]] = o["bytes"]
            folder = root / (S3_PREFIX if activation["destination"] == "s3" else "") / activation["prefix"]
            self.check_files(n, activation, root, folder)

    def check_files(self, n, activation, root, folder):
        """One manifest, listing exactly the data files present (bytes, sha256, rows), and exactly the segment's rows."""
        where = f"{activation['id']} ({activation['destination']})"
        files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
        manifests = [p for p in files if p.name.endswith(".manifest.json")]
        data = {str(p.relative_to(root)): p for p in files if p not in manifests}
        if len(manifests) != 1:
            self.problem(n, "manifest_problems", f"{where}: {len(manifests)} manifests in {folder}")
        listed = {}
        if manifests:
            m = json.loads(manifests[0].read_text())
            listed = {f["key"]: f for f in m["files"]}
            for key in sorted(set(listed) - set(data)):
                self.problem(n, "manifest_problems", f"{where}: the manifest lists {key}, which is not there")
            for key in sorted(set(data) - set(listed)):
                self.problem(n, "manifest_problems", f"{where}: {key} is there but not in the manifest")
            if m["totals"]["files"] != len(listed) or m["totals"]["rows"] != sum(f["rows"] for f in listed.values()):
                self.problem(n, "manifest_problems", f"{where}: manifest totals do not add up")
        _, headers = field_names(activation["fields"])
        delivered = collections.Counter()
        for key, path in sorted(data.items()):
            raw = path.read_bytes()
            rows = read_csv(raw, activation["compression"] == "gzip")
            self.files_checked += 1
            if not rows or rows[0] != headers:
                self.problem(n, "manifest_problems", f"{where}: {key} starts with {rows[0] if rows else 'nothing'}, not the header {headers}")
            body = rows[1:]
            delivered.update(tuple(r) for r in body)
            entry = listed.get(key)
            if entry and (entry["bytes"] != len(raw) or entry["sha256"] != hashlib.sha256(raw).hexdigest() or entry["rows"] != len(body)):
                self.problem(n, "manifest_problems", f"{where}: {key} is {len(raw)} bytes / {len(body)} rows / sha256 "
                                                     f"{hashlib.sha256(raw).hexdigest()[:12]}, the manifest says {entry['bytes']} / {entry['rows']} / {entry['sha256'][:12]}")
        expected = self.source.members(activation["segment"], activation["fields"])
        lost, extra = sum((expected - delivered).values()), sum((delivered - expected).values())
        self.rows_checked += sum(delivered.values())
        if lost:
            self.problem(n, "lost_rows", f"{where}: {lost} of {sum(expected.values())} expected rows are missing", lost)
        if extra:
            self.problem(n, "duplicated_rows", f"{where}: {extra} rows more than expected (duplicates or strangers)", extra)

    def check_leftovers(self, n):
        """After every run finished: nothing staged, nothing under .incomplete/."""
        staging = self.workspace / ".pipeline" / "staging"
        # Each leftover is counted once, in the iteration that first saw it.
        staged = [p for p in staging.rglob("*") if p.is_file() and p not in self.reported_leftovers] if staging.exists() else []
        self.reported_leftovers.update(staged)
        if staged:
            self.problem(n, "leftover_staging_files", f"{len(staged)} file(s) in .pipeline/staging, "
                                                      f"{sum(p.stat().st_size for p in staged)} bytes: {[str(p.relative_to(staging)) for p in staged[:5]]}", len(staged))
        incomplete = self.out / ".incomplete"
        partial = [p for p in incomplete.iterdir() if p not in self.reported_leftovers] if incomplete.exists() else []
        self.reported_leftovers.update(partial)
        if partial:
            self.problem(n, "leftover_incomplete_files", f"out/.incomplete holds {[p.name for p in partial[:5]]}", len(partial))
        elif incomplete.exists():
            # Not litter a consumer could mistake for data, but the README promises the folder goes once no upload runs.
            self.notes.append((n, "an empty out/.incomplete/ folder was left"))

    def check_uploads(self, n, stats):
        """Every multipart upload fauxqs created must have been completed or aborted (the proxy's record)."""
        open_uploads = {i: u for i, u in stats["uploads"].items() if u["state"] not in ("completed", "aborted") and i not in self.reported_uploads}
        for upload_id, u in open_uploads.items():
            self.reported_uploads.add(upload_id)
            self.problem(n, "orphaned_uploads", f"multipart upload {upload_id} of {u['key']} was {u['state']}: never completed nor aborted")

    def final_checks(self):
        """Nothing changed behind the soak's back after the iterations: the bucket holds exactly what was verified."""
        listing = {o["key"]: o["bytes"] for o in node(["list", self.loopback.direct, BUCKET, S3_PREFIX])}
        for key in sorted(set(listing) ^ set(self.delivered_keys)):
            self.problem("end", "manifest_problems", f"s3://{BUCKET}/{key} appeared or vanished after its iteration was checked")
        for key in sorted(k for k in set(listing) & set(self.delivered_keys) if listing[k] != self.delivered_keys[k]):
            self.problem("end", "manifest_problems", f"s3://{BUCKET}/{key} changed size after its iteration was checked")
        self.check_leftovers("end")
        self.check_uploads("end", self.loopback.stats())


def read_csv(raw: bytes, gzipped: bool):
    text = (gzip.decompress(raw) if gzipped else raw).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def tail(p: Process, lines=3):
    text = (p.stderr.strip() or p.stdout.strip()).splitlines()
    return " | ".join(text[-lines:]) if text else "(no output)"


def diff_counts(before, after):
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


# ------------------------------------------------------------------------------------------------------------------
# Report

def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1048576
    return f"{os.cpu_count()} CPUs ({model}), {mem:.1f} GiB RAM, {platform.system()} {platform.release()}"


def report(soak: Soak, settings: Settings, seconds: float, context: dict):
    c, i = soak.counts, soak.injected
    scenario_counts = collections.Counter(r["scenario"] for r in soak.iterations)
    ok = all(v == 0 for v in vars(c).values())
    lines = [
        f"# Fault soak, {time.strftime('%Y-%m-%d')}",
        "",
        f"`{replay_command(settings)}` replays this run "
        f"(max {settings.max_consecutive} S3 faults in a row per request, stalls up to {settings.max_slow_ms} ms).",
        "",
        f"- Result: **{'PASSED' if ok else 'FAILED'}**",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}; whole soak {seconds:.0f} s (iterations {sum(r['seconds'] for r in soak.iterations):.0f} s)",
        f"- Machine: {machine()}; shared with other work (load average at the end: {os.getloadavg()[0]:.2f})",
        f"- Build: {context['build']}; commit {context['commit']}; .NET SDK {context['dotnet']}; node {context['node']}; fauxqs 1.9.2 behind bench/soak/s3-fault-proxy.mjs",
        f"- Source: {settings.profiles:,} profiles (`pipeline sample`, CSV.gz); per iteration one local activation (gzip CSV, 5 fields, S1/S2/S3) "
        f"and one S3 activation (uncompressed CSV, 8 fields, S1, split at 6 MiB: one multipart file of 5 MiB parts and one single PUT)",
        "",
        "## Faults injected",
        "",
        "| fault | count |",
        "|---|---:|",
        f"| iterations | {len(soak.iterations)} ({', '.join(f'{s} {scenario_counts[s]}' for s in SCENARIOS)}) |",
        f"| `kill -9` of `run --once` (landed) | {i.kills} |",
        f"| kills that missed (the process had already finished) | {i.kills_missed} |",
        f"| two `run --once` racing | {i.races} |",
        f"| full disk (local partial file on /dev/full), then `pipeline retry` | {i.disk_full} |",
    ]
    for kind in ["503", "500", "reset-before", "reset-after", "slow"]:
        lines.append(f"| S3 {kind} | {i.s3.get(kind, 0)} |")
    stats = soak.loopback.stats()
    lines += [f"| S3 requests through the proxy (all) | {sum(stats['requests'].values())} |", "",
              "S3 requests by operation: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["requests"].items())) + ".",
              "Faults by operation: " + (", ".join(f"{k} {v}" for k, v in sorted(stats["faultsByOperation"].items())) or "none") + ".",
              f"Multipart uploads: {sum(1 for u in stats['uploads'].values() if u['state'] == 'completed')} completed, "
              f"{sum(1 for u in stats['uploads'].values() if u['state'] == 'aborted')} aborted, "
              f"{sum(1 for u in stats['uploads'].values() if u['state'] not in ('completed', 'aborted'))} left open; "
              f"ListMultipartUploads answered by the proxy {stats['listedUploads']} times.",
              "", "## Checks (all must be 0)", "", "| check | count |", "|---|---:|"]
    lines += [f"| {k.replace('_', ' ')} | {v} |" for k, v in vars(c).items()]
    lines += ["", f"Verified: {soak.rows_checked:,} delivered rows in {soak.files_checked} files, each row compared with the segment members "
                  f"computed from the source in Python; {soak.cli.count} CLI processes.", ""]
    if soak.problems:
        lines += ["## Problems", ""] + [f"- iteration {n}: {t}" for n, t in soak.problems] + [""]
    if soak.notes:
        lines += ["## Notes (not failures)", ""] + [f"- iteration {n}: {t}" for n, t in soak.notes] + [""]
    lines += ["## Iterations", "",
              "Exit codes: -9 = killed by the soak. *CLI s*: wall time of the iteration's CLI processes; the rest is verification.", "",
              "| # | scenario | processes | exit codes | S3 requests | S3 faults | s | CLI s | problems | note |",
              "|---:|---|---:|---|---:|---|---:|---:|---:|---|"]
    for r in soak.iterations:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(r["s3_faults"].items())) or "-"
        lines.append(f"| {r['n']} | {r['scenario']} | {r['processes']} | {' '.join(str(e) for e in r['exit_codes'])} | {r['s3_requests']} | {faults} "
                     f"| {r['seconds']} | {r['cli_seconds']} | {r['problems']} | {r['note']} |")
    return ok, "\n".join(lines) + "\n"


def replay_command(settings: Settings):
    """The seed and every knob that changes what is injected; SOAK_PUBLISH=0 skips the publish when the binary is current."""
    knobs = {"SOAK_SEED": settings.seed, "SOAK_ITERATIONS": settings.iterations, "SOAK_PROFILES": settings.profiles,
             "SOAK_S3_FAULT_RATE": settings.s3_fault_rate}
    for name in ["SOAK_SCENARIOS", "SOAK_MAX_SLOW_MS", "SOAK_MAX_CONSECUTIVE", "SOAK_MAX_KILLS", "SOAK_S3_OPERATIONS", "SOAK_S3_KINDS"]:
        if os.environ.get(name):
            knobs[name] = os.environ[name]
    return " ".join(f"{k}={v}" for k, v in knobs.items()) + " bash bench/soak.sh"


def main():
    seed_text = os.environ.get("SOAK_SEED") or str(random.SystemRandom().randrange(1, 2**31))
    if not re.fullmatch(r"\d+", seed_text):
        sys.exit(f"soak: SOAK_SEED must be a whole number, got '{seed_text}'")
    settings = Settings(seed=int(seed_text))
    if settings.iterations < 1:
        sys.exit("soak: SOAK_ITERATIONS must be at least 1")
    scenarios = [x for x in settings.scenarios.split(",") if x]
    if not scenarios or set(scenarios) - set(SCENARIOS):
        sys.exit(f"soak: SOAK_SCENARIOS must name some of {','.join(SCENARIOS)}, got '{settings.scenarios}'")
    replay = replay_command(settings)
    log(f"Fault soak: seed {settings.seed} (replay: {replay})")
    source = Path(sys.argv[1])
    context = json.loads(sys.argv[2])
    started = time.monotonic()
    soak = Soak(settings, source)
    try:
        log(f"Reading the expected audiences from {source.name} ({settings.profiles:,} profiles) in Python")
        for seg in ["S1", "S2", "S3"]:
            soak.source.members(seg, LOCAL_FIELDS)
        soak.source.members("S1", S3_FIELDS)
        # Iteration 1 warms up without S3 faults and measures how long a run takes (the kill window). Then every
        # scenario once in a seeded order, then seeded random scenarios.
        order = scenarios[:]
        soak.rng.shuffle(order)
        weights = {"plain": 2, "kill": 4, "race": 3, "diskfull": 2}  # kills find the most, so they come most often
        soak.loopback.configure(rate=0, maxSlowMs=settings.max_slow_ms, maxConsecutive=settings.max_consecutive,
                                operations=[o for o in settings.s3_operations.split(",") if o] or None,
                                kinds=[k for k in settings.s3_kinds.split(",") if k] or None)
        for n in range(1, settings.iterations + 1):
            if n == 1:
                scenario = "plain"
            else:
                scenario = order[n - 2] if n - 2 < len(order) else soak.rng.choices(scenarios, weights=[weights[x] for x in scenarios])[0]
            soak.iteration(n, scenario)
            if n == 1:
                soak.loopback.configure(rate=settings.s3_fault_rate)
        soak.loopback.configure(rate=0)
        soak.final_checks()
        ok, text = report(soak, settings, time.monotonic() - started, context)
    finally:
        soak.loopback.close()
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    path = settings.results_dir / f"{time.strftime('%Y-%m-%d')}-fault-soak.md"
    k = 2
    while path.exists():
        path = settings.results_dir / f"{time.strftime('%Y-%m-%d')}-fault-soak-{k}.md"
        k += 1
    path.write_text(text)
    print()
    print(text)
    log(f"Report written to {path}; logs of every process in {soak.logs}")
    if not ok:
        log(f"FAILED: see the problems above. Replay: {replay}")
        sys.exit(1)
    log("PASSED: every count is 0")


if __name__ == "__main__":
    main()
