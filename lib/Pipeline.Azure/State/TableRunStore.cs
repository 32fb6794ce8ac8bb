using System.Globalization;
using System.Net;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Pipeline.Engine;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Azure.State;

/// <summary>
/// Run state in Azure Table storage, every call one or two point operations (or one partition query).
/// <list type="bullet">
/// <item><c>pipelineRuns</c>, partition = run id: the run (<c>run</c>), its counters (<c>counters</c>), and one row
/// per chunk, finished slice and delivered part. One run's writes never contend with another's; "record and count"
/// is one entity-group transaction (insert the row, bump the counter under its ETag), so a duplicate never counts twice.</item>
/// <item><c>pipelineActivations</c>, partition = activation id: the schedule cursor and watermark (<c>cursor</c>, ETag
/// compare-and-swap), and one index row per run, newest slot first, for <c>pipeline runs</c>.</item>
/// <item><c>pipelineUnfinished</c>, one partition: an index of unfinished runs. It may briefly hold a finished run
/// (a crash between two writes); listing skips and removes such rows, so it never needs a table scan.</item>
/// <item>Run documents (plan, assembly) are blobs in <c>run-documents</c>, written with If-None-Match: * (first writer
/// wins): an assembly plan outgrows a table property's 64 KiB.</item>
/// </list>
/// </summary>
public sealed class TableRunStore : IRunStore
{
    public const string RunsTable = "pipelineRuns";
    public const string ActivationsTable = "pipelineActivations";
    public const string UnfinishedTable = "pipelineUnfinished";
    public const string DocumentsContainer = "run-documents";

    private const string RunRow = "run";
    private const string CountersRow = "counters";
    private const string CursorRow = "cursor";
    private const string UnfinishedPartition = "unfinished";
    // A table string property holds 64 KiB (32K UTF-16 characters); longer JSON is split over numbered properties.
    private const int PropertyChars = 30_000;
    private const int MaxBodyProperties = 30;

    // What a finished attempt recorded; a restarted run starts without them.
    private static readonly string[] OutcomeProperties = ["Error", "CompletedAt", "ManifestKey"];

    private readonly TableClient _runs;
    private readonly TableClient _activations;
    private readonly TableClient _unfinished;
    private readonly BlobContainerClient _documents;
    private readonly TimeProvider _time;

    public TableRunStore(TableServiceClient tables, BlobServiceClient blobs, TimeProvider? time = null)
    {
        _runs = tables.GetTableClient(RunsTable);
        _activations = tables.GetTableClient(ActivationsTable);
        _unfinished = tables.GetTableClient(UnfinishedTable);
        _documents = blobs.GetBlobContainerClient(DocumentsContainer);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Creates the tables and the document container when missing (the Bicep templates create them in Azure).</summary>
    public async Task EnsureCreatedAsync(CancellationToken cancellationToken)
    {
        await _runs.CreateIfNotExistsAsync(cancellationToken);
        await _activations.CreateIfNotExistsAsync(cancellationToken);
        await _unfinished.CreateIfNotExistsAsync(cancellationToken);
        await _documents.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
    }

    // ---- schedules and watermarks -------------------------------------------------------------------------------

    public async Task<DateTimeOffset?> GetLastScheduledSlotAsync(string activationId, CancellationToken cancellationToken) =>
        (await GetAsync(_activations, activationId, CursorRow, cancellationToken))?.GetDateTimeOffset("LastSlot");

    public async Task<bool> TryScheduleRunAsync(ExportRun run, DateTimeOffset? expectedLastSlot, CancellationToken cancellationToken)
    {
        var cursor = await GetAsync(_activations, run.ActivationId, CursorRow, cancellationToken);
        if (cursor?.GetDateTimeOffset("LastSlot") != expectedLastSlot) return false;
        // The run first, the cursor second: a crash in between leaves a run the next tick finds again (same id for the
        // same slot), never a moved cursor without its run, which would lose the slot.
        await CreateRunIfAbsentAsync(run, cancellationToken);
        var next = cursor ?? new TableEntity(run.ActivationId, CursorRow);
        next["LastSlot"] = run.Slot.ToUniversalTime();
        if (await TryWriteAsync(_activations, next, cursor is null ? null : cursor.ETag, cancellationToken)) return true;
        // Another scheduler moved the cursor first. Same slot: it created this very run. Another slot: ours is an orphan.
        var winner = await GetLastScheduledSlotAsync(run.ActivationId, cancellationToken);
        if (winner != run.Slot.ToUniversalTime()) await DeleteIfUntouchedAsync(run, cancellationToken);
        return false;
    }

    public async Task<DateTimeOffset?> GetWatermarkAsync(string activationId, CancellationToken cancellationToken) =>
        (await GetAsync(_activations, activationId, CursorRow, cancellationToken))?.GetDateTimeOffset("Watermark");

    private async Task RaiseWatermarkAsync(string activationId, DateTimeOffset watermark, string runId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var cursor = await GetAsync(_activations, activationId, CursorRow, cancellationToken);
            if (cursor?.GetDateTimeOffset("Watermark") is { } current && current >= watermark) return;
            var next = cursor ?? new TableEntity(activationId, CursorRow);
            next["Watermark"] = watermark.ToUniversalTime();
            next["WatermarkRunId"] = runId;
            if (await TryWriteAsync(_activations, next, cursor?.ETag, cancellationToken)) return;
        }
    }

