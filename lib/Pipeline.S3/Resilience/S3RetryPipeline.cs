using System.Net.Sockets;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Pipeline.S3.Resilience;

/// <summary>
/// Runs S3 requests under a Polly pipeline: per-attempt timeout inside exponential retry with jitter.
/// Only transient failures are retried (throttling, 5xx, timeouts, dropped connections); anything a user
/// must fix (denied, no such bucket, bad credentials, any other 4xx) fails at once. Time comes from the
/// injected <see cref="TimeProvider"/>, so tests neither sleep nor wait.
/// </summary>
internal sealed partial class S3RetryPipeline
{
    private static readonly ResiliencePropertyKey<S3Call> CallKey = new("Pipeline.S3.Call");

    // S3 error codes that mean "try again later", whatever the status code says.
    private static readonly HashSet<string> TransientCodes = new(StringComparer.Ordinal)
    {
        "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "TooManyRequests",
        "RequestLimitExceeded", "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
        "OperationAborted", "BadDigest", "XAmzContentSHA256Mismatch"
    };

    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;

    public S3RetryPipeline(S3RetryOptions options, TimeProvider time, ILogger logger)
    {
        options.Validate();
        _logger = logger;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time, Name = "Pipeline.S3" }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(1, options.MaxRetries),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay > TimeSpan.Zero ? options.MaxDelay : null,
                ShouldHandle = args => ValueTask.FromResult(
                    options.MaxRetries > 0 && args.Outcome.Exception is { } e && IsTransient(e, args.Context.CancellationToken)),
                OnRetry = args =>
                {
                    var call = args.Context.Properties.GetValue(CallKey, new S3Call("request", "?"));
                    Log.Retrying(_logger, call.Operation, call.Target, call.UploadId, call.Part, args.AttemptNumber + 1, options.MaxRetries, args.RetryDelay,
                        Describe(args.Outcome.Exception));
                    return default;
                },
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
    }

    public async Task<T> ExecuteAsync<T>(S3Call call, Func<CancellationToken, Task<T>> request, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(CallKey, call);
        try
        {
            return await _pipeline.ExecuteAsync(static async (ctx, send) => await send(ctx.CancellationToken), context, request);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>True for failures that another attempt may not meet; false for everything a user must fix.</summary>
    public static bool IsTransient(Exception exception, CancellationToken callerToken)
    {
        switch (exception)
        {
            case OperationCanceledException:
                // Ours to honour when the caller cancelled; otherwise an HTTP timeout.
                return !callerToken.IsCancellationRequested;
            case TimeoutRejectedException:
                return true;
            case AmazonServiceException service when service.StatusCode != 0:
                if (service.ErrorCode is { } code && TransientCodes.Contains(code)) return true;
                var status = (int)service.StatusCode;
                // 501 Not Implemented is an answer, not an outage: the store lacks the operation.
                if (status >= 500 && status != 501) return true;
                if (status is 408 or 429) return true;
                if (status >= 300) return false;
                break;
        }
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException or IOException or SocketException or TimeoutException) return true;
        }
        return false;
    }

    private static string Describe(Exception? e) => e switch
    {
        null => "no exception",
        AmazonServiceException s when s.StatusCode != 0 => $"{(int)s.StatusCode} {s.ErrorCode}: {s.Message}",
        TimeoutRejectedException => "the attempt timed out",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning,
            "S3 {Operation} of {Target} (upload {UploadId}, part {Part}) failed; retry {Retry} of {MaxRetries} in {Delay}: {Error}")]
        public static partial void Retrying(ILogger logger, string operation, string target, string? uploadId, int? part, int retry, int maxRetries, TimeSpan delay, string error);
    }
}
