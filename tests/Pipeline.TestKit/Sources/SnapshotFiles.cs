using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Parquet;
using Parquet.Schema;

namespace Pipeline.TestKit.Sources;

/// <summary>
/// One synthetic audience written as CSV.gz and as Parquet, for tests that read the same snapshot from different stores.
/// Rows hold quoting and non-ASCII; the Parquet file carries a wide incompressible column no export reads, so a reader
/// that fetched the whole file would be easy to tell from one that read only the columns it needs.
/// </summary>
public static class SnapshotFiles
{
    public const string Header = "profileId,email,name,segments,padding";

    public static string Id(int i) => $"p{i:D7}";

    public static string Email(int i) => $"user{i}@example.com";

    public static string Name(int i) => (i % 5) switch { 0 => "O\"Neil, Jr.", 1 => "Zoë 李", 2 => "", _ => "plain" + i };

    public static string[] Segments(int i) => (i % 3) switch { 0 => ["S1", "S2"], 1 => ["S2"], _ => ["S10", "S1"] };

    public static bool IsMember(int i) => i % 3 != 1;

    /// <summary>About 300 random characters per row: what makes the unread column the bulk of the file.</summary>
    public static string Padding(int i) => Convert.ToBase64String(RandomBytes(i, 225));

    private static byte[] RandomBytes(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static byte[] CsvGzip(int rows)
    {
        var text = new StringBuilder(Header).Append('\n');
        for (var i = 0; i < rows; i++)
            text.Append(Id(i)).Append(',').Append(Email(i)).Append(',').Append(Quote(Name(i))).Append(',')
                .Append(string.Join(';', Segments(i))).Append(',').Append(Padding(i)).Append('\n');
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(Encoding.UTF8.GetBytes(text.ToString()));
        return buffer.ToArray();
    }

    private static string Quote(string value) =>
        value.AsSpan().IndexOfAny(",\"\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;

    /// <summary>A Parquet file with <paramref name="rowGroups"/> row groups of <paramref name="rowsPerGroup"/> rows (Snappy, dictionary where it helps).</summary>
    public static async Task<byte[]> ParquetAsync(int rowGroups, int rowsPerGroup)
    {
        var id = new DataField<string>("profileId");
        var email = new DataField<string>("email", nullable: true);
        var name = new DataField<string>("name", nullable: true);
        var element = new DataField<string>("element", nullable: true);
        var segments = new ListField("segments", element);
        var padding = new DataField<string>("padding", nullable: true);
        using var buffer = new MemoryStream();
        var options = new ParquetOptions { CompressionMethod = CompressionMethod.Snappy };
        options.ColumnEncodingHints[element.Path.ToString()] = EncodingHint.Dictionary;
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(id, email, name, segments, padding), buffer, options))
        {
            for (var g = 0; g < rowGroups; g++)
            {
                var rows = Enumerable.Range(g * rowsPerGroup, rowsPerGroup).ToArray();
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(id, rows.Select(Id).ToArray());
                await group.WriteAsync(email, rows.Select(Email).ToArray());
                await group.WriteAsync(name, rows.Select(Name).ToArray());
                // Every list has elements and none is null: definition level 3 (list, element, value) throughout.
                var values = rows.SelectMany(Segments).Select(s => s.AsMemory()).ToArray();
                var repetitions = rows.SelectMany(r => Segments(r).Select((_, k) => k == 0 ? 0 : 1)).ToArray();
                await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(element, values, Enumerable.Repeat(3, values.Length).ToArray(), repetitions, CancellationToken.None);
                await group.WriteAsync(padding, rows.Select(Padding).ToArray());
                group.CompleteValidate();
            }
        }
        return buffer.ToArray();
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
