// A fault-injecting HTTP proxy between the `pipeline` CLI and fauxqs, for the fault soak (bench/soak.sh).
//
//   node s3-fault-proxy.mjs UPSTREAM_URL SEED [REQUEST_LOG]
//
// REQUEST_LOG (optional): one JSON line per request (time, operation, key, upload id, fault, fauxqs' status), to
// tell afterwards which request of which run a finding came from.
// Listens on a free loopback port and prints {"port": N} on its first stdout line. Exits when stdin closes
// (like the emulator launchers), so it never outlives the soak.
//
// What it does to each S3 request (decided by a PRNG seeded with SEED, at the rate set through /__soak/config):
//   503       503 SlowDown, not forwarded
//   500       500 InternalError, not forwarded
//   reset-before  connection reset before the request reaches fauxqs (nothing happened)
//   reset-after   forwarded, fauxqs did the work, then the connection is reset (the answer is lost)
//   slow      forwarded, the answer is held for 0.5 .. maxSlowMs before it is sent (a stall the client survives:
//             the product's attempt timeout is 5 minutes, far beyond a soak's budget)
// The same request (method and URL: one part of one upload, one HEAD, ...) gets at most maxConsecutive faults in a
// row, fewer than the product's 6 retries: a run that fails on these faults alone has a real bug, not bad luck.
// Requests run concurrently, so which request gets which fault depends on their arrival order as well as on the
// seed: a seed replays the same fault mix, not necessarily the same request for each fault.
//
// Two things it does for every request, because fauxqs 1.9.2 lacks them (tests/emulators/README.md):
//   - strips <ChecksumXXX> elements from CompleteMultipartUpload bodies (fauxqs would complete an EMPTY object;
//     the integration tests' S3Emulator shim does the same);
//   - answers ListMultipartUploads (GET /BUCKET?uploads) itself, from its own record of the uploads fauxqs
//     created and that were not completed or aborted since. fauxqs answers it with an object listing, and the
//     product would then leave an upload started by a killed attempt to the 7-day sweep; with a real listing
//     the product's "abort unrecorded uploads" path runs as it would on S3.
// The same record is the soak's evidence for orphaned multipart uploads (GET /__soak/stats).
//
// Control (never forwarded, never faulted):
//   POST /__soak/config   JSON {"rate": 0.2, "maxSlowMs": 3000, "maxConsecutive": 3}: fault probability per request,
//                         longest stall, most faults in a row for one request; optional "operations" and "kinds"
//                         (lists) restrict faults to those operations and fault kinds, to replay a finding by hand
//   GET  /__soak/stats    JSON: faults injected by kind and operation, requests per operation, open uploads
import http from "node:http";
import { appendFileSync } from "node:fs";

const upstream = new URL(process.argv[2] ?? "");
const seed = Number(process.argv[3]);
const requestLog = process.argv[4];
const note = (entry) => { if (requestLog) appendFileSync(requestLog, JSON.stringify({ at: new Date().toISOString(), ...entry }) + "\n"); };
if (!upstream.port || !Number.isInteger(seed)) {
  console.error("usage: node s3-fault-proxy.mjs UPSTREAM_URL SEED");
  process.exit(2);
}

// mulberry32: small, seedable, good enough to pick faults.
function prng(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);

const FAULTS = ["503", "500", "reset-before", "reset-after", "slow"];
const config = { rate: 0, maxSlowMs: 3000, maxConsecutive: 3, operations: null, kinds: null };
const streaks = new Map(); // "METHOD URL" -> faults in a row
const stats = {
  requests: {},          // operation -> requests received
  faults: {},            // fault kind -> count
  faultsByOperation: {}, // "operation fault" -> count
  uploads: {},           // uploadId -> { bucket, key, created, state: open|completed|aborted, ended }
  listedUploads: 0,      // ListMultipartUploads answered by the proxy
  upstreamErrors: 0,     // fauxqs unreachable or failed mid-answer
};
const bump = (map, key) => { map[key] = (map[key] ?? 0) + 1; };

/** The S3 operation of a path-style request, from method and query (as the C# FaultInjectingProxy does). */
function operationOf(method, url) {
  const q = url.searchParams;
  const keyed = url.pathname.split("/").filter(Boolean).length > 1;
  if (method === "POST" && q.has("uploads")) return "CreateMultipartUpload";
  if (method === "PUT" && q.has("uploadId")) return "UploadPart";
  if (method === "POST" && q.has("uploadId")) return "CompleteMultipartUpload";
  if (method === "DELETE" && q.has("uploadId")) return "AbortMultipartUpload";
  if (method === "GET" && q.has("uploads") && !keyed) return "ListMultipartUploads";
  if (method === "GET" && q.has("uploadId")) return "ListParts";
  if (method === "PUT") return keyed ? "PutObject" : "CreateBucket";
  if (method === "HEAD") return keyed ? "HeadObject" : "HeadBucket";
  if (method === "DELETE") return keyed ? "DeleteObject" : "DeleteBucket";
  if (method === "GET") return keyed ? "GetObject" : "ListObjects";
  return method;
}

function pickFault(operation, request) {
  const streak = streaks.get(request) ?? 0;
  const eligible = !config.operations || config.operations.includes(operation);
  if (config.rate <= 0 || !eligible || streak >= config.maxConsecutive || random() >= config.rate) {
    streaks.delete(request);
    return null;
  }
  streaks.set(request, streak + 1);
  const kinds = config.kinds ?? FAULTS;
  return kinds[Math.floor(random() * kinds.length)];
}

