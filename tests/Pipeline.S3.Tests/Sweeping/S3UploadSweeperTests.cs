using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Sweeping;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Sweeping;

/// <summary>
/// Against the fake S3: neither emulator implements ListMultipartUploads (fauxqs answers it with an object
/// listing, s3rver does not route it), so the sweep's paging and aborts are checked on the wire here.
/// </summary>
public sealed class S3UploadSweeperTests : FakeS3Fixture
{
    private static readonly DateTimeOffset Cutoff = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);


    private DestinationSpec Destination(Func<S3DestinationOptions, S3DestinationOptions>? change = null) => Spec(S3.Endpoint, "customer-bucket", "exports/", change);

    [Test]
    public async Task Stale_uploads_on_every_page_are_aborted_and_recent_or_undated_ones_are_kept()
    {
        S3.UploadPages.Add([("exports/a.csv", "u-a", Cutoff.AddDays(-3)), ("exports/b.csv", "u-b", Cutoff.AddMinutes(1))]);
        S3.UploadPages.Add([("exports/c.csv", "u-c", Cutoff.AddSeconds(-1)), ("exports/d.csv", "u-d", null)]);

        var swept = await new S3UploadSweeper(Destinations).SweepAsync(Destination(), Cutoff, CancellationToken.None);

        Assert.That(swept.Select(s => (s.Key, s.UploadId)), Is.EqualTo(new[] { ("exports/a.csv", "u-a"), ("exports/c.csv", "u-c") }));
        Assert.That(swept[0].Initiated, Is.EqualTo(Cutoff.AddDays(-3)));
        var lists = S3.Requests.Where(r => r.HasQuery("uploads")).ToList();
        Assert.That(lists, Has.Count.EqualTo(2));
        Assert.That(lists.Select(r => r.QueryValue("prefix")), Has.All.EqualTo("exports/"));
        Assert.That(lists[1].QueryValue("key-marker"), Is.EqualTo("exports/b.csv"));
        Assert.That(lists[1].QueryValue("upload-id-marker"), Is.EqualTo("u-b"));
        var aborts = S3.Requests.Where(r => r.Method == "DELETE").ToList();
        Assert.That(aborts.Select(r => (r.Path, r.QueryValue("uploadId"))), Is.EqualTo(new[] { ("/customer-bucket/exports/a.csv", "u-a"), ("/customer-bucket/exports/c.csv", "u-c") }));
    }

    [Test]
    public async Task An_upload_finished_meanwhile_is_not_reported()
    {
        S3.UploadPages.Add([("exports/a.csv", "u-a", Cutoff.AddDays(-3))]);
        S3.Override = r => r.Method == "DELETE" ? StubResponse.Error(404, "NoSuchUpload", "gone") : null;

        var swept = await new S3UploadSweeper(Destinations).SweepAsync(Destination(), Cutoff, CancellationToken.None);

        Assert.That(swept, Is.Empty);
    }

    [Test]
    public async Task Cross_account_sweeps_send_the_expected_owner()
    {
        S3.UploadPages.Add([("exports/a.csv", "u-a", Cutoff.AddDays(-3))]);

        await new S3UploadSweeper(Destinations).SweepAsync(
            Destination(o => o with { Credentials = S3CredentialMode.CrossAccount, BucketOwnerAccountId = "111122223333", SecretName = "k" }), Cutoff, CancellationToken.None);

        Assert.That(S3.Requests.Select(r => r.Header("x-amz-expected-bucket-owner")), Has.All.EqualTo("111122223333"));
    }

    [Test]
    public async Task A_denied_listing_names_ListBucketMultipartUploads_on_the_bucket()
    {
        S3.Override = _ => StubResponse.Error(403, "AccessDenied", "Access Denied");

        var error = await Assert.ThrowsAsync<DestinationException>(() => new S3UploadSweeper(Destinations).SweepAsync(Destination(), Cutoff, CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("s3:ListBucketMultipartUploads on arn:aws:s3:::customer-bucket").And.Not.Contain("customer-bucket/*"));
    }

    [Test]
    public async Task A_store_that_pages_without_a_marker_does_not_loop()
    {
        S3.Override = r => r.HasQuery("uploads")
            ? StubResponse.Xml(200, "<ListMultipartUploadsResult><Bucket>customer-bucket</Bucket><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>")
            : null;

        var swept = await new S3UploadSweeper(Destinations).SweepAsync(Destination(), Cutoff, CancellationToken.None);

        Assert.That(swept, Is.Empty);
        Assert.That(S3.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_store_that_answers_with_an_object_listing_is_reported_instead_of_sweeping_nothing()
    {
        // What fauxqs does: GET ?uploads falls through to ListObjects.
        S3.Override = r => r.HasQuery("uploads")
            ? StubResponse.Xml(200, "<ListBucketResult><Name>customer-bucket</Name><Prefix>exports/</Prefix><IsTruncated>false</IsTruncated></ListBucketResult>")
            : null;

        var error = await Assert.ThrowsAsync<DestinationException>(() => new S3UploadSweeper(Destinations).SweepAsync(Destination(), Cutoff, CancellationToken.None));

        Assert.That(error!.Message, Does.Contain("does not support ListMultipartUploads"));
    }
}
