using Pipeline.S3.Credentials;

namespace Pipeline.S3.Tests.Credentials;

public class RoleSessionNameTests
{
    [TestCase("customer-a", "audience-export-customer-a")]
    [TestCase("Kunde Ä/prod", "audience-export-Kunde---prod")]
    [TestCase("a_b+c=d,e.f@g", "audience-export-a_b+c=d,e.f@g")]
    public void Names_the_destination_with_only_characters_STS_accepts(string destination, string expected)
    {
        var name = RoleSessionName.For("audience-export", destination);

        Assert.That(name, Is.EqualTo(expected));
        Assert.That(RoleSessionName.IsValid(name), Is.True);
    }

    [Test]
    public void Long_names_are_cut_to_64_characters()
    {
        var name = RoleSessionName.For("audience-export", new string('x', 100));

        Assert.That(name, Has.Length.EqualTo(64));
        Assert.That(RoleSessionName.IsValid(name), Is.True);
    }

    [TestCase("", "", "audience-export")]
    [TestCase("-", "-", "audience-export")]
    public void Degenerate_names_fall_back_to_a_valid_one(string prefix, string destination, string expected) =>
        Assert.That(RoleSessionName.For(prefix, destination), Is.EqualTo(expected));
}
