using System.Text;
using Amazon.Runtime;
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

    /// <summary>A ListMultipartUploadsResult page of uploads of <see cref="Key"/>; markers only when given.</summary>
    private static StubResponse Page(bool truncated, string? nextKeyMarker, string? nextUploadIdMarker, params string?[] uploadIds)
    {
        var xml = new StringBuilder($"<ListMultipartUploadsResult><Bucket>customer-bucket</Bucket><Prefix>{Key}</Prefix><MaxUploads>2</MaxUploads>");
        xml.Append(truncated ? "<IsTruncated>true</IsTruncated>" : "<IsTruncated>false</IsTruncated>");
        if (nextKeyMarker is not null) xml.Append($"<NextKeyMarker>{nextKeyMarker}</NextKeyMarker>");
        if (nextUploadIdMarker is not null) xml.Append($"<NextUploadIdMarker>{nextUploadIdMarker}</NextUploadIdMarker>");
        foreach (var id in uploadIds)
            xml.Append(id is null ? $"<Upload><Key>{Key}</Key></Upload>" : $"<Upload><Key>{Key}</Key><UploadId>{id}</UploadId></Upload>");
        return StubResponse.Xml(200, xml.Append("</ListMultipartUploadsResult>").ToString());
    }

    private static bool IsListing(CapturedRequest r) => r.Method == "GET" && r.HasQuery("uploads");

    private IEnumerable<CapturedRequest> Listings => S3.Requests.Where(IsListing);

    private IEnumerable<string?> Aborted => S3.Requests.Where(r => r.Method == "DELETE").Select(r => r.QueryValue("uploadId"));

    /// <summary>Answers the listing with <paramref name="pages"/> in order, then with an empty last page, so a destination that would list forever stops.</summary>
    private void AnswerListings(params StubResponse[] pages)
    {
        var asked = 0;
        S3.Override = r => !IsListing(r) ? null : Interlocked.Increment(ref asked) <= pages.Length ? pages[asked - 1] : Page(false, null, null);
    }

    [Test]
    public async Task Uploads_of_one_key_on_several_pages_are_followed_by_the_upload_id_marker()
    {
        // Listed with the key as prefix, every page ends at the same key: only the upload id marker moves on.
        S3.Override = r => !IsListing(r) ? null
            : r.QueryValue("key-marker") is null ? Page(true, Key, "u-2", "u-1", "u-2")
            : r.QueryValue("key-marker") == Key && r.QueryValue("upload-id-marker") == "u-2" ? Page(true, Key, "u-4", "u-3", "u-4")
            : r.QueryValue("key-marker") == Key && r.QueryValue("upload-id-marker") == "u-4" ? Page(false, null, null, "u-5")
            : StubResponse.Error(400, "InvalidArgument", $"unexpected {r}");

        await Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(Listings.Select(r => (r.QueryValue("key-marker"), r.QueryValue("upload-id-marker"))), Is.EqualTo(new (string?, string?)[] { (null, null), (Key, "u-2"), (Key, "u-4") }));
        Assert.That(Aborted, Is.EqualTo(new[] { "u-1", "u-2", "u-3", "u-4", "u-5" }));
    }

    [Test]
    public async Task A_store_that_says_more_without_saying_where_stops_after_that_page()
    {
        AnswerListings(Page(true, null, null, "u-1"));

        await Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(Listings.Count(), Is.EqualTo(1));
        Assert.That(Aborted, Is.EqualTo(new[] { "u-1" }));
    }

    [Test]
    public async Task A_store_that_answers_the_same_page_again_stops_instead_of_listing_forever()
    {
        AnswerListings(Page(true, Key, "u-1", "u-1"), Page(true, Key, "u-1", "u-1"), Page(true, Key, "u-1", "u-1"));

        await Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(Listings.Count(), Is.EqualTo(2), "the second page continues from where it started");
    }

    [Test]
    public async Task A_page_not_marked_truncated_is_the_last_even_with_a_next_marker()
    {
        AnswerListings(Page(false, Key, "u-1", "u-1"));

        await Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(Listings.Count(), Is.EqualTo(1));
    }

    [Test]
    public async Task No_uploads_to_list_means_nothing_to_abort()
    {
        AnswerListings(Page(false, null, null));

        await Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(Listings.Count(), Is.EqualTo(1));
        Assert.That(Aborted, Is.Empty);
    }

    [Test]
    public async Task An_upload_listed_without_an_id_is_skipped()
    {
        AnswerListings(Page(false, null, null, null, "u-2"));

        await Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(Aborted, Is.EqualTo(new[] { "u-2" }));
    }

    [Test]
    public async Task An_answer_that_names_no_bucket_is_not_trusted_even_if_it_lists_uploads()
    {
        S3.Override = r => IsListing(r)
            ? StubResponse.Xml(200, $"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated><Upload><Key>{Key}</Key><UploadId>u-1</UploadId></Upload></ListMultipartUploadsResult>")
            : null;
        var loggers = new ListLoggerFactory();
        using var destinations = Factory(loggers: loggers);

        await destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(Aborted, Is.Empty);
        Assert.That(loggers.Entries.Single(e => e.Message.StartsWith("Run run-1:", StringComparison.Ordinal)).Message, Is.EqualTo(
            $"Run run-1: cannot look for unrecorded uploads of s3://customer-bucket/{Key} (the store answered ListMultipartUploads with something else); the stale-upload sweep removes them"));
    }

    [Test]
    public async Task Each_unrecorded_upload_aborted_is_logged_with_the_run_and_the_upload()
    {
        S3.UploadPages.Add([(Key, "u-1", null), (Key, "u-kept", null)]);
        var loggers = new ListLoggerFactory();
        using var destinations = Factory(loggers: loggers);

        await destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, "u-kept", CancellationToken.None);

        var log = loggers.Entries.Single(e => e.Message.StartsWith("Run run-1:", StringComparison.Ordinal));
        Assert.That(log.Level, Is.EqualTo(LogLevel.Information));
        Assert.That(log.Message, Is.EqualTo($"Run run-1: aborted multipart upload u-1 of s3://customer-bucket/{Key}, started by an attempt that died before recording it"));
    }

    // A store may refuse by status with any code, or name the refusal with another status.
    [TestCase(501, "Unsupported")]
    [TestCase(405, "Unsupported")]
    [TestCase(404, "NoSuchKey")]
    [TestCase(400, "NotImplemented")]
    [TestCase(400, "MethodNotAllowed")]
    public async Task A_store_that_cannot_list_uploads_is_recognised_by_status_or_by_error_code(int status, string code)
    {
        S3.Override = r => IsListing(r) ? StubResponse.Error(status, code, code) : null;
        var loggers = new ListLoggerFactory();
        using var destinations = Factory(loggers: loggers);

        await destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None);

        Assert.That(loggers.Entries.Single(e => e.Message.StartsWith("Run run-1:", StringComparison.Ordinal)).Message, Is.EqualTo(
            $"Run run-1: cannot look for unrecorded uploads of s3://customer-bucket/{Key} (ListMultipartUploads answered {status} {code}); the stale-upload sweep removes them"));
    }

    [Test]
    public void Any_other_refusal_of_the_listing_is_not_swallowed()
    {
        S3.Override = r => IsListing(r) ? StubResponse.Error(400, "InvalidArgument", "bad marker") : null;

        Assert.That(() => Destinations.OpenS3(Spec(S3.Endpoint, "customer-bucket", "exports/")).AbortUnrecordedAsync("run-1", Key, null, CancellationToken.None),
            Throws.InstanceOf<AmazonServiceException>().With.Property(nameof(AmazonServiceException.ErrorCode)).EqualTo("InvalidArgument"));
    }
}
