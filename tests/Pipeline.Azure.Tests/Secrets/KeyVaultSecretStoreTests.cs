using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Pipeline.Azure.Secrets;
using Pipeline.Azure.Tests.Stubs;
using Pipeline.Engine.Ports;
using Pipeline.Tests.Stubs;

namespace Pipeline.Azure.Tests.Secrets;

/// <summary>The real SecretClient and ClientSecretCredential against a loopback HTTPS Key Vault + Entra ID.</summary>
[Category("Integration")]
public class KeyVaultSecretStoreTests
{
    private const string ClientSecret = "entra-client-secret";

    private LoopbackCertificate _certificate = null!;
    private KeyVaultStub _vault = null!;
    private CapturingLoggerFactory _logs = null!;

    [SetUp]
    public void StartVault()
    {
        _certificate = new LoopbackCertificate();
        _vault = new KeyVaultStub(_certificate, ClientSecret);
        _logs = new CapturingLoggerFactory();
    }

    [TearDown]
    public async Task StopVault()
    {
        await _vault.DisposeAsync();
        _certificate.Dispose();
        _logs.Dispose();
    }

    internal static KeyVaultSecretStore Store(KeyVaultStub vault, LoopbackCertificate certificate, string clientSecret, CapturingLoggerFactory logs)
    {
        var credential = new ClientSecretCredential(KeyVaultStub.Tenant, KeyVaultStub.ClientId, clientSecret, new ClientSecretCredentialOptions
        {
            AuthorityHost = vault.AuthorityHost,
            DisableInstanceDiscovery = true,
            Transport = certificate.Transport(),
        });
        var options = new SecretClientOptions
        {
            Transport = certificate.Transport(),
            // The challenge names https://vault.azure.net, which a loopback host cannot end with.
            DisableChallengeResourceVerification = true,
            Retry = { MaxRetries = 0 },
        };
        return new KeyVaultSecretStore(vault.VaultUri, credential, options, logs.CreateLogger<KeyVaultSecretStore>());
    }

    private KeyVaultSecretStore Store(string? clientSecret = null) => Store(_vault, _certificate, clientSecret ?? ClientSecret, _logs);

    [Test]
    public async Task Reads_a_secret_after_the_bearer_challenge_with_a_token_from_Entra_ID()
    {
        _vault.Secrets["customer-a-s3"] = """{"accessKeyId": "AKIA", "secretAccessKey": "s"}""";
        var store = Store();

        var value = await store.GetSecretAsync("customer-a-s3", CancellationToken.None);

        Assert.That(value, Is.EqualTo("""{"accessKeyId": "AKIA", "secretAccessKey": "s"}"""));
        Assert.That(_vault.Log.Where(l => !l.StartsWith("GET openid", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "GET /secrets/customer-a-s3 no-auth",
            "token https://vault.azure.net/.default",
            "GET /secrets/customer-a-s3 bearer-ok",
        }));

        await store.GetSecretAsync("customer-a-s3", CancellationToken.None);
        Assert.That(_vault.Log.Last(), Is.EqualTo("GET /secrets/customer-a-s3 bearer-ok"), "the challenge and the token are reused");
        Assert.That(_vault.Log.Count(l => l.StartsWith("token", StringComparison.Ordinal)), Is.EqualTo(1));
    }

    [Test]
    public async Task A_missing_secret_is_null()
    {
        Assert.That(await Store().GetSecretAsync("nothing-here", CancellationToken.None), Is.Null);
        Assert.That(_vault.Log.Last(), Is.EqualTo("GET /secrets/nothing-here bearer-ok"));
    }

    [Test]
    public async Task Forbidden_names_the_vault_the_secret_and_the_role_to_grant()
    {
        _vault.Secrets["customer-a-s3"] = "SECRETVALUE-12345";
        _vault.Denied["customer-a-s3"] = true;

        var e = await Assert.ThrowsAsync<SecretException>(() => Store().GetSecretAsync("customer-a-s3", CancellationToken.None));

        Assert.That(e!.Message, Does.StartWith($"Access to secret \"customer-a-s3\" in Key Vault {_vault.VaultUri} was denied (403 Forbidden)."));
        Assert.That(e.Message, Does.Contain("the role \"Key Vault Secrets User\" on the vault"));
        Assert.That(e.Message, Does.Contain("az role assignment create --role \"Key Vault Secrets User\""));
        Assert.That(_logs.Text, Does.Contain("denied access to secret customer-a-s3 (Forbidden)"));
    }

    [Test]
    public async Task A_wrong_client_secret_is_a_sign_in_problem_not_a_missing_secret()
    {
        var e = await Assert.ThrowsAsync<SecretException>(() => Store(clientSecret: "wrong").GetSecretAsync("customer-a-s3", CancellationToken.None));

        Assert.That(e!.Message, Does.StartWith($"Could not sign in to Key Vault {_vault.VaultUri} to read secret \"customer-a-s3\""));
        Assert.That(e.Message, Does.Contain("AADSTS7000215: Invalid client secret provided"));
        Assert.That(e.Message, Does.Contain("az login"));
    }

    [TestCase("customer_a_s3", "may contain only letters, digits and '-'", "customer-a-s3")]
    [TestCase("customer.a", "may contain only letters, digits and '-'", "customer-a")]
    public async Task Names_Key_Vault_cannot_hold_are_refused_with_a_suggestion_before_any_request(string name, string problem, string suggestion)
    {
        var e = await Assert.ThrowsAsync<SecretException>(() => Store().GetSecretAsync(name, CancellationToken.None));

        Assert.That(e!.Message, Does.Contain(problem).And.Contain($"Use e.g. \"{suggestion}\""));
        Assert.That(_vault.Log, Is.Empty);
    }

    [Test]
    public void Name_rules_follow_Key_Vault()
    {
        Assert.That(KeyVaultSecretStore.NameProblem("Customer-A-1"), Is.Null);
        Assert.That(KeyVaultSecretStore.NameProblem(new string('a', 127)), Is.Null);
        Assert.That(KeyVaultSecretStore.NameProblem(new string('a', 128)), Does.Contain("1-127 characters"));
        Assert.That(KeyVaultSecretStore.NameProblem(""), Does.Contain("1-127 characters"));
    }

    [Test]
    public void Describe_and_ToString_name_the_vault()
    {
        var store = Store();

        Assert.That(store.Describe, Is.EqualTo($"Key Vault {_vault.VaultUri}"));
        Assert.That(store.ToString(), Is.EqualTo(store.Describe));
    }
}
