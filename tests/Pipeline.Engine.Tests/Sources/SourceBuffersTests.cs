using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Sources;

public class SourceBuffersTests
{
    [TestCase(1, 1)]
    [TestCase(5, 8)]
    [TestCase(8, 8)]
    [TestCase(9, 16)]
    [TestCase(100_000, 131_072)]
    public void A_rented_buffer_is_the_next_power_of_two(int minimum, int length) =>
        Assert.That(SourceBuffers<byte>.Rent(minimum), Has.Length.EqualTo(length));

    [Test]
    public void Renting_nothing_gives_an_empty_array_and_a_negative_size_or_over_a_gibibyte_is_refused()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(SourceBuffers<byte>.Rent(0), Is.Empty);
            Assert.That(() => SourceBuffers<byte>.Rent(-1), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => SourceBuffers<byte>.Rent((1 << 30) + 1), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("a source buffer over 1 GiB"));
        }
    }

    [Test]
    public void A_returned_array_is_rented_again_instead_of_a_new_one()
    {
        // A size no other test uses, so the bucket holds only this array.
        var array = SourceBuffers<long>.Rent(3_000_000);
        SourceBuffers<long>.Return(array);

        Assert.That(SourceBuffers<long>.Rent(2_500_000), Is.SameAs(array));
    }

    [Test]
    public void Arrays_not_from_the_pool_are_not_kept()
    {
        var odd = new short[1_000_000 + 1];
        SourceBuffers<short>.Return(odd);
        SourceBuffers<short>.Return([]);

        Assert.That(SourceBuffers<short>.Rent(1_000_000), Is.Not.SameAs(odd).And.Length.EqualTo(1 << 20));
    }
}
