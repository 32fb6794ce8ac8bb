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

    /// <summary>
    /// Moves attempt <paramref name="attempt"/> of a run from one status to the next, records progress at <paramref name="at"/>
    /// and clears <see cref="ExportRun.HandedOff"/>; false if it was not in <paramref name="from"/> (someone else moved it).
    /// </summary>
    Task<bool> TryTransitionAsync(string runId, int attempt, RunStatus from, RunStatus to, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Records that the messages of <paramref name="status"/> were sent (a no-op if the run has moved on).</summary>
    Task MarkHandedOffAsync(string runId, int attempt, RunStatus status, CancellationToken cancellationToken);

    /// <summary>Records that the attempt is making progress (a heartbeat); one point write.</summary>
    Task TouchRunAsync(string runId, int attempt, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Marks the attempt succeeded and, for incremental runs, advances the activation's watermark.</summary>
    Task MarkSucceededAsync(string runId, int attempt, string manifestKey, DateTimeOffset completedAt, CancellationToken cancellationToken);

    /// <summary>Marks an unfinished attempt failed; false when it had already finished or another attempt has started.</summary>
    Task<bool> TryMarkFailedAsync(string runId, int attempt, string error, DateTimeOffset completedAt, CancellationToken cancellationToken);

    /// <summary>
    /// Starts <paramref name="next"/> (the next attempt of a failed run: same id, slot and window) in Planning,
    /// only if the stored run is Failed at attempt <c>next.Attempt - 1</c>; false when another retry won.
    /// </summary>
    Task<bool> TryRestartRunAsync(ExportRun next, CancellationToken cancellationToken);

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
