// Starts Azurite (Blob, Queue, Table) in memory on 127.0.0.1. Usage: node azurite.mjs BLOB_PORT QUEUE_PORT TABLE_PORT
// Exits when stdin closes (and takes Azurite with it), so an emulator never outlives the test run that started it.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

const ports = process.argv.slice(2, 5).map(Number);
if (ports.length !== 3 || !ports.every((p) => Number.isInteger(p) && p > 0)) {
  console.error("usage: node azurite.mjs BLOB_PORT QUEUE_PORT TABLE_PORT");
  process.exit(2);
}
const azurite = path.join(path.dirname(createRequire(import.meta.url).resolve("azurite/package.json")), "dist", "src", "azurite.js");
const child = spawn(process.execPath, [azurite,
  "--silent", "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck",
  "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
  "--blobPort", String(ports[0]), "--queuePort", String(ports[1]), "--tablePort", String(ports[2])],
  { stdio: ["ignore", "inherit", "inherit"] });
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
const stop = () => { child.kill(); process.exit(0); };
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
