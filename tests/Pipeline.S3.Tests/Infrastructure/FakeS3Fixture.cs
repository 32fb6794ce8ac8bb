using Pipeline.S3.Delivery;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>A fresh fake S3 on loopback and a destination factory for every test; both disposed after it.</summary>
public abstract class FakeS3Fixture
{
    internal FakeS3 S3 { get; private set; } = null!;

    internal S3DestinationFactory Destinations { get; private set; } = null!;

    [SetUp]
    public void StartFakeS3()
    {
        S3 = new FakeS3();
        Destinations = S3TestKit.Factory();
    }

    [TearDown]
    public async Task StopFakeS3()
    {
        // Null-safe: a failed setup leaves them unset, and its error is the one to see.
        Destinations?.Dispose();
        if (S3 is not null) await S3.DisposeAsync();
    }
}
