using System.Text;
using System.Text.RegularExpressions;
using Pipeline.S3.Tests.Infrastructure;

namespace Pipeline.S3.Tests.Integration;

/// <summary>
/// A running emulator: <see cref="Endpoint"/> is what the code under test talks to, <see cref="DirectEndpoint"/>
/// the emulator itself (for setup and independent read-back).
/// </summary>
internal sealed partial class S3Emulator : IAsyncDisposable
{
    private readonly EmulatorProcess _process;
    private readonly FaultInjectingProxy? _shim;

    private S3Emulator(EmulatorProcess process, FaultInjectingProxy? shim)
    {
        _process = process;
        _shim = shim;
    }

    public EmulatorKind Kind => _process.Kind;

    public string Endpoint => _shim?.Endpoint ?? _process.Endpoint;

    public string DirectEndpoint => _process.Endpoint;

    /// <summary>s3rver stores aws-chunked framing as data, so it only works in compatibility mode (like many S3-compatible stores).</summary>
    public bool Compatibility => Kind == EmulatorKind.S3rver;

    /// <summary>
    /// fauxqs 1.9.2 reads CompleteMultipartUpload bodies with a regex that only matches parts without checksum
    /// elements; S3's schema (and the SDK) put &lt;ChecksumSHA256&gt; first, and fauxqs then silently completes an
    /// EMPTY object. Real S3 requires the part checksums for an upload created with a checksum algorithm, so the
    /// product sends them (see the request-shape tests) and this shim strips them on the way into fauxqs.
    /// Without it the destination notices the empty object and fails the file (<see cref="CompletionVerificationTests"/>).
    /// </summary>
    public static async Task<S3Emulator> StartAsync(EmulatorKind kind)
    {
        var process = await EmulatorProcess.StartAsync(kind, CancellationToken.None);
        var shim = kind == EmulatorKind.Fauxqs ? new FaultInjectingProxy(process.Endpoint, StripCompletionChecksums) : null;
        return new S3Emulator(process, shim);
    }

    [GeneratedRegex("<Checksum[A-Z0-9]+>[^<]*</Checksum[A-Z0-9]+>")]
    private static partial Regex ChecksumElement();

    private static CapturedRequest StripCompletionChecksums(CapturedRequest request)
    {
        if (FaultInjectingProxy.KindOf(request) != "CompleteMultipartUpload") return request;
        return request with { Body = Encoding.UTF8.GetBytes(ChecksumElement().Replace(request.BodyText, "")) };
    }

    public async ValueTask DisposeAsync()
    {
        if (_shim is not null) await _shim.DisposeAsync();
        await _process.DisposeAsync();
    }
}
