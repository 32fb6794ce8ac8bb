// The soak's independent S3 client (the AWS SDK for JavaScript, talking to fauxqs directly, not through the proxy):
//   node s3-mirror.mjs bucket ENDPOINT BUCKET              create the bucket (an existing one is fine)
//   node s3-mirror.mjs mirror ENDPOINT BUCKET PREFIX DIR   download every object under PREFIX to DIR/KEY;
//                                                          prints one JSON line per object: {key, bytes}
//   node s3-mirror.mjs list ENDPOINT BUCKET PREFIX         the same lines, without downloading
// The SDK comes from tests/emulators (installed with the emulators), so bench/ needs no npm install of its own.
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

const require = createRequire(new URL("../../tests/emulators/package.json", import.meta.url));
const { S3Client, CreateBucketCommand, ListObjectsV2Command, GetObjectCommand } = require("@aws-sdk/client-s3");

const [mode, endpoint, bucket, prefix, dir] = process.argv.slice(2);
const client = new S3Client({
  endpoint, region: "us-east-1", forcePathStyle: true,
  credentials: { accessKeyId: "soak", secretAccessKey: "soak" },
  requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
});

if (mode === "bucket") {
  try { await client.send(new CreateBucketCommand({ Bucket: bucket })); }
  catch (e) { if (!/BucketAlready/.test(e.name)) throw e; }
} else if (mode === "mirror" || mode === "list") {
  let token;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const { Key, Size } of page.Contents ?? []) {
      if (mode === "list") { console.log(JSON.stringify({ key: Key, bytes: Size })); continue; }
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
      const bytes = Buffer.from(await object.Body.transformToByteArray());
      const target = path.resolve(dir, Key);
      if (!target.startsWith(path.resolve(dir) + path.sep)) throw new Error(`refusing key ${Key}`);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, bytes);
      console.log(JSON.stringify({ key: Key, bytes: bytes.length }));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
} else {
  console.error("usage: see the comment at the top of s3-mirror.mjs");
  process.exit(2);
}
