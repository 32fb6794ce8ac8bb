using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Scheduling;

namespace Pipeline.Local.Tests;

/// <summary>A temporary folder with a snapshot, state, staging and an output folder; deleted afterwards.</summary>
internal sealed class TestWorkspace : IDisposable
{
    public TestWorkspace()
    {
        Root = Path.Combine(Path.GetTempPath(), "pipeline-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }
    public string Output => Path.Combine(Root, "out");
    public string State => Path.Combine(Root, "state", "state.db");
    public string Staging => Path.Combine(Root, "staging");
    public FakeTimeProvider Time { get; set; } = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    public string WriteCsv(string name, string content, bool gzip = false)
    {
        var path = Path.Combine(Root, name);
        var bytes = Encoding.UTF8.GetBytes(content);
        if (gzip)
        {
            using var file = File.Create(path);
            using var z = new GZipStream(file, CompressionLevel.Fastest);
            z.Write(bytes);
        }
        else File.WriteAllBytes(path, bytes);
        return path;
    }

    public Task<LocalPipeline> OpenPipelineAsync(string? state = null, string? staging = null, int parallelism = 2) =>
        LocalPipeline.OpenAsync(state ?? State, staging ?? Staging, Time, NullLoggerFactory.Instance, parallelism);

    public ExportSpec Spec(string source, string output, Func<ExportSpec, ExportSpec>? change = null)
    {
        var spec = new ExportSpec
        {
            ActivationId = "test",
            Source = new SourceSpec { Path = source },
            SegmentId = "S1",
            Fields = [new OutputField("profileId", "id"), new OutputField("email", "email"), new OutputField("name", "name")],
            Destination = new DestinationSpec { Name = "local", Type = "local", Location = output },
            FileName = "{activation}_{index:3}",
            Tuning = new TuningSpec { ChunkSize = 64 * 1024, Parallelism = 2 },
        };
        return change is null ? spec : change(spec);
    }

    public static SegmentActivation Activation(ExportSpec spec, string cron = "0 2 * * *", DateTimeOffset? startAt = null) =>
        new(spec.ActivationId, true, spec, ExportSchedule.FromCron(cron, TimeZoneInfo.Utc, startAt ?? new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)));

    /// <summary>
    /// Every file under the output folder with its bytes, by relative path: what a consumer listing the folder finds,
    /// leftover uploads under ".incomplete/" included, so a test comparing snapshots also catches litter.
    /// </summary>
    public static SortedDictionary<string, byte[]> Snapshot(string folder)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        if (!Directory.Exists(folder)) return files;
        foreach (var f in Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            files[Path.GetRelativePath(folder, f)] = File.ReadAllBytes(f);
        return files;
    }

    public static string Gunzip(byte[] bytes)
    {
        using var z = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var reader = new StreamReader(z, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Synthetic profiles with tricky values; membership and timestamps are a function of the index.</summary>
internal static class Profiles
{
    public const string Header = "profileId,email,name,segments,updatedAt\n";

    public static string Row(int i)
    {
        var segments = (i % 3) switch { 0 => "S1;S2", 1 => "S2", _ => "S10;S1" };
        var name = (i % 7) switch { 0 => "\"O\"\"Neil, Jr.\"", 1 => "\"multi\nline\"", 2 => "Zoë 李", _ => "plain" + i };
        var updated = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).AddHours(i % 500);
        return $"p{i:D7},user{i}@example.com,{name},{segments},{updated:yyyy-MM-dd'T'HH:mm:ss'Z'}\n";
    }

    public static string Csv(int count, int start = 0)
    {
        var sb = new StringBuilder(Header);
        for (var i = start; i < start + count; i++) sb.Append(Row(i));
        return sb.ToString();
    }

    public static bool IsMember(int i) => i % 3 != 1;
}
