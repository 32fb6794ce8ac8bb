using System.Security.Cryptography;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;

namespace Pipeline.S3.Tests.Delivery;

/// <summary>
/// The prediction of what the store must hold, and the description of how its answer differs: the text a user
/// reads when a file is refused, so it is compared whole.
/// </summary>
public sealed class ExpectedObjectTests
{
    // MD5 and SHA-256 of "part one" and "part two", worked out independently of the code under test.
#pragma warning disable CA5351 // S3's ETags are MD5s
    private static readonly string Md5One = Convert.ToHexStringLower(MD5.HashData("part one"u8));
    private static readonly string Md5Two = Convert.ToHexStringLower(MD5.HashData("part two"u8));
    private static readonly string TwoPartETag = Convert.ToHexStringLower(MD5.HashData([.. MD5.HashData("part one"u8), .. MD5.HashData("part two"u8)])) + "-2";
#pragma warning restore CA5351
    private const string ShaOne = "/tfwXBC8ldWX5vgQMijEwQeYtfdyFfcYqFRTTaVj3J4=";
    private const string ShaTwo = "6laDy6WANfTzuTcCPLpwTwvkdmuspd1N7uRgvdEJF0E=";
    private const string TwoPartSha = "ZcfzJvHWAX9vO7fPKA9XUU5dtZ+mmrAFxgKDQljlC2k=-2";

    private static readonly PartReceipt[] TwoParts =
    [
        new(1, 0, 8, $"\"{Md5One}\"", ShaOne),
        new(2, 8, 8, $"\"{Md5Two}\"", ShaTwo),
    ];

    private static readonly ExpectedObject Multipart = new(16, TwoPartETag, TwoPartSha, Multipart: true);

    private static readonly ExpectedObject SinglePut = new(25, Md5One, ShaOne, Multipart: false);

    [Test]
    public void A_multipart_upload_on_S3_predicts_the_multipart_ETag_and_the_composite_checksum() =>
        Assert.That(ExpectedObject.Of(TwoParts, 16, etagsAreMd5: true, compatibility: false), Is.EqualTo(Multipart));

    [Test]
    public void A_multipart_upload_predicts_no_ETag_where_ETags_are_not_MD5s() =>
        Assert.That(ExpectedObject.Of(TwoParts, 16, etagsAreMd5: false, compatibility: false), Is.EqualTo(new ExpectedObject(16, null, TwoPartSha, Multipart: true)));

    [Test]
    public void A_multipart_upload_in_compatibility_mode_predicts_no_checksum_because_none_was_sent() =>
        Assert.That(ExpectedObject.Of(TwoParts, 16, etagsAreMd5: true, compatibility: true), Is.EqualTo(new ExpectedObject(16, TwoPartETag, null, Multipart: true)));

    [Test]
    public void A_single_put_predicts_the_ETag_and_checksum_of_its_receipt()
    {
        var receipt = new PartReceipt(1, 0, 25, $" \"{Md5One}\" ", ShaOne);

        Assert.That(ExpectedObject.OfSinglePut(receipt, etagsAreMd5: true), Is.EqualTo(SinglePut));
    }

    [Test]
    public void A_single_put_predicts_no_ETag_where_ETags_are_not_MD5s() =>
        Assert.That(ExpectedObject.OfSinglePut(new PartReceipt(1, 0, 25, $"\"{Md5One}\"", ShaOne), etagsAreMd5: false),
            Is.EqualTo(new ExpectedObject(25, null, ShaOne, Multipart: false)));

    [TestCase("\"3858f62230ac3c915f300c664312c63f-1\"", TestName = "A single put whose receipt ETag is multipart-shaped predicts no ETag")]
    [TestCase("\"not-an-md5\"", TestName = "A single put whose receipt ETag is not hex predicts no ETag")]
    public void A_single_put_whose_receipt_ETag_is_not_an_MD5_predicts_no_ETag(string etag) =>
        Assert.That(ExpectedObject.OfSinglePut(new PartReceipt(1, 0, 25, etag, ShaOne), etagsAreMd5: true),
            Is.EqualTo(new ExpectedObject(25, null, ShaOne, Multipart: false)));

    [Test]
    public void A_single_put_in_compatibility_mode_predicts_no_checksum() =>
        Assert.That(ExpectedObject.OfSinglePut(new PartReceipt(1, 0, 25, $"\"{Md5One}\"", ""), etagsAreMd5: true),
            Is.EqualTo(new ExpectedObject(25, Md5One, null, Multipart: false)));

    [Test]
    public void The_multipart_ETag_takes_the_parts_in_part_number_order_and_accepts_upper_case_hex() =>
        Assert.That(ExpectedObject.MultipartETag([TwoParts[1] with { ETag = $"\"{Md5Two.ToUpperInvariant()}\"" }, TwoParts[0]]), Is.EqualTo(TwoPartETag));

    [Test]
    public void The_composite_checksum_takes_the_parts_in_part_number_order() =>
        Assert.That(ExpectedObject.CompositeSha256([TwoParts[1], TwoParts[0]]), Is.EqualTo(TwoPartSha));

    [Test]
    public void A_store_that_agrees_has_no_mismatch() =>
        Assert.That(Multipart.Mismatch(16, [$"\"{TwoPartETag}\"", null, ""], [TwoPartSha, null, ""], compatibility: false), Is.Null);

