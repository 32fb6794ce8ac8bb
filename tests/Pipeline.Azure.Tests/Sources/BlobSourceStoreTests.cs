using System.Net;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using Azure.Storage.Blobs;
using Pipeline.Azure.Sources;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Sources;

namespace Pipeline.Azure.Tests.Sources;

/// <summary>
/// Blob source URLs and what the store does with them without a server: which credential an account is read with, and
/// what each refusal tells the user (answered by a stub transport that records the requests).
/// </summary>
public class BlobSourceStoreTests
{
    private const string Url = "https://acme.blob.core.windows.net/snapshots/daily/profiles.csv";

    [TestCase("https://acme.blob.core.windows.net/snapshots/daily/profiles.csv", "https://acme.blob.core.windows.net", "acme", "snapshots", "daily/profiles.csv")]
    [TestCase("https://acme.blob.core.windows.net/snapshots", "https://acme.blob.core.windows.net", "acme", "snapshots", "")]
    [TestCase("https://acme.blob.core.windows.net/snapshots/daily/", "https://acme.blob.core.windows.net", "acme", "snapshots", "daily/")]
    [TestCase("https://acme.privatelink.blob.core.windows.net/snapshots/x.csv", "https://acme.privatelink.blob.core.windows.net", "acme", "snapshots", "x.csv")]
    [TestCase("https://acme.blob.core.chinacloudapi.cn/snapshots/x.csv", "https://acme.blob.core.chinacloudapi.cn", "acme", "snapshots", "x.csv")]
    [TestCase("http://127.0.0.1:10000/devstoreaccount1/snapshots/day%201/x.csv", "http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "snapshots", "day 1/x.csv")]
    [TestCase("http://localhost:10000/devstoreaccount1/snapshots/x.csv", "http://localhost:10000/devstoreaccount1", "devstoreaccount1", "snapshots", "x.csv")]
    public void A_blob_url_names_its_account_container_and_path(string url, string root, string account, string container, string name)
    {
        var where = BlobSourceLocation.Parse(url);

        Assert.That((where.ServiceRoot, where.Account, where.Container, where.BlobName), Is.EqualTo((root, account, container, name)));
        Assert.That(where.UrlOf(where.BlobName), Is.EqualTo(url));
    }

    [TestCase("https://example.com/snapshots/x.csv", "is not an Azure blob URL")]
    [TestCase("https://acme.blob.core.windows.net", "names no container")]
    [TestCase("https://acme.blob.core.windows.net/", "names no container")]
    [TestCase("https://acme.blob.core.windows.net/Snap_Shots/x.csv", "is not a container name")]
    [TestCase("http://127.0.0.1:10000/", "names no storage account")]
    [TestCase("https://acme.blob.core.windows.net/snapshots//x.csv", "empty, '.' or '..' segment")]
    [TestCase("ftp://acme.blob.core.windows.net/snapshots/x.csv", "ftp://")]
    public void A_malformed_blob_url_is_a_source_error_naming_it_and_the_expected_form(string url, string problem)
    {
        var e = Assert.Throws<SourceException>(() => BlobSourceLocation.Parse(url));

        Assert.That(e!.Message, Does.Contain(problem).And.Contain("https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH"));
    }

    [Test]
    public async Task A_url_with_a_sas_token_is_refused_without_repeating_the_token()
    {
        var store = new BlobSourceStore(credential: new StaticToken());

        var e = await Assert.ThrowsAsync<SourceException>(() => store.ListAsync(Url + "?sv=2024-01-01&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D", CancellationToken.None));

        Assert.That(e!.Message, Does.Contain(Url).And.Contain("SAS").And.Not.Contain("sig").And.Not.Contain("c2VjcmV0"));
    }

    [Test]
    public void Http_and_https_urls_are_its_own_and_paths_are_not()
    {
        var store = new BlobSourceStore();

        Assert.That(store.Accepts(Url), Is.True);
        Assert.That(store.Accepts("http://127.0.0.1:10000/devstoreaccount1/c/x.csv"), Is.True);
        Assert.That(store.Accepts("/data/profiles.csv"), Is.False);
        Assert.That(store.Accepts("s3://bucket/profiles.csv"), Is.False);
    }

    [Test]
    public async Task The_pipeline_storage_account_is_read_with_the_connections_key_and_any_other_with_the_token_credential()
    {
        var stub = new StubHandler(_ => Properties(3));
        var key = Convert.ToBase64String(new byte[64]);
        var connection = StorageConnection.FromSettings([new("PipelineStorage", $"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={key};EndpointSuffix=core.windows.net")])!;
        var store = new BlobSourceStore(connection, new StaticToken(), stub.Options());

        await store.ListAsync(Url, CancellationToken.None);
        await store.ListAsync("https://other.blob.core.windows.net/snapshots/profiles.csv", CancellationToken.None);

        Assert.That(stub.Requests.Select(r => (r.Host, r.Authorization?.Split(' ')[0])), Is.EqualTo(new[]
        {
            ("acme.blob.core.windows.net", "SharedKey"),
            ("other.blob.core.windows.net", "Bearer"),
        }));
    }

    [Test]
    public async Task An_identity_without_the_reader_role_is_told_which_role_to_grant_on_which_account()
    {
        var stub = new StubHandler(_ => Error(HttpStatusCode.Forbidden, "AuthorizationPermissionMismatch"));
        var store = new BlobSourceStore(credential: new StaticToken(), options: stub.Options());

        var e = await Assert.ThrowsAsync<SourceException>(() => store.ListAsync(Url, CancellationToken.None));

        Assert.That(e!.Message, Is.EqualTo($"Reading {Url} was refused (403 AuthorizationPermissionMismatch) for the default Azure credential " +
                                           "(environment, workload or managed identity, Azure CLI sign-in). Fix: grant the identity the pipeline runs as the Storage Blob Data Reader role " +
                                           "on the storage account acme or its container \"snapshots\" (a new role assignment can take a few minutes to apply)."));
    }

    [Test]
    public async Task No_identity_to_sign_in_with_is_a_source_error_saying_how_to_provide_one()
    {
        var store = new BlobSourceStore(credential: new NoIdentity(), options: new StubHandler(_ => Properties(3)).Options());

        var e = await Assert.ThrowsAsync<SourceException>(() => store.ListAsync(Url, CancellationToken.None));

        Assert.That(e!.Message, Does.Contain(Url).And.Contain("az login").And.Contain("Storage Blob Data Reader"));
    }

    [Test]
    public async Task A_server_error_is_transient_so_the_stage_is_retried_not_failed()
    {
        var store = new BlobSourceStore(credential: new StaticToken(), options: new StubHandler(_ => Error(HttpStatusCode.ServiceUnavailable, "ServerBusy")).Options());

        var e = await Assert.ThrowsAsync<SourceUnavailableException>(async () => await store.ReadAsync(Url, null, 0, new byte[10], CancellationToken.None));

        Assert.That(e!.Message, Does.Contain(Url).And.Contain("503 ServerBusy"));
        Assert.That(Engine.Runs.ExportStages.IsPermanent(e), Is.False);
    }

    [Test]
    public async Task A_ranged_read_asks_for_exactly_its_range()
    {
        var stub = new StubHandler(_ => new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = new ByteArrayContent([1, 2, 3, 4]) });
        var store = new BlobSourceStore(credential: new StaticToken(), options: stub.Options());

        var read = await store.ReadAsync(Url, null, 1000, new byte[4], CancellationToken.None);

        Assert.That(read, Is.EqualTo(4));
        Assert.That(stub.Requests.Single().Range, Is.EqualTo("bytes=1000-1003"));
    }

    private static HttpResponseMessage Properties(long length)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
        response.Content.Headers.ContentLength = length;
        return response;
    }

