#!/usr/bin/env python3
"""Count the storage requests in an Azurite --debug log, by kind (blob, queue, table), operation and resource.

    count_requests.py DEBUG_LOG START_BYTE OUT_JSON

Only requests whose first log line is at or after START_BYTE are counted (the script records the log's size
before the measured command, so set-up requests such as `config push` are left out). Writes a JSON summary to
OUT_JSON and a Markdown table to stdout.

Every request Azurite serves logs, under its own request id, one "<Service>StorageContextMiddleware:
RequestMethod=... RequestURL=..." line, one "DispatchMiddleware: Operation=..." line once it is routed, and one
"EndMiddleware: ... StatusCode=N" line (or "ErrorMiddleware: Set HTTP code: N"). One request is one billable
storage transaction, except that a table batch ($batch, an entity group transaction) is one request however many
entities it writes; sub-operations of a batch are listed separately when Azurite logs them.
"""
import json
import re
import sys
import urllib.parse
from collections import Counter

LINE = re.compile(r"^\S+ (?P<id>[0-9a-f-]{36}) \w+: (?P<msg>.*)$")
START = re.compile(r"^(?P<svc>Blob|Queue|Table|table)StorageContextMiddleware: RequestMethod=(?P<method>\S+) RequestURL=(?P<url>\S+)", re.I)
OPERATION = re.compile(r"^DispatchMiddleware: Operation=(?P<op>\S+)")
STATUS = re.compile(r"(?:EndMiddleware: End response\..*StatusCode=|ErrorMiddleware: Set HTTP code: )(?P<status>\d{3})")


def resource_of(url):
    """The container, queue or table a request addresses: the path segment after the account."""
    path = urllib.parse.urlsplit(url).path
    parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
    if len(parts) < 2:
        return "(account)"
    name = re.sub(r"\(.*$", "", parts[1])  # Table entity URLs: pipelineRuns(PartitionKey='..',RowKey='..')
    if parts[1].startswith("Tables"):
        return "(tables)"
    # Stage queue names end in their stage; table and container names are fixed: all are safe to report as they are.
    return name or "(account)"


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    log, start, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    requests = {}  # id -> dict(kind, method, resource, op, status)
    with open(log, "rb") as f:
        f.seek(start)
        for raw in f:
            m = LINE.match(raw.decode("utf-8", "replace").rstrip("\n"))
            if not m:
                continue
            rid, msg = m.group("id"), m.group("msg")
            s = START.match(msg)
            if s:
                requests.setdefault(rid, {"kind": s.group("svc").lower(), "method": s.group("method"),
                                          "resource": resource_of(s.group("url")), "op": None, "status": None})
                continue
            r = requests.get(rid)
            if r is None:
                continue  # a request that began before START_BYTE
            o = OPERATION.match(msg)
            if o and r["op"] is None:
                r["op"] = o.group("op")
                continue
            st = STATUS.search(msg)
            if st:
                r["status"] = int(st.group("status"))

    by_kind = Counter(r["kind"] for r in requests.values())
    by_op = Counter((r["kind"], r["op"] or f"(not dispatched: {r['method']})", r["resource"]) for r in requests.values())
    failed = Counter((r["kind"], r["op"] or "?", r["status"]) for r in requests.values()
                     if r["status"] is None or r["status"] >= 400)
    summary = {
        "total": len(requests),
        "by_kind": dict(by_kind),
        "by_operation": [{"kind": k, "operation": o, "resource": res, "count": n} for (k, o, res), n in sorted(by_op.items())],
        "not_2xx": [{"kind": k, "operation": o, "status": s, "count": n} for (k, o, s), n in sorted(failed.items(), key=str)],
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)

    print(f"| kind | requests |\n|---|---:|")
    for kind in ("table", "queue", "blob"):
        print(f"| {kind} | {by_kind.get(kind, 0):,} |")
    print(f"| **total** | **{len(requests):,}** |\n")
    print("| kind | operation | container / queue / table | requests |\n|---|---|---|---:|")
    for (k, o, res), n in sorted(by_op.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1], kv[0][2])):
        print(f"| {k} | {o} | {res} | {n:,} |")
    if failed:
        print("\nAnswered with a status >= 400 (expected ones included, e.g. 404 on a first read, 409 on create-if-missing):\n")
        print("| kind | operation | status | requests |\n|---|---|---:|---:|")
        for (k, o, s), n in sorted(failed.items(), key=str):
            print(f"| {k} | {o} | {s if s is not None else 'none logged'} | {n:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
