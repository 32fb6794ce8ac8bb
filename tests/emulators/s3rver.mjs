// Starts s3rver on loopback, storing objects under DIR. Usage: node s3rver.mjs PORT DIR
// Same as `s3rver -d DIR -a 127.0.0.1 -p PORT --silent`, plus: accepts the key pair test/test, exits when stdin closes.
import { createRequire } from "node:module";
import S3rver from "s3rver";

// s3rver knows only the key pair S3RVER/S3RVER; the tests sign with test/test (any pair works on fauxqs).
// It checks that the key exists, not SigV4 signatures, so registering the pair is all it takes.
const { DUMMY_ACCOUNT } = createRequire(import.meta.url)("s3rver/lib/models/account.js");
DUMMY_ACCOUNT.createKeyPair("test", "test");

const port = Number(process.argv[2]);
const directory = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || !directory) {
  console.error("usage: node s3rver.mjs PORT DIR");
  process.exit(2);
}
await new S3rver({ port, address: "127.0.0.1", directory, silent: true }).run();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
