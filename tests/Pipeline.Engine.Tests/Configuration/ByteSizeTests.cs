using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Tests.Configuration;

public class ByteSizeTests
{
    [TestCase("1048576", 1_048_576L)]
    [TestCase("512MiB", 512L * 1024 * 1024)]
    [TestCase("5 MB", 5_000_000L)]
    [TestCase("1TB", 1_000_000_000_000L)]
    [TestCase("2 gib", 2L * 1024 * 1024 * 1024)]
    [TestCase("64k", 64L * 1024)]
    [TestCase("1.5KiB", 1536L)]
    [TestCase("1_000 B", 1000L)]
    [TestCase(" 8M ", 8L * 1024 * 1024)]
    public void Reads_sizes_written_by_people(string text, long bytes)
    {
        Assert.That(ByteSize.TryParse(text, out var parsed), Is.True);
        Assert.That(parsed, Is.EqualTo(bytes));
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("   ")]
    [TestCase("MiB")]
    [TestCase("-5MiB")]
    [TestCase("12 parsecs")]
    [TestCase("1e6")]
    [TestCase("99999999999TiB")]
    public void Rejects_text_that_is_not_a_size(string? text)
    {
        Assert.That(ByteSize.TryParse(text, out _), Is.False);
    }

    [TestCase(0L, "0 B")]
    [TestCase(1023L, "1023 B")]
    [TestCase(1024L, "1 KiB")]
    [TestCase(5L * 1024 * 1024, "5 MiB")]
    [TestCase(1_000_000_000_000L, "931.32 GiB")]
    [TestCase(5L * 1024 * 1024 * 1024 * 1024, "5 TiB")]
    public void Formats_with_binary_units(long bytes, string text)
    {
        Assert.That(ByteSize.Format(bytes), Is.EqualTo(text));
    }
}
