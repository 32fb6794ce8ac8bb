using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using Azure.Core.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Azure.Federation;
using Pipeline.Azure.Secrets;
using Pipeline.Azure.Tests.Secrets;
using Pipeline.Azure.Tests.Stubs;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Local.Secrets;
using Pipeline.S3.Credentials;
using Pipeline.Tests.Stubs;

namespace Pipeline.Azure.Tests;

/// <summary>
/// One known secret value goes through every failing path we own: malformed secrets (environment, file,
/// Key Vault), STS AccessDenied and SignatureDoesNotMatch, a rejected web identity token, and Key Vault
/// 403. It must not appear in any exception's message or ToString, in our logs, or in the Azure SDK's
/// own event logs.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public class SecretLeakTests
{
    private const string Known = "SECRETVALUE-12345";
    private const string KeyId = "AKIALEAKTEST00000001";
    private const string RoleArn = "arn:aws:iam::123456789012:role/audience-export";

    [Test]
    public async Task A_known_secret_value_reaches_no_message_log_or_ToString()
    {
        var azureEvents = new ConcurrentQueue<string>();
        using var listener = new AzureEventSourceListener((e, message) => azureEvents.Enqueue(message + " " + string.Join(",", e.Payload ?? [])), EventLevel.Verbose);
        using var logs = new CapturingLoggerFactory();
        using var certificate = new LoopbackCertificate();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        // The Entra client secret is the known value too: it travels in the token request.
        await using var vault = new KeyVaultStub(certificate, clientSecret: Known);
        await using var sts = new StsStub(time);
        sts.AddUser(KeyId, Known);
        sts.AddRole(RoleArn, "the-right-external-id");
        sts.AddWebIdentityRole("arn:aws:iam::444455556666:role/ours", "a-token-that-is-not-sent");

        var folder = Directory.CreateTempSubdirectory("pipeline-leak-");
        var environment = new Dictionary<string, string?>
        {
            ["PIPELINE_SECRET_ENV_MALFORMED"] = $$"""{"accessKeyId": "{{KeyId}}", "secretAccessKey": {{Known}}}""",
        };
        var validKey = $$"""{"accessKeyId": "{{KeyId}}", "secretAccessKey": "{{Known}}"}""";
        vault.Secrets["kv-malformed"] = $"{Known}";
        vault.Secrets["kv-good-key"] = validKey;
        vault.Secrets["kv-denied"] = validKey;
        vault.Denied["kv-denied"] = true;
        vault.Secrets["kv-wrong-half"] = $$"""{"accessKeyId": "{{KeyId}}", "secretAccessKey": "{{Known}}-other"}""";

        var file = new FileSecretStore(Path.Combine(folder.FullName, "secrets.local.json"), logs.CreateLogger<FileSecretStore>());
        var keyVault = KeyVaultSecretStoreTests.Store(vault, certificate, Known, logs);
        var chain = new ChainedSecretStore(new EnvironmentSecretStore(environment.GetValueOrDefault), file, keyVault);
        var source = new S3CredentialSource(chain, new S3CredentialSourceOptions { WebIdentityRoleArn = "arn:aws:iam::444455556666:role/ours" }, sts.CreateClient,
            new ManagedIdentityTokenProvider(new StaticTokenCredential(Known), "test identity"), time, logs.CreateLogger<S3CredentialSource>());
        var failures = new List<Exception>();

        async Task Fail(string secretName, S3CredentialMode mode = S3CredentialMode.AccessKey, string? externalId = null, bool secret = true)
        {
            var destination = new DestinationSpec
            {
                Name = "leak-" + secretName, Type = DestinationSpec.S3Type, Location = "bucket-a",
                S3 = new S3DestinationOptions { Credentials = mode, SecretName = secret ? secretName : null, RoleArn = RoleArn, ExternalId = externalId ?? "wrong-external-id", Region = "eu-west-1" },
            };
            try
            {
                await source.GetCredentialsAsync(destination, CancellationToken.None);
                Assert.Fail($"{secretName} should have failed");
            }
            catch (Exception e) when (e is SecretException or DestinationException)
            {
                failures.Add(e);
            }
        }

        // Malformed secret in the environment.
        await Fail("env-malformed");
        // A malformed secrets file: the file store is asked for any name the environment lacks.
        await File.WriteAllTextAsync(file.Path, $$"""{"file-secret": "{{Known}}" "x": 1}""");
        await Fail("file-secret");
        File.Delete(file.Path);
        await File.WriteAllTextAsync(file.Path, "{}");
        // Malformed secret in Key Vault.
        await Fail("kv-malformed");
        // Key Vault 403.
        await Fail("kv-denied");
        // STS AccessDenied (wrong ExternalId), signed with the known secret key.
        await Fail("kv-good-key", S3CredentialMode.AssumeRole);
        // STS SignatureDoesNotMatch.
        await Fail("kv-wrong-half", S3CredentialMode.AssumeRole, externalId: "the-right-external-id");
        // Rejected web identity token (the token is the known value).
        await Fail("web-identity", S3CredentialMode.AssumeRole, secret: false);

        Assert.That(failures.Select(f => f.GetType().Name), Is.EqualTo(new[]
        {
            "SecretException", "SecretException", "SecretException", "SecretException", "DestinationException", "SecretException", "DestinationException",
        }));
        Assert.That(failures[3].Message, Does.Contain("Key Vault Secrets User"));
        Assert.That(failures[4].Message, Does.Contain("AccessDenied").And.Contain("wrong-external-id"));
        Assert.That(sts.Calls.Select(c => c.Answer), Is.EqualTo(new[] { "AccessDenied", "SignatureDoesNotMatch", "InvalidIdentityToken" }), "the STS paths really ran");
        foreach (var failure in failures)
        {
            Assert.That(failure.Message, Does.Not.Contain(Known), failure.GetType().Name);
            Assert.That(failure.ToString(), Does.Not.Contain(Known), failure.Message);
        }
        Assert.That(logs.Text, Is.Not.Empty);
        Assert.That(logs.Text, Does.Not.Contain(Known));
        Assert.That(azureEvents, Is.Not.Empty);
        Assert.That(string.Join("\n", azureEvents), Does.Not.Contain(Known));
        object[] ours = [chain, file, keyVault, source, new S3CredentialSourceOptions(), AccessKeySecret.Parse(validKey, "s", "store")];
        Assert.That(ours.Select(o => o.ToString()), Has.None.Contain(Known));
        folder.Delete(recursive: true);
    }

    private sealed class StaticTokenCredential(string token) : global::Azure.Core.TokenCredential
    {
        public override global::Azure.Core.AccessToken GetToken(global::Azure.Core.TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new(token, DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<global::Azure.Core.AccessToken> GetTokenAsync(global::Azure.Core.TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