    // ---- runs ---------------------------------------------------------------------------------------------------

    public async Task<ExportRun> CreateRunIfAbsentAsync(ExportRun run, CancellationToken cancellationToken)
    {
        if (await GetRunAsync(run.RunId, cancellationToken) is { } existing) return existing;
        // Indexes first: each may briefly point at a run that doesn't exist yet, which readers tolerate.
        await AddIfAbsentAsync(_unfinished, new TableEntity(UnfinishedPartition, run.RunId) { ["CreatedAt"] = run.CreatedAt.ToUniversalTime() }, cancellationToken);
        await AddIfAbsentAsync(_activations, new TableEntity(run.ActivationId, RunIndexRow(run)) { ["RunId"] = run.RunId }, cancellationToken);
        var entity = new TableEntity(run.RunId, RunRow)
        {
            ["ActivationId"] = run.ActivationId,
            ["Slot"] = run.Slot.ToUniversalTime(),
            ["Status"] = run.Status.ToString(),
            ["CreatedAt"] = run.CreatedAt.ToUniversalTime(),
            ["Attempt"] = run.Attempt,
            ["ProgressAt"] = (run.LastProgressAt ?? run.CreatedAt).ToUniversalTime(),
            ["HandedOff"] = false,
        };
        WriteBody(entity, EngineJson.Serialize(run with { Status = RunStatus.Planning, Error = null, CompletedAt = null, ManifestKey = null, HandedOff = false }));
        try
        {
            await _runs.SubmitTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.Add, entity),
                new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(run.RunId, CountersRow) { ["Slices"] = 0, ["Parts"] = 0 }),
            ], cancellationToken);
        }
        catch (TableTransactionFailedException e) when (e.Status == (int)HttpStatusCode.Conflict) { }
        return (await GetRunAsync(run.RunId, cancellationToken))!;
    }

    public async Task<ExportRun?> GetRunAsync(string runId, CancellationToken cancellationToken) =>
        await GetAsync(_runs, runId, RunRow, cancellationToken) is { } entity ? ReadRun(entity) : null;

    public async Task<IReadOnlyList<ExportRun>> ListUnfinishedRunsAsync(CancellationToken cancellationToken)
    {
        var runs = new List<ExportRun>();
        var grace = _time.GetUtcNow() - TimeSpan.FromMinutes(10);
        await foreach (var row in _unfinished.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {UnfinishedPartition}"), cancellationToken: cancellationToken))
        {
            var run = await GetRunAsync(row.RowKey, cancellationToken);
            if (run is { IsFinished: false }) { runs.Add(run); continue; }
            if (run is { Status: RunStatus.Succeeded, WatermarkTo: { } to })
                await RaiseWatermarkAsync(run.ActivationId, to, run.RunId, cancellationToken); // a crash between the two writes of MarkSucceeded
            // A row whose run is finished, or was never created (a scheduler died in between), is stale.
            if (run is not null || row.GetDateTimeOffset("CreatedAt") < grace)
                await DeleteIfExistsAsync(_unfinished, UnfinishedPartition, row.RowKey, cancellationToken);
        }
        return runs.OrderBy(r => r.CreatedAt).ToList();
    }

    public async Task<IReadOnlyList<ExportRun>> ListRunsAsync(string activationId, int limit, CancellationToken cancellationToken)
    {
        var runs = new List<ExportRun>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {activationId} and RowKey ge {"run|"} and RowKey lt {"run}"}");
        await foreach (var row in _activations.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(limit, 1000), cancellationToken: cancellationToken))
        {
            if (runs.Count >= limit) break;
            if (await GetRunAsync(row.GetString("RunId"), cancellationToken) is { } run) runs.Add(run);
        }
        return runs;
    }

    public Task<bool> TryTransitionAsync(string runId, int attempt, RunStatus from, RunStatus to, DateTimeOffset at, CancellationToken cancellationToken) =>
        TryUpdateRunAsync(runId, run =>
        {
            if (!IsAttempt(run, attempt) || run.GetString("Status") != from.ToString()) return false;
            run["Status"] = to.ToString();
            run["ProgressAt"] = at.ToUniversalTime();
            run["HandedOff"] = false;
            return true;
        }, cancellationToken);

    public Task MarkHandedOffAsync(string runId, int attempt, RunStatus status, CancellationToken cancellationToken) =>
        TryUpdateRunAsync(runId, run =>
        {
            if (!IsAttempt(run, attempt) || run.GetString("Status") != status.ToString() || run.GetBoolean("HandedOff") == true) return false;
            run["HandedOff"] = true;
            return true;
        }, cancellationToken);

    public Task TouchRunAsync(string runId, int attempt, DateTimeOffset at, CancellationToken cancellationToken) =>
        TryUpdateRunAsync(runId, run =>
        {
            if (!IsAttempt(run, attempt) || run.GetDateTimeOffset("ProgressAt") >= at) return false;
            run["ProgressAt"] = at.ToUniversalTime();
            return true;
        }, cancellationToken);

    public async Task MarkSucceededAsync(string runId, int attempt, string manifestKey, DateTimeOffset completedAt, CancellationToken cancellationToken)
    {
        var run = await GetRunAsync(runId, cancellationToken);
        if (run is null || run.IsFinished || run.Attempt != attempt) return;
        // The watermark before the status: a crash in between retries CompleteExport, which raises it again (a no-op).
        if (run.WatermarkTo is { } to) await RaiseWatermarkAsync(run.ActivationId, to, runId, cancellationToken);
        if (await TryFinishAsync(runId, attempt, RunStatus.Succeeded, null, manifestKey, completedAt, cancellationToken))
            await DeleteIfExistsAsync(_unfinished, UnfinishedPartition, runId, cancellationToken);
    }

    public async Task<bool> TryMarkFailedAsync(string runId, int attempt, string error, DateTimeOffset completedAt, CancellationToken cancellationToken)
    {
        if (!await TryFinishAsync(runId, attempt, RunStatus.Failed, error, null, completedAt, cancellationToken)) return false;
        await DeleteIfExistsAsync(_unfinished, UnfinishedPartition, runId, cancellationToken);
        return true;
    }

    public async Task<bool> TryRestartRunAsync(ExportRun next, CancellationToken cancellationToken)
    {
        // The run becomes unfinished again: its index row goes in first (a stale row is harmless, a missing one is not).
        await AddIfAbsentAsync(_unfinished, new TableEntity(UnfinishedPartition, next.RunId) { ["CreatedAt"] = next.CreatedAt.ToUniversalTime() }, cancellationToken);
        var started = next with { Status = RunStatus.Planning, Error = null, CompletedAt = null, ManifestKey = null, HandedOff = false };
        return await TryUpdateRunAsync(next.RunId, run =>
        {
            if (!IsAttempt(run, next.Attempt - 1) || run.GetString("Status") != nameof(RunStatus.Failed)) return false;
            foreach (var stale in OutcomeProperties) run.Remove(stale);
            run["Status"] = nameof(RunStatus.Planning);
            run["Attempt"] = next.Attempt;
            run["ProgressAt"] = (next.LastProgressAt ?? next.CreatedAt).ToUniversalTime();
            run["HandedOff"] = false;
            WriteBody(run, EngineJson.Serialize(started));
            return true;
        }, cancellationToken);
    }

    private Task<bool> TryFinishAsync(string runId, int attempt, RunStatus status, string? error, string? manifestKey, DateTimeOffset completedAt, CancellationToken cancellationToken) =>
        TryUpdateRunAsync(runId, run =>
        {
            if (!IsAttempt(run, attempt) || run.GetString("Status") is nameof(RunStatus.Succeeded) or nameof(RunStatus.Failed)) return false;
            run["Status"] = status.ToString();
            run["CompletedAt"] = completedAt.ToUniversalTime();
            run["ProgressAt"] = completedAt.ToUniversalTime();
            if (error is null) run.Remove("Error"); else run["Error"] = Truncate(error);
            if (manifestKey is null) run.Remove("ManifestKey"); else run["ManifestKey"] = manifestKey;
            return true;
        }, cancellationToken);

    /// <summary>Read, change, write back under the read ETag; again when another writer came in between. False when <paramref name="change"/> declines.</summary>
    private async Task<bool> TryUpdateRunAsync(string runId, Func<TableEntity, bool> change, CancellationToken cancellationToken)
    {
        while (true)
        {
            var run = await GetAsync(_runs, runId, RunRow, cancellationToken);
            if (run is null || !change(run)) return false;
            try
            {
                await _runs.UpdateEntityAsync(run, run.ETag, TableUpdateMode.Replace, cancellationToken);
                return true;
            }
            catch (RequestFailedException e) when (e.Status == (int)HttpStatusCode.PreconditionFailed) { }
        }
    }

    private static bool IsAttempt(TableEntity run, int attempt) => (run.GetInt32("Attempt") ?? 1) == attempt;

    // ---- documents ----------------------------------------------------------------------------------------------

    public async Task<T> SetOnceAsync<T>(string runId, string name, T value, CancellationToken cancellationToken) where T : class
    {
        var blob = _documents.GetBlobClient(DocumentName(runId, name));
        try
        {
            await blob.UploadAsync(BinaryData.FromString(EngineJson.Serialize(value)),
                new BlobUploadOptions { Conditions = new() { IfNoneMatch = ETag.All } }, cancellationToken);
            return value;
        }
        catch (RequestFailedException e) when (e.Status is (int)HttpStatusCode.Conflict or (int)HttpStatusCode.PreconditionFailed)
        {
            return (await GetDocumentAsync<T>(runId, name, cancellationToken))!;
        }
    }

    public async Task<T?> GetDocumentAsync<T>(string runId, string name, CancellationToken cancellationToken) where T : class
    {
        try
        {
            var content = await _documents.GetBlobClient(DocumentName(runId, name)).DownloadContentAsync(cancellationToken);
            return EngineJson.Deserialize<T>(content.Value.Content.ToString());
        }
        catch (RequestFailedException e) when (e.Status == (int)HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static string DocumentName(string runId, string name) => $"{runId}/{name}.json";

    // ---- chunks, slices, parts ----------------------------------------------------------------------------------

    public async Task RecordChunkAsync(string runId, ChunkRecord chunk, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(runId, ChunkRow(chunk.Slice, chunk.Seq));
        WriteBody(entity, EngineJson.Serialize(chunk));
        await AddIfAbsentAsync(_runs, entity, cancellationToken);
    }

    public async Task<IReadOnlyList<ChunkRecord>> ListChunksAsync(string runId, CancellationToken cancellationToken) =>
        await ListRowsAsync<ChunkRecord>(runId, "chunk|", cancellationToken);

    public Task<int> RecordSliceDoneAsync(string runId, int slice, int chunkCount, CancellationToken cancellationToken) =>
        RecordAndCountAsync(new TableEntity(runId, SliceRow(slice)) { ["Slice"] = slice, ["Chunks"] = chunkCount }, "Slices", cancellationToken);

    public async Task<IReadOnlySet<int>> ListDoneSlicesAsync(string runId, CancellationToken cancellationToken)
    {
        var done = new HashSet<int>();
        await foreach (var row in QueryRowsAsync(runId, "slice|", cancellationToken)) done.Add(row.GetInt32("Slice")!.Value);
        return done;
    }

    public Task<int> RecordPartAsync(string runId, PartRecord part, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(runId, PartRow(part.File, part.Receipt.PartNumber));
        WriteBody(entity, EngineJson.Serialize(part));
        return RecordAndCountAsync(entity, "Parts", cancellationToken);
    }

    public async Task<IReadOnlyList<PartRecord>> ListPartsAsync(string runId, CancellationToken cancellationToken) =>
        await ListRowsAsync<PartRecord>(runId, "part|", cancellationToken);

    public async Task<bool> HasPartAsync(string runId, int file, int part, CancellationToken cancellationToken) =>
        await GetAsync(_runs, runId, PartRow(file, part), cancellationToken) is not null;

    public async Task<int> CountPartsAsync(string runId, CancellationToken cancellationToken) =>
        (await GetAsync(_runs, runId, CountersRow, cancellationToken))?.GetInt32("Parts") ?? 0;

    /// <summary>Inserts <paramref name="row"/> and bumps <paramref name="counter"/> in one transaction; a row already there counts once.</summary>
    private async Task<int> RecordAndCountAsync(TableEntity row, string counter, CancellationToken cancellationToken)
    {
        while (true)
        {
            // A retry's attempt keeps its progress in a partition of its own, whose counters start on first use.
            if (await GetAsync(_runs, row.PartitionKey, CountersRow, cancellationToken) is not { } counters)
            {
                await AddIfAbsentAsync(_runs, new TableEntity(row.PartitionKey, CountersRow) { [counter] = 0 }, cancellationToken);
                continue;
            }
            var count = counters.GetInt32(counter) ?? 0;
            if (await GetAsync(_runs, row.PartitionKey, row.RowKey, cancellationToken) is not null) return count;
            var bumped = new TableEntity(row.PartitionKey, CountersRow) { [counter] = count + 1 };
            try
            {
                await _runs.SubmitTransactionAsync(
                [
                    new TableTransactionAction(TableTransactionActionType.Add, row),
                    new TableTransactionAction(TableTransactionActionType.UpdateMerge, bumped, counters.ETag),
                ], cancellationToken);
                return count + 1;
            }
            catch (TableTransactionFailedException e) when (e.Status is (int)HttpStatusCode.Conflict or (int)HttpStatusCode.PreconditionFailed)
            {
                // Another writer recorded this row or bumped the counter first: read both again.
            }
        }
    }

    private async Task<List<T>> ListRowsAsync<T>(string runId, string prefix, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await foreach (var row in QueryRowsAsync(runId, prefix, cancellationToken)) list.Add(EngineJson.Deserialize<T>(ReadBody(row)));
        return list;
    }

    private AsyncPageable<TableEntity> QueryRowsAsync(string runId, string prefix, CancellationToken cancellationToken)
    {
        // '|' + 1 is '}': every row key with the prefix sorts in [prefix, prefix-with-'}').
        var end = prefix[..^1] + "}";
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {runId} and RowKey ge {prefix} and RowKey lt {end}");
        return _runs.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken);
    }

    // Fixed-width numbers so row keys sort like the numbers they hold.
    private static string ChunkRow(int slice, int seq) => string.Create(CultureInfo.InvariantCulture, $"chunk|{slice:D6}|{seq:D8}");

    private static string SliceRow(int slice) => string.Create(CultureInfo.InvariantCulture, $"slice|{slice:D6}");

    private static string PartRow(int file, int part) => string.Create(CultureInfo.InvariantCulture, $"part|{file:D6}|{part:D5}");

    /// <summary>Newest slot first: the row key is the slot's distance from the end of time.</summary>
    private static string RunIndexRow(ExportRun run) =>
        string.Create(CultureInfo.InvariantCulture, $"run|{DateTimeOffset.MaxValue.UtcTicks - run.Slot.UtcTicks:D19}|{run.RunId}");

    // ---- entity helpers -----------------------------------------------------------------------------------------

    private static ExportRun ReadRun(TableEntity entity) => EngineJson.Deserialize<ExportRun>(ReadBody(entity)) with
    {
        Status = Enum.Parse<RunStatus>(entity.GetString("Status")),
        Error = entity.GetString("Error"),
        CompletedAt = entity.GetDateTimeOffset("CompletedAt"),
        ManifestKey = entity.GetString("ManifestKey"),
        Attempt = entity.GetInt32("Attempt") ?? 1,
        LastProgressAt = entity.GetDateTimeOffset("ProgressAt"),
        HandedOff = entity.GetBoolean("HandedOff") ?? false,
    };

    private static void WriteBody(TableEntity entity, string json)
    {
        var pieces = (json.Length + PropertyChars - 1) / PropertyChars;
        if (pieces > MaxBodyProperties)
            throw new InvalidOperationException($"Row {entity.PartitionKey}/{entity.RowKey} would hold {json.Length:N0} characters of JSON, more than a table entity can.");
        for (var i = 0; i < Math.Max(1, pieces); i++)
            entity[i == 0 ? "Body" : string.Create(CultureInfo.InvariantCulture, $"Body{i}")] = json.Substring(i * PropertyChars, Math.Min(PropertyChars, json.Length - i * PropertyChars));
    }

    private static string ReadBody(TableEntity entity)
    {
        var body = entity.GetString("Body") ?? throw new InvalidOperationException($"Row {entity.PartitionKey}/{entity.RowKey} has no Body.");
        if (body.Length < PropertyChars) return body;
        var text = new System.Text.StringBuilder(body);
        for (var i = 1; entity.GetString(string.Create(CultureInfo.InvariantCulture, $"Body{i}")) is { } more; i++) text.Append(more);
        return text.ToString();
    }

    private static string Truncate(string error) => error.Length <= PropertyChars ? error : error[..(PropertyChars - 1)] + "…";

    private static async Task<TableEntity?> GetAsync(TableClient table, string partition, string row, CancellationToken cancellationToken)
    {
        var response = await table.GetEntityIfExistsAsync<TableEntity>(partition, row, cancellationToken: cancellationToken);
        return response.HasValue ? response.Value : null;
    }

    private static async Task AddIfAbsentAsync(TableClient table, TableEntity entity, CancellationToken cancellationToken)
    {
        try { await table.AddEntityAsync(entity, cancellationToken); }
        catch (RequestFailedException e) when (e.Status == (int)HttpStatusCode.Conflict) { }
    }

    /// <summary>Inserts (no ETag: the row must not exist) or replaces under <paramref name="etag"/>; false when another writer won.</summary>
    private static async Task<bool> TryWriteAsync(TableClient table, TableEntity entity, ETag? etag, CancellationToken cancellationToken)
    {
        try
        {
            if (etag is { } e) await table.UpdateEntityAsync(entity, e, TableUpdateMode.Replace, cancellationToken);
            else await table.AddEntityAsync(entity, cancellationToken);
            return true;
        }
        catch (RequestFailedException x) when (x.Status is (int)HttpStatusCode.Conflict or (int)HttpStatusCode.PreconditionFailed)
        {
            return false;
        }
    }

    private static async Task DeleteIfExistsAsync(TableClient table, string partition, string row, CancellationToken cancellationToken)
    {
        try { await table.DeleteEntityAsync(partition, row, ETag.All, cancellationToken); }
        catch (RequestFailedException e) when (e.Status == (int)HttpStatusCode.NotFound) { }
    }

    /// <summary>Removes a run this scheduler created for a slot it then lost, while nothing has touched it yet.</summary>
    private async Task DeleteIfUntouchedAsync(ExportRun run, CancellationToken cancellationToken)
    {
        var entity = await GetAsync(_runs, run.RunId, RunRow, cancellationToken);
        if (entity is null || entity.GetString("Status") != nameof(RunStatus.Planning)) return;
        if (await GetDocumentAsync<ExportPlan>(run.RunId, ExportStages.Documents.Plan, cancellationToken) is not null) return;
        try { await _runs.DeleteEntityAsync(run.RunId, RunRow, entity.ETag, cancellationToken); }
        catch (RequestFailedException e) when (e.Status is (int)HttpStatusCode.NotFound or (int)HttpStatusCode.PreconditionFailed) { return; }
        await DeleteIfExistsAsync(_runs, run.RunId, CountersRow, cancellationToken);
        await DeleteIfExistsAsync(_activations, run.ActivationId, RunIndexRow(run), cancellationToken);
        await DeleteIfExistsAsync(_unfinished, UnfinishedPartition, run.RunId, cancellationToken);
    }
}
