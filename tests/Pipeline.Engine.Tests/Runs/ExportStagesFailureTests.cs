using Microsoft.Extensions.Logging;
using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Runs;

/// <summary>ExportStages when something is wrong: which errors fail the run, which are retried, and what failing cleans up.</summary>
public class ExportStagesFailureTests : RunHarnessFixture
{
    /// <summary>Two source files, one output file for each.</summary>
    private ExportSpec TwoFileSpec() => H.Spec(TwoSourceFiles(), s => s with { MaxFileSize = 600 });

    private Task Handle(StageMessage message, CancellationToken cancellationToken = default) => H.Stages.HandleAsync(message, cancellationToken);

    [Test]
    public async Task A_missing_source_fails_the_run_at_once_with_the_sources_own_message()
    {
        var spec = H.Spec(Path.Combine(H.Root, "no-such-folder"));
        var run = await H.CreateRunAsync(spec);
        var expected = (await Assert.ThrowsAsync<SourceException>(() => SourceCatalog.ListFilesAsync(FileSourceStore.Instance, spec.Source, None)))!.Message;

        await Handle(new PlanExport(run.RunId));

        var failed = await H.GetRunAsync(run.RunId);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(failed.Status, Is.EqualTo(RunStatus.Failed));
            Assert.That(failed.Error, Is.EqualTo(expected));
            Assert.That(failed.CompletedAt, Is.EqualTo(H.Time.GetUtcNow()));
            Assert.That(H.Queue.Sent, Is.Empty);
            Assert.That(H.StageLog.At(LogLevel.Error), Is.EqualTo(new[] { $"Run {run.RunId} (vip) failed: {expected}" }));
        }
    }

    [Test]
    public async Task An_unknown_field_fails_the_run_before_any_slice_is_built()
    {
        var run = await H.CreateRunAsync(H.Spec(TwoSourceFiles(), s => s with { Fields = [new OutputField("emial", "email")] }));

        await Handle(new PlanExport(run.RunId));

        var failed = await H.GetRunAsync(run.RunId);
        Assert.That(failed.Status, Is.EqualTo(RunStatus.Failed));
        Assert.That(failed.Error, Does.Contain("field \"emial\" is not a column").And.Contain("a.csv"));
        Assert.That(H.Queue.Sent, Is.Empty);
        Assert.That(await H.Store.GetDocumentAsync<ExportPlan>(run.ProgressId, ExportStages.Documents.Plan, None), Is.Null);
    }

    [Test]
    public async Task A_transient_delivery_error_is_thrown_for_the_queue_to_retry_and_the_run_waits()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        H.Destination.OnPart = (_, _) => throw new IOException("connection reset");

        Assert.That(() => Handle(new UploadPart(run.RunId, 1, 1)), Throws.TypeOf<IOException>().With.Message.EqualTo("connection reset"));

        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Uploading));
        Assert.That(H.Destination.CallsStartingWith("abort"), Is.Empty);
    }

    [TestCaseSource(nameof(PermanentErrors))]
    public async Task A_permanent_error_fails_the_run_and_aborts_its_uploads(Exception error)
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        H.Destination.OnPart = (_, _) => throw error;

        await Handle(new UploadPart(run.RunId, 2, 1));

        var failed = await H.GetRunAsync(run.RunId);
        Assert.That((failed.Status, failed.Error), Is.EqualTo((RunStatus.Failed, error.Message)));
        Assert.That(H.Destination.CallsStartingWith("abort"), Is.EqualTo(new[] { "abort daily/vip_001.csv upload-1", "abort daily/vip_002.csv upload-2" }));
    }

    private static IEnumerable<Exception> PermanentErrors() =>
    [
        new SourceException("source gone"),
        new MalformedRowException("a.csv", 3, "2 columns of 4"),
        new ConfigException("pipeline.json", [new ConfigProblem("activations[0]", "bad", "fix it")]),
        new DestinationException("bucket gone"),
        new SecretException("secret gone"),
    ];

    [Test]
    public void Only_errors_retrying_cannot_fix_are_permanent()
    {
        foreach (var e in PermanentErrors()) Assert.That(ExportStages.IsPermanent(e), Is.True, e.GetType().Name);
        foreach (var e in new Exception[] { new IOException("reset"), new InvalidOperationException("bug"), new SourceUnavailableException("timeout"), new OperationCanceledException() })
            Assert.That(ExportStages.IsPermanent(e), Is.False, e.GetType().Name);
    }

    [Test]
    public async Task A_permanent_error_while_shutting_down_is_left_to_the_queue()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        using var shutdown = new CancellationTokenSource();
        H.Destination.OnPart = (_, _) =>
        {
            shutdown.Cancel();
            throw new DestinationException("bucket gone");
        };

        Assert.That(() => Handle(new UploadPart(run.RunId, 1, 1), shutdown.Token), Throws.TypeOf<DestinationException>());

        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Uploading));
    }

    [Test]
    public async Task Failing_a_run_aborts_its_recorded_uploads_and_deletes_its_staging()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        Assert.That(H.StagedFiles(), Is.Not.Empty);
        H.Time.Advance(TimeSpan.FromMinutes(1));

        await H.Stages.FailRunAsync(run.RunId, 1, "gave up after 5 tries", None);

        var failed = await H.GetRunAsync(run.RunId);
        using (Assert.EnterMultipleScope())
        {
            Assert.That((failed.Status, failed.Error, failed.CompletedAt), Is.EqualTo((RunStatus.Failed, "gave up after 5 tries", (DateTimeOffset?)H.Time.GetUtcNow())));
            Assert.That(H.Destination.CallsStartingWith("abort"), Is.EqualTo(new[] { "abort daily/vip_001.csv upload-1", "abort daily/vip_002.csv upload-2" }));
            Assert.That(H.StagedFiles(), Is.Empty);
            Assert.That(H.StageLog.At(LogLevel.Error), Is.EqualTo(new[] { $"Run {run.RunId} (vip) failed: gave up after 5 tries" }));
        }
    }

    [Test]
    public async Task An_abort_that_fails_is_logged_and_the_other_uploads_and_staging_are_still_cleaned_up()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        H.Destination.OnAbort = key =>
        {
            if (key.EndsWith("001.csv", StringComparison.Ordinal)) throw new IOException("abort refused");
        };

        await H.Stages.FailRunAsync(run.RunId, 1, "gave up", None);

        Assert.That(H.Destination.CallsStartingWith("abort"), Is.EqualTo(new[] { "abort daily/vip_001.csv upload-1", "abort daily/vip_002.csv upload-2" }));
        Assert.That(H.StageLog.At(LogLevel.Warning), Is.EqualTo(new[] { $"Run {run.RunId}: aborting the upload of daily/vip_001.csv failed: abort refused" }));
        Assert.That(H.StagedFiles(), Is.Empty);
    }

    [Test]
    public async Task A_cancelled_abort_stops_the_clean_up()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        H.Destination.OnAbort = _ => throw new OperationCanceledException();

        Assert.That(() => H.Stages.FailRunAsync(run.RunId, 1, "gave up", None), Throws.InstanceOf<OperationCanceledException>());

        Assert.That(H.Destination.CallsStartingWith("abort"), Has.Length.EqualTo(1));
        Assert.That(H.StagedFiles(), Is.Not.Empty);
    }

    /// <summary>Assembly starts the first file, then the second fails to start: the keys are recorded, the uploads are not.</summary>
    private async Task<ExportRun> StopBetweenStartingFilesAndRecordingThem()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());
        H.Destination.OnStart = key =>
        {
            if (key.EndsWith("002.csv", StringComparison.Ordinal)) throw new IOException("connection reset");
        };
        Assert.That(() => Handle(new AssembleFiles(run.RunId)), Throws.TypeOf<IOException>());
        Assert.That(await H.Store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, None), Is.Null);
        return run;
    }

    [Test]
    public async Task A_run_failed_before_recording_its_uploads_aborts_them_by_key()
    {
        var run = await StopBetweenStartingFilesAndRecordingThem();
        H.Destination.OnAbort = key =>
        {
            if (key.EndsWith("001.csv", StringComparison.Ordinal)) throw new IOException("listing refused");
        };

        await H.Stages.FailRunAsync(run.RunId, 1, "gave up", None);

        Assert.That(H.Destination.CallsStartingWith("abort-unrecorded"), Is.EqualTo(new[]
        {
            $"abort-unrecorded {run.ProgressId} daily/vip_001.csv keep none",
            $"abort-unrecorded {run.ProgressId} daily/vip_002.csv keep none",
        }));
        Assert.That(H.StageLog.At(LogLevel.Warning), Is.EqualTo(new[] { $"Run {run.RunId}: aborting the upload of daily/vip_001.csv failed: listing refused" }));
        Assert.That(H.StagedFiles(), Is.Empty);
    }

    [Test]
    public async Task A_cancelled_abort_by_key_stops_the_clean_up()
    {
        var run = await StopBetweenStartingFilesAndRecordingThem();
        H.Destination.OnAbort = _ => throw new OperationCanceledException();

        Assert.That(() => H.Stages.FailRunAsync(run.RunId, 1, "gave up", None), Throws.InstanceOf<OperationCanceledException>());

        Assert.That(H.Destination.CallsStartingWith("abort-unrecorded"), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task A_run_failed_before_starting_any_file_only_loses_its_staging()
    {
        var run = await H.DriveUntilAsync<AssembleFiles>(TwoFileSpec());

        await H.Stages.FailRunAsync(run.RunId, 1, "gave up", None);

        Assert.That(H.Destination.Calls, Is.Empty);
        Assert.That(H.StagedFiles(), Is.Empty);
        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Failed));
    }

    [Test]
    public async Task Failing_a_run_again_cleans_up_what_the_first_failure_left_without_reporting_it_twice()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        await H.Stages.FailRunAsync(run.RunId, 1, "first", None);
        await H.Staging.WriteAsync(StagingKeys.Chunk(run.ProgressId, 0, 9), new byte[] { 1 }, None);

        await H.Stages.FailRunAsync(run.RunId, 1, "second", None);

        Assert.That((await H.GetRunAsync(run.RunId)).Error, Is.EqualTo("first"));
        Assert.That(H.StagedFiles(), Is.Empty);
        Assert.That(H.Destination.CallsStartingWith("abort"), Has.Length.EqualTo(4), "both uploads aborted again");
        Assert.That(H.StageLog.At(LogLevel.Error), Has.Exactly(1).Items);
    }

    [Test]
    public async Task Failing_an_earlier_attempt_leaves_the_newer_one_alone()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        await H.Stages.FailRunAsync(run.RunId, 1, "first", None);
        var retried = (await H.Scheduler.RetryAsync(await H.GetRunAsync(run.RunId), run.Spec, None))!;
        await H.Staging.WriteAsync(StagingKeys.Chunk(retried.ProgressId, 0, 0), new byte[] { 1 }, None);
        var aborts = H.Destination.CallsStartingWith("abort").Length;

        await H.Stages.FailRunAsync(run.RunId, 1, "late poison of attempt 1", None);

        var current = await H.GetRunAsync(run.RunId);
        Assert.That((current.Status, current.Attempt, current.Error), Is.EqualTo((RunStatus.Planning, 2, (string?)null)));
        Assert.That(H.StagedFiles(), Has.Length.EqualTo(1));
        Assert.That(H.Destination.CallsStartingWith("abort"), Has.Length.EqualTo(aborts));
    }

    [Test]
    public async Task Failing_an_attempt_that_another_process_failed_and_retried_meanwhile_cleans_up_nothing()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        H.Spy.Before(nameof(IRunStore.TryMarkFailedAsync), async _ =>
        {
            H.Spy.Reset(nameof(IRunStore.TryMarkFailedAsync));
            await H.Inner.TryMarkFailedAsync(run.RunId, 1, "elsewhere", H.Time.GetUtcNow(), None);
            var next = await H.Scheduler.RetryAsync(await H.GetRunAsync(run.RunId), run.Spec, None);
            await H.Inner.TryMarkFailedAsync(run.RunId, next!.Attempt, "attempt 2 failed too", H.Time.GetUtcNow(), None);
        });

        await H.Stages.FailRunAsync(run.RunId, 1, "here", None);

        Assert.That(H.Destination.CallsStartingWith("abort"), Is.Empty);
        Assert.That(H.StagedFiles(), Is.Not.Empty);
    }

    [Test]
    public async Task Failing_a_succeeded_run_changes_nothing()
    {
        var run = await H.ExportAsync(TwoFileSpec());
        await H.Staging.WriteAsync(StagingKeys.Chunk(run.ProgressId, 0, 9), new byte[] { 1 }, None);

        await H.Stages.FailRunAsync(run.RunId, 1, "too late", None);

        Assert.That((await H.GetRunAsync(run.RunId)).Status, Is.EqualTo(RunStatus.Succeeded));
        Assert.That(H.Destination.CallsStartingWith("abort"), Is.Empty);
        Assert.That(H.StagedFiles(), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Failing_an_unknown_run_does_nothing()
    {
        await H.Stages.FailRunAsync("no-such-run", 1, "gave up", None);

        Assert.That(H.StageLog.Lines, Is.Empty);
    }

    [Test]
    public void An_unknown_stage_message_is_refused()
    {
        Assert.That(() => Handle(new Strange("r1")), Throws.ArgumentException.With.Message.StartWith("Unknown stage message Strange.").And.Property(nameof(ArgumentException.ParamName)).EqualTo("message"));
    }

    private sealed record Strange(string RunId) : StageMessage(RunId);

    [Test]
    public async Task Completion_refuses_a_file_with_parts_missing()
    {
        var run = await H.DriveUntilAsync<UploadPart>(TwoFileSpec());
        await Handle(new UploadPart(run.RunId, 1, 1));
        await H.Store.TryTransitionAsync(run.RunId, 1, RunStatus.Uploading, RunStatus.Completing, H.Time.GetUtcNow(), None);
        var assembly = (await H.Store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, None))!;

        Assert.That(() => Handle(new CompleteExport(run.RunId)), Throws.InvalidOperationException.With.Message.EqualTo(
            $"File daily/vip_001.csv of run {run.RunId} has 1 of {assembly.Files[0].PartCount} parts recorded."));
        Assert.That(H.Destination.CallsStartingWith("complete"), Is.Empty);
        Assert.That(H.Destination.CallsStartingWith("put"), Is.Empty);
    }

    [Test]
    public async Task A_stage_that_needs_a_document_the_run_does_not_have_says_which()
    {
        var run = await H.CreateRunAsync(TwoFileSpec());
        await H.Store.TryTransitionAsync(run.RunId, 1, RunStatus.Planning, RunStatus.Completing, H.Time.GetUtcNow(), None);

        Assert.That(() => Handle(new CompleteExport(run.RunId)), Throws.InvalidOperationException.With.Message.EqualTo($"Run {run.ProgressId} has no recorded assembly."));
    }

    [Test]
    public async Task A_part_reaching_past_its_staged_file_fails_instead_of_sending_short()
    {
        var run = await H.DriveUntilAsync<UploadPart>(H.Spec(TwoSourceFiles()));
        var assembly = (await H.Store.GetDocumentAsync<AssemblyPlan>(run.ProgressId, ExportStages.Documents.Assembly, None))!;
        var file = assembly.Files[0];
        // One part for the whole file, said to be 10 bytes longer than what was staged for it.
        var longer = assembly with { Files = [file with { Length = file.Length + 10, PartSize = file.Length + 10, PartCount = 1 }] };
        H.Spy.Instead(nameof(IRunStore.GetDocumentAsync), _ => Task.FromResult<AssemblyPlan?>(longer));

        Assert.That(() => Handle(new UploadPart(run.RunId, 1, 1)),
            Throws.InvalidOperationException.With.Message.EqualTo("A part reaches past the end of its staged file."));
    }
}
