using System.Collections.Concurrent;
using Pipeline.S3.Tests.Infrastructure;
using Pipeline.TestKit.Emulators;

namespace Pipeline.S3.Tests.Integration;

/// <summary>
/// Starts each emulator the first time a fixture in this namespace asks for it (in its OneTimeSetUp) and
/// stops them all when the namespace is done. Only runs when integration tests are selected.
/// </summary>
[SetUpFixture]
public sealed class Emulators
{
    private static readonly ConcurrentDictionary<EmulatorKind, Lazy<Task<S3Emulator>>> Started = new();

    /// <summary>Both emulators: fauxqs with the SDK's defaults, s3rver in compatibility mode.</summary>
    public static readonly EmulatorKind[] All = [EmulatorKind.Fauxqs, EmulatorKind.S3rver];

    internal static Task<S3Emulator> GetAsync(EmulatorKind kind) =>
        Started.GetOrAdd(kind, k => new Lazy<Task<S3Emulator>>(() => S3Emulator.StartAsync(k))).Value;

    [OneTimeTearDown]
    public async Task StopAll()
    {
        foreach (var started in Started.Values.Where(l => l.IsValueCreated))
        {
            try
            {
                await (await started.Value).DisposeAsync();
            }
            catch (InvalidOperationException)
            {
                // it never started; the fixtures that needed it already failed with the reason
            }
        }
        Started.Clear();
    }
}
