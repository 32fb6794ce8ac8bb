using System.Collections.Concurrent;
using System.Globalization;
using Azure.Core;
using Azure.Identity;
using Pipeline.Azure.Federation;
using Pipeline.Tests.Stubs;

namespace Pipeline.Azure.Tests.Federation;

public class ManagedIdentityTokenProviderTests
{
    /// <summary>
    /// The real ManagedIdentityCredential against the App Service / Functions managed identity endpoint
    /// protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER), served on loopback.
    /// </summary>
    [Test]
    [Category("Integration")]
    [NonParallelizable]
    public async Task Gets_a_managed_identity_token_for_the_AWS_federation_audience()
    {
        var requests = new ConcurrentQueue<StubRequest>();
        await using var endpoint = new LoopbackHttpServer(request =>
        {
            requests.Enqueue(request);
            if (request.Header("X-IDENTITY-HEADER") != "identity-header-secret")
                return Task.FromResult(StubResponse.Json(401, """{"statusCode":401,"message":"Unauthorized request"}"""));
            var expiresOn = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            var resource = request.Query.GetValueOrDefault("resource");
            return Task.FromResult(StubResponse.Json(200,
                $$"""{"access_token":"mi-token-for-{{resource}}","expires_on":"{{expiresOn}}","resource":"{{resource}}","token_type":"Bearer","client_id":"00000000-0000-0000-0000-0000000000c1"}"""));
        });
        string[] names = ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"];
        var saved = names.ToDictionary(n => n, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var name in names) Environment.SetEnvironmentVariable(name, null);
            Environment.SetEnvironmentVariable("IDENTITY_ENDPOINT", new Uri(endpoint.BaseUri, "msi/token").ToString());
            Environment.SetEnvironmentVariable("IDENTITY_HEADER", "identity-header-secret");
            var provider = new ManagedIdentityTokenProvider(new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned), "Azure managed identity (system-assigned)");

            var token = await provider.GetTokenAsync(CancellationToken.None);

            Assert.That(token, Is.EqualTo("mi-token-for-api://AzureADTokenExchange"));
            var request = requests.Single();
            Assert.That(request.Method, Is.EqualTo("GET"));
            Assert.That(request.Path, Is.EqualTo("/msi/token"));
            Assert.That(request.Query["resource"], Is.EqualTo("api://AzureADTokenExchange"));
            Assert.That(provider.Describe, Is.EqualTo("Azure managed identity (system-assigned)"));
        }
        finally
        {
            foreach (var (name, value) in saved) Environment.SetEnvironmentVariable(name, value);
        }
    }

    [Test]
    public async Task Asks_any_token_credential_for_the_federation_audience()
    {
        var credential = new RecordingCredential();

        var token = await new ManagedIdentityTokenProvider(credential).GetTokenAsync(CancellationToken.None);

        Assert.That(token, Is.EqualTo("token"));
        Assert.That(credential.Scopes, Is.EqualTo(new[] { "api://AzureADTokenExchange/.default" }));
        Assert.That(new ManagedIdentityTokenProvider(credential).Describe, Is.EqualTo("Azure identity RecordingCredential"));
    }

    private sealed class RecordingCredential : TokenCredential
    {
        public string[] Scopes { get; private set; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Scopes = requestContext.Scopes;
            return new AccessToken("token", DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
