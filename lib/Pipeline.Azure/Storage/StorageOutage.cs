using System.Globalization;
using Azure;
using Azure.Core;

namespace Pipeline.Azure.Storage;

/// <summary>
/// What the pipeline does when its storage account is briefly not there (a network blip, a throttled or restarting
/// service, Azurite stopped): every client retries each call for about 15 seconds, and a caller that drives runs
/// (the CLI's Azure backend) waits and tries again for longer when even that runs out. Refusals (403, 404, 409, 412)
/// are answers, not outages, and are never retried here.
/// </summary>
public static class StorageOutage
{
    /// <summary>
    /// Retries of one call: after 0.5, 1, 2, 4 and 8 s (about 15 s in all with the SDK's jitter) instead of the SDK's
    /// 3 (about 6 s), so a stage rides out a blip inside the call rather than failing and spending one of its
    /// message's five attempts. Longer outages are the caller's to wait out (<c>AzurePipeline</c> waits up to 5 min),
    /// so that the user hears about them rather than watching a silent pause.
    /// </summary>
    public static T WithRetries<T>(T options) where T : ClientOptions
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = 5;
        options.Retry.Delay = TimeSpan.FromSeconds(0.5);
        options.Retry.MaxDelay = TimeSpan.FromSeconds(8);
        // An account that drops packets rather than refusing connections: each try gives up after 30 s, not the SDK's 100.
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
        return options;
    }

    /// <summary>
    /// True when <paramref name="e"/> means the account could not be reached or could not answer for now: no response
    /// at all (status 0), a timeout, or a 5xx; and an SDK retry that gave up on only such failures (a try that timed out
    /// is a cancellation inside the SDK's aggregate; a caller's own cancellation is never aggregated).
    /// </summary>
    public static bool IsOutage(Exception e) => e switch
    {
        RequestFailedException r => r.Status is 0 or 408 or 500 or 502 or 503 or 504,
        AggregateException a => a.InnerExceptions.Count > 0 && a.InnerExceptions.All(i => i is OperationCanceledException || IsOutage(i)),
        // What the SDK does not wrap: a connection that broke while a response was read.
        HttpRequestException or IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        _ => false,
    };

    /// <summary>
    /// An outage of the storage account itself: an <see cref="IsOutage"/> failure that an Azure SDK call gave (an SDK
    /// retry that ran out is an aggregate, even when every try timed out). A full disk or a broken local file is an
    /// IOException too, and not the account's: waiting for the account does not mend it.
    /// </summary>
    public static bool IsStorageOutage(Exception e) => IsOutage(e) && (IsAzureFailure(e) || e is AggregateException);

    /// <summary>Whether <paramref name="e"/> came from an Azure SDK call (so it may be described as Azure Storage's).</summary>
    public static bool IsAzureFailure(Exception e) =>
        e is RequestFailedException || (e is AggregateException a && a.InnerExceptions.Any(i => i is RequestFailedException));

    /// <summary>The failure in a few words, for a log line: why no answer came, or the status and code; never headers or a SAS.</summary>
    public static string Describe(Exception e)
    {
        if (e is AggregateException { InnerExceptions: [.., var last] }) e = last;
        return e switch
        {
            RequestFailedException { Status: 0 } r => r.InnerException?.Message ?? "no response",
            OperationCanceledException => "no answer within the network timeout",
            RequestFailedException r => string.IsNullOrEmpty(r.ErrorCode)
                ? r.Status.ToString(CultureInfo.InvariantCulture)
                : $"{r.Status.ToString(CultureInfo.InvariantCulture)} {r.ErrorCode}",
            _ => e.Message,
        };
    }

    /// <summary>A failure for a log line or a run's error: an outage in a few words rather than the SDK's list of every try.</summary>
    public static string Explain(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return IsStorageOutage(e) ? $"Azure Storage is unreachable ({Describe(e)})" : e.Message;
    }
}
