using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Pipeline.S3.Resilience;
using Pipeline.S3.Tests.Infrastructure;
using Polly.Timeout;

namespace Pipeline.S3.Tests.Resilience;

public sealed class S3RetryPipelineTests
{
    private static AmazonS3Exception S3Error(HttpStatusCode status, string code) =>
        new($"stub {code}", Amazon.Runtime.ErrorType.Sender, code, "req", status);

    private static readonly S3Call Call = new("UploadPart", "bucket", "exports/a.csv", "upload-1", 3);

    public static IEnumerable<TestCaseData> Transient()
    {
        yield return new TestCaseData(S3Error(HttpStatusCode.ServiceUnavailable, "SlowDown")).SetName("503 SlowDown is retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.InternalServerError, "InternalError")).SetName("500 InternalError is retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.BadGateway, "")).SetName("502 is retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.TooManyRequests, "TooManyRequests")).SetName("429 is retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.BadRequest, "RequestTimeout")).SetName("400 RequestTimeout is retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.BadRequest, "Throttling")).SetName("400 Throttling is retried");
        yield return new TestCaseData(new HttpRequestException("reset", new IOException("Connection reset by peer"))).SetName("A connection reset is retried");
        yield return new TestCaseData(new IOException("broken pipe")).SetName("An IOException is retried");
        yield return new TestCaseData(new SocketException((int)SocketError.ConnectionRefused)).SetName("A refused connection is retried");
        yield return new TestCaseData(new TimeoutRejectedException()).SetName("An attempt timeout is retried");
        yield return new TestCaseData(new TaskCanceledException("HttpClient.Timeout")).SetName("An HTTP timeout is retried");
    }

    public static IEnumerable<TestCaseData> Permanent()
    {
        yield return new TestCaseData(S3Error(HttpStatusCode.Forbidden, "AccessDenied")).SetName("AccessDenied is not retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.NotFound, "NoSuchBucket")).SetName("NoSuchBucket is not retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.Forbidden, "InvalidAccessKeyId")).SetName("InvalidAccessKeyId is not retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.Forbidden, "SignatureDoesNotMatch")).SetName("SignatureDoesNotMatch is not retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.MovedPermanently, "PermanentRedirect")).SetName("PermanentRedirect is not retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.BadRequest, "InvalidArgument")).SetName("Other 4xx are not retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.NotFound, "NoSuchUpload")).SetName("NoSuchUpload is not retried");
        yield return new TestCaseData(S3Error(HttpStatusCode.NotImplemented, "NotImplemented")).SetName("501 NotImplemented is not retried");
        yield return new TestCaseData(new InvalidOperationException("bug")).SetName("A bug is not retried");
    }

    [TestCaseSource(nameof(Transient))]
    public void Transient_failures(Exception e) => Assert.That(S3RetryPipeline.IsTransient(e, CancellationToken.None), Is.True);

    [TestCaseSource(nameof(Permanent))]
    public void Permanent_failures(Exception e) => Assert.That(S3RetryPipeline.IsTransient(e, CancellationToken.None), Is.False);

    [Test]
    public void The_callers_own_cancellation_is_never_retried()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.That(S3RetryPipeline.IsTransient(new OperationCanceledException(cancelled.Token), cancelled.Token), Is.False);
    }

    [Test]
    public async Task Backoff_waits_on_the_injected_clock_and_each_retry_is_logged_with_key_upload_and_part()
    {
        var time = new ObservedTime();
        using var logs = new ListLoggerFactory();
        var maxDelay = TimeSpan.FromSeconds(8);
        var pipeline = new S3RetryPipeline(new S3RetryOptions { MaxRetries = 3, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = maxDelay, AttemptTimeout = TimeSpan.FromHours(1) },
            time, logs.CreateLogger("retry"));
        var attempts = 0;

        var call = pipeline.ExecuteAsync(Call, _ =>
        {
            if (++attempts < 3) throw S3Error(HttpStatusCode.ServiceUnavailable, "SlowDown");
            return Task.FromResult("done");
        }, CancellationToken.None);

        // Each failed attempt starts a backoff timer (the hour-long attempt timeouts are skipped); only advancing fake time ends it.
        for (var failed = 1; failed <= 2; failed++)
        {
            var backoff = await time.NextTimerAsync(atMost: maxDelay);
            Assert.That(attempts, Is.EqualTo(failed));
            Assert.That(call.IsCompleted, Is.False, "waiting for the backoff, on fake time");
            Assert.That(backoff, Is.GreaterThan(TimeSpan.Zero));
            time.Fake.Advance(backoff);
        }
        Assert.That(await call.WaitAsync(ObservedTime.Bound), Is.EqualTo("done"));
        Assert.That(attempts, Is.EqualTo(3));
        var logged = logs.Entries.Where(e => e.Level == LogLevel.Warning).ToList();
        Assert.That(logged, Has.Count.EqualTo(2));
        Assert.That(logged[0].Fields["Operation"], Is.EqualTo("UploadPart"));
        Assert.That(logged[0].Fields["Target"], Is.EqualTo("s3://bucket/exports/a.csv"));
        Assert.That(logged[0].Fields["UploadId"], Is.EqualTo("upload-1"));
        Assert.That(logged[0].Fields["Part"], Is.EqualTo(3));
        Assert.That(logged[0].Message, Does.Contain("503 SlowDown").And.Contain("retry 1 of 3"));
        Assert.That(logged[1].Message, Does.Contain("retry 2 of 3"));
    }

    [Test]
    public async Task A_stalled_attempt_times_out_on_the_injected_clock_and_the_next_attempt_runs()
    {
        var time = new ObservedTime();
        var timeout = TimeSpan.FromSeconds(30);
        var pipeline = new S3RetryPipeline(S3TestKit.FastRetries(attemptTimeout: timeout), time, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var attempts = 0;
        var stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var call = pipeline.ExecuteAsync(Call, async ct =>
        {
            if (++attempts == 1)
            {
                stalled.SetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }
            return attempts;
        }, CancellationToken.None);
        Assert.That(await time.NextTimerAsync(atMost: timeout), Is.EqualTo(timeout), "the first attempt's timeout");
        await stalled.Task.WaitAsync(ObservedTime.Bound);
        Assert.That(call.IsCompleted, Is.False, "the attempt waits until fake time passes its timeout");
        time.Fake.Advance(timeout);

        Assert.That(await call.WaitAsync(ObservedTime.Bound), Is.EqualTo(2));
    }

    [Test]
    public void Permanent_failures_are_thrown_after_one_attempt()
    {
        var pipeline = new S3RetryPipeline(S3TestKit.FastRetries(), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var attempts = 0;

        Assert.That(() => pipeline.ExecuteAsync<int>(Call, _ => { attempts++; throw S3Error(HttpStatusCode.Forbidden, "AccessDenied"); }, CancellationToken.None),
            Throws.TypeOf<AmazonS3Exception>());
        Assert.That(attempts, Is.EqualTo(1));
    }

    [Test]
    public void Zero_retries_means_one_attempt()
    {
        var pipeline = new S3RetryPipeline(S3TestKit.FastRetries(maxRetries: 0), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var attempts = 0;

        Assert.That(() => pipeline.ExecuteAsync<int>(Call, _ => { attempts++; throw S3Error(HttpStatusCode.ServiceUnavailable, "SlowDown"); }, CancellationToken.None),
            Throws.TypeOf<AmazonS3Exception>());
        Assert.That(attempts, Is.EqualTo(1));
    }

    [TestCase(-1, 0, 0, 60, TestName = "Negative retries are rejected")]
    [TestCase(3, -1, 0, 60, TestName = "A negative base delay is rejected")]
    [TestCase(3, 5, 1, 60, TestName = "A max delay below the base delay is rejected")]
    [TestCase(3, 0, 0, 0, TestName = "A zero attempt timeout is rejected")]
    public void Bad_options_are_rejected_naming_the_setting(int retries, int baseSeconds, int maxSeconds, int timeoutSeconds)
    {
        var options = new S3RetryOptions
        {
            MaxRetries = retries,
            BaseDelay = TimeSpan.FromSeconds(baseSeconds),
            MaxDelay = TimeSpan.FromSeconds(maxSeconds),
            AttemptTimeout = TimeSpan.FromSeconds(timeoutSeconds),
        };
        Assert.That(() => options.Validate(), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
