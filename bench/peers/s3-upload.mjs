// Standard-client peer for the upload benchmark: @aws-sdk/lib-storage Upload of one file, and helpers.
//   node s3-upload.mjs bucket ENDPOINT BUCKET                                   create the bucket
//   node s3-upload.mjs upload ENDPOINT BUCKET KEY FILE PART_BYTES QUEUE [compat] multipart upload, prints JSON
//   node s3-upload.mjs verify ENDPOINT BUCKET KEY FILE [compat]                        object bytes == file bytes?
// compat: checksums only when required (what S3-compatible stores such as s3rver need).
import { createReadStream, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { S3Client, CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const [mode, endpoint, bucket, key, file, partBytes, queue] = process.argv.slice(2);
const compat = process.argv.slice(2).includes("compat");
const client = new S3Client({
  endpoint, region: "us-east-1", forcePathStyle: true,
  credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  ...(compat ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" } : {}),
});
const sha256 = async (stream) => { const h = createHash("sha256"); for await (const c of stream) h.update(c); return h.digest("hex"); };

if (mode === "bucket") {
  try { await client.send(new CreateBucketCommand({ Bucket: bucket })); }
  catch (e) { if (!/BucketAlready/.test(e.name)) throw e; }
} else if (mode === "upload") {
  const partSize = Number(partBytes);
  const started = process.hrtime.bigint();
  const upload = new Upload({ client, params: { Bucket: bucket, Key: key, Body: createReadStream(file, { highWaterMark: 1 << 20 }) }, partSize, queueSize: Number(queue), leavePartsOnError: false });
  await upload.done();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const bytes = statSync(file).size;
  console.log(JSON.stringify({ seconds, parts: Math.ceil(bytes / partSize), bytes }));
} else if (mode === "verify") {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const [a, b] = [await sha256(object.Body), await sha256(createReadStream(file))];
  if (a !== b) { console.error(`s3://${bucket}/${key} differs from ${file} (${a} vs ${b})`); process.exit(1); }
  console.log("same");
} else {
  console.error("usage: see the comment at the top of s3-upload.mjs"); process.exit(2);
}
