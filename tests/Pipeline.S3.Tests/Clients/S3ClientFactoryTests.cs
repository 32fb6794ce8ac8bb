using Amazon.Runtime;
using Amazon.S3;
using Pipeline.Engine.Configuration;
using Pipeline.S3.Clients;
using Pipeline.S3.Credentials;
using Pipeline.S3.Resilience;
using Pipeline.S3.Tests.Infrastructure;

namespace Pipeline.S3.Tests.Clients;

public sealed class S3ClientFactoryTests
{
    private static Func<string, string?> Env(params (string Name, string Value)[] values) =>
        name => values.Where(v => v.Name == name).Select(v => v.Value).FirstOrDefault()
                ?? (name == "AWS_PROFILE" ? "pipeline-tests-no-such-profile" : null);

    [Test]
    public void The_region_comes_from_options_then_AWS_REGION_then_AWS_DEFAULT_REGION_then_us_east_1()
    {
        var env = Env(("AWS_REGION", "eu-west-3"), ("AWS_DEFAULT_REGION", "eu-north-1"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions { Region = "ap-south-1" }, env).Region, Is.EqualTo("ap-south-1"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions(), env).Region, Is.EqualTo("eu-west-3"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions(), Env(("AWS_DEFAULT_REGION", "eu-north-1"))).Region, Is.EqualTo("eu-north-1"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions(), Env()).Region, Is.EqualTo("us-east-1"));
    }

    [Test]
    public void The_endpoint_comes_from_options_then_AWS_ENDPOINT_URL_S3_then_AWS_ENDPOINT_URL_else_AWS()
    {
        var env = Env(("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000"), ("AWS_ENDPOINT_URL", "http://localhost:4566"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions { Endpoint = "https://s3.example.net/" }, env).Endpoint, Is.EqualTo("https://s3.example.net"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions(), env).Endpoint, Is.EqualTo("http://127.0.0.1:9000"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions(), Env(("AWS_ENDPOINT_URL", "http://localhost:4566"))).Endpoint, Is.EqualTo("http://localhost:4566"));
        Assert.That(S3Connection.Resolve(new S3DestinationOptions(), Env()).Endpoint, Is.Null);
    }

    [TestCase("http://127.0.0.1:9000", true)]
    [TestCase("http://[::1]:9000", true)]
    [TestCase("http://localhost:4566", true)]
    [TestCase("http://minio.localhost", true)]
    [TestCase("https://s3.eu-central-1.amazonaws.com", false)]
    [TestCase("https://storage.example.com", false)]
    public void Path_style_is_automatic_for_IP_literal_and_localhost_endpoints(string endpoint, bool pathStyle) =>
        Assert.That(S3Connection.Resolve(new S3DestinationOptions { Endpoint = endpoint }, Env()).PathStyle, Is.EqualTo(pathStyle));

    [Test]
    public void An_explicit_path_style_setting_wins()
    {
        Assert.That(S3Connection.Resolve(new S3DestinationOptions { Endpoint = "http://127.0.0.1:9000", PathStyle = false }, Env()).PathStyle, Is.False);
        Assert.That(S3Connection.Resolve(new S3DestinationOptions { Endpoint = "https://storage.example.com", PathStyle = true }, Env()).PathStyle, Is.True);
        Assert.That(S3Connection.Resolve(new S3DestinationOptions(), Env()).PathStyle, Is.False, "AWS itself: virtual-hosted");
    }

    [TestCase("us-east-1", "aws")]
    [TestCase("cn-north-1", "aws-cn")]
    [TestCase("us-gov-west-1", "aws-us-gov")]
    public void The_ARN_partition_follows_the_region(string region, string partition) =>
        Assert.That(new S3Connection(region, null, false, false).Partition, Is.EqualTo(partition));

    [Test]
    public void SDK_retries_are_off_and_timeouts_come_from_the_retry_options()
    {
        var retry = new S3RetryOptions { AttemptTimeout = TimeSpan.FromMinutes(2), ConnectTimeout = TimeSpan.FromSeconds(7) };
        var config = S3ClientFactory.CreateConfig(new S3Connection("eu-west-1", null, false, false), retry);

        Assert.That(config.MaxErrorRetry, Is.Zero);
        Assert.That(config.Timeout, Is.GreaterThanOrEqualTo(retry.AttemptTimeout), "Polly's per-attempt timeout fires first");
        Assert.That(config.ConnectTimeout, Is.EqualTo(TimeSpan.FromSeconds(7)));
        Assert.That(config.AllowAutoRedirect, Is.False);
        Assert.That(config.RegionEndpoint?.SystemName, Is.EqualTo("eu-west-1"));
        Assert.That(config.RequestChecksumCalculation, Is.EqualTo(RequestChecksumCalculation.WHEN_SUPPORTED));
    }

    [Test]
    public void A_custom_endpoint_signs_for_the_region_and_compatibility_mode_checksums_only_when_required()
    {
        var config = S3ClientFactory.CreateConfig(new S3Connection("eu-central-1", "http://127.0.0.1:9000", true, true), new S3RetryOptions());

        Assert.That(config.ServiceURL, Does.StartWith("http://127.0.0.1:9000"));
        Assert.That(config.AuthenticationRegion, Is.EqualTo("eu-central-1"));
        Assert.That(config.ForcePathStyle, Is.True);
        Assert.That(config.RequestChecksumCalculation, Is.EqualTo(RequestChecksumCalculation.WHEN_REQUIRED));
        Assert.That(config.ResponseChecksumValidation, Is.EqualTo(ResponseChecksumValidation.WHEN_REQUIRED));
    }

    private sealed class RotatingCredentials : IS3CredentialSource
    {
        public AWSCredentials Current { get; set; } = new BasicAWSCredentials("a", "a");

        public Task<AWSCredentials> GetCredentialsAsync(DestinationSpec destination, CancellationToken cancellationToken) => Task.FromResult(Current);
    }

    [Test]
    public async Task Clients_are_cached_per_connection_and_credentials()
    {
        var credentials = new RotatingCredentials();
        using var factory = new S3ClientFactory(credentials, environment: S3TestKit.NoEnvironment);
        var spec = S3TestKit.Spec("http://127.0.0.1:9000", "bucket-one");

        var first = await factory.GetClientAsync(spec, CancellationToken.None);
        var again = await factory.GetClientAsync(spec with { Location = "another-bucket", Name = "other" }, CancellationToken.None);
        var otherRegion = await factory.GetClientAsync(spec with { S3 = spec.S3! with { Region = "eu-west-1" } }, CancellationToken.None);
        credentials.Current = new BasicAWSCredentials("b", "b");
        var rotated = await factory.GetClientAsync(spec, CancellationToken.None);

        Assert.That(again, Is.SameAs(first), "same endpoint, region and credentials: one client");
        Assert.That(otherRegion, Is.Not.SameAs(first));
        Assert.That(rotated, Is.Not.SameAs(first), "new credentials: a new client");
        Assert.That(((AmazonS3Client)first).Config.MaxErrorRetry, Is.Zero);
    }
}
