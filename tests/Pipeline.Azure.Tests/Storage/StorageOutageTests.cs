using System.Net.Sockets;
using Azure;
using Pipeline.Azure.Storage;

namespace Pipeline.Azure.Tests.Storage;

public class StorageOutageTests
{
    private static RequestFailedException NoResponse(string why) => new(why, new HttpRequestException(why));

    private static IEnumerable<TestCaseData> Outages()
    {
        yield return new TestCaseData(NoResponse("Connection refused (127.0.0.1:10001)")).SetName("No response at all");
        foreach (var status in new[] { 408, 500, 502, 503, 504 })
            yield return new TestCaseData(new RequestFailedException(status, "busy")).SetName($"Status {status}");
        yield return new TestCaseData(new AggregateException("Retry failed after 6 tries.", NoResponse("Broken pipe"), new RequestFailedException(503, "busy")))
            .SetName("An SDK retry that gave up on outages only");
        yield return new TestCaseData(new AggregateException("Retry failed after 6 tries.", NoResponse("Broken pipe"), new SocketException((int)SocketError.NotConnected)))
            .SetName("A raw socket failure the SDK did not wrap");
        yield return new TestCaseData(new IOException("The response ended prematurely.")).SetName("A response cut short");
        yield return new TestCaseData(new AggregateException("Retry failed after 6 tries.", new TaskCanceledException("timeout"), new TaskCanceledException("timeout")))
            .SetName("Every try timed out (an account that drops packets)");
    }

    [TestCaseSource(nameof(Outages))]
    public void An_unreachable_or_briefly_failing_account_is_an_outage(Exception e) =>
        Assert.That(StorageOutage.IsOutage(e), Is.True);

    private static IEnumerable<TestCaseData> Answers()
    {
        foreach (var status in new[] { 400, 403, 404, 409, 412 })
            yield return new TestCaseData(new RequestFailedException(status, "refused")).SetName($"Status {status}");
        yield return new TestCaseData(new AggregateException("Retry failed.", NoResponse("Broken pipe"), new RequestFailedException(403, "denied")))
            .SetName("A retry that ended in a refusal");
        yield return new TestCaseData(new AggregateException()).SetName("An empty aggregate");
        yield return new TestCaseData(new InvalidOperationException("a bug")).SetName("A bug");
    }

    [TestCaseSource(nameof(Answers))]
    public void A_refusal_or_a_bug_is_not_an_outage(Exception e) =>
        Assert.That(StorageOutage.IsOutage(e), Is.False);

    [Test]
    public void Explain_says_unreachable_and_why_in_a_few_words_or_passes_other_failures_on()
    {
        var gaveUp = new AggregateException("Retry failed after 6 tries. Retry settings can be adjusted in ClientOptions.Retry.",
            NoResponse("Connection refused (127.0.0.1:10001)"), NoResponse("Broken pipe (127.0.0.1:10001)"));

        Assert.That(StorageOutage.Explain(gaveUp), Is.EqualTo("Azure Storage is unreachable (Broken pipe (127.0.0.1:10001))"));
        Assert.That(StorageOutage.Explain(new RequestFailedException(503, "x", "ServerBusy", null)), Is.EqualTo("Azure Storage is unreachable (503 ServerBusy)"));
        Assert.That(StorageOutage.Describe(new RequestFailedException(404, "x")), Is.EqualTo("404"));
        Assert.That(StorageOutage.Explain(new InvalidOperationException("a bug")), Is.EqualTo("a bug"));
    }

    [Test]
    public void A_storage_outage_is_the_accounts_not_a_local_disk_or_file()
    {
        var timedOut = new AggregateException("Retry failed after 6 tries.", new TaskCanceledException("timeout"), new TaskCanceledException("timeout"));

        using (Assert.EnterMultipleScope())
        {
            Assert.That(StorageOutage.IsStorageOutage(NoResponse("Connection refused (127.0.0.1:10001)")), Is.True);
            Assert.That(StorageOutage.IsStorageOutage(timedOut), Is.True, "every try timed out");
            Assert.That(StorageOutage.Explain(timedOut), Is.EqualTo("Azure Storage is unreachable (no answer within the network timeout)"));
            Assert.That(StorageOutage.IsStorageOutage(new IOException("No space left on device")), Is.False);
            Assert.That(StorageOutage.IsStorageOutage(new FileNotFoundException("gone", "/data/a.csv")), Is.False);
            Assert.That(StorageOutage.IsStorageOutage(new RequestFailedException(403, "denied", "AuthorizationFailure", null)), Is.False);
        }
    }

    [Test]
    public void Only_an_sdk_failure_is_described_as_azure_storages()
    {
        var sdk = new AggregateException("Retry failed.", new TaskCanceledException("t"), new RequestFailedException(503, "busy"));
        var disk = new IOException("No space left on device");

        Assert.That(StorageOutage.IsAzureFailure(sdk), Is.True);
        Assert.That(StorageOutage.IsAzureFailure(disk), Is.False);
        Assert.That(StorageOutage.Explain(disk), Is.EqualTo("No space left on device"), "a full disk is not an unreachable account");
        Assert.That(StorageOutage.Explain(new AggregateException("Retry failed.", NoResponse("Broken pipe"), new TaskCanceledException("t"))),
            Is.EqualTo("Azure Storage is unreachable (no answer within the network timeout)"));
    }
}
