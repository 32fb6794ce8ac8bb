using System.Collections.Concurrent;
using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Azure.Storage;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.Azure.Sources;

/// <summary>
/// Audience snapshots in Azure Blob Storage, named by URL: one blob, or a "folder" of blobs (a prefix). CSV files are
/// streamed with one GET; Parquet files are read by ranges (the footer, then the column chunks an export uses).
/// Which credential reads an account: the <c>PipelineStorage</c> connection's when the URL is that account; Azurite's
/// well-known key for its development account (devstoreaccount1 on an IP address or localhost); otherwise the default
/// Azure credential (environment, workload or managed identity, Azure CLI sign-in). URLs with a query (a SAS token)
/// are refused, so no secret reaches run state or a message; messages carry the status and error code only. A blob's
/// version is its ETag: pinned reads send it as If-Match, so a blob replaced during a run is refused, never mixed in.
/// </summary>
public sealed class BlobSourceStore : ISourceStore
{
    /// <summary>Azurite's published development key: not a secret, the same on every machine.</summary>
    private const string DevelopmentKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly Lazy<StorageConnection?> _connection;
    private readonly Lazy<TokenCredential> _credential;
    private readonly BlobClientOptions _options;
    private readonly ConcurrentDictionary<string, Account> _accounts = new(StringComparer.OrdinalIgnoreCase);
    private BlobServiceClient? _connectionService;

    /// <param name="connection">The <c>PipelineStorage</c> connection, whose credential reads its own account.</param>
    /// <param name="credential">For other accounts; the default Azure credential when null.</param>
    /// <param name="options">Client options (retries, transport; tests add a policy that counts requests).</param>
    public BlobSourceStore(StorageConnection? connection = null, TokenCredential? credential = null, BlobClientOptions? options = null)
        : this(() => connection, credential, options)
    {
    }

    /// <param name="connection">Read on first use (the CLI reads <c>PipelineStorage</c> from the environment only when a blob URL is used).</param>
    public BlobSourceStore(Func<StorageConnection?> connection, TokenCredential? credential = null, BlobClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = new Lazy<StorageConnection?>(connection);
        _credential = new Lazy<TokenCredential>(() => credential ?? new DefaultAzureCredential());
        _options = options ?? StorageOutage.WithRetries(new BlobClientOptions());
    }

    public bool Accepts(string location) => location is not null && BlobSourceLocation.IsHttpUrl(location);

    public async Task<IReadOnlyList<SourceEntry>> ListAsync(string location, CancellationToken cancellationToken)
    {
        var where = BlobSourceLocation.Parse(location);
        var account = AccountFor(where);
        var container = account.Service.GetBlobContainerClient(where.Container);
        try
        {
            if (where.BlobName.Length > 0 && !where.BlobName.EndsWith('/'))
            {
                try
                {
                    var properties = await container.GetBlobClient(where.BlobName).GetPropertiesAsync(cancellationToken: cancellationToken);
                    return [new SourceEntry(where.UrlOf(where.BlobName), properties.Value.ContentLength, properties.Value.ETag.ToString("H"))];
                }
                catch (RequestFailedException e) when (e.Status == 404 && e.ErrorCode != BlobErrorCode.ContainerNotFound)
                {
                    // No blob of that name: a folder of blobs, then.
                }
            }
            var prefix = where.BlobName.Length == 0 || where.BlobName.EndsWith('/') ? where.BlobName : where.BlobName + "/";
            var files = new List<(string Name, long Length, string? Version)>();
            var anything = false;
            // One level, like a folder: blobs in "subfolders" are not part of the snapshot.
            await foreach (var item in container.GetBlobsByHierarchyAsync(new GetBlobsByHierarchyOptions { Delimiter = "/", Prefix = prefix }, cancellationToken))
            {
                anything = true;
                if (item.IsBlob && SourceCatalog.IsSnapshotFile(item.Blob.Name[prefix.Length..]))
                    files.Add((item.Blob.Name, item.Blob.Properties.ContentLength ?? 0, item.Blob.Properties.ETag?.ToString("H")));
            }
            if (files.Count == 0)
            {
                var folder = where.UrlOf(prefix);
                throw anything
                    ? new SourceException($"The folder {folder} holds no .csv, .csv.gz, .txt, .tsv or .parquet blobs.")
                    : new SourceException($"The audience snapshot {where.Display} does not exist: there is no blob of that name and no blob under {folder}. Check the URL.",
                        new FileNotFoundException(null, where.Display));
            }
            return files.OrderBy(f => f.Name, StringComparer.Ordinal).Select(f => new SourceEntry(where.UrlOf(f.Name), f.Length, f.Version)).ToList();
        }
        catch (Exception e) when (Translate(e, where, account) is { } translated)
        {
            throw translated;
        }
    }