    private static HttpResponseMessage Error(HttpStatusCode status, string code)
    {
        var response = new HttpResponseMessage(status) { Content = new ByteArrayContent([]) };
        response.Headers.Add("x-ms-error-code", code);
        return response;
    }

    private sealed class StaticToken : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => new("token", DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => new(GetToken(requestContext, cancellationToken));
    }

    private sealed class NoIdentity : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new CredentialUnavailableException("DefaultAzureCredential failed to retrieve a token from the included credentials.");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new CredentialUnavailableException("DefaultAzureCredential failed to retrieve a token from the included credentials.");
    }

    /// <summary>Answers every request with <paramref name="answer"/>, recording host, Authorization scheme and range.</summary>
    private sealed class StubHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<(string Host, string? Authorization, string? Range)> Requests { get; } = [];

        public BlobClientOptions Options()
        {
            var options = new BlobClientOptions { Transport = new HttpClientTransport(new HttpClient(this)) };
            options.Retry.MaxRetries = 0;
            return options;
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var range = request.Headers.TryGetValues("x-ms-range", out var r) ? r.First() : request.Headers.Range?.ToString();
            lock (Requests) Requests.Add((request.RequestUri!.Host, request.Headers.Authorization?.ToString(), range));
            return Task.FromResult(answer(request));
        }
    }
}
