using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;

namespace Pipeline.S3.Tests.Delivery;

public sealed class S3PartLimitsTests
{
    [Test]
    public void The_limits_are_S3s_5_MiB_to_5_GiB_parts_10000_of_them_and_5_TiB_objects() =>
        Assert.That(S3Destination.Limits, Is.EqualTo(new PartLimits(5L * 1024 * 1024, 5L * 1024 * 1024 * 1024, 10_000, 5L * 1024 * 1024 * 1024 * 1024)));

    [Test]
    public void A_part_size_below_S3s_minimum_is_raised_to_5_MiB() =>
        Assert.That(S3Destination.Limits.ChoosePartSize(3 * ByteSize.MiB, ByteSize.MiB), Is.EqualTo(5 * ByteSize.MiB));

    [Test]
    public void A_file_too_big_for_10000_parts_gets_parts_grown_in_whole_MiB()
    {
        var length = ByteSize.TiB;

        var size = S3Destination.Limits.ChoosePartSize(length, 8 * ByteSize.MiB);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(size % ByteSize.MiB, Is.Zero);
            Assert.That((length + size - 1) / size, Is.LessThanOrEqualTo(10_000));
            Assert.That(size - ByteSize.MiB, Is.LessThan((length + 9_999) / 10_000), "the smallest whole-MiB size that fits");
        }
    }
}
