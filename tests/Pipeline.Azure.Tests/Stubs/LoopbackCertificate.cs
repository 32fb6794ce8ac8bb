using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Azure.Core.Pipeline;

namespace Pipeline.Azure.Tests.Stubs;

/// <summary>A self-signed certificate for 127.0.0.1 made in the test, and clients that trust exactly it.</summary>
internal sealed class LoopbackCertificate : IDisposable
{
    public LoopbackCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = DateTimeOffset.UtcNow;
        Certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(1));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>An Azure SDK transport whose TLS trusts this certificate only (compared by SHA-256 hash).</summary>
    public HttpClientTransport Transport()
    {
        var expected = Certificate.GetCertHash(HashAlgorithmName.SHA256);
#pragma warning disable CA2000 // the transport owns the handler
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHash(HashAlgorithmName.SHA256).AsSpan().SequenceEqual(expected),
        };
#pragma warning restore CA2000
        return new HttpClientTransport(handler);
    }

    public void Dispose() => Certificate.Dispose();
}
