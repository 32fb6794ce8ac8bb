using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Ports;

/// <summary>
/// Run state: schedules, runs and the progress of their chunks and parts. SQLite locally, Table
/// storage in Azure. Every "who goes next" decision is a conditional write here, never a timer.
/// </summary>
public interface IRunStore
{
    Task<DateTimeOffset?> GetLastScheduledSlotAsync(string activationId, CancellationToken cancellationToken);

    /// <summary>
    /// Creates <paramref name="run"/> (if absent) and moves the activation's cursor to its slot, in one step,
    /// only if the cursor still equals <paramref name="expectedLastSlot"/>. False when another scheduler won.
    /// </summary>
    Task<bool> TryScheduleRunAsync(ExportRun run, DateTimeOffset? expectedLastSlot, CancellationToken cancellationToken);

    /// <summary>Creates the run unless one with its id exists; returns the stored one.</summary>
    Task<ExportRun> CreateRunIfAbsentAsync(ExportRun run, CancellationToken cancellationToken);

    Task<ExportRun?> GetRunAsync(string runId, CancellationToken cancellationToken);

    Task<IReadOnlyList<ExportRun>> ListUnfinishedRunsAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<ExportRun>> ListRunsAsync(string activationId, int limit, CancellationToken cancellationToken);

    /// <summary>Moves a run from one status to the next; false if it was not in <paramref name="from"/> (someone else moved it).</summary>
    Task<bool> TryTransitionAsync(string runId, RunStatus from, RunStatus to, CancellationToken cancellationToken);

    /// <summary>Marks the run succeeded and, for incremental runs, advances the activation's watermark.</summary>
    Task MarkSucceededAsync(string runId, string manifestKey, DateTimeOffset completedAt, CancellationToken cancellationToken);

    /// <summary>Marks an unfinished run failed; false when it had already finished.</summary>
    Task<bool> TryMarkFailedAsync(string runId, string error, DateTimeOffset completedAt, CancellationToken cancellationToken);

    /// <summary>The watermark of the activation's last successful run, if any.</summary>
    Task<DateTimeOffset?> GetWatermarkAsync(string activationId, CancellationToken cancellationToken);

    /// <summary>Stores a document for the run unless one with that name exists; returns the stored one (first writer wins).</summary>
    Task<T> SetOnceAsync<T>(string runId, string name, T value, CancellationToken cancellationToken) where T : class;

    Task<T?> GetDocumentAsync<T>(string runId, string name, CancellationToken cancellationToken) where T : class;

    Task RecordChunkAsync(string runId, ChunkRecord chunk, CancellationToken cancellationToken);

    Task<IReadOnlyList<ChunkRecord>> ListChunksAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Records that a slice is fully built; returns how many slices of the run are done.</summary>
    Task<int> RecordSliceDoneAsync(string runId, int slice, int chunkCount, CancellationToken cancellationToken);

    Task<IReadOnlySet<int>> ListDoneSlicesAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Records a delivered part (idempotent); returns how many parts of the run are recorded.</summary>
    Task<int> RecordPartAsync(string runId, PartRecord part, CancellationToken cancellationToken);

    Task<IReadOnlyList<PartRecord>> ListPartsAsync(string runId, CancellationToken cancellationToken);

    /// <summary>Whether a part is recorded; one lookup, so a part message doesn't read every part of the run.</summary>
    Task<bool> HasPartAsync(string runId, int file, int part, CancellationToken cancellationToken);

    Task<int> CountPartsAsync(string runId, CancellationToken cancellationToken);
}
