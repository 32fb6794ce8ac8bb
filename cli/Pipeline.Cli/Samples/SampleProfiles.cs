using System.Buffers;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using Parquet;
using Parquet.Schema;

namespace Pipeline.Cli.Samples;

/// <summary>One synthetic profile. Deterministic per index, so every sample of N profiles is identical.</summary>
internal readonly record struct SampleProfile(string ProfileId, string Email, string? Phone, string FirstName, string LastName, string City, string Country, DateTime UpdatedAt, string[] Segments);

/// <summary>
/// Writes a synthetic audience snapshot: profiles with ids, contact fields, an updatedAt timestamp and a
/// list of segments. Some values carry commas, quotes and non-ASCII letters so exports exercise quoting.
/// </summary>
internal static class SampleProfiles
{
    public static readonly string[] Columns = ["profileId", "email", "phone", "firstName", "lastName", "city", "country", "updatedAt", "segments"];

    private static readonly string[] FirstNames = ["Anna", "Ben", "Chloé", "David", "Emma", "Felix", "Grace", "Hiro", "Inès", "Jonas", "Zoë", "Łukasz", "María", "Noah", "Olivia", "Søren"];
    private static readonly string[] LastNames = ["Smith", "Müller", "García", "O'Brien", "Nguyen", "Rossi", "Kowalski", "Dubois", "Tanaka", "Johansson", "van der Berg", "Silva", "Brown", "Schmidt"];
    private static readonly string[] Cities = ["Berlin", "Paris", "Washington, D.C.", "London", "São Paulo", "Tokyo", "New York", "Zürich", "The \"Big\" Apple", "Madrid"];
    private static readonly string[] Countries = ["DE", "FR", "US", "GB", "BR", "JP", "US", "CH", "US", "ES"];
    private static readonly DateTime Epoch = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public static SampleProfile Create(long index, int segmentCount)
    {
        var h = Mix((ulong)index);
        var first = FirstNames[(int)(h % (ulong)FirstNames.Length)];
        var last = LastNames[(int)((h >> 8) % (ulong)LastNames.Length)];
        var city = (int)((h >> 16) % (ulong)Cities.Length);
        var id = "p" + index.ToString("D9", CultureInfo.InvariantCulture);
        var phone = (h >> 24) % 5 == 0 ? null : "+49" + ((h >> 28) % 10_000_000_000UL).ToString("D10", CultureInfo.InvariantCulture);
        var updated = Epoch.AddSeconds((double)((h >> 20) % (330UL * 24 * 3600)));
        // Every profile is in 0-4 segments; segment S1 holds about 17% of all profiles.
        var count = (int)((h >> 40) % 5);
        var segments = new string[count];
        for (var i = 0; i < count; i++)
        {
            var pick = (int)(Mix(h + (ulong)i) % (ulong)(segmentCount + 1));
            segments[i] = "S" + (Math.Max(pick, 1)).ToString(CultureInfo.InvariantCulture);
        }
        segments = segments.Distinct().ToArray();
        var email = $"{RemoveAccents(first).ToLowerInvariant()}.{RemoveAccents(last).Replace(" ", "", StringComparison.Ordinal).Replace("'", "", StringComparison.Ordinal).ToLowerInvariant()}{index}@example.com";
        return new SampleProfile(id, email, phone, first, last, Cities[city], Countries[city], updated, segments);
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    // Plain-ASCII stand-ins for the letters the sample names use (the app runs without ICU, so no Unicode decomposition).
    private static readonly Dictionary<char, char> Ascii = new()
    {
        ['à'] = 'a', ['á'] = 'a', ['â'] = 'a', ['ä'] = 'a', ['ã'] = 'a', ['å'] = 'a', ['æ'] = 'a', ['ç'] = 'c',
        ['è'] = 'e', ['é'] = 'e', ['ê'] = 'e', ['ë'] = 'e', ['ì'] = 'i', ['í'] = 'i', ['î'] = 'i', ['ï'] = 'i',
        ['ñ'] = 'n', ['ò'] = 'o', ['ó'] = 'o', ['ô'] = 'o', ['ö'] = 'o', ['õ'] = 'o', ['ø'] = 'o', ['ł'] = 'l',
        ['ß'] = 's', ['ù'] = 'u', ['ú'] = 'u', ['û'] = 'u', ['ü'] = 'u', ['ý'] = 'y', ['ÿ'] = 'y',
    };

    private static string RemoveAccents(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var c in s.ToLowerInvariant())
        {
            var plain = Ascii.GetValueOrDefault(c, c);
            if (char.IsAsciiLetterOrDigit(plain)) sb.Append(plain);
        }
        return sb.Length > 0 ? sb.ToString() : "user";
    }

    private const int BlockRows = 100_000;

