using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Delivery;

/// <summary>
/// The destination's own decisions, against a fake S3 on loopback that speaks the wire protocol: when a file goes in
/// one request, what a part's receipt holds, which engine hand-overs are bugs, which answers fail a file, and what
/// an operator sees in the log.
/// </summary>
public sealed class S3DestinationTests : FakeS3Fixture
{
    private const string Key = "exports/a.csv";
    private static readonly ObjectProperties Csv = new("text/csv", null);
    private static readonly ObjectProperties Json = new("application/json", null);

    private ListLoggerFactory _loggers = null!;
    private S3DestinationFactory _destinations = null!;

    [SetUp]
    public void OpenLoggingFactory()
    {
        _loggers = new ListLoggerFactory();
        _destinations = Factory(loggers: _loggers);
    }

    [TearDown]
    public void CloseLoggingFactory()
    {
        _destinations?.Dispose();
        _loggers?.Dispose();
    }

    private S3Destination Open(bool compatibility = false) =>
        _destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/", compatibility: compatibility));

    private string Hint => "No manifest lists the file; delete the object. " +
                           $"If {S3.Endpoint} is an S3-compatible store rather than Amazon S3, set \"compatibility\": true on destination \"customer-s3\" " +
                           "(no aws-chunked bodies, no checksums in the completion, which some stores mishandle).";

    private static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(SHA256.HashData(bytes));

#pragma warning disable CA5351 // S3's ETags are MD5s
    private static string Md5(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(MD5.HashData(bytes));
#pragma warning restore CA5351

    private static StubResponse WithHeader(StubResponse answer, string name, string value) =>
        answer with { Headers = new Dictionary<string, string>(answer.Headers ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase) { [name] = value } };

    /// <summary>A completion answer with these elements, after the fake stored the object as S3 would.</summary>
    private static StubResponse Completed(string elements) =>
        StubResponse.Xml(200, $"<CompleteMultipartUploadResult><Bucket>customer-bucket</Bucket><Key>{Key}</Key>{elements}</CompleteMultipartUploadResult>");

    private static bool IsCompletion(CapturedRequest r) => r.Method == "POST" && r.HasQuery("uploadId");

    private static readonly byte[] File = Data(5 * MiB + 100, seed: 3);

    private static async Task<(string Id, PartReceipt[] Parts)> UploadAsync(S3Destination destination)
    {
        var id = await destination.StartFileAsync(Key, File.Length, Csv, CancellationToken.None);
        PartReceipt[] parts =
        [
            await destination.UploadPartAsync(Key, id, 1, 0, File.AsMemory(0, 5 * MiB), CancellationToken.None),
            await destination.UploadPartAsync(Key, id, 2, 5 * MiB, File.AsMemory(5 * MiB), CancellationToken.None),
        ];
        return (id, parts);
    }

    [Test]
    public async Task A_file_of_exactly_the_single_put_threshold_goes_in_one_request_and_one_byte_more_starts_a_multipart_upload()
    {
        var destination = Open();

        var single = await destination.StartFileAsync(Key, S3Destination.SinglePutThreshold, Csv, CancellationToken.None);
        Assert.That(single, Is.EqualTo("put:text%2Fcsv:"));
        Assert.That(S3.Requests, Is.Empty, "a single put sends nothing until part 1 arrives");

        var multipart = await destination.StartFileAsync(Key, S3Destination.SinglePutThreshold + 1, Csv, CancellationToken.None);
        Assert.That(multipart, Is.EqualTo("upload-1"));
        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(new[] { "CreateMultipartUpload" }));
    }

