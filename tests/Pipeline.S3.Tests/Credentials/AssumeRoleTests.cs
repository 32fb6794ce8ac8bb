using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Ports;
using Pipeline.S3.Credentials;
using Pipeline.Tests.Stubs;

namespace Pipeline.S3.Tests.Credentials;

/// <summary>assumeRole through the real AWS STS client against a loopback STS that checks signatures, ExternalIds and expiry.</summary>
[Category("Integration")]
public class AssumeRoleTests
{
    private const string OurKeyId = "AKIAOURKEY0000000001";
    private const string OurSecret = "our-secret-access-key";
    private const string OurRole = "arn:aws:iam::444455556666:role/audience-export-federated";
    private const string WebToken = "eyJ0eXAiOiJKV1QifQ.web-identity-token.sig";

    private FakeTimeProvider _time = null!;
    private StsStub _sts = null!;
    private CapturingLoggerFactory _logs = null!;
    private DictionarySecretStore _secrets = null!;

    [SetUp]
    public void StartSts()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        _sts = new StsStub(_time);
        _sts.AddUser(OurKeyId, OurSecret);
        _sts.AddRole(Destinations.CustomerRole, Destinations.ExternalId);
        _sts.AddWebIdentityRole(OurRole, WebToken);
        _logs = new CapturingLoggerFactory();
        _secrets = new DictionarySecretStore(new() { ["our-aws-key"] = Destinations.KeyJson(OurKeyId, OurSecret) });
    }

    [TearDown]
    public async Task StopSts()
    {
        // Null-safe: a failed setup leaves them unset, and its error is the one to see.
        if (_sts is not null) await _sts.DisposeAsync();
        _logs?.Dispose();
    }

    private S3CredentialSource Source(S3CredentialSourceOptions? options = null, IWebIdentityTokenProvider? webIdentity = null) =>
        new(_secrets, options ?? new S3CredentialSourceOptions { WebIdentityRoleArn = OurRole }, _sts.CreateClient, webIdentity, _time, _logs.CreateLogger<S3CredentialSource>());

    [Test]
    public async Task Assumes_the_customers_role_with_their_ExternalId_signed_with_our_key()
    {
        var credentials = await Source().GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None);

        var call = _sts.Calls.Single();
        Assert.That(call.Action, Is.EqualTo("AssumeRole"));
        Assert.That(call.RoleArn, Is.EqualTo(Destinations.CustomerRole));
        Assert.That(call.ExternalId, Is.EqualTo(Destinations.ExternalId));
        Assert.That(call.RoleSessionName, Is.EqualTo("audience-export-customer-c"));
        Assert.That(call.DurationSeconds, Is.EqualTo(3600));
        Assert.That(call.SignedBy, Is.EqualTo(OurKeyId), "signed (and verified by the stub) with the key from the secret");
        var session = await credentials.GetCredentialsAsync();
        Assert.That(session.AccessKey, Is.EqualTo(call.Answer));
        Assert.That(session.Token, Is.EqualTo("stub-session-token-1"));
        Assert.That(_logs.Text, Does.Contain("assumed role arn:aws:iam::123456789012:role/audience-export as session audience-export-customer-c until 2026-11-23 13:00:00Z"));
    }

    [Test]
    public async Task DurationSeconds_is_configurable()
    {
        await Source(new S3CredentialSourceOptions { DurationSeconds = 7200 }).GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None);

        Assert.That(_sts.Calls.Single().DurationSeconds, Is.EqualTo(7200));
    }

    [Test]
    public async Task Sessions_are_cached_and_renewed_five_minutes_before_they_expire()
    {
        var source = Source();
        var first = await source.GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None);

        _time.Advance(TimeSpan.FromMinutes(54) + TimeSpan.FromSeconds(59));
        var cached = await source.GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None);
        Assert.That(cached, Is.SameAs(first));
        Assert.That(_sts.Calls, Has.Count.EqualTo(1));

        _time.Advance(TimeSpan.FromSeconds(1));
        var renewed = await source.GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None);

        Assert.That(_sts.Calls, Has.Count.EqualTo(2));
        Assert.That(renewed.GetCredentials().AccessKey, Is.Not.EqualTo(first.GetCredentials().AccessKey));
        Assert.That(_logs.Text, Does.Contain("credentials expire at 2026-11-23 13:00:00Z; renewing them early"));
    }

    [Test]
    public async Task Each_destination_has_its_own_session_and_concurrent_callers_share_one_renewal()
    {
        var source = Source();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            source.GetCredentialsAsync(Destinations.AssumeRole(name: i % 2 == 0 ? "even" : "odd"), CancellationToken.None)));

        Assert.That(_sts.Calls.Select(c => c.RoleSessionName), Is.EquivalentTo(new[] { "audience-export-even", "audience-export-odd" }));
        Assert.That(results.Select(r => r.GetCredentials().AccessKey).Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_wrong_ExternalId_explains_the_trust_policy_and_prints_the_ExternalId_but_no_key()
    {
        var destination = Destinations.AssumeRole(externalId: "cust-a-WRONG");

        var e = await Assert.ThrowsAsync<DestinationException>(() => Source().GetCredentialsAsync(destination, CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("Destination \"customer-c\" (s3://customer-a-bucket/audiences/)"));
        Assert.That(e.Message, Does.Contain("denied AssumeRole into arn:aws:iam::123456789012:role/audience-export (AccessDenied"));
        Assert.That(e.Message, Does.Contain("User: arn:aws:iam::111122223333:user/audience-export is not authorized"), "STS names our principal");
        Assert.That(e.Message, Does.Contain("trust policy must allow our principal (our AWS key in secret \"our-aws-key\")"));
        Assert.That(e.Message, Does.Contain("\"StringEquals\": {\"sts:ExternalId\": \"cust-a-WRONG\"}"));
        Assert.That(e.ToString(), Does.Not.Contain(OurSecret).And.Not.Contain(OurKeyId));
        Assert.That(_logs.Text, Does.Contain("failed with AccessDenied").And.Not.Contain(OurSecret).And.Not.Contain(OurKeyId));
    }

    [Test]
    public async Task A_secret_key_that_does_not_match_its_key_id_is_a_secret_problem()
    {
        _secrets.Values["our-aws-key"] = Destinations.KeyJson(OurKeyId, "not-the-right-secret");

        var e = await Assert.ThrowsAsync<SecretException>(() => Source().GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("the secretAccessKey in secret \"our-aws-key\" (test store) does not belong to its accessKeyId (SignatureDoesNotMatch)"));
        Assert.That(e.ToString(), Does.Not.Contain("not-the-right-secret"));
    }

    [Test]
    public async Task An_unknown_key_id_is_a_secret_problem()
    {
        _secrets.Values["our-aws-key"] = Destinations.KeyJson("AKIADELETEDKEY", OurSecret);

        var e = await Assert.ThrowsAsync<SecretException>(() => Source().GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("AWS does not recognize the access key id in secret \"our-aws-key\" (test store) (InvalidClientTokenId)"));
        Assert.That(e.Message, Does.Not.Contain("AKIADELETEDKEY"));
    }

    [Test]
    public async Task An_expired_temporary_key_in_the_secret_says_to_store_a_fresh_one()
    {
        _sts.AddUser("ASIATEMPORARY", "temp-secret", "temp-token", expiresAt: _time.GetUtcNow().AddMinutes(-1));
        _secrets.Values["our-aws-key"] = Destinations.KeyJson("ASIATEMPORARY", "temp-secret", "temp-token");

        var e = await Assert.ThrowsAsync<SecretException>(() => Source().GetCredentialsAsync(Destinations.AssumeRole(), CancellationToken.None));

        Assert.That(e!.Message, Does.Contain("the session token in secret \"our-aws-key\" (test store) has expired (STS: ExpiredToken)"));
        Assert.That(e.ToString(), Does.Not.Contain("temp-secret").And.Not.Contain("temp-token"));
    }

    [Test]
    public async Task Without_a_secret_we_federate_with_web_identity_then_assume_the_customers_role()
    {
        var tokens = new FixedTokenProvider(WebToken);
        var source = Source(new S3CredentialSourceOptions { WebIdentityRoleArn = OurRole, DurationSeconds = 7200 }, tokens);

        var credentials = await source.GetCredentialsAsync(Destinations.AssumeRole(secret: null), CancellationToken.None);

        var calls = _sts.Calls.ToArray();
        Assert.That(calls.Select(c => c.Action), Is.EqualTo(new[] { "AssumeRoleWithWebIdentity", "AssumeRole" }));
        Assert.That(calls[0].RoleArn, Is.EqualTo(OurRole));
        Assert.That(calls[0].WebIdentityToken, Is.EqualTo(WebToken));
        Assert.That(calls[0].SignedBy, Is.Null, "AssumeRoleWithWebIdentity is unsigned");
        Assert.That(calls[1].SignedBy, Is.EqualTo(calls[0].Answer), "the customer's role is assumed from our federated session");
        Assert.That(calls[1].ExternalId, Is.EqualTo(Destinations.ExternalId));
        Assert.That(calls[1].DurationSeconds, Is.EqualTo(3600), "role chaining allows at most one hour");
        Assert.That(credentials.GetCredentials().AccessKey, Is.EqualTo(calls[1].Answer));
        Assert.That(_logs.Text, Does.Not.Contain(WebToken));

        await source.GetCredentialsAsync(Destinations.AssumeRole(name: "other", secret: null), CancellationToken.None);
        Assert.That(_sts.Calls.Count(c => c.Action == "AssumeRoleWithWebIdentity"), Is.EqualTo(1), "our federated session is shared by destinations");
    }

    [Test]
    public async Task An_expired_federated_session_is_replaced_and_the_call_retried()
    {
        var tokens = new FixedTokenProvider(WebToken);
        var source = Source(webIdentity: tokens);
        await source.GetCredentialsAsync(Destinations.AssumeRole(secret: null), CancellationToken.None);
        _sts.ExpireIssuedSessions();
        source.Invalidate(Destinations.AssumeRole(secret: null));

        var credentials = await source.GetCredentialsAsync(Destinations.AssumeRole(secret: null), CancellationToken.None);

        Assert.That(_sts.Calls.Select(c => c.Answer), Is.EqualTo(new[] { "ASIASTUB000000000001", "ASIASTUB000000000002", "ExpiredToken", "ASIASTUB000000000003", "ASIASTUB000000000004" }));
        Assert.That(credentials.GetCredentials().AccessKey, Is.EqualTo("ASIASTUB000000000004"));
        Assert.That(tokens.Calls, Is.EqualTo(2));
        Assert.That(_logs.Text, Does.Contain("STS answered ExpiredToken for credentials of " + OurRole + "; getting fresh ones and retrying once"));
    }

    [Test]
    public async Task A_rejected_web_identity_token_explains_our_roles_trust_in_the_identity_provider()
    {
        var source = Source(webIdentity: new FixedTokenProvider("not-a-valid-token"));

        var e = await Assert.ThrowsAsync<DestinationException>(() => source.GetCredentialsAsync(Destinations.AssumeRole(secret: null), CancellationToken.None));

        Assert.That(e!.Message, Does.Contain($"refused our web identity from test identity for our role {OurRole} (InvalidIdentityToken"));
        Assert.That(e.Message, Does.Contain("api://AzureADTokenExchange"));
        Assert.That(e.ToString(), Does.Not.Contain("not-a-valid-token"));
    }

    [Test]
    public async Task Web_identity_without_a_provider_or_our_role_says_what_to_configure()
    {
        var noProvider = await Assert.ThrowsAsync<DestinationException>(() => Source().GetCredentialsAsync(Destinations.AssumeRole(secret: null), CancellationToken.None));
        var noRole = await Assert.ThrowsAsync<DestinationException>(() =>
            Source(new S3CredentialSourceOptions(), new FixedTokenProvider(WebToken)).GetCredentialsAsync(Destinations.AssumeRole(secret: null), CancellationToken.None));

        Assert.That(noProvider!.Message, Does.Contain("no web identity token provider is configured").And.Contain("Set credentials.secretName"));
        Assert.That(noRole!.Message, Does.Contain("no WebIdentityRoleArn (AWS_ROLE_ARN)"));
        Assert.That(_sts.Calls, Is.Empty);
    }
}
