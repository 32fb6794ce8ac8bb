using Amazon.Runtime;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Credentials;
using Pipeline.Tests.Stubs;

namespace Pipeline.S3.Tests.Credentials;

/// <summary>Modes that need no STS: keys from the secret store, caching, and the default chain.</summary>
public class S3CredentialSourceTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    private S3CredentialSource Source(ISecretStore secrets, S3CredentialSourceOptions? options = null, CapturingLoggerFactory? logs = null) =>
        new(secrets, options, (_, _) => throw new AssertionException("these modes never call STS"), null, _time, (logs ?? new()).CreateLogger<S3CredentialSource>());

    [Test]
    public async Task AccessKey_reads_the_customers_key_from_the_named_secret()
    {
        var secrets = new DictionarySecretStore(new() { ["customer-a-s3"] = Destinations.KeyJson("AKIACUSTOMER", "customer-secret") });

        var credentials = await Source(secrets).GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);

        var immutable = await credentials.GetCredentialsAsync();
        Assert.That(immutable.AccessKey, Is.EqualTo("AKIACUSTOMER"));
        Assert.That(immutable.SecretKey, Is.EqualTo("customer-secret"));
        Assert.That(immutable.UseToken, Is.False);
    }

    [Test]
    public async Task A_malformed_key_in_an_environment_variable_is_reported_as_that_variable_not_as_the_secrets_file()
    {
        var environment = new Pipeline.Local.Secrets.EnvironmentSecretStore(name => name == "PIPELINE_SECRET_CUSTOMER_A_S3" ? "SECRETVALUE-12345" : null);
        var file = new DictionarySecretStore(new());
        var secrets = new Pipeline.Local.Secrets.ChainedSecretStore(environment, file);

        var e = await Assert.ThrowsAsync<SecretException>(() => Source(secrets).GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("Secret \"customer-a-s3\" in environment variable PIPELINE_SECRET_CUSTOMER_A_S3 is not valid JSON"));
        Assert.That(e.Message, Does.Not.Contain("SECRETVALUE"));
    }

    [Test]
    public async Task CrossAccount_uses_our_own_key_with_its_session_token()
    {
        var secrets = new DictionarySecretStore(new() { ["our-aws-key"] = Destinations.KeyJson("ASIAOURS", "our-secret", "our-token") });

        var credentials = await Source(secrets).GetCredentialsAsync(Destinations.CrossAccount(), CancellationToken.None);

        var immutable = await credentials.GetCredentialsAsync();
        Assert.That(immutable.AccessKey, Is.EqualTo("ASIAOURS"));
        Assert.That(immutable.Token, Is.EqualTo("our-token"));
    }

    [Test]
    public async Task Keys_are_cached_per_destination_and_read_again_after_the_cache_duration()
    {
        var secrets = new DictionarySecretStore(new() { ["customer-a-s3"] = Destinations.KeyJson("AKIAOLD", "old") });
        var source = Source(secrets, new S3CredentialSourceOptions { SecretCacheDuration = TimeSpan.FromMinutes(15) });

        await source.GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);
        await source.GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);
        await source.GetCredentialsAsync(Destinations.AccessKey(name: "customer-a-eu"), CancellationToken.None);
        Assert.That(secrets.Reads, Is.EqualTo(2), "one read per destination");

        secrets.Values["customer-a-s3"] = Destinations.KeyJson("AKIANEW", "new");
        _time.Advance(TimeSpan.FromMinutes(14));
        var cached = await source.GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);
        Assert.That(cached.GetCredentials().AccessKey, Is.EqualTo("AKIAOLD"));

        _time.Advance(TimeSpan.FromMinutes(1));
        var rotated = await source.GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);
        Assert.That(rotated.GetCredentials().AccessKey, Is.EqualTo("AKIANEW"));
    }

    [Test]
    public async Task Invalidate_reads_the_secret_again_at_once()
    {
        var secrets = new DictionarySecretStore(new() { ["customer-a-s3"] = Destinations.KeyJson("AKIAOLD", "old") });
        var source = Source(secrets);
        await source.GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);
        secrets.Values["customer-a-s3"] = Destinations.KeyJson("AKIANEW", "new");

        ((IS3CredentialSource)source).Invalidate(Destinations.AccessKey());

        var rotated = await source.GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);
        Assert.That(rotated.GetCredentials().AccessKey, Is.EqualTo("AKIANEW"));
    }

    [Test]
    public async Task A_missing_secret_names_the_secret_the_store_and_the_format()
    {
        var secrets = new DictionarySecretStore([]);

        var e = await Assert.ThrowsAsync<SecretException>(() => Source(secrets).GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("Destination \"customer-a\""));
        Assert.That(e.Message, Does.Contain("secret \"customer-a-s3\""));
        Assert.That(e.Message, Does.Contain("the customer's AWS access key"));
        Assert.That(e.Message, Does.Contain("was not found in test store"));
        Assert.That(e.Message, Does.Contain(AccessKeySecret.Format));
    }

    [Test]
    public async Task A_malformed_secret_fails_without_echoing_it_anywhere()
    {
        var logs = new CapturingLoggerFactory();
        var secrets = new DictionarySecretStore(new() { ["our-aws-key"] = """{"accessKeyId": "AKIAOURS", "secretAccessKey": "SECRETVALUE-12345",""" });

        var e = await Assert.ThrowsAsync<SecretException>(() => Source(secrets, logs: logs).GetCredentialsAsync(Destinations.CrossAccount(), CancellationToken.None));

        Assert.That(e!.Message, Does.StartWith("Destination \"customer-b\" (credentials.secretName, our own AWS access key): Secret \"our-aws-key\" in test store is not valid JSON"));
        Assert.That(e.ToString(), Does.Not.Contain("SECRETVALUE").And.Not.Contain("AKIAOURS"));
        Assert.That(logs.Text, Does.Not.Contain("SECRETVALUE").And.Not.Contain("AKIAOURS"));
    }

    [Test]
    public async Task A_failing_store_is_reported_with_the_destination_that_needed_it()
    {
        var e = await Assert.ThrowsAsync<SecretException>(() => Source(new FailingStore()).GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None));

        Assert.That(e!.Message, Is.EqualTo("Destination \"customer-a\" (credentials.secretName, the customer's AWS access key): Key Vault denied customer-a-s3"));
    }

    private sealed class FailingStore : ISecretStore
    {
        public string Describe => "failing";
        public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken) => throw new SecretException($"Key Vault denied {name}");
    }

    [Test]
    public void Options_are_validated_once_with_every_problem()
    {
        var e = Assert.Throws<ArgumentException>(() => new S3CredentialSourceOptions { DurationSeconds = 60, SecretCacheDuration = TimeSpan.FromSeconds(-1), WebIdentityRoleArn = "role" }.Validate());

        Assert.That(e!.Message, Does.Contain("DurationSeconds 60 must be 900..43200"));
        Assert.That(e.Message, Does.Contain("SecretCacheDuration"));
        Assert.That(e.Message, Does.Contain("WebIdentityRoleArn \"role\""));
    }

    [Test]
    [NonParallelizable]
    public async Task Default_mode_uses_the_AWS_default_chain_from_the_environment()
    {
        string[] names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_EC2_METADATA_DISABLED"];
        var saved = names.ToDictionary(n => n, Environment.GetEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "AKIAFROMENV");
            Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "env-secret");
            Environment.SetEnvironmentVariable("AWS_SESSION_TOKEN", "env-token");
            // Never probe instance metadata from a test.
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
            var destination = Destinations.S3("default-dest", new S3DestinationOptions { Credentials = S3CredentialMode.Default });

            var credentials = await Source(new DictionarySecretStore([])).GetCredentialsAsync(destination, CancellationToken.None);

            var immutable = await credentials.GetCredentialsAsync();
            Assert.That(immutable.AccessKey, Is.EqualTo("AKIAFROMENV"));
            Assert.That(immutable.Token, Is.EqualTo("env-token"));
        }
        finally
        {
            foreach (var (name, value) in saved) Environment.SetEnvironmentVariable(name, value);
        }
    }

    [Test]
    public async Task ToString_of_returned_credentials_prints_no_key()
    {
        var secrets = new DictionarySecretStore(new() { ["customer-a-s3"] = Destinations.KeyJson("AKIACUSTOMER", "SECRETVALUE-12345") });

        var credentials = await Source(secrets).GetCredentialsAsync(Destinations.AccessKey(), CancellationToken.None);

        Assert.That(credentials.ToString(), Does.Not.Contain("SECRETVALUE"));
        Assert.That(credentials.GetCredentials().ToString(), Does.Not.Contain("SECRETVALUE"));
    }
}