    /// <summary>
    /// profiles.csv.gz: blocks of rows are formatted and compressed in parallel, each as its own gzip
    /// member, and written in order (concatenated members are one valid gzip file).
    /// </summary>
    public static async Task WriteCsvGzAsync(string path, long profiles, int segmentCount, CancellationToken cancellationToken)
    {
        var temp = path + ".tmp";
        await using (var output = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
        {
            var header = Encoding.UTF8.GetBytes(string.Join(',', Columns) + "\n");
            await output.WriteAsync(Compress(header, header.Length), cancellationToken);
            var blocks = (profiles + BlockRows - 1) / BlockRows;
            var window = Environment.ProcessorCount * 2;
            var pending = new Queue<Task<byte[]>>();
            for (long b = 0; b < blocks; b++)
            {
                var start = b * BlockRows;
                var end = Math.Min(profiles, start + BlockRows);
                pending.Enqueue(Task.Run(() => FormatBlock(start, end, segmentCount), cancellationToken));
                if (pending.Count >= window) await output.WriteAsync(await pending.Dequeue(), cancellationToken);
            }
            while (pending.Count > 0) await output.WriteAsync(await pending.Dequeue(), cancellationToken);
        }
        File.Move(temp, path, overwrite: true);
    }

    private static byte[] FormatBlock(long start, long end, int segmentCount)
    {
        var sb = new StringBuilder(128 * (int)(end - start));
        for (var i = start; i < end; i++)
        {
            var p = Create(i, segmentCount);
            sb.Append(p.ProfileId).Append(',').Append(p.Email).Append(',').Append(p.Phone).Append(',')
              .Append(p.FirstName).Append(',').Append(Quote(p.LastName)).Append(',').Append(Quote(p.City)).Append(',')
              .Append(p.Country).Append(',').Append(p.UpdatedAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)).Append(',')
              .AppendJoin(';', p.Segments).Append('\n');
        }
        var text = sb.ToString();
        var bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var n = Encoding.UTF8.GetBytes(text, bytes);
            return Compress(bytes, n);
        }
        finally { ArrayPool<byte>.Shared.Return(bytes); }
    }

    private static string Quote(string value) =>
        value.AsSpan().IndexOfAny(",\"\n\r") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;

    private static byte[] Compress(byte[] data, int length)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(data, 0, length);
        return buffer.ToArray();
    }

    /// <summary>profiles.parquet: one row group per 100,000 profiles, segments as list&lt;string&gt;, updatedAt as a UTC timestamp.</summary>
    public static async Task WriteParquetAsync(string path, long profiles, int segmentCount, CancellationToken cancellationToken)
    {
        var stringFields = Columns.Where(c => c is not ("updatedAt" or "segments")).Select(c => new DataField<string>(c, nullable: c == "phone")).ToArray();
        var updatedAt = new DateTimeDataField("updatedAt", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: false);
        var element = new DataField<string>("element", nullable: false);
        var segments = new ListField("segments", element);
        var schema = new ParquetSchema([.. stringFields, updatedAt, segments]);
        var options = new ParquetOptions { CompressionMethod = CompressionMethod.Zstd, CompressionLevel = CompressionLevel.Optimal };
        options.ColumnEncodingHints[element.Path.ToString()] = EncodingHint.Dictionary;
        options.ColumnEncodingHints["country"] = EncodingHint.Dictionary;

        var temp = path + ".tmp";
        await using (var output = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20))
        await using (var writer = await ParquetWriter.CreateAsync(schema, output, options, append: false, cancellationToken))
        {
            for (long start = 0; start < profiles; start += BlockRows)
            {
                var rows = Enumerable.Range(0, (int)Math.Min(BlockRows, profiles - start)).Select(i => Create(start + i, segmentCount)).ToArray();
                using var group = writer.CreateRowGroup();
                Func<SampleProfile, string?>[] getters = [p => p.ProfileId, p => p.Email, p => p.Phone, p => p.FirstName, p => p.LastName, p => p.City, p => p.Country];
                for (var c = 0; c < stringFields.Length; c++) await group.WriteAsync(stringFields[c], rows.Select(getters[c]).ToArray());
                await group.WriteAsync<DateTime>(updatedAt, rows.Select(p => p.UpdatedAt).ToArray().AsMemory(), cancellationToken: cancellationToken);
                var values = new List<ReadOnlyMemory<char>>();
                var definitions = new List<int>();
                var repetitions = new List<int>();
                foreach (var p in rows)
                {
                    if (p.Segments.Length == 0) { definitions.Add(1); repetitions.Add(0); continue; }
                    for (var k = 0; k < p.Segments.Length; k++)
                    {
                        values.Add(p.Segments[k].AsMemory());
                        definitions.Add(2);
                        repetitions.Add(k == 0 ? 0 : 1);
                    }
                }
                await group.WriteAllPartsAsync<ReadOnlyMemory<char>>(element, values.ToArray(), definitions.ToArray(), repetitions.ToArray(), cancellationToken);
                group.CompleteValidate();
            }
        }
        File.Move(temp, path, overwrite: true);
    }
}