    [Test]
    public void A_negative_length_is_a_bug_refused_before_anything_is_sent()
    {
        Assert.That(() => Open().StartFileAsync(Key, -1, Csv, CancellationToken.None), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(S3.Requests, Is.Empty);
    }

    [Test]
    public async Task A_store_that_starts_an_upload_without_an_upload_id_fails_the_file()
    {
        S3.Override = r => r.HasQuery("uploads")
            ? StubResponse.Xml(200, $"<InitiateMultipartUploadResult><Bucket>customer-bucket</Bucket><Key>{Key}</Key></InitiateMultipartUploadResult>")
            : null;

        var error = await Assert.ThrowsAsync<DestinationException>(() => Open().StartFileAsync(Key, 6 * MiB, Csv, CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo(
            $"{S3.Endpoint} answered CreateMultipartUpload for s3://customer-bucket/{Key} without an upload id (destination \"customer-s3\")."));
    }

    [Test]
    public async Task A_part_receipt_holds_the_parts_place_its_ETag_and_the_SHA256_of_its_bytes()
    {
        var (_, parts) = await UploadAsync(Open());

        Assert.That(parts, Is.EqualTo(new[]
        {
            new PartReceipt(1, 0, 5 * MiB, $"\"{Md5(File.AsSpan(0, 5 * MiB))}\"", Sha256(File.AsSpan(0, 5 * MiB))),
            new PartReceipt(2, 5 * MiB, 100, $"\"{Md5(File.AsSpan(5 * MiB))}\"", Sha256(File.AsSpan(5 * MiB))),
        }));
    }

    [Test]
    public async Task In_compatibility_mode_a_part_receipt_holds_no_checksum_because_none_was_sent()
    {
        var destination = Open(compatibility: true);
        var (_, parts) = await UploadAsync(destination);
        var small = await destination.StartFileAsync("exports/b.csv", 3, Csv, CancellationToken.None);
        var single = await destination.UploadPartAsync("exports/b.csv", small, 1, 0, "a,b"u8.ToArray(), CancellationToken.None);

        Assert.That(parts.Select(p => p.Sha256Base64), Is.EqualTo(new[] { "", "" }));
        Assert.That(single, Is.EqualTo(new PartReceipt(1, 0, 3, $"\"{Md5("a,b"u8)}\"", "")));
    }

    [TestCase(2, 0)]
    [TestCase(1, 5)]
    public async Task A_single_put_file_accepts_only_part_1_at_offset_0(int partNumber, long offset)
    {
        var destination = Open();
        var id = await destination.StartFileAsync(Key, 10, Csv, CancellationToken.None);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => destination.UploadPartAsync(Key, id, partNumber, offset, "a,b"u8.ToArray(), CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo($"s3://customer-bucket/{Key} is sent in one request, but part {partNumber} at offset {offset} was uploaded."));
        Assert.That(S3.Requests, Is.Empty);
    }

    [Test]
    public async Task A_part_number_below_1_is_a_bug_refused_before_anything_is_sent()
    {
        var destination = Open();
        var id = await destination.StartFileAsync(Key, File.Length, Csv, CancellationToken.None);

        Assert.That(() => destination.UploadPartAsync(Key, id, 0, 0, File.AsMemory(0, 5 * MiB), CancellationToken.None), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(new[] { "CreateMultipartUpload" }));
    }

    [Test]
    public async Task A_part_stored_without_an_ETag_fails_the_file()
    {
        S3.Tamper = (r, answer) => r.Method == "PUT" && r.QueryValue("partNumber") == "2" ? new StubResponse(200) : answer;
        var destination = Open();
        var id = await destination.StartFileAsync(Key, File.Length, Csv, CancellationToken.None);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadPartAsync(Key, id, 2, 5 * MiB, File.AsMemory(5 * MiB), CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo($"{S3.Endpoint} stored part 2 of s3://customer-bucket/{Key} but answered without an ETag (destination \"customer-s3\")."));
    }

    [Test]
    public async Task A_single_put_answered_without_an_ETag_fails_the_file()
    {
        S3.Tamper = (r, answer) => r.Method == "PUT" ? new StubResponse(200) : answer;
        var destination = Open();
        var id = await destination.StartFileAsync(Key, 3, Csv, CancellationToken.None);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.UploadPartAsync(Key, id, 1, 0, "a,b"u8.ToArray(), CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo($"{S3.Endpoint} stored part 1 of s3://customer-bucket/{Key} but answered without an ETag (destination \"customer-s3\")."));
    }

    private static IEnumerable<TestCaseData> HandOversThatAreBugs()
    {
        yield return new TestCaseData(Array.Empty<PartReceipt>(), 10L, "no parts").SetName("Completing without parts is a bug");
        yield return new TestCaseData(new[] { new PartReceipt(3, 10, 5, "\"e\"", ""), new PartReceipt(1, 0, 5, "\"e\"", "") }, 10L,
            "part numbers 1,3 are not 1..2").SetName("Completing with a part missing is a bug");
        yield return new TestCaseData(new[] { new PartReceipt(2, 0, 5, "\"e\"", ""), new PartReceipt(3, 5, 5, "\"e\"", "") }, 10L,
            "part numbers 2,3 are not 1..2").SetName("Completing without part 1 is a bug");
        yield return new TestCaseData(new[] { new PartReceipt(2, 5, 5, "\"e\"", ""), new PartReceipt(1, 0, 5, "\"e\"", "") }, 11L,
            "parts hold 10 bytes, the file 11").SetName("Completing with parts shorter than the file is a bug");
    }

    [TestCaseSource(nameof(HandOversThatAreBugs))]
    public void Completing_parts_that_are_not_1_to_N_covering_the_file_is_a_bug_named_in_the_error(PartReceipt[] parts, long length, string problem)
    {
        Assert.That(() => Open().CompleteFileAsync(Key, "upload-9", parts, length, CancellationToken.None),
            Throws.InvalidOperationException.With.Message.EqualTo($"Cannot complete s3://customer-bucket/{Key}: {problem}."));
        Assert.That(S3.Requests, Is.Empty);
    }

    [Test]
    public async Task A_completion_answered_and_read_back_with_other_ETags_names_each_in_the_order_seen()
    {
        const string answered = "00000000000000000000000000000000-2", headed = "11111111111111111111111111111111-2";
        S3.Tamper = (r, answer) => IsCompletion(r)
            ? Completed($"<ETag>\"{answered}\"</ETag>")
            : r.Method == "HEAD" ? WithHeader(answer, "ETag", $"\"{headed}\"") : answer;
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None));

        var expected = MultipartETagOf(File, 5 * MiB);
        Assert.That(error!.Message, Is.EqualTo($"s3://customer-bucket/{Key}: the store completed a 5,242,980-byte object with " +
            $"ETag \"{answered}\", expected \"{expected}\", ETag \"{headed}\", expected \"{expected}\" (destination \"customer-s3\"). {Hint}"));
    }

