using Microsoft.Extensions.Logging;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Delivery;

/// <summary>
/// Uploads an attempt started and died before recording: found by listing the key's uploads and aborted, except the
/// recorded one. Against the fake S3, since neither emulator lists uploads; stores that can't degrade to the sweep.
/// </summary>
public sealed class S3UnrecordedUploadTests : FakeS3Fixture
{
    private const string Key = "exports/a.csv.gz";

    [Test]
    public async Task Every_upload_of_exactly_the_key_but_the_recorded_one_is_aborted_on_every_page()
    {
        S3.UploadPages.Add([(Key, "u-1", null), (Key, "u-kept", null)]);
        S3.UploadPages.Add([(Key + ".bak", "u-other-key", null), (Key, "u-3", null)]);
        var destination = Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/"));

        await destination.AbortUnrecordedAsync("run-1", Key, "u-kept", CancellationToken.None);

        var lists = S3.Requests.Where(r => r.Method == "GET" && r.HasQuery("uploads")).ToList();
        Assert.That(lists, Has.Count.EqualTo(2));
        Assert.That(lists.Select(r => r.QueryValue("prefix")), Has.All.EqualTo(Key), "listed with the key as prefix");
        var aborts = S3.Requests.Where(r => r.Method == "DELETE").Select(r => (r.Path, r.QueryValue("uploadId"))).ToList();
        Assert.That(aborts, Is.EqualTo(new[] { ("/customer-bucket/" + Key, "u-1"), ("/customer-bucket/" + Key, "u-3") }));
    }

    [Test]
    public async Task Without_a_recorded_upload_every_upload_of_the_key_is_aborted()
    {
        S3.UploadPages.Add([(Key, "u-1", null), (Key, "u-2", null)]);
        var destination = Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/"));

        await destination.AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(S3.Requests.Where(r => r.Method == "DELETE").Select(r => r.QueryValue("uploadId")), Is.EqualTo(new[] { "u-1", "u-2" }));
    }

    // fauxqs answers ?uploads with an object listing; s3rver with NotImplemented; a least-privilege writer may be denied.
    [TestCase(200, "object listing")]
    [TestCase(501, "NotImplemented")]
    [TestCase(405, "MethodNotAllowed")]
    [TestCase(403, "AccessDenied")]
    public async Task A_store_that_cannot_list_uploads_leaves_them_to_the_sweep_with_a_debug_log(int status, string answer)
    {
        S3.Override = r => !r.HasQuery("uploads") ? null
            : status == 200 ? StubResponse.Xml(200, $"<ListBucketResult><Name>customer-bucket</Name><Prefix>{Key}</Prefix><Contents><Key>{Key}</Key><Size>3</Size></Contents></ListBucketResult>")
            : StubResponse.Error(status, answer, answer);
        var loggers = new ListLoggerFactory();
        using var destinations = Factory(loggers: loggers);
        var destination = destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/"));

        await destination.AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(S3.Requests.Count(r => r.HasQuery("uploads")), Is.EqualTo(1), "asked once, not retried");
        Assert.That(S3.Requests.Where(r => r.Method == "DELETE"), Is.Empty);
        var log = loggers.Entries.Single(e => e.Message.Contains("stale-upload sweep", StringComparison.Ordinal));
        Assert.That(log.Level, Is.EqualTo(LogLevel.Debug));
        Assert.That(log.Fields["RunId"], Is.EqualTo("run-1"));
        Assert.That(log.Message, Does.Contain("s3://customer-bucket/" + Key));
    }
}
