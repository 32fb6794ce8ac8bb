using Amazon.Runtime;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Credentials;
using Pipeline.S3.Delivery;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;
using S3Encryption = Pipeline.Engine.Configuration.S3Encryption;

namespace Pipeline.S3.Tests.Delivery;

/// <summary>
/// Refusals a user must fix: one request, no retry, and a message that names the bucket, the key, the
/// destination and the fix (permission, region, credentials secret), never a secret value.
/// </summary>
public sealed class S3ErrorTests
{
    private const string SecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETVALUE";
    private const string AccessKeyId = "AKIAIOSFODNN7EXAMPLE";

    private FakeS3 _s3 = null!;
    private S3DestinationFactory _factory = null!;
    private ListLoggerFactory _logs = null!;

    [SetUp]
    public void SetUp()
    {
        _s3 = new FakeS3();
        _logs = new ListLoggerFactory();
        _factory = new S3DestinationFactory(new FixedKey(), _logs, TimeProvider.System, FastRetries(maxRetries: 5), NoEnvironment);
    }

    [TearDown]
    public async Task TearDown()
    {
        // Null-safe: a failed setup leaves them unset, and its error is the one to see.
        _factory?.Dispose();
        _logs?.Dispose();
        if (_s3 is not null) await _s3.DisposeAsync();
    }

    private sealed class FixedKey : IS3CredentialSource
    {
        public Task<AWSCredentials> GetCredentialsAsync(DestinationSpec destination, CancellationToken cancellationToken) =>
            Task.FromResult<AWSCredentials>(new BasicAWSCredentials(AccessKeyId, SecretKey));
    }

    private S3Destination Open(Func<S3DestinationOptions, S3DestinationOptions>? change = null) =>
        _factory.OpenS3(Spec(_s3.Endpoint, "customer-bucket", "exports/daily/", change));

    private Task Put(S3Destination destination) =>
        destination.PutObjectAsync("exports/daily/run.manifest.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None);

    private Task<string> Start(S3Destination destination) =>
        destination.StartFileAsync("exports/daily/a.csv.gz", 50 * MiB, new ObjectProperties("text/csv", "gzip"), CancellationToken.None);

    private void AssertNoSecrets(Exception e)
    {
        Assert.That(e.ToString(), Does.Not.Contain(SecretKey).And.Not.Contain(AccessKeyId));
        Assert.That(_logs.Entries.Select(l => l.Message), Has.None.Contains(SecretKey));
    }

    [Test]
    public async Task Access_denied_names_the_object_and_the_permission_to_grant_and_is_not_retried()
    {
        _s3.Override = _ => StubResponse.Error(403, "AccessDenied", "User: arn:aws:iam::123456789012:user/exporter is not authorized to perform: s3:PutObject");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Put(Open(o => o with { Credentials = S3CredentialMode.AccessKey, SecretName = "acme-s3-key" })));

        Assert.That(error!.Message, Does.Contain("s3://customer-bucket/exports/daily/run.manifest.json")
            .And.Contain("destination \"customer-s3\"")
            .And.Contain("s3:PutObject on arn:aws:s3:::customer-bucket/exports/daily/*")
            .And.Contain("secret \"acme-s3-key\""));
        Assert.That(_s3.Requests, Has.Count.EqualTo(1), "no retry");
        AssertNoSecrets(error);
    }

