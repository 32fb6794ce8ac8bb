using System.Text;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.S3.Delivery;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;
using S3Encryption = Pipeline.Engine.Configuration.S3Encryption;

namespace Pipeline.S3.Tests.Delivery;

/// <summary>
/// A file counts as delivered only when the store holds what was uploaded: a fake S3 on loopback that answers
/// like S3, except where a test makes it answer a completion, a put or a HEAD with a wrong ETag, size or checksum.
/// </summary>
public sealed class CompletedObjectTests : FakeS3Fixture
{
    private const string Key = "exports/a.csv";
    private static readonly ObjectProperties Csv = new("text/csv", null);

    private S3Destination Open(Func<S3DestinationOptions, S3DestinationOptions>? change = null, bool compatibility = false) =>
        Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/", change, compatibility));

    /// <summary>Starts and uploads a file of 5 MiB + 100 bytes in two parts; returns its upload id and receipts.</summary>
    private static readonly byte[] File = Data(5 * MiB + 100, seed: 9);

    private static async Task<(string Id, PartReceipt[] Parts, long Length)> UploadAsync(S3Destination destination)
    {
        var data = File;
        var id = await destination.StartFileAsync(Key, data.Length, Csv, CancellationToken.None);
        var parts = new[]
        {
            await destination.UploadPartAsync(Key, id, 1, 0, data.AsMemory(0, 5 * MiB), CancellationToken.None),
            await destination.UploadPartAsync(Key, id, 2, 5 * MiB, data.AsMemory(5 * MiB), CancellationToken.None),
        };
        return (id, parts, data.Length);
    }

    private static StubResponse WithHeader(StubResponse answer, string name, string value) =>
        answer with { Headers = new Dictionary<string, string>(answer.Headers ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase) { [name] = value } };

    private static bool IsCompletion(CapturedRequest r) => r.Method == "POST" && r.HasQuery("uploadId");

    [Test]
    public async Task A_completion_the_store_agrees_with_is_checked_with_one_HEAD()
    {
        var destination = Open();
        var (id, parts, length) = await UploadAsync(destination);

        await destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None);

