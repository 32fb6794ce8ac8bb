using Amazon.Runtime;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Credentials;
using Pipeline.S3.Delivery;
using Pipeline.S3.Probing;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Probing;

public sealed class S3DestinationProbeTests : FakeS3Fixture
{

    private Task<IReadOnlyList<ProbeFinding>> Probe(Func<S3DestinationOptions, S3DestinationOptions>? change = null, S3DestinationFactory? factory = null) =>
        new S3DestinationProbe(factory ?? Destinations).ProbeAsync(Spec(S3.Endpoint, "customer-bucket", "exports/", change), CancellationToken.None);

    private static ProbeFinding Finding(IReadOnlyList<ProbeFinding> findings, string check) => findings.Last(f => f.Check == check);

    [Test]
    public async Task A_writable_bucket_passes_every_check_and_the_probe_object_is_removed()
    {
        var findings = await Probe();

        Assert.That(findings.Select(f => (f.Check, f.Status)), Is.EqualTo(new[]
        {
            ("credentials", ProbeStatus.Ok), ("bucket", ProbeStatus.Ok), ("write", ProbeStatus.Ok), ("cleanup", ProbeStatus.Ok),
            ("multipart", ProbeStatus.Ok), ("sweep", ProbeStatus.Ok),
        }));
        Assert.That(S3.Objects, Is.Empty, "the probe object was deleted");
        var put = S3.Requests.Single(r => r.Method == "PUT");
        Assert.That(put.Path, Does.StartWith("/customer-bucket/exports/.pipeline-probe-"));
    }

    [Test]
    public async Task Cross_account_probes_write_with_the_owner_ACL_and_send_the_expected_owner_everywhere()
    {
        var findings = await Probe(o => o with { Credentials = S3CredentialMode.CrossAccount, BucketOwnerAccountId = "111122223333", SecretName = "our-key" });

        Assert.That(findings.Select(f => f.Status), Has.All.EqualTo(ProbeStatus.Ok));
        Assert.That(S3.Requests.Select(r => r.Header("x-amz-expected-bucket-owner")), Has.All.EqualTo("111122223333"));
        Assert.That(S3.Requests.Where(r => r.Method == "PUT" || r.HasQuery("uploads") && r.Method == "POST").Select(r => r.Header("x-amz-acl")),
            Has.All.EqualTo("bucket-owner-full-control"));
        Assert.That(Finding(findings, "write").Message, Does.Contain("ACL bucket-owner-full-control").And.Contain("111122223333"));
    }

    [Test]
    public async Task A_denied_write_is_a_problem_with_the_IAM_statement_to_add()
    {
        S3.Override = r => r.Method == "PUT" ? StubResponse.Error(403, "AccessDenied", "Access Denied") : null;

        var findings = await Probe(o => o with { Credentials = S3CredentialMode.AccessKey, SecretName = "acme-key" });

        var write = Finding(findings, "write");
        Assert.That(write.Status, Is.EqualTo(ProbeStatus.Problem));
        Assert.That(write.Message, Does.Contain("s3:PutObject"));
        Assert.That(write.Fix, Does.Contain("IAM policy of the user whose access key is in secret \"acme-key\"")
            .And.Contain("\"Action\": [\"s3:PutObject\"]").And.Contain("\"Resource\": \"arn:aws:s3:::customer-bucket/exports/*\""));
        Assert.That(findings.Select(f => f.Check), Does.Not.Contain("multipart"), "nothing else is tried once writing fails");
    }

    [Test]
    public async Task A_denied_cross_account_write_asks_the_bucket_owner_for_a_bucket_policy_statement()
    {
        S3.Override = r => r.Method == "PUT" ? StubResponse.Error(403, "AccessDenied", "Access Denied") : null;

        var findings = await Probe(o => o with { Credentials = S3CredentialMode.CrossAccount, BucketOwnerAccountId = "111122223333", SecretName = "our-key" });

        Assert.That(Finding(findings, "write").Fix, Does.Contain("bucket policy of customer-bucket").And.Contain("\"Principal\"")
            .And.Contain("\"s3:PutObject\", \"s3:PutObjectAcl\""));
    }

    private static bool IsBucketLevel(CapturedRequest r) => (r.Method == "HEAD" && !r.Path.Trim('/').Contains('/', StringComparison.Ordinal)) || r.HasQuery("location");