    [Test]
    public async Task Access_denied_in_cross_account_mode_names_PutObjectAcl_and_the_expected_owner()
    {
        _s3.Override = _ => StubResponse.Error(403, "AccessDenied", "Access Denied");

        var error = await Assert.ThrowsAsync<DestinationException>(() =>
            Start(Open(o => o with { Credentials = S3CredentialMode.CrossAccount, BucketOwnerAccountId = "111122223333", SecretName = "our-key" })));

        Assert.That(error!.Message, Does.Contain("s3:PutObject and s3:PutObjectAcl").And.Contain("bucket policy of customer-bucket").And.Contain("111122223333"));
        Assert.That(_s3.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Access_denied_with_KMS_encryption_names_the_key_permissions()
    {
        _s3.Override = _ => StubResponse.Error(403, "AccessDenied", "Access Denied");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Start(Open(o => o with { Encryption = S3Encryption.Kms, KmsKeyId = "alias/exports" })));

        Assert.That(error!.Message, Does.Contain("kms:GenerateDataKey and kms:Decrypt on key alias/exports"));
    }

    [Test]
    public async Task Access_denied_on_abort_names_AbortMultipartUpload()
    {
        _s3.Override = r => r.Method == "DELETE" ? StubResponse.Error(403, "AccessDenied", "Access Denied") : null;
        var destination = Open();
        var id = await Start(destination);

        var error = await Assert.ThrowsAsync<DestinationException>(() => destination.AbortFileAsync("exports/daily/a.csv.gz", id, CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("s3:AbortMultipartUpload on arn:aws:s3:::customer-bucket/exports/daily/*"));
    }

    [Test]
    public async Task A_missing_bucket_is_named_and_not_retried()
    {
        _s3.Override = _ => StubResponse.Error(404, "NoSuchBucket", "The specified bucket does not exist");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Start(Open()));

        Assert.That(error!.Message, Does.Contain("Bucket \"customer-bucket\" does not exist").And.Contain(_s3.Endpoint).And.Contain("check \"bucket\""));
        Assert.That(_s3.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_bucket_in_another_region_names_that_region_from_the_redirect_and_is_not_retried()
    {
        _s3.Override = _ => StubResponse.Error(301, "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint.",
            new Dictionary<string, string> { ["x-amz-bucket-region"] = "eu-west-1" },
            "<Endpoint>customer-bucket.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>customer-bucket</Bucket>");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Put(Open()));

        Assert.That(error!.Message, Does.Contain("Bucket \"customer-bucket\" is in region eu-west-1")
            .And.Contain("uses region us-east-1").And.Contain("set \"region\": \"eu-west-1\" on destination \"customer-s3\""));
        Assert.That(_s3.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_region_mismatch_in_the_signature_names_the_region_S3_expected()
    {
        _s3.Override = _ => StubResponse.Error(400, "AuthorizationHeaderMalformed",
            "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-southeast-2'", extra: "<Region>ap-southeast-2</Region>");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Put(Open()));

        Assert.That(error!.Message, Does.Contain("is in region ap-southeast-2").And.Contain("\"region\": \"ap-southeast-2\""));
        Assert.That(_s3.Requests, Has.Count.EqualTo(1));
    }

    [TestCase("InvalidAccessKeyId", "the access key id does not exist")]
    [TestCase("SignatureDoesNotMatch", "the secret access key does not match")]
    [TestCase("ExpiredToken", "the session token has expired")]
    public async Task Rejected_credentials_name_the_secret_but_never_its_value(string code, string explanation)
    {
        _s3.Override = _ => StubResponse.Error(403, code, $"stub message quoting {AccessKeyId}");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Put(Open(o => o with { Credentials = S3CredentialMode.AccessKey, SecretName = "acme-s3-key" })));

        Assert.That(error!.Message, Does.Contain(explanation).And.Contain("secret \"acme-s3-key\"").And.Contain("destination \"customer-s3\""));
        Assert.That(error.Message, Does.Not.Contain(AccessKeyId), "S3's own text is not repeated");
        Assert.That(_s3.Requests, Has.Count.EqualTo(1));
        Assert.That(_logs.Entries.Select(l => l.Message), Has.None.Contains(SecretKey));
    }

    [Test]
    public async Task An_unsupported_storage_class_names_the_setting()
    {
        _s3.Override = _ => StubResponse.Error(400, "InvalidStorageClass", "The storage class you specified is not valid");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Put(Open(o => o with { StorageClass = "GLACIER_FAST" })));

        Assert.That(error!.Message, Does.Contain("storage class \"GLACIER_FAST\"").And.Contain("\"storageClass\""));
    }

    [Test]
    public async Task Any_other_client_error_is_permanent_and_names_the_code()
    {
        _s3.Override = _ => StubResponse.Error(400, "InvalidArgument", "Invalid argument.");

        var error = await Assert.ThrowsAsync<DestinationException>(() => Put(Open()));

        Assert.That(error!.Message, Does.Contain("400 InvalidArgument").And.Contain("s3://customer-bucket/exports/daily/run.manifest.json"));
        Assert.That(_s3.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_part_for_an_upload_that_was_swept_says_so()
    {
        _s3.Override = r => r.Method == "PUT" ? StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist.") : null;
        var destination = Open();
        var id = await Start(destination);

        var error = await Assert.ThrowsAsync<DestinationException>(() =>
            destination.UploadPartAsync("exports/daily/a.csv.gz", id, 1, 0, Data(1000), CancellationToken.None));

        Assert.That(error!.Message, Does.Contain($"upload {id}").And.Contain("no longer exists").And.Contain("AbortIncompleteMultipartUpload"));
    }

    [Test]
    public async Task Aborting_an_upload_that_is_gone_succeeds()
    {
        _s3.Override = r => r.Method == "DELETE" ? StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist.") : null;

        await Open().AbortFileAsync("exports/daily/a.csv.gz", "gone-upload", CancellationToken.None);

        Assert.That(_s3.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Aborting_a_single_put_file_sends_nothing()
    {
        var destination = Open();
        var id = await destination.StartFileAsync("exports/daily/s.csv", 100, new ObjectProperties("text/csv", null), CancellationToken.None);

        await destination.AbortFileAsync("exports/daily/s.csv", id, CancellationToken.None);

        Assert.That(_s3.Requests, Is.Empty);
    }

    /// <summary>MD5 of the two part MD5s (binary, concatenated), "-2": worked out by hand, not by the code under test.</summary>
    private const string TwoPartsETag = "\"96e024ba2074fe77e8e965ba43a704be-2\"";

    private static readonly PartReceipt[] TwoParts =
    [
        new(1, 0, 5 * MiB, "\"0cc175b9c0f1b6a831c399e269772661\"", "sha1"),
        new(2, 5 * MiB, 100, "\"92eb5ffee6ae2fec3ad71c777531578f\"", "sha2"),
    ];

    [Test]
    public async Task A_completion_answered_NoSuchUpload_succeeds_when_HEAD_shows_this_uploads_object()
    {
        _s3.Override = r => r.Method switch
        {
            "POST" => StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist."),
            "HEAD" => new StubResponse(200, new Dictionary<string, string>
            {
                ["Content-Length"] = (5 * MiB + 100).ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["ETag"] = TwoPartsETag,
            }),
            _ => null,
        };

        await Open().CompleteFileAsync("exports/daily/a.csv.gz", "done-before", TwoParts, 5 * MiB + 100, CancellationToken.None);

        Assert.That(_s3.Requests.Select(r => r.Method), Is.EqualTo(new[] { "POST", "HEAD" }));
    }

    [TestCase(5 * MiB + 99, null, TestName = "A completion answered NoSuchUpload fails when the object has another length")]
    [TestCase(5 * MiB + 100, "\"ffffffffffffffffffffffffffffffff-2\"", TestName = "A completion answered NoSuchUpload fails when the object is another upload's")]
    public void A_completion_answered_NoSuchUpload_fails_when_the_object_is_not_this_uploads(long length, string? etag)
    {
        _s3.Override = r => r.Method switch
        {
            "POST" => StubResponse.Error(404, "NoSuchUpload", "The specified upload does not exist."),
            "HEAD" => new StubResponse(200, new Dictionary<string, string>
            {
                ["Content-Length"] = length.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["ETag"] = etag ?? TwoPartsETag,
            }),
            _ => null,
        };

        Assert.That(() => Open().CompleteFileAsync("exports/daily/a.csv.gz", "gone", TwoParts, 5 * MiB + 100, CancellationToken.None),
            Throws.TypeOf<DestinationException>().With.Message.Contains("upload gone").And.Message.Contains("no longer exists"));
    }

    [Test]
    public void Completing_with_a_gap_in_the_parts_is_a_bug_not_a_user_error()
    {
        Assert.That(() => Open().CompleteFileAsync("exports/daily/a.csv.gz", "u", [TwoParts[1]], 100, CancellationToken.None),
            Throws.InvalidOperationException.With.Message.Contains("not 1..1"));
        Assert.That(_s3.Requests, Is.Empty);
    }

    [Test]
    public async Task Completing_a_single_put_file_that_the_store_does_not_have_says_so_after_one_HEAD()
    {
        var destination = Open();
        var id = await destination.StartFileAsync("exports/daily/s.csv", 1, new ObjectProperties("text/csv", null), CancellationToken.None);

        var error = await Assert.ThrowsAsync<DestinationException>(() =>
            destination.CompleteFileAsync("exports/daily/s.csv", id, [new PartReceipt(1, 0, 1, "\"0cc175b9c0f1b6a831c399e269772661\"", "")], 1, CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("s3://customer-bucket/exports/daily/s.csv: the store acknowledged the file but has no object under its name"));
        Assert.That(_s3.Requests.Select(r => r.Method), Is.EqualTo(new[] { "HEAD" }));
    }

    [Test]
    public async Task A_denied_HEAD_names_GetObject_and_the_ListBucket_caveat()
    {
        _s3.Override = r => r.Method == "HEAD" ? new StubResponse(403) : null;

        var error = await Assert.ThrowsAsync<DestinationException>(() => Open().ExistsAsync("exports/daily/x", CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("s3:GetObject").And.Contain("s3:ListBucket"));
    }

    [Test]
    public async Task Cancellation_stops_at_once_without_retrying()
    {
        var held = new TaskCompletionSource();
        await using var stalled = new LoopbackHttpServer(async (r, ct) =>
        {
            held.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return StubResponse.Drop;
        });
        using var cancel = new CancellationTokenSource();
        var destination = _factory.OpenS3(Spec(stalled.Endpoint, "customer-bucket"));

        var put = destination.PutObjectAsync("m.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), cancel.Token);
        await held.Task;
        await cancel.CancelAsync();

        Assert.That(async () => await put, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(stalled.Requests, Has.Count.EqualTo(1));
    }
}