    [Test]
    public void ETags_are_compared_ignoring_case_and_quotes() =>
        Assert.That(SinglePut.Mismatch(25, [$" \"{Md5One.ToUpperInvariant()}\" "], [], compatibility: false), Is.Null);

    [Test]
    public void A_store_that_reports_nothing_has_no_mismatch() =>
        Assert.That(Multipart.Mismatch(null, [], [], compatibility: false), Is.Null);

    [Test]
    public void Another_size_alone_names_both_sizes_with_thousands_separators() =>
        Assert.That(new ExpectedObject(20_160_123, null, null, Multipart: true).Mismatch(0, [], [], compatibility: false),
            Is.EqualTo("a 0-byte object, expected 20,160,123 bytes"));

    [Test]
    public void Another_ETag_alone_names_the_size_and_both_ETags() =>
        Assert.That(Multipart.Mismatch(16, [$"\"{Md5Two}-2\""], [], compatibility: false),
            Is.EqualTo($"a 16-byte object with ETag \"{Md5Two}-2\", expected \"{TwoPartETag}\""));

    [Test]
    public void Another_size_and_other_values_name_the_sizes_then_each_difference_in_the_order_reported()
    {
        var mismatch = Multipart.Mismatch(1_000, [$"\"{Md5One}-2\"", $"\"{Md5Two}-2\"", $"\"{Md5One}-2\""], ["x=-2"], compatibility: false);

        Assert.That(mismatch, Is.EqualTo($"a 1,000-byte object, expected 16 bytes (ETag \"{Md5One}-2\", expected \"{TwoPartETag}\", " +
            $"ETag \"{Md5Two}-2\", expected \"{TwoPartETag}\", SHA-256 \"x=-2\", expected \"{TwoPartSha}\")"));
    }

    [Test]
    public void Another_composite_checksum_of_a_multipart_upload_is_named() =>
        Assert.That(Multipart.Mismatch(16, [], ["x=-2"], compatibility: false), Is.EqualTo($"a 16-byte object with SHA-256 \"x=-2\", expected \"{TwoPartSha}\""));

    [Test]
    public void A_full_object_checksum_of_a_multipart_upload_is_not_compared_because_it_cannot_be_predicted_from_the_parts() =>
        Assert.That(Multipart.Mismatch(16, [], [ShaOne], compatibility: false), Is.Null);

    [Test]
    public void Another_checksum_of_a_single_put_is_named() =>
        Assert.That(SinglePut.Mismatch(25, [], [ShaTwo], compatibility: false), Is.EqualTo($"a 25-byte object with SHA-256 \"{ShaTwo}\", expected \"{ShaOne}\""));

    [Test]
    public void A_composite_checksum_is_not_compared_with_a_single_puts() =>
        Assert.That(SinglePut.Mismatch(25, [], [TwoPartSha], compatibility: false), Is.Null);

    [Test]
    public void Without_a_predicted_ETag_or_checksum_only_the_size_is_compared()
    {
        var sizeOnly = new ExpectedObject(25, null, null, Multipart: false);

        Assert.That(sizeOnly.Mismatch(25, [Md5Two], [ShaTwo], compatibility: false), Is.Null);
        Assert.That(sizeOnly.Mismatch(24, [Md5Two], [ShaTwo], compatibility: false), Is.EqualTo("a 24-byte object, expected 25 bytes"));
    }

    [Test]
    public void In_compatibility_mode_a_multipart_upload_whose_ETag_is_a_plain_MD5_is_accepted_but_another_multipart_ETag_is_not()
    {
        Assert.That(Multipart.Mismatch(16, [Md5Two], [], compatibility: true), Is.Null, "s3rver answers with the whole object's MD5");
        Assert.That(Multipart.Mismatch(16, [$"{Md5Two}-2"], [], compatibility: true), Is.EqualTo($"a 16-byte object with ETag \"{Md5Two}-2\", expected \"{TwoPartETag}\""));
        Assert.That(Multipart.Mismatch(16, [Md5Two], [], compatibility: false), Is.EqualTo($"a 16-byte object with ETag \"{Md5Two}\", expected \"{TwoPartETag}\""));
    }

    [Test]
    public void In_compatibility_mode_a_single_put_whose_ETag_is_not_an_MD5_is_accepted_but_another_MD5_is_not()
    {
        Assert.That(SinglePut.Mismatch(25, [$"{Md5Two}-1"], [], compatibility: true), Is.Null);
        Assert.That(SinglePut.Mismatch(25, [Md5Two], [], compatibility: true), Is.EqualTo($"a 25-byte object with ETag \"{Md5Two}\", expected \"{Md5One}\""));
        Assert.That(SinglePut.Mismatch(25, [$"{Md5Two}-1"], [], compatibility: false), Is.EqualTo($"a 25-byte object with ETag \"{Md5Two}-1\", expected \"{Md5One}\""));
    }

    [Test]
    public void The_ETag_S3_gives_a_single_put_is_the_lower_case_MD5_of_its_bytes() =>
        Assert.That(ExpectedObject.PutETag("part one"u8), Is.EqualTo(Md5One));

    [TestCase("\"abc\"", "abc")]
    [TestCase("  \"abc\"  ", "abc")]
    [TestCase("abc", "abc")]
    public void Quotes_and_spaces_around_an_ETag_are_dropped(string etag, string unquoted) =>
        Assert.That(ExpectedObject.Unquote(etag), Is.EqualTo(unquoted));
}