    [Test]
    public async Task A_bucket_in_another_region_is_a_problem_naming_that_region()
    {
        S3.Override = r => IsBucketLevel(r)
            ? StubResponse.Error(301, "PermanentRedirect", "moved", new Dictionary<string, string> { ["x-amz-bucket-region"] = "eu-west-1" })
            : null;

        var findings = await Probe();

        var region = Finding(findings, "region");
        Assert.That(region.Status, Is.EqualTo(ProbeStatus.Problem));
        Assert.That(region.Message, Does.Contain("is in region eu-west-1").And.Contain("uses region us-east-1"));
        Assert.That(region.Fix, Does.Contain("\"region\": \"eu-west-1\""));
        Assert.That(findings.Select(f => f.Check), Does.Not.Contain("write"), "nothing else is tried in the wrong region");
    }

    [Test]
    public async Task A_missing_bucket_is_a_problem()
    {
        S3.Override = r => IsBucketLevel(r) ? StubResponse.Error(404, "NoSuchBucket", "The specified bucket does not exist") : null;

        var findings = await Probe();

        Assert.That(Finding(findings, "bucket").Status, Is.EqualTo(ProbeStatus.Problem));
        Assert.That(Finding(findings, "bucket").Message, Does.Contain("\"customer-bucket\" does not exist"));
    }

    [Test]
    public async Task Rejected_credentials_are_a_credentials_problem()
    {
        S3.Override = _ => StubResponse.Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");

        var findings = await Probe(o => o with { Credentials = S3CredentialMode.AccessKey, SecretName = "acme-key" });

        Assert.That(Finding(findings, "credentials").Status, Is.EqualTo(ProbeStatus.Problem));
        Assert.That(Finding(findings, "credentials").Message, Does.Contain("secret \"acme-key\""));
    }

    [Test]
    public async Task Without_GetBucketLocation_HeadBucket_checks_the_bucket()
    {
        S3.Override = r => r.HasQuery("location") ? StubResponse.Error(403, "AccessDenied", "Access Denied") : null;

        var findings = await Probe();

        Assert.That(findings.Select(f => f.Status), Has.All.EqualTo(ProbeStatus.Ok));
        Assert.That(S3.Requests.Select(r => r.Method).Take(2), Is.EqualTo(new[] { "GET", "HEAD" }));
    }

    [Test]
    public async Task Without_either_bucket_permission_the_region_is_unchecked_but_the_write_checks_still_run()
    {
        S3.Override = r => IsBucketLevel(r) ? (r.Method == "HEAD" ? new StubResponse(403) : StubResponse.Error(403, "AccessDenied", "Access Denied")) : null;

        var findings = await Probe();

        Assert.That(Finding(findings, "bucket").Status, Is.EqualTo(ProbeStatus.Warning));
        Assert.That(Finding(findings, "bucket").Fix, Does.Contain("s3:GetBucketLocation").And.Contain("arn:aws:s3:::customer-bucket\""));
        Assert.That(Finding(findings, "write").Status, Is.EqualTo(ProbeStatus.Ok));
    }

    [Test]
    public async Task A_denied_delete_or_listing_is_a_warning_and_a_denied_abort_is_a_problem()
    {
        S3.Override = r => r.Method == "DELETE" || (r.Method == "GET" && r.HasQuery("uploads")) ? StubResponse.Error(403, "AccessDenied", "Access Denied") : null;

        var findings = await Probe();

        Assert.That(Finding(findings, "cleanup").Status, Is.EqualTo(ProbeStatus.Warning));
        Assert.That(Finding(findings, "cleanup").Fix, Does.Contain("s3:DeleteObject"));
        Assert.That(Finding(findings, "abort").Status, Is.EqualTo(ProbeStatus.Problem));
        Assert.That(Finding(findings, "abort").Fix, Does.Contain("s3:AbortMultipartUpload"));
        Assert.That(Finding(findings, "sweep").Status, Is.EqualTo(ProbeStatus.Warning));
        Assert.That(Finding(findings, "sweep").Fix, Does.Contain("s3:ListBucketMultipartUploads").And.Contain("arn:aws:s3:::customer-bucket\""));
    }

    private sealed class MissingSecret : IS3CredentialSource
    {
        public Task<AWSCredentials> GetCredentialsAsync(DestinationSpec destination, CancellationToken cancellationToken) =>
            throw new SecretException("Secret \"acme-key\" is not in the local secrets file.");
    }

    [Test]
    public async Task A_credentials_failure_is_the_only_finding()
    {
        using var factory = new S3DestinationFactory(new MissingSecret(), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, TimeProvider.System,
            FastRetries(), NoEnvironment);

        var findings = await Probe(factory: factory);

        Assert.That(findings, Has.Count.EqualTo(1));
        Assert.That(findings[0], Is.EqualTo(new ProbeFinding(ProbeStatus.Problem, "credentials", "Secret \"acme-key\" is not in the local secrets file.")));
        Assert.That(S3.Requests, Is.Empty);
    }
}