function s3Error(res, status, code, message) {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>soak</RequestId></Error>`;
  res.writeHead(status, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** A TCP reset (RST), not a clean close: what a dropped connection looks like to the client. */
function reset(req) {
  const socket = req.socket;
  if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
  else socket.destroy();
}

const xmlEscape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const firstTag = (xml, tag) => xml.match(new RegExp(`<${tag}>([^<]*)</${tag}>`))?.[1];

/** ListMultipartUploads from the proxy's record: the uploads fauxqs holds that were never completed or aborted. */
function listUploads(bucket, url) {
  stats.listedUploads++;
  const prefix = url.searchParams.get("prefix") ?? "";
  const open = Object.entries(stats.uploads)
    .filter(([, u]) => u.state === "open" && u.bucket === bucket && u.key.startsWith(prefix))
    .sort(([ia, a], [ib, b]) => (a.key === b.key ? ia.localeCompare(ib) : a.key.localeCompare(b.key)));
  const uploads = open.map(([id, u]) =>
    `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${xmlEscape(id)}</UploadId><Initiated>${u.created}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`).join("");
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>${xmlEscape(prefix)}</Prefix>` +
    `<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads}</ListMultipartUploadsResult>`;
  return { status: 200, headers: { "content-type": "application/xml" }, body: Buffer.from(body, "utf8") };
}

/** Sends the request to fauxqs; resolves with { status, headers, body } or rejects when fauxqs fails. */
function forward(req, body) {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers["transfer-encoding"];
    delete headers["connection"];
    delete headers["expect"]; // the body is already here
    headers["content-length"] = String(body.length);
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      const chunks = [];
      answer.on("data", (c) => chunks.push(c));
      answer.on("end", () => resolve({ status: answer.statusCode, headers: answer.headers, body: Buffer.concat(chunks) }));
      answer.on("error", reject);
    });
    out.on("error", reject);
    out.end(body);
  });
}

/** Keeps the upload record in step with what fauxqs actually did (whatever the client later hears). */
function record(operation, bucket, key, url, answer) {
  const ok = answer.status >= 200 && answer.status < 300 && !answer.body.includes("<Error>");
  const now = new Date().toISOString();
  if (operation === "CreateMultipartUpload" && ok) {
    const id = firstTag(answer.body.toString("utf8"), "UploadId");
    if (id) stats.uploads[id] = { bucket, key, created: now, state: "open" };
  } else if ((operation === "CompleteMultipartUpload" || operation === "AbortMultipartUpload") && ok) {
    const id = url.searchParams.get("uploadId");
    const upload = stats.uploads[id];
    if (upload && upload.state === "open") Object.assign(upload, { state: operation === "AbortMultipartUpload" ? "aborted" : "completed", ended: now });
    else if (!upload) stats.uploads[id] = { bucket, key, created: null, state: "unknown-ended", ended: now };
  }
}

function control(req, res, url, body) {
  if (req.method === "POST" && url.pathname === "/__soak/config") {
    Object.assign(config, JSON.parse(body.toString("utf8") || "{}"));
  } else if (!(req.method === "GET" && url.pathname === "/__soak/stats")) {
    res.writeHead(404).end();
    return;
  }
  const json = JSON.stringify({ config, ...stats });
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(json);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    let body = Buffer.concat(chunks);
    const url = new URL(req.url, "http://proxy");
    if (url.pathname.startsWith("/__soak/")) return control(req, res, url, body);

    const [bucket = "", ...rest] = decodeURIComponent(url.pathname).split("/").filter(Boolean);
    const key = rest.join("/");
    const operation = operationOf(req.method, url);
    bump(stats.requests, operation);

    const fault = pickFault(operation, `${req.method} ${req.url}`);
    if (fault) { bump(stats.faults, fault); bump(stats.faultsByOperation, `${operation} ${fault}`); }
    const entry = { operation, key, uploadId: url.searchParams.get("uploadId") ?? undefined, part: url.searchParams.get("partNumber") ?? undefined, fault: fault ?? undefined };
    if (fault === "503" || fault === "500" || fault === "reset-before") note(entry);
    if (fault === "503") return s3Error(res, 503, "SlowDown", "Please reduce your request rate.");
    if (fault === "500") return s3Error(res, 500, "InternalError", "We encountered an internal error. Please try again.");
    if (fault === "reset-before") return reset(req);

    if (operation === "CompleteMultipartUpload") {
      body = Buffer.from(body.toString("utf8").replace(/<Checksum[A-Z0-9]+>[^<]*<\/Checksum[A-Z0-9]+>/g, ""), "utf8");
    }
    let answer;
    if (operation === "ListMultipartUploads") {
      answer = listUploads(bucket, url); // answered here, but faulted like any other request
    } else {
      try {
        answer = await forward(req, body);
      } catch {
        stats.upstreamErrors++;
        return reset(req);
      }
    }
    record(operation, bucket, key, url, answer);
    const created = operation === "CreateMultipartUpload" ? firstTag(answer.body.toString("utf8"), "UploadId") : undefined;
    note({ ...entry, status: answer.status, created });
    if (fault === "reset-after") return reset(req);
    if (fault === "slow") await new Promise((r) => setTimeout(r, 500 + random() * Math.max(0, config.maxSlowMs - 500)));
    if (res.destroyed) return; // the client gave up (or was killed) meanwhile
    const headers = { ...answer.headers };
    delete headers["transfer-encoding"];
    delete headers["connection"];
    delete headers["keep-alive"];
    // A HEAD answer's Content-Length is the object's size (the product checks it), not this empty body's.
    if (req.method !== "HEAD") headers["content-length"] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  });
  req.on("error", () => {}); // a killed client
});
server.on("clientError", (_, socket) => socket.destroy());
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
