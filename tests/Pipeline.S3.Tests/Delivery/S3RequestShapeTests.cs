using System.Security.Cryptography;
using System.Text;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;
using S3Encryption = Pipeline.Engine.Configuration.S3Encryption;

namespace Pipeline.S3.Tests.Delivery;

/// <summary>
/// What goes on the wire, for the headers emulators accept but ignore (ACLs, expected owner, checksums,
/// encryption, storage class): a fake S3 on loopback records every request the real SDK sends.
/// </summary>
public sealed class S3RequestShapeTests : FakeS3Fixture
{
    private static readonly ObjectProperties Gzip = new("text/csv; charset=utf-8", "gzip");


    private S3Destination Open(Func<S3DestinationOptions, S3DestinationOptions>? change = null, bool compatibility = false) =>
        Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/", change, compatibility));

    /// <summary>The requests <see cref="DeliverEverythingAsync"/> sends, in order (each completion is checked with a HEAD).</summary>
    private static readonly string[] Everything =
    [
        "CreateMultipartUpload", "UploadPart", "UploadPart", "CompleteMultipartUpload", "HeadObject", "AbortMultipartUpload",
        "PutObject", "HeadObject", "PutObject", "HeadObject",
    ];

    /// <summary>Start (multipart), two parts, complete, abort, a small file's single put and completion, the manifest, and a HEAD.</summary>
    private async Task<byte[]> DeliverEverythingAsync(S3Destination destination)
    {
        var data = Data(6 * MiB);
        var id = await destination.StartFileAsync("exports/a.csv.gz", data.Length, Gzip, CancellationToken.None);
        var p1 = await destination.UploadPartAsync("exports/a.csv.gz", id, 1, 0, data.AsMemory(0, 5 * MiB), CancellationToken.None);
        var p2 = await destination.UploadPartAsync("exports/a.csv.gz", id, 2, 5 * MiB, data.AsMemory(5 * MiB), CancellationToken.None);
        await destination.CompleteFileAsync("exports/a.csv.gz", id, [p2, p1], data.Length, CancellationToken.None);
        await destination.AbortFileAsync("exports/a.csv.gz", id, CancellationToken.None);
        var small = await destination.StartFileAsync("exports/b.csv.gz", 10, Gzip, CancellationToken.None);
        var part = await destination.UploadPartAsync("exports/b.csv.gz", small, 1, 0, data.AsMemory(0, 10), CancellationToken.None);
        await destination.CompleteFileAsync("exports/b.csv.gz", small, [part], 10, CancellationToken.None);
        await destination.PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None);
        await destination.ExistsAsync("exports/run.manifest.json", CancellationToken.None);
        return data;
    }

    private CapturedRequest Single(string kind) => S3.Requests.Single(r => FaultInjectingProxy.KindOf(r) == kind);

    private IEnumerable<CapturedRequest> All(string kind) => S3.Requests.Where(r => FaultInjectingProxy.KindOf(r) == kind);

    private static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(SHA256.HashData(bytes));

    [Test]
    public async Task Normal_mode_sends_SHA256_checksums_on_parts_and_puts_and_lists_them_on_completion()
    {
        var data = await DeliverEverythingAsync(Open());

        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(Everything));
        Assert.That(Single("CreateMultipartUpload").Header("x-amz-checksum-algorithm"), Is.EqualTo("SHA256"));
        var parts = All("UploadPart").OrderBy(r => r.QueryValue("partNumber")).ToList();
        var partSums = new[] { Sha256(data.AsSpan(0, 5 * MiB)), Sha256(data.AsSpan(5 * MiB)) };
        Assert.That(parts.Select(p => p.Header("x-amz-checksum-sha256")), Is.EqualTo(partSums));
        Assert.That(parts.Select(p => Sha256(FakeS3.DecodedBody(p))), Is.EqualTo(partSums), "the checksums are of the bytes on the wire");
        var complete = Single("CompleteMultipartUpload");
        Assert.That(complete.BodyText, Does.Contain($"<ChecksumSHA256>{partSums[0]}</ChecksumSHA256>").And.Contain($"<ChecksumSHA256>{partSums[1]}</ChecksumSHA256>"));
        Assert.That(complete.BodyText.IndexOf("<PartNumber>1</PartNumber>", StringComparison.Ordinal),
            Is.LessThan(complete.BodyText.IndexOf("<PartNumber>2</PartNumber>", StringComparison.Ordinal)), "parts in ascending order");
        Assert.That(complete.Header("x-amz-mp-object-size"), Is.EqualTo(data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var puts = All("PutObject").ToList();
        Assert.That(puts.Select(p => p.Header("x-amz-checksum-sha256")), Is.EqualTo(new[] { Sha256(data.AsSpan(0, 10)), Sha256("{}"u8) }), "the small file, then the manifest");
        Assert.That(puts.Select(p => FakeS3.DecodedBody(p).Length), Is.EqualTo(new[] { 10, 2 }));
        Assert.That(All("HeadObject").Select(h => h.Header("x-amz-checksum-mode")), Is.EqualTo(new[] { "ENABLED", "ENABLED", "ENABLED" }));
    }

    [Test]
    public async Task Compatibility_mode_sends_plain_bodies_without_aws_chunked_or_checksums()
    {
        var data = await DeliverEverythingAsync(Open(compatibility: true));

        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(Everything));
        foreach (var request in S3.Requests)
        {
            var checksums = request.Headers.Keys.Where(h => h.StartsWith("x-amz-checksum", StringComparison.OrdinalIgnoreCase) || h.StartsWith("x-amz-sdk-checksum", StringComparison.OrdinalIgnoreCase));
            Assert.That(checksums, Is.Empty, request.ToString());
            Assert.That(request.Header("Content-Encoding") ?? "", Does.Not.Contain("aws-chunked"), request.ToString());
            Assert.That(request.Header("x-amz-content-sha256") ?? "", Does.Not.StartWith("STREAMING-"), request.ToString());
            Assert.That(request.Header("x-amz-decoded-content-length"), Is.Null, request.ToString());
            Assert.That(request.Header("x-amz-trailer"), Is.Null, request.ToString());
        }
        var parts = All("UploadPart").OrderBy(r => r.QueryValue("partNumber")).ToList();
        Assert.That(parts.Select(p => p.Body), Is.EqualTo(new[] { data.AsSpan(0, 5 * MiB).ToArray(), data.AsSpan(5 * MiB).ToArray() }),
            "the bodies on the wire are the parts' bytes, no chunk framing");
        Assert.That(All("PutObject").Select(p => p.Body), Is.EqualTo(new[] { data.AsSpan(0, 10).ToArray(), "{}"u8.ToArray() }));
        Assert.That(Single("CompleteMultipartUpload").BodyText, Does.Not.Contain("Checksum"));
        Assert.That(Single("CompleteMultipartUpload").Header("x-amz-mp-object-size"), Is.Null);
    }

    [Test]
    public async Task Cross_account_mode_sends_the_owner_ACL_on_writes_and_the_expected_owner_on_every_request()
    {
        await DeliverEverythingAsync(Open(o => o with { Credentials = S3CredentialMode.CrossAccount, BucketOwnerAccountId = "111122223333", SecretName = "our-key" }));

        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(Everything));
        Assert.That(S3.Requests.Select(r => r.Header("x-amz-expected-bucket-owner")), Has.All.EqualTo("111122223333"));
        Assert.That(All("CreateMultipartUpload").Concat(All("PutObject")).Select(r => r.Header("x-amz-acl")), Has.All.EqualTo("bucket-owner-full-control"));
        Assert.That(All("PutObject").Count(), Is.EqualTo(2), "the small file and the manifest");
    }

    [Test]
    public async Task Other_modes_send_no_ACL()
    {
        await DeliverEverythingAsync(Open(o => o with { Credentials = S3CredentialMode.AccessKey, SecretName = "customer-key" }));

        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(Everything));
        Assert.That(S3.Requests.Select(r => r.Header("x-amz-acl")), Has.All.Null);
        Assert.That(S3.Requests.Select(r => r.Header("x-amz-expected-bucket-owner")), Has.All.Null);
    }

    [Test]
    public async Task Encryption_and_storage_class_are_set_on_create_and_put()
    {
        await DeliverEverythingAsync(Open(o => o with { Encryption = S3Encryption.Kms, KmsKeyId = "arn:aws:kms:us-east-1:111122223333:key/abcd", StorageClass = "STANDARD_IA" }));

        Assert.That(All("CreateMultipartUpload").Concat(All("PutObject")).Count(), Is.EqualTo(3), "create, the small file, the manifest");
        Assert.That(All("UploadPart").Count(), Is.EqualTo(2));
        foreach (var request in All("CreateMultipartUpload").Concat(All("PutObject")))
        {
            Assert.That(request.Header("x-amz-server-side-encryption"), Is.EqualTo("aws:kms"), request.ToString());
            Assert.That(request.Header("x-amz-server-side-encryption-aws-kms-key-id"), Is.EqualTo("arn:aws:kms:us-east-1:111122223333:key/abcd"));
            Assert.That(request.Header("x-amz-storage-class"), Is.EqualTo("STANDARD_IA"));
        }
        Assert.That(All("UploadPart").Select(r => r.Header("x-amz-server-side-encryption")), Has.All.Null, "parts inherit the upload's encryption");
    }

    [Test]
    public async Task SSE_S3_sends_AES256()
    {
        await DeliverEverythingAsync(Open(o => o with { Encryption = S3Encryption.S3 }));

        Assert.That(Single("CreateMultipartUpload").Header("x-amz-server-side-encryption"), Is.EqualTo("AES256"));
        Assert.That(Single("CreateMultipartUpload").Header("x-amz-server-side-encryption-aws-kms-key-id"), Is.Null);
    }

    [Test]
    public async Task Content_type_and_encoding_are_set_when_a_file_starts_and_on_a_single_put()
    {
        await DeliverEverythingAsync(Open());

        var create = Single("CreateMultipartUpload");
        Assert.That(create.Header("Content-Type"), Is.EqualTo("text/csv; charset=utf-8"));
        Assert.That(create.Header("Content-Encoding"), Is.EqualTo("gzip"));
        var smallFile = All("PutObject").Single(r => r.Path.EndsWith("b.csv.gz", StringComparison.Ordinal));
        Assert.That(smallFile.Header("Content-Type"), Is.EqualTo("text/csv; charset=utf-8"));
        Assert.That(smallFile.Header("Content-Encoding"), Does.StartWith("gzip"));
        var manifest = All("PutObject").Single(r => r.Path.EndsWith(".json", StringComparison.Ordinal));
        Assert.That(manifest.Header("Content-Type"), Is.EqualTo("application/json"));
    }

    [Test]
    public async Task Requests_use_path_style_on_a_loopback_endpoint()
    {
        await DeliverEverythingAsync(Open());

        Assert.That(S3.Requests, Has.Count.EqualTo(Everything.Length));
        Assert.That(S3.Requests.Select(r => r.Path), Has.All.StartsWith("/customer-bucket/exports/"));
        Assert.That(S3.Requests.Select(r => r.Header("Host")), Has.All.StartsWith("127.0.0.1:"));
    }

    [Test]
    public async Task Requests_are_signed_for_the_configured_region()
    {
        var destination = Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", change: o => o with { Region = "eu-central-1" }));
        await destination.PutObjectAsync("m.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None);

        Assert.That(S3.Requests.Single().Header("Authorization"), Does.Contain("/eu-central-1/s3/aws4_request"));
    }
}