    public async Task<Stream> OpenReadAsync(string location, string? version, CancellationToken cancellationToken)
    {
        var where = BlobSourceLocation.Parse(location);
        var account = AccountFor(where);
        try
        {
            // One GET for the whole blob; the SDK's stream resumes from where it was if the connection drops (If-Match on
            // the ETag of the first answer, so a resumed read never continues into other content).
            var response = await account.Service.GetBlobContainerClient(where.Container).GetBlobClient(where.BlobName)
                .DownloadStreamingAsync(new BlobDownloadOptions { Conditions = Pinned(version) }, cancellationToken);
            return new ResumedReadCheck(response.Value.Content, where.Display);
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw await ChangedOrGoneAsync(account, where, e, cancellationToken);
        }
        catch (Exception e) when (Translate(e, where, account) is { } translated)
        {
            throw translated;
        }
    }

    public async ValueTask<int> ReadAsync(string location, string? version, long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (buffer.IsEmpty) return 0;
        var where = BlobSourceLocation.Parse(location);
        var account = AccountFor(where);
        try
        {
            var response = await account.Service.GetBlobContainerClient(where.Container).GetBlobClient(where.BlobName)
                .DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(offset, buffer.Length), Conditions = Pinned(version) }, cancellationToken);
            await using var content = response.Value.Content;
            return await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 416)
        {
            return 0; // at or past the end of the blob
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw await ChangedOrGoneAsync(account, where, e, cancellationToken);
        }
        catch (Exception e) when (Translate(e, where, account) is { } translated)
        {
            throw translated;
        }
    }

    private static BlobRequestConditions? Pinned(string? version) => version is null ? null : new BlobRequestConditions { IfMatch = new ETag(version) };

    /// <summary>
    /// A pinned read was refused (412): the blob is another version now, or gone (a deleted blob fails If-Match too).
    /// One look tells the user which.
    /// </summary>
    private static async Task<Exception> ChangedOrGoneAsync(Account account, BlobSourceLocation where, RequestFailedException refused, CancellationToken cancellationToken)
    {
        try
        {
            var exists = await account.Service.GetBlobContainerClient(where.Container).GetBlobClient(where.BlobName).ExistsAsync(cancellationToken);
            return exists.Value ? SourceException.Changed(where.Display, refused) : Translate(new RequestFailedException(404, "The blob is gone.", BlobErrorCode.BlobNotFound.ToString(), refused), where, account)!;
        }
        catch (Exception e) when (Translate(e, where, account) is { } translated)
        {
            return translated;
        }
    }

    /// <summary>The client for the URL's account, with the credential chosen for it (once per account).</summary>
    private Account AccountFor(BlobSourceLocation where) => _accounts.GetOrAdd(where.ServiceRoot, _ =>
    {
        if (ConnectionService() is { } service && where.IsAccountOf(service.Uri))
        {
            var connection = _connection.Value!;
            // A client that can sign account SASes holds the account key; otherwise a connection string carries a SAS.
            var kind = connection.IsIdentityBased ? CredentialKind.Identity : service.CanGenerateAccountSasUri ? CredentialKind.Key : CredentialKind.Sas;
            return new Account(service, $"the {connection.Setting} connection ({connection.Describe})", kind, connection.Setting);
        }
        if (where.IsDevelopmentAccount)
            return new Account(new BlobServiceClient(where.ServiceUri, new StorageSharedKeyCredential(BlobSourceLocation.DevelopmentAccount, DevelopmentKey), _options),
                "Azurite's development account key", CredentialKind.Key, null);
        return new Account(new BlobServiceClient(where.ServiceUri, _credential.Value, _options),
            "the default Azure credential (environment, workload or managed identity, Azure CLI sign-in)", CredentialKind.Identity, null);
    });

    private BlobServiceClient? ConnectionService()
    {
        if (_connectionService is not null) return _connectionService;
        try
        {
            if (_connection.Value is not { } connection) return null;
            return _connectionService = connection.CreateBlobServiceClient(_options);
        }
        catch (StorageConnectionException e)
        {
            // The message names the setting and the fix, never the key.
            throw new SourceException(e.Message, e);
        }
    }

    /// <summary>
    /// What a failed call means for the user: a SourceException (missing, refused, no credential) naming the URL and the
    /// fix, or a <see cref="SourceUnavailableException"/> (throttled, a server error, the network) so the stage is retried.
    /// Null for exceptions that are not the store's (cancellation, our own SourceExceptions).
    /// </summary>
    private static Exception? Translate(Exception e, BlobSourceLocation where, Account account)
    {
        // Retries that ran out end in an AggregateException of the attempts' failures: the last one says what happened.
        if (e is AggregateException { InnerExceptions.Count: > 0 } retried) return Translate(retried.InnerExceptions[^1], where, account);
        var url = where.Display;
        switch (e)
        {
            case RequestFailedException { Status: 404 } r:
                var missing = r.ErrorCode == BlobErrorCode.ContainerNotFound
                    ? $"The audience snapshot {url} does not exist: the storage account {where.Account} has no container \"{where.Container}\". Check the URL."
                    : $"The audience snapshot {url} does not exist (404 {r.ErrorCode}). Check the URL.";
                return new SourceException(missing, new FileNotFoundException(null, url, r));
            case RequestFailedException { Status: 401 } or RequestFailedException { Status: 403, ErrorCode: "AuthenticationFailed" }:
                var refused = (RequestFailedException)e;
                return new SourceException($"Reading {url} failed: the storage account {where.Account} did not accept {account.Credential} ({refused.Status} {refused.ErrorCode}). " +
                                           $"Fix: {account.FixFor(refused.ErrorCode, where)}", e);
            case RequestFailedException { Status: 403 } forbidden:
                return new SourceException($"Reading {url} was refused (403 {forbidden.ErrorCode}) for {account.Credential}. Fix: {account.FixFor(forbidden.ErrorCode, where)}", e);
            case RequestFailedException { Status: 0 or 408 or 429 or >= 500 } transient:
                return new SourceUnavailableException($"Cannot read {url} just now ({Describe(transient)}); it is retried.", e);
            case RequestFailedException other:
                return new SourceException($"Reading {url} failed: {other.Status} {other.ErrorCode}.", e);
            case AuthenticationFailedException:
                return new SourceException($"No Azure credential could read {url}: {account.Credential} found no identity or could not get a token. " +
                                           "Fix: sign in with `az login`, run with a managed identity, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; " +
                                           $"then grant that identity the Storage Blob Data Reader role on the storage account {where.Account}.", e);
            case InvalidOperationException when where.ServiceRoot.StartsWith("http://", StringComparison.OrdinalIgnoreCase):
                // The SDK sends tokens over https only; only Azurite's development account has a key here.
                return new SourceException($"{url} is an http:// URL, and Azure credentials are only sent over https. " +
                                           $"Fix: use https, or for Azurite the development account ({BlobSourceLocation.DevelopmentAccount}).", e);
            case IOException io when io is not SourceUnavailableException:
                return new SourceUnavailableException($"Reading {url} was interrupted: {io.Message}", e);
            default:
                return null;
        }
    }

    private static string Describe(RequestFailedException e) =>
        e.Status == 0 ? $"no response: {e.InnerException?.Message ?? "the connection failed"}" : $"{e.Status} {e.ErrorCode}";

    private enum CredentialKind
    {
        Identity,
        Key,
        Sas,
    }

    /// <param name="Credential">Which credential reads the account, for messages.</param>
    /// <param name="Setting">The connection setting it came from, if any.</param>
    private sealed record Account(BlobServiceClient Service, string Credential, CredentialKind Kind, string? Setting)
    {
        /// <summary>What to change when the account refuses this credential: a role for an identity, the key or SAS otherwise.</summary>
        public string FixFor(string? errorCode, BlobSourceLocation where)
        {
            // AuthorizationFailure is also the answer of an account whose firewall does not allow the caller's network.
            var firewall = errorCode == "AuthorizationFailure" ? " If that is in place, the account's firewall may not allow this network: allow it under Networking." : "";
            return Kind switch
            {
                CredentialKind.Identity => $"grant the identity the pipeline runs as the Storage Blob Data Reader role on the storage account {where.Account} or its container \"{where.Container}\" " +
                                           $"(a new role assignment can take a few minutes to apply).{firewall}",
                CredentialKind.Key => $"an account key may read everything, so the key is wrong: copy the connection string{(Setting is null ? "" : " of " + Setting)} again from the account's Access keys.{firewall}",
                _ => $"give {Setting ?? "the connection"} a SAS for {where.Account} that has not expired, with read (r) and list (l) permission on the container \"{where.Container}\", " +
                     $"or use an identity-based connection whose identity has the Storage Blob Data Reader role.{firewall}",
            };
        }
    }

    /// <summary>
    /// The download stream, with the SDK's failure to resume it told for what it is: the SDK resumes a dropped download
    /// with If-Match on the first answer's ETag, so a 412 in the middle of the stream means the blob was replaced.
    /// </summary>
    private sealed class ResumedReadCheck(Stream inner, string url) : ReadOnlyWrapperStream(inner)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return await Inner.ReadAsync(buffer, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                throw SourceException.Changed(url, e);
            }
        }

        public override int Read(Span<byte> buffer)
        {
            try
            {
                return Inner.Read(buffer);
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                throw SourceException.Changed(url, e);
            }
        }
    }
}