        var afterCompletion = S3.Requests.SkipWhile(r => !IsCompletion(r)).Select(FaultInjectingProxy.KindOf);
        Assert.That(afterCompletion, Is.EqualTo(new[] { "CompleteMultipartUpload", "HeadObject" }));
        Assert.That(S3.Requests.Single(r => r.Method == "HEAD").Header("x-amz-checksum-mode"), Is.EqualTo("ENABLED"), "S3 reports the checksum only when asked");
    }

    [Test]
    public async Task A_completion_answered_with_another_ETag_fails_naming_both()
    {
        S3.Tamper = (r, answer) => IsCompletion(r)
            ? answer with { Body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(answer.Body!).Replace("<ETag>\"", "<ETag>\"0", StringComparison.Ordinal)) }
            : answer;
        var destination = Open();
        var (id, parts, length) = await UploadAsync(destination);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None));

        var expected = MultipartETagOf(File, 5 * MiB);
        Assert.That(error!.Message, Does.StartWith($"s3://customer-bucket/{Key}: the store completed a 5,242,980-byte object with ETag \"0{expected}\", expected \"{expected}\""));
        Assert.That(error.Message, Does.Contain("set \"compatibility\": true on destination \"customer-s3\""));
        Assert.That(ExportStages.IsPermanent(error), Is.True);
    }

    [Test]
    public async Task A_store_that_completed_an_empty_object_fails_the_file_with_the_sizes()
    {
        S3.Tamper = (r, answer) => r.Method == "HEAD" ? WithHeader(answer, "Content-Length", "0") : answer;
        var destination = Open();
        var (id, parts, length) = await UploadAsync(destination);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"s3://customer-bucket/{Key}: the store completed a 0-byte object, expected 5,242,980 bytes"));
        Assert.That(error.Message, Does.Contain("No manifest lists the file"));
    }

    [Test]
    public async Task A_stored_checksum_other_than_the_composite_of_the_parts_fails()
    {
        const string wrong = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=-2";
        S3.Tamper = (r, answer) => r.Method == "HEAD" ? WithHeader(answer, "x-amz-checksum-sha256", wrong) : answer;
        var destination = Open();
        var (id, parts, length) = await UploadAsync(destination);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None));

        Assert.That(error!.Message, Does.Contain($"SHA-256 \"{wrong}\", expected \""));
    }

    [Test]
    public async Task A_retried_completion_over_an_empty_object_fails_although_the_upload_is_gone()
    {
        var destination = Open();
        var (id, parts, length) = await UploadAsync(destination);
        // The first completion happened (the fake stored an empty object), its answer was lost; the retry meets NoSuchUpload.
        S3.Override = r => IsCompletion(r) ? StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist.") : null;
        S3.Objects[Key] = new FakeS3.StoredObject(0, "d41d8cd98f00b204e9800998ecf8427e-2", null);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("no longer exists").And.Contain("the store has a 0-byte object, expected 5,242,980 bytes"));
        Assert.That(error.Message, Does.Contain("\"d41d8cd98f00b204e9800998ecf8427e-2\""));
    }

    [Test]
    public async Task A_single_put_answered_with_an_ETag_that_is_not_the_MD5_of_the_body_fails_at_once()
    {
        S3.Tamper = (r, answer) => r.Method == "PUT" && !r.HasQuery("uploadId") ? WithHeader(answer, "ETag", "\"00000000000000000000000000000000\"") : answer;
        var destination = Open();
        var id = await destination.StartFileAsync(Key, 3, Csv, CancellationToken.None);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadPartAsync(Key, id, 1, 0, "a,b"u8.ToArray(), CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("ETag \"00000000000000000000000000000000\", expected \"b345e1dc09f20fdefdea469f09167892\""), "MD5 of a,b");
        Assert.That(error.Message, Does.StartWith($"s3://customer-bucket/{Key}: the store answered the upload of a 3-byte object"));
    }

    [Test]
    public async Task A_single_put_file_the_store_holds_shorter_fails_at_completion()
    {
        var destination = Open();
        var content = "id,email\n1,a@example.com\n"u8.ToArray();
        var id = await destination.StartFileAsync(Key, content.Length, Csv, CancellationToken.None);
        var receipt = await destination.UploadPartAsync(Key, id, 1, 0, content, CancellationToken.None);
        S3.Objects[Key] = S3.Objects[Key] with { Length = 9 };

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, [receipt], content.Length, CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"s3://customer-bucket/{Key}: the store completed a 9-byte object, expected 25 bytes"));
        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(new[] { "PutObject", "HeadObject" }));
    }

    [Test]
    public async Task A_manifest_answered_with_a_wrong_ETag_fails()
    {
        S3.Tamper = (r, answer) => r.Method == "PUT" ? WithHeader(answer, "ETag", "\"99914b932bd37a50b983c5e7c90ae93c\"") : answer;

        var error = await Assert.ThrowsAsync<DestinationException>(() =>
            Open().PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("ETag \"99914b932bd37a50b983c5e7c90ae93c\", expected \"99914b932bd37a50b983c5e7c90ae93b\""));
    }

    [Test]
    public async Task Under_SSE_KMS_ETags_are_not_MD5s_so_only_size_and_checksum_decide()
    {
        // S3 answers SSE-KMS parts and objects with ETags that are not the MD5 of the bytes.
        S3.Tamper = (r, answer) => answer.Headers?.ContainsKey("ETag") == true ? WithHeader(answer, "ETag", "\"" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + "\"") : answer;
        var destination = Open(o => o with { Encryption = S3Encryption.Kms, KmsKeyId = "arn:aws:kms:us-east-1:111122223333:key/abcd" });
        var (id, parts, length) = await UploadAsync(destination);

        await destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None);

        S3.Objects[Key] = S3.Objects[Key] with { Length = 5 * MiB };
        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None));
        Assert.That(error!.Message, Does.Contain("no longer exists").And.Contain("a 5,242,880-byte object, expected 5,242,980 bytes"));
    }

    [Test]
    public async Task A_bucket_whose_default_encryption_is_SSE_KMS_is_recognised_from_the_answers_so_its_ETags_are_not_compared()
    {
        // No encryption in the config, but the bucket encrypts with KMS by default: S3 says so in each answer.
        S3.Tamper = (r, answer) => answer.Headers?.ContainsKey("ETag") == true || IsCompletion(r)
            ? WithHeader(WithHeader(answer, "ETag", "\"" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + "\""), "x-amz-server-side-encryption", "aws:kms")
            : answer;
        var destination = Open();
        var (id, parts, length) = await UploadAsync(destination);
        await destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None);

        var small = await destination.StartFileAsync("exports/b.csv", 3, Csv, CancellationToken.None);
        var receipt = await destination.UploadPartAsync("exports/b.csv", small, 1, 0, "a,b"u8.ToArray(), CancellationToken.None);
        await destination.CompleteFileAsync("exports/b.csv", small, [receipt], 3, CancellationToken.None);
        await destination.PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None);

        Assert.That(S3.Objects.Keys, Is.EquivalentTo(new[] { Key, "exports/b.csv", "exports/run.manifest.json" }));
    }

    [Test]
    public async Task Compatibility_mode_accepts_a_store_whose_multipart_ETag_is_the_whole_objects_MD5_but_not_a_wrong_size()
    {
        // s3rver answers a multipart upload with the plain MD5 of the whole object: another shape, not lost data.
        S3.Tamper = (r, answer) => IsCompletion(r) || r.Method == "HEAD"
            ? WithHeader(answer with { Body = IsCompletion(r) ? Encoding.UTF8.GetBytes("<CompleteMultipartUploadResult><ETag>\"0123456789abcdef0123456789abcdef\"</ETag></CompleteMultipartUploadResult>") : answer.Body },
                "ETag", "\"0123456789abcdef0123456789abcdef\"")
            : answer;
        var destination = Open(compatibility: true);
        var (id, parts, length) = await UploadAsync(destination);

        await destination.CompleteFileAsync(Key, id, parts, length, CancellationToken.None);

        var (second, secondParts, secondLength) = await UploadAsync(destination);
        S3.Tamper = (r, answer) => r.Method == "HEAD" ? WithHeader(answer, "Content-Length", "100") : answer;
        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, second, secondParts, secondLength, CancellationToken.None));
        Assert.That(error!.Message, Does.Contain("a 100-byte object, expected 5,242,980 bytes").And.Contain("check its logs"));
        Assert.That(error.Message, Does.Not.Contain("\"compatibility\": true"), "it is on already");
    }
}