    [Test]
    public async Task A_completion_answered_and_read_back_with_other_checksums_names_each_in_the_order_seen()
    {
        const string answered = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=-2", headed = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=-2";
        S3.Tamper = (r, answer) => IsCompletion(r)
            ? Completed($"<ETag>\"{MultipartETagOf(File, 5 * MiB)}\"</ETag><ChecksumSHA256>{answered}</ChecksumSHA256>")
            : r.Method == "HEAD" ? WithHeader(answer, "x-amz-checksum-sha256", headed) : answer;
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None));

        var composite = ExpectedObject.CompositeSha256(parts);
        Assert.That(error!.Message, Does.StartWith($"s3://customer-bucket/{Key}: the store completed a 5,242,980-byte object with " +
            $"SHA-256 \"{answered}\", expected \"{composite}\", SHA-256 \"{headed}\", expected \"{composite}\" (destination \"customer-s3\")."));
    }

    [Test]
    public async Task A_completion_answered_NoSuchUpload_without_an_object_fails_with_the_explanation_of_the_missing_upload()
    {
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);
        S3.Override = r => IsCompletion(r) ? StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist.") : null;

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith($"The multipart upload {id} of s3://customer-bucket/{Key} no longer exists"));
        Assert.That(S3.Requests.SkipWhile(r => !IsCompletion(r)).Select(FaultInjectingProxy.KindOf), Is.EqualTo(new[] { "CompleteMultipartUpload", "HeadObject" }));
    }

    [Test]
    public async Task A_completion_answered_NoSuchUpload_over_another_object_says_the_store_completed_it_wrongly()
    {
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);
        S3.Override = r => IsCompletion(r) ? StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist.") : null;
        S3.Objects[Key] = new FakeS3.StoredObject(7, "d41d8cd98f00b204e9800998ecf8427e", null);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None));

        Assert.That(error!.Message, Does.EndWith($" The object now at s3://customer-bucket/{Key} is not this upload's result: the store has a 7-byte object, expected 5,242,980 bytes " +
            $"(ETag \"d41d8cd98f00b204e9800998ecf8427e\", expected \"{MultipartETagOf(File, 5 * MiB)}\"). " +
            $"If an earlier attempt completed the upload, the store completed it wrongly. {Hint}"));
        Assert.That(error.InnerException, Is.InstanceOf<Amazon.Runtime.AmazonServiceException>());
    }

    [Test]
    public async Task A_completion_refused_for_a_reason_a_user_must_fix_is_explained()
    {
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);
        S3.Override = r => IsCompletion(r) ? StubResponse.Error(403, "AccessDenied", "Access Denied") : null;

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None));

        Assert.That(error!.Message, Does.Contain($"s3://customer-bucket/{Key}").And.Contain("s3:PutObject"));
        Assert.That(S3.Requests.Count(IsCompletion), Is.EqualTo(1), "not retried");
    }

    [Test]
    public async Task A_file_acknowledged_but_missing_from_the_store_fails_with_the_fix()
    {
        var destination = Open();
        var id = await destination.StartFileAsync(Key, 3, Csv, CancellationToken.None);
        var receipt = await destination.UploadPartAsync(Key, id, 1, 0, "a,b"u8.ToArray(), CancellationToken.None);
        S3.Objects.Clear();

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.CompleteFileAsync(Key, id, [receipt], 3, CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo($"s3://customer-bucket/{Key}: the store acknowledged the file but has no object under its name (destination \"customer-s3\"). " +
            "Fix: check that nothing else (a lifecycle rule, another writer) deletes objects under the prefix, then run the export again."));
    }

    [Test]
    public async Task A_manifest_answered_with_another_checksum_fails()
    {
        S3.Tamper = (r, answer) => r.Method == "PUT" ? WithHeader(answer, "x-amz-checksum-sha256", Sha256("[]"u8)) : answer;

        var error = await Assert.ThrowsAsync<DestinationException>(() => Open().PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), Json, CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo($"s3://customer-bucket/exports/run.manifest.json: the store answered the upload of a 2-byte object with " +
            $"SHA-256 \"{Sha256("[]"u8)}\", expected \"{Sha256("{}"u8)}\" (destination \"customer-s3\"). {Hint}"));
    }

    [Test]
    public async Task In_compatibility_mode_a_checksum_the_store_reports_unasked_is_not_compared()
    {
        // No checksum was sent, so whatever the store computed is not ours to judge.
        S3.Tamper = (r, answer) => r.Method == "PUT" ? WithHeader(answer, "x-amz-checksum-sha256", Sha256("[]"u8)) : answer;
        var destination = Open(compatibility: true);

        await destination.PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), Json, CancellationToken.None);
        var id = await destination.StartFileAsync(Key, 2, Json, CancellationToken.None);
        await destination.UploadPartAsync(Key, id, 1, 0, "{}"u8.ToArray(), CancellationToken.None);

        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf), Is.EqualTo(new[] { "PutObject", "PutObject" }));
    }

    [Test]
    public async Task DSSE_KMS_answers_are_recognised_as_KMS_so_their_ETags_are_not_compared()
    {
        S3.Tamper = (r, answer) => r.Method == "PUT"
            ? WithHeader(WithHeader(answer, "ETag", "\"0123456789abcdef0123456789abcdef\""), "x-amz-server-side-encryption", "aws:kms:dsse")
            : answer;
        var destination = Open();

        await destination.PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), Json, CancellationToken.None);

        Assert.That(S3.Objects.Keys, Is.EquivalentTo(new[] { "exports/run.manifest.json" }));
    }

    [Test]
    public async Task A_read_back_from_a_KMS_bucket_does_not_compare_its_ETag()
    {
        // The bucket's default encryption is SSE-KMS: the HEAD says so, and its ETag is not an MD5.
        S3.Tamper = (r, answer) => r.Method == "HEAD"
            ? WithHeader(WithHeader(answer, "ETag", "\"0123456789abcdef0123456789abcdef-2\""), "x-amz-server-side-encryption", "aws:kms")
            : answer;
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);

        await destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None);

        Assert.That(S3.Requests.Select(FaultInjectingProxy.KindOf).Last(), Is.EqualTo("HeadObject"));
    }

    [Test]
    public async Task Exists_is_true_for_a_stored_object_and_false_for_a_missing_one()
    {
        var destination = Open();
        await destination.PutObjectAsync("exports/run.manifest.json", "{}"u8.ToArray(), Json, CancellationToken.None);

        Assert.That(await destination.ExistsAsync("exports/run.manifest.json", CancellationToken.None), Is.True);
        Assert.That(await destination.ExistsAsync("exports/other.json", CancellationToken.None), Is.False);
    }

    [Test]
    public async Task Starting_completing_and_aborting_an_upload_are_logged_with_its_id_and_object()
    {
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);
        await destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None);
        await destination.AbortFileAsync(Key, "upload-other", CancellationToken.None);

        var entries = _loggers.Entries.Where(e => e.Category == typeof(S3Destination).FullName).ToList();
        Assert.That(entries.Select(e => (e.Level, e.Message)), Is.EqualTo(new[]
        {
            (LogLevel.Debug, $"Started multipart upload {id} of s3://customer-bucket/{Key} (5242980 bytes)"),
            (LogLevel.Debug, $"Completed multipart upload {id} of s3://customer-bucket/{Key}: 2 part(s), 5242980 bytes"),
            (LogLevel.Information, $"Aborted multipart upload upload-other of s3://customer-bucket/{Key}"),
        }));
    }

    [Test]
    public async Task A_completion_an_earlier_attempt_made_is_logged_as_already_completed()
    {
        var destination = Open();
        var (id, parts) = await UploadAsync(destination);
        await destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None);

        await destination.CompleteFileAsync(Key, id, parts, File.Length, CancellationToken.None);

        var last = _loggers.Entries.Last(e => e.Category == typeof(S3Destination).FullName);
        Assert.That((last.Level, last.Message), Is.EqualTo((LogLevel.Information, $"Multipart upload {id} of s3://customer-bucket/{Key} was already completed by an earlier attempt")));
    }
}
