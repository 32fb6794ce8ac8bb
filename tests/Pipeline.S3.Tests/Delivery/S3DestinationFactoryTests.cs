using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.S3.Delivery;
using Pipeline.S3.Resilience;
using Pipeline.S3.Tests.Infrastructure;
using static Pipeline.S3.Tests.Infrastructure.S3TestKit;

namespace Pipeline.S3.Tests.Delivery;

public sealed class S3DestinationFactoryTests : FakeS3Fixture
{
    [Test]
    public void It_opens_s3_destinations_and_no_other_type()
    {
        Assert.That(Destinations.CanOpen(DestinationSpec.S3Type), Is.True);
        Assert.That(Destinations.CanOpen("local"), Is.False);
    }

    [Test]
    public void Opening_a_destination_of_another_type_is_refused_naming_it()
    {
        var local = Spec(S3.Endpoint, "customer-bucket") with { Name = "archive", Type = "local" };

        Assert.That(() => Destinations.Open(local), Throws.ArgumentException.With.Message.StartsWith("Destination \"archive\" has type \"local\", not \"s3\"."));
    }

    [Test]
    public async Task Without_retry_options_it_uses_the_defaults_and_delivers()
    {
        using var destinations = new S3DestinationFactory(new TestCredentials(), NullLoggerFactory.Instance, TimeProvider.System, environment: NoEnvironment);
        var destination = destinations.Open(Spec(S3.Endpoint, "customer-bucket"));

        await destination.PutObjectAsync("run.manifest.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None);

        Assert.That(S3.Objects.Keys, Is.EqualTo(new[] { "run.manifest.json" }));
    }

    [Test]
    public async Task The_retry_options_given_are_the_ones_every_destination_uses()
    {
        S3.Override = _ => StubResponse.Error(503, "SlowDown", "Please reduce your request rate.");
        using var destinations = Factory(retry: FastRetries(maxRetries: 1));

        Assert.That(() => destinations.Open(Spec(S3.Endpoint, "customer-bucket")).PutObjectAsync("run.manifest.json", "{}"u8.ToArray(), new ObjectProperties("application/json", null), CancellationToken.None),
            Throws.InstanceOf<Amazon.Runtime.AmazonServiceException>().With.Property(nameof(Amazon.Runtime.AmazonServiceException.ErrorCode)).EqualTo("SlowDown"));
        Assert.That(S3.Requests, Has.Count.EqualTo(2), "the first attempt and one retry");
    }

    [Test]
    public void Invalid_retry_options_are_refused_when_the_factory_is_made() =>
        Assert.That(() => Factory(retry: new S3RetryOptions { MaxRetries = -1 }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property(nameof(ArgumentOutOfRangeException.ParamName)).EqualTo("MaxRetries"));
}
