// Starts fauxqs on loopback only (its CLI binds 0.0.0.0). Usage: node fauxqs.mjs PORT
// Exits when stdin closes, so an emulator never outlives the test run that started it.
import { buildApp } from "fauxqs";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node fauxqs.mjs PORT");
  process.exit(2);
}
const app = buildApp({ logger: false });
await app.listen({ port, host: "127.0.0.1" });
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
