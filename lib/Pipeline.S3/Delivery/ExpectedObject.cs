using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Pipeline.Engine.Ports;

namespace Pipeline.S3.Delivery;

/// <summary>
/// What a delivered file must look like in the store, predicted from what was uploaded: its length always; its
/// ETag where the store's ETags are MD5s; its SHA-256 checksum where checksums were sent. Compared with the store's
/// answer (completion and HEAD) before a file counts as delivered, because a store may answer 200 and keep less
/// (fauxqs 1.9.2 completes an empty object when the completion lists part checksums).
/// </summary>
/// <remarks>
/// Which ETags are predictable: a part's or a single put's ETag is the MD5 of its bytes, and a multipart ETag is
/// "MD5 of the concatenated binary part MD5s-N", on Amazon S3 without SSE-KMS. With SSE-KMS (configured, or the
/// bucket's default as the store reports it), or a store whose part ETags are not MD5s, no ETag is predicted and
/// size and checksum decide. In compatibility mode only an ETag of
/// the expected shape is compared: S3-compatible stores differ there (s3rver answers a multipart upload with the
/// whole object's MD5) without losing data. The size is always compared.
/// </remarks>
internal sealed partial record ExpectedObject(long Length, string? ETag, string? Sha256Base64, bool Multipart)
{
    /// <summary>A multipart upload of these parts (the engine has checked they are 1..N and cover the file).</summary>
    public static ExpectedObject Of(IReadOnlyList<PartReceipt> parts, long length, bool etagsAreMd5, bool compatibility) =>
        new(length, etagsAreMd5 ? MultipartETag(parts) : null, compatibility ? null : CompositeSha256(parts), Multipart: true);

    /// <summary>A file sent in one PutObject: its receipt holds the put's (checked) ETag and the body's SHA-256.</summary>
    public static ExpectedObject OfSinglePut(PartReceipt receipt, bool etagsAreMd5)
    {
        var etag = Unquote(receipt.ETag);
        return new(receipt.Length, etagsAreMd5 && Md5Pattern().IsMatch(etag) ? etag : null, NullIfEmpty(receipt.Sha256Base64), Multipart: false);
    }

    /// <summary>S3's ETag of a completed multipart upload, or null when a part's ETag is not an MD5.</summary>
    public static string? MultipartETag(IReadOnlyList<PartReceipt> parts)
    {
        var digests = new List<byte>(parts.Count * 16);
        foreach (var part in parts.OrderBy(p => p.PartNumber))
        {
            var hex = Unquote(part.ETag).ToLowerInvariant();
            if (!Md5Pattern().IsMatch(hex)) return null;
            digests.AddRange(Convert.FromHexString(hex));
        }
        return Convert.ToHexStringLower(Md5(digests.ToArray())) + "-" + parts.Count.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>S3's composite SHA-256 of a multipart upload: base64 SHA-256 of the concatenated binary part SHA-256s, "-N"; null without part checksums.</summary>
    public static string? CompositeSha256(IReadOnlyList<PartReceipt> parts)
    {
        var digests = new List<byte>(parts.Count * 32);
        foreach (var part in parts.OrderBy(p => p.PartNumber))
        {
            if (string.IsNullOrEmpty(part.Sha256Base64)) return null;
            digests.AddRange(Convert.FromBase64String(part.Sha256Base64));
        }
        return Convert.ToBase64String(SHA256.HashData(digests.ToArray())) + "-" + parts.Count.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The ETag S3 gives an object written in one request: the MD5 of its bytes.</summary>
    public static string PutETag(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(Md5(content));

#pragma warning disable CA5351 // MD5 is what S3 uses for ETags; this only predicts one, it protects nothing
    private static byte[] Md5(ReadOnlySpan<byte> bytes) => MD5.HashData(bytes);
#pragma warning restore CA5351

    /// <summary>
    /// How the store's answer differs from this, for a message ("a 0-byte object, expected 20,160,123 bytes (ETag
    /// "x-3", expected "y-3")"), or null when it agrees. Values the store does not report are not compared.
    /// </summary>
    public string? Mismatch(long? storedLength, IEnumerable<string?> storedETags, IEnumerable<string?> storedSha256s, bool compatibility)
    {
        var differences = new List<string>();
        foreach (var etag in storedETags.Select(e => Unquote(e ?? "")).Where(e => e.Length > 0).Distinct(StringComparer.Ordinal))
        {
            if (ETag is null || !Comparable(etag, compatibility) || etag.Equals(ETag, StringComparison.OrdinalIgnoreCase)) continue;
            differences.Add($"ETag \"{etag}\", expected \"{ETag}\"");
        }
        foreach (var sha in storedSha256s.Where(s => !string.IsNullOrEmpty(s)).Distinct(StringComparer.Ordinal))
        {
            // A full-object checksum of a multipart upload is not predictable from the parts; S3 sends composite ones for ours.
            if (Sha256Base64 is null || sha!.Contains('-', StringComparison.Ordinal) != Multipart || sha == Sha256Base64) continue;
            differences.Add($"SHA-256 \"{sha}\", expected \"{Sha256Base64}\"");
        }
        var size = storedLength is { } stored && stored != Length
            ? $"a {Bytes(stored)}-byte object, expected {Bytes(Length)} bytes"
            : null;
        if (size is null && differences.Count == 0) return null;
        var details = string.Join(", ", differences);
        return size is null ? $"a {Bytes(Length)}-byte object with {details}"
            : differences.Count == 0 ? size
            : $"{size} ({details})";
    }

    private bool Comparable(string etag, bool compatibility) =>
        !compatibility || (Multipart ? MultipartETagPattern().IsMatch(etag) : Md5Pattern().IsMatch(etag));

    private static string Bytes(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static string Unquote(string etag) => etag.Trim().Trim('"');

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    [GeneratedRegex("^[0-9a-fA-F]{32}-[0-9]+$")]
    private static partial Regex MultipartETagPattern();

    [GeneratedRegex("^[0-9a-fA-F]{32}$")]
    public static partial Regex Md5Pattern();
}
