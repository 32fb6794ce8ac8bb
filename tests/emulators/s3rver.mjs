// Starts s3rver on loopback, storing objects under DIR. Usage: node s3rver.mjs PORT DIR
// Same as `s3rver -d DIR -a 127.0.0.1 -p PORT --silent`, plus: exits when stdin closes.
import S3rver from "s3rver";

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
