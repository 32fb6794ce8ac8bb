using System.Security.Cryptography;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;

namespace Pipeline.S3.Tests.Delivery;

public sealed class SinglePutUploadTests
{
    [TestCase("text/csv; charset=utf-8", "gzip")]
    [TestCase("text/tab-separated-values; charset=utf-8", null)]
    [TestCase("weird:type/with%percent", "br:x")]
    public void The_upload_id_carries_the_object_properties(string contentType, string? encoding)
    {
        var id = SinglePutUpload.Encode(new ObjectProperties(contentType, encoding));

        Assert.That(id, Does.StartWith("put:"));
        Assert.That(SinglePutUpload.TryDecode(id, out var decoded), Is.True);
        Assert.That(decoded, Is.EqualTo(new ObjectProperties(contentType, encoding)));
    }

    [TestCase("VXBsb2FkIElEIGZvciA2aWWWpmZXN0IE1QVS4-")]
    [TestCase("2~abcdefghijklmnop")]
    [TestCase("putting")]
    [TestCase("put:text%2Fcsv")]
    [TestCase("put:text%2Fcsv:gzip:more")]
    public void Real_upload_ids_are_never_taken_for_a_single_put(string uploadId) =>
        Assert.That(SinglePutUpload.TryDecode(uploadId, out _), Is.False);

    [Test]
    public void The_threshold_is_the_engines_smallest_part_so_a_single_put_file_is_always_one_part() =>
        Assert.That(S3Destination.Limits.MinPartSize, Is.EqualTo(S3Destination.SinglePutThreshold));

    [Test]
    public void The_multipart_ETag_is_the_MD5_of_the_part_MD5s_and_the_part_count()
    {
#pragma warning disable CA5351 // S3's ETag formula
        var a = MD5.HashData("part one"u8);
        var b = MD5.HashData("part two"u8);
        var expected = Convert.ToHexStringLower(MD5.HashData(a.Concat(b).ToArray())) + "-2";
#pragma warning restore CA5351
        var parts = new[]
        {
            new PartReceipt(2, 8, 8, $"\"{Convert.ToHexStringLower(b)}\"", "x"),
            new PartReceipt(1, 0, 8, $"\"{Convert.ToHexStringLower(a)}\"", "x"),
        };

        Assert.That(S3Destination.MultipartETag(parts), Is.EqualTo(expected));
        Assert.That(S3Destination.MultipartETag([new PartReceipt(1, 0, 1, "\"not-an-md5\"", "x")]), Is.Null);
    }

    [Test]
    public void The_composite_checksum_is_the_SHA256_of_the_part_SHA256s_and_the_part_count()
    {
        // Worked out by hand: base64 SHA-256 of SHA-256("part one") followed by SHA-256("part two"), "-2".
        var parts = new[]
        {
            new PartReceipt(2, 8, 8, "\"e\"", "6laDy6WANfTzuTcCPLpwTwvkdmuspd1N7uRgvdEJF0E="),
            new PartReceipt(1, 0, 8, "\"e\"", "/tfwXBC8ldWX5vgQMijEwQeYtfdyFfcYqFRTTaVj3J4="),
        };

        Assert.That(ExpectedObject.CompositeSha256(parts), Is.EqualTo("ZcfzJvHWAX9vO7fPKA9XUU5dtZ+mmrAFxgKDQljlC2k=-2"));
        Assert.That(ExpectedObject.CompositeSha256([parts[1] with { Sha256Base64 = "" }]), Is.Null, "compatibility mode records no checksums");
    }
}
