using Pipeline.Engine.Ports;

namespace Pipeline.S3.Delivery;

/// <summary>
/// The upload id recorded for a file small enough to go in one PutObject: "put:" followed by the object's
/// content type and encoding, so whichever process uploads part 1 can send them. S3 upload ids never
/// contain ':', so the two kinds cannot be confused.
/// </summary>
internal static class SinglePutUpload
{
    public const string Prefix = "put:";

    public static string Encode(ObjectProperties properties) =>
        Prefix + Uri.EscapeDataString(properties.ContentType) + ":" + Uri.EscapeDataString(properties.ContentEncoding ?? "");

    public static bool TryDecode(string uploadId, out ObjectProperties properties)
    {
        properties = null!;
        if (!uploadId.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var fields = uploadId[Prefix.Length..].Split(':');
        if (fields.Length != 2) return false;
        var encoding = Uri.UnescapeDataString(fields[1]);
        properties = new ObjectProperties(Uri.UnescapeDataString(fields[0]), encoding.Length == 0 ? null : encoding);
        return true;
    }
}
