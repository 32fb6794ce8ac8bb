#!/usr/bin/env python3
"""Run a command and report its wall time and peak RSS (fallback for machines without GNU /usr/bin/time).

Usage: measure.py RESULT_FILE -- COMMAND [ARGS...]

The command's stdout/stderr pass through unchanged. RESULT_FILE gets three lines:
    wall_s=<seconds>
    max_rss_kib=<KiB>
    cpu_s=<user + system CPU seconds>
The exit code is the command's exit code.
"""
import resource
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    result_file, command = sys.argv[1], sys.argv[3:]
    started = time.monotonic()
    process = subprocess.Popen(command)
    code = process.wait()
    wall = time.monotonic() - started
    # RUSAGE_CHILDREN covers every child this script has waited for: only the measured command.
    # On Linux ru_maxrss is in KiB.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(result_file, "w", encoding="utf-8") as f:
        f.write(f"wall_s={wall:.3f}\nmax_rss_kib={usage.ru_maxrss}\ncpu_s={usage.ru_utime + usage.ru_stime:.2f}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
