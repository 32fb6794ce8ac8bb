using System.Globalization;
using Microsoft.Data.Sqlite;
using Pipeline.Engine;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Local;

/// <summary>
/// Run state in one SQLite file (WAL mode). Conditional updates and transactions give the same
/// "exactly one wins" guarantees that table ETags give in Azure.
/// </summary>
public sealed class SqliteRunStore : IRunStore
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS schedules (activation_id TEXT PRIMARY KEY, last_slot TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY, activation_id TEXT NOT NULL, slot TEXT NOT NULL, status TEXT NOT NULL,
            body TEXT NOT NULL, error TEXT, completed_at TEXT, manifest_key TEXT, created_at TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1, progress_at TEXT, handed_off INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS runs_by_activation ON runs (activation_id, slot);
        CREATE TABLE IF NOT EXISTS documents (run_id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, name));
        CREATE TABLE IF NOT EXISTS chunks (run_id TEXT NOT NULL, slice INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, slice, seq));
        CREATE TABLE IF NOT EXISTS slices (run_id TEXT NOT NULL, slice INTEGER NOT NULL, chunk_count INTEGER NOT NULL, PRIMARY KEY (run_id, slice));
        CREATE TABLE IF NOT EXISTS parts (run_id TEXT NOT NULL, file INTEGER NOT NULL, part INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (run_id, file, part));
        CREATE TABLE IF NOT EXISTS watermarks (activation_id TEXT PRIMARY KEY, watermark TEXT NOT NULL, run_id TEXT NOT NULL);
        """;

    private readonly string _connectionString;

    private SqliteRunStore(string connectionString) => _connectionString = connectionString;

    public string Path { get; private init; } = "";

    public static async Task<SqliteRunStore> OpenAsync(string path, CancellationToken cancellationToken)
    {
        var full = System.IO.Path.GetFullPath(path);
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot create the state folder for {full}: {e.Message}", e);
        }
        var cs = new SqliteConnectionStringBuilder { DataSource = full, Mode = SqliteOpenMode.ReadWriteCreate, Cache = SqliteCacheMode.Private, DefaultTimeout = 60, Pooling = true }.ToString();
        var store = new SqliteRunStore(cs) { Path = full };
        try
        {
            await using var c = await store.OpenAsync(cancellationToken);
            await ExecuteAsync(c, null, Schema, cancellationToken);
            await MigrateAsync(c, cancellationToken);
        }
        catch (SqliteException e)
        {
            throw new IOException($"Cannot open the state database {full}: {e.Message}", e);
        }
        return store;
    }

    /// <summary>State files written before runs had attempts get the new columns (existing runs are attempt 1).</summary>
    private static async Task MigrateAsync(SqliteConnection c, CancellationToken cancellationToken)
    {
        var columns = new HashSet<string>(StringComparer.Ordinal);
        await using (var cmd = Command(c, null, "SELECT name FROM pragma_table_info('runs')"))
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
            while (await r.ReadAsync(cancellationToken)) columns.Add(r.GetString(0));
        if (!columns.Contains("attempt")) await ExecuteAsync(c, null, "ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1", cancellationToken);
        if (!columns.Contains("progress_at")) await ExecuteAsync(c, null, "ALTER TABLE runs ADD COLUMN progress_at TEXT", cancellationToken);
        if (!columns.Contains("handed_off")) await ExecuteAsync(c, null, "ALTER TABLE runs ADD COLUMN handed_off INTEGER NOT NULL DEFAULT 0", cancellationToken);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var c = new SqliteConnection(_connectionString);
        await c.OpenAsync(cancellationToken);
        return c;
    }

    private static SqliteCommand Command(SqliteConnection c, SqliteTransaction? t, string sql, params (string Name, object? Value)[] args)
    {
        var cmd = c.CreateCommand();
        cmd.Transaction = t;
        cmd.CommandText = sql;
        foreach (var (name, value) in args) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return cmd;
    }

    private static async Task<int> ExecuteAsync(SqliteConnection c, SqliteTransaction? t, string sql, CancellationToken cancellationToken, params (string, object?)[] args)
    {
        await using var cmd = Command(c, t, sql, args);
        return await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<object?> ScalarAsync(SqliteConnection c, SqliteTransaction? t, string sql, CancellationToken cancellationToken, params (string, object?)[] args)
    {
        await using var cmd = Command(c, t, sql, args);
        var value = await cmd.ExecuteScalarAsync(cancellationToken);
        return value is DBNull ? null : value;
    }

    private static string Stamp(DateTimeOffset t) => t.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseStamp(string s) => DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    public async Task<DateTimeOffset?> GetLastScheduledSlotAsync(string activationId, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        var v = await ScalarAsync(c, null, "SELECT last_slot FROM schedules WHERE activation_id = $a", cancellationToken, ("$a", activationId));
        return v is string s ? ParseStamp(s) : null;
    }

    public async Task<bool> TryScheduleRunAsync(ExportRun run, DateTimeOffset? expectedLastSlot, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var t = (SqliteTransaction)await c.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken);
        var current = await ScalarAsync(c, t, "SELECT last_slot FROM schedules WHERE activation_id = $a", cancellationToken, ("$a", run.ActivationId)) as string;
        var expected = expectedLastSlot is { } e ? Stamp(e) : null;
        if (!string.Equals(current, expected, StringComparison.Ordinal)) return false;
        await ExecuteAsync(c, t, "INSERT INTO schedules (activation_id, last_slot) VALUES ($a, $s) ON CONFLICT (activation_id) DO UPDATE SET last_slot = $s",
            cancellationToken, ("$a", run.ActivationId), ("$s", Stamp(run.Slot)));
        await InsertRunAsync(c, t, run, cancellationToken);
        await t.CommitAsync(cancellationToken);
        return true;
    }

    private static async Task InsertRunAsync(SqliteConnection c, SqliteTransaction? t, ExportRun run, CancellationToken cancellationToken) =>
        await ExecuteAsync(c, t, """
            INSERT OR IGNORE INTO runs (run_id, activation_id, slot, status, body, created_at, attempt, progress_at, handed_off)
            VALUES ($id, $a, $slot, $status, $body, $created, $attempt, $progress, 0)
            """, cancellationToken,
            ("$id", run.RunId), ("$a", run.ActivationId), ("$slot", Stamp(run.Slot)), ("$status", run.Status.ToString()),
            ("$body", EngineJson.Serialize(run)), ("$created", Stamp(run.CreatedAt)), ("$attempt", run.Attempt),
            ("$progress", Stamp(run.LastProgressAt ?? run.CreatedAt)));

    public async Task<ExportRun> CreateRunIfAbsentAsync(ExportRun run, CancellationToken cancellationToken)
    {
        await using (var c = await OpenAsync(cancellationToken)) await InsertRunAsync(c, null, run, cancellationToken);
        return (await GetRunAsync(run.RunId, cancellationToken))!;
    }

    private const string RunColumns = "body, status, error, completed_at, manifest_key, attempt, progress_at, handed_off";

    private static ExportRun ReadRun(SqliteDataReader r) => EngineJson.Deserialize<ExportRun>(r.GetString(0)) with
    {
        Status = Enum.Parse<RunStatus>(r.GetString(1)),
        Error = r.IsDBNull(2) ? null : r.GetString(2),
        CompletedAt = r.IsDBNull(3) ? null : ParseStamp(r.GetString(3)),
        ManifestKey = r.IsDBNull(4) ? null : r.GetString(4),
        Attempt = r.GetInt32(5),
        LastProgressAt = r.IsDBNull(6) ? null : ParseStamp(r.GetString(6)),
        HandedOff = r.GetInt32(7) != 0,
    };

    private async Task<List<ExportRun>> QueryRunsAsync(string where, CancellationToken cancellationToken, params (string, object?)[] args)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var cmd = Command(c, null, $"SELECT {RunColumns} FROM runs {where}", args);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        var list = new List<ExportRun>();
        while (await r.ReadAsync(cancellationToken)) list.Add(ReadRun(r));
        return list;
    }

    public async Task<ExportRun?> GetRunAsync(string runId, CancellationToken cancellationToken) =>
        (await QueryRunsAsync("WHERE run_id = $id", cancellationToken, ("$id", runId))).SingleOrDefault();

    public async Task<IReadOnlyList<ExportRun>> ListUnfinishedRunsAsync(CancellationToken cancellationToken) =>
        await QueryRunsAsync("WHERE status NOT IN ('Succeeded', 'Failed') ORDER BY created_at", cancellationToken);

    public async Task<IReadOnlyList<ExportRun>> ListRunsAsync(string activationId, int limit, CancellationToken cancellationToken) =>
        await QueryRunsAsync("WHERE activation_id = $a ORDER BY slot DESC LIMIT $n", cancellationToken, ("$a", activationId), ("$n", limit));

    public async Task<bool> TryTransitionAsync(string runId, int attempt, RunStatus from, RunStatus to, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        return await ExecuteAsync(c, null, """
            UPDATE runs SET status = $to, progress_at = $at, handed_off = 0
            WHERE run_id = $id AND attempt = $n AND status = $from
            """, cancellationToken,
            ("$id", runId), ("$n", attempt), ("$from", from.ToString()), ("$to", to.ToString()), ("$at", Stamp(at))) == 1;
    }

    public async Task MarkHandedOffAsync(string runId, int attempt, RunStatus status, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await ExecuteAsync(c, null, "UPDATE runs SET handed_off = 1 WHERE run_id = $id AND attempt = $n AND status = $s", cancellationToken,
            ("$id", runId), ("$n", attempt), ("$s", status.ToString()));
    }

    public async Task TouchRunAsync(string runId, int attempt, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await ExecuteAsync(c, null, "UPDATE runs SET progress_at = $at WHERE run_id = $id AND attempt = $n AND (progress_at IS NULL OR progress_at < $at)",
            cancellationToken, ("$id", runId), ("$n", attempt), ("$at", Stamp(at)));
    }

    public async Task MarkSucceededAsync(string runId, int attempt, string manifestKey, DateTimeOffset completedAt, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var t = (SqliteTransaction)await c.BeginTransactionAsync(cancellationToken);
        var updated = await ExecuteAsync(c, t, """
            UPDATE runs SET status = 'Succeeded', manifest_key = $m, completed_at = $at, progress_at = $at, error = NULL
            WHERE run_id = $id AND attempt = $n AND status NOT IN ('Succeeded', 'Failed')
            """, cancellationToken, ("$id", runId), ("$n", attempt), ("$m", manifestKey), ("$at", Stamp(completedAt)));
        if (updated == 1)
        {
            var run = (await QueryRunsInTransaction(c, t, runId, cancellationToken))!;
            if (run.WatermarkTo is { } to)
            {
                await ExecuteAsync(c, t, """
                    INSERT INTO watermarks (activation_id, watermark, run_id) VALUES ($a, $w, $id)
                    ON CONFLICT (activation_id) DO UPDATE SET watermark = $w, run_id = $id WHERE watermark < $w
                    """, cancellationToken, ("$a", run.ActivationId), ("$w", Stamp(to)), ("$id", runId));
            }
        }
        await t.CommitAsync(cancellationToken);
    }

    private static async Task<ExportRun?> QueryRunsInTransaction(SqliteConnection c, SqliteTransaction t, string runId, CancellationToken cancellationToken)
    {
        await using var cmd = Command(c, t, $"SELECT {RunColumns} FROM runs WHERE run_id = $id", ("$id", runId));
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await r.ReadAsync(cancellationToken) ? ReadRun(r) : null;
    }

    public async Task<bool> TryMarkFailedAsync(string runId, int attempt, string error, DateTimeOffset completedAt, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        return await ExecuteAsync(c, null, """
            UPDATE runs SET status = 'Failed', error = $e, completed_at = $at, progress_at = $at
            WHERE run_id = $id AND attempt = $n AND status NOT IN ('Succeeded', 'Failed')
            """, cancellationToken, ("$id", runId), ("$n", attempt), ("$e", error), ("$at", Stamp(completedAt))) == 1;
    }

    public async Task<bool> TryRestartRunAsync(ExportRun next, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        var started = next with { Status = RunStatus.Planning, Error = null, CompletedAt = null, ManifestKey = null, HandedOff = false };
        return await ExecuteAsync(c, null, """
            UPDATE runs SET status = 'Planning', body = $body, error = NULL, completed_at = NULL, manifest_key = NULL,
                attempt = $n, progress_at = $at, handed_off = 0
            WHERE run_id = $id AND attempt = $previous AND status = 'Failed'
            """, cancellationToken, ("$id", next.RunId), ("$n", next.Attempt), ("$previous", next.Attempt - 1),
            ("$body", EngineJson.Serialize(started)), ("$at", Stamp(next.LastProgressAt ?? next.CreatedAt))) == 1;
    }

    public async Task<DateTimeOffset?> GetWatermarkAsync(string activationId, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        return await ScalarAsync(c, null, "SELECT watermark FROM watermarks WHERE activation_id = $a", cancellationToken, ("$a", activationId)) is string s ? ParseStamp(s) : null;
    }

    public async Task<T> SetOnceAsync<T>(string runId, string name, T value, CancellationToken cancellationToken) where T : class
    {
        await using var c = await OpenAsync(cancellationToken);
        var inserted = await ExecuteAsync(c, null, "INSERT OR IGNORE INTO documents (run_id, name, body) VALUES ($id, $n, $b)", cancellationToken,
            ("$id", runId), ("$n", name), ("$b", EngineJson.Serialize(value)));
        if (inserted == 1) return value;
        return (await GetDocumentAsync<T>(runId, name, cancellationToken))!;
    }

    public async Task<T?> GetDocumentAsync<T>(string runId, string name, CancellationToken cancellationToken) where T : class
    {
        await using var c = await OpenAsync(cancellationToken);
        return await ScalarAsync(c, null, "SELECT body FROM documents WHERE run_id = $id AND name = $n", cancellationToken, ("$id", runId), ("$n", name)) is string s
            ? EngineJson.Deserialize<T>(s) : null;
    }

    public async Task RecordChunkAsync(string runId, ChunkRecord chunk, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await ExecuteAsync(c, null, "INSERT OR IGNORE INTO chunks (run_id, slice, seq, body) VALUES ($id, $s, $q, $b)", cancellationToken,
            ("$id", runId), ("$s", chunk.Slice), ("$q", chunk.Seq), ("$b", EngineJson.Serialize(chunk)));
    }

    public async Task<IReadOnlyList<ChunkRecord>> ListChunksAsync(string runId, CancellationToken cancellationToken) =>
        await ListBodiesAsync<ChunkRecord>("SELECT body FROM chunks WHERE run_id = $id ORDER BY slice, seq", runId, cancellationToken);

    public async Task<int> RecordSliceDoneAsync(string runId, int slice, int chunkCount, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var t = (SqliteTransaction)await c.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(c, t, "INSERT OR IGNORE INTO slices (run_id, slice, chunk_count) VALUES ($id, $s, $n)", cancellationToken,
            ("$id", runId), ("$s", slice), ("$n", chunkCount));
        var count = Convert.ToInt32(await ScalarAsync(c, t, "SELECT COUNT(*) FROM slices WHERE run_id = $id", cancellationToken, ("$id", runId)), CultureInfo.InvariantCulture);
        await t.CommitAsync(cancellationToken);
        return count;
    }

    public async Task<IReadOnlySet<int>> ListDoneSlicesAsync(string runId, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var cmd = Command(c, null, "SELECT slice FROM slices WHERE run_id = $id", ("$id", runId));
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        var set = new HashSet<int>();
        while (await r.ReadAsync(cancellationToken)) set.Add(r.GetInt32(0));
        return set;
    }

    public async Task<int> RecordPartAsync(string runId, PartRecord part, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var t = (SqliteTransaction)await c.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(c, t, "INSERT OR IGNORE INTO parts (run_id, file, part, body) VALUES ($id, $f, $p, $b)", cancellationToken,
            ("$id", runId), ("$f", part.File), ("$p", part.Receipt.PartNumber), ("$b", EngineJson.Serialize(part)));
        var count = Convert.ToInt32(await ScalarAsync(c, t, "SELECT COUNT(*) FROM parts WHERE run_id = $id", cancellationToken, ("$id", runId)), CultureInfo.InvariantCulture);
        await t.CommitAsync(cancellationToken);
        return count;
    }

    public async Task<bool> HasPartAsync(string runId, int file, int part, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        return await ScalarAsync(c, null, "SELECT 1 FROM parts WHERE run_id = $id AND file = $f AND part = $p", cancellationToken,
            ("$id", runId), ("$f", file), ("$p", part)) is not null;
    }

    public async Task<int> CountPartsAsync(string runId, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        return Convert.ToInt32(await ScalarAsync(c, null, "SELECT COUNT(*) FROM parts WHERE run_id = $id", cancellationToken, ("$id", runId)), CultureInfo.InvariantCulture);
    }

    public async Task<IReadOnlyList<PartRecord>> ListPartsAsync(string runId, CancellationToken cancellationToken) =>
        await ListBodiesAsync<PartRecord>("SELECT body FROM parts WHERE run_id = $id ORDER BY file, part", runId, cancellationToken);

    private async Task<List<T>> ListBodiesAsync<T>(string sql, string runId, CancellationToken cancellationToken)
    {
        await using var c = await OpenAsync(cancellationToken);
        await using var cmd = Command(c, null, sql, ("$id", runId));
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        var list = new List<T>();
        while (await r.ReadAsync(cancellationToken)) list.Add(EngineJson.Deserialize<T>(r.GetString(0)));
        return list;
    }
}
