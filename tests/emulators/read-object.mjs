// Independent read-back with the AWS SDK for JavaScript: writes an object's bytes to stdout.
// Usage: node read-object.mjs ENDPOINT BUCKET KEY
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";

const [endpoint, bucket, key] = process.argv.slice(2);
const client = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
});
const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
process.stdout.write(Buffer.from(await response.Body.transformToByteArray()));
