using Microsoft.Extensions.Logging;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine.Tests.Runs;

public class ExportWatchdogTests
{
    private RunHarness _h = null!;
    private RecordingLogger<ExportWatchdog> _log = null!;
    private ExportWatchdog _watchdog = null!;

    [SetUp]
    public async Task SetUp()
    {
        _h = await RunHarness.CreateAsync();
        _log = new RecordingLogger<ExportWatchdog>();
        _watchdog = new ExportWatchdog(_h.Store, _h.Queue, _h.Time, new ExportWatchdogOptions { StalledAfter = TimeSpan.FromMinutes(15) }, _log);
    }

    [TearDown]
    public void TearDown() => _h.Dispose();

    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>A run whose PlanExport was sent and lost.</summary>
    private async Task<ExportRun> LostRun(string id = "r1")
    {
        var run = await _h.Store.CreateRunIfAbsentAsync(await _h.Scheduler.NewRunAsync(id, _h.Spec("/data"), RunHarness.Slot, None), None);
        await _h.Store.MarkHandedOffAsync(run.RunId, 1, RunStatus.Planning, None);
        return await _h.GetRunAsync(run.RunId);
    }

    [Test]
    public async Task A_run_quiet_for_less_than_the_stall_time_is_left_alone()
    {
        await LostRun();
        _h.Time.Advance(TimeSpan.FromMinutes(15) - TimeSpan.FromTicks(1));

        Assert.That(await _watchdog.RedriveStalledAsync(null, None), Is.Empty);
        Assert.That(_h.Queue.Sent, Is.Empty);
    }

    [Test]
    public async Task A_run_quiet_for_the_stall_time_gets_its_pending_messages_again_and_waits_a_full_stall_time_for_the_next()
    {
        var run = await LostRun();
        _h.Time.Advance(TimeSpan.FromMinutes(15));

        var redriven = await _watchdog.RedriveStalledAsync(null, None);

        Assert.That(redriven.Select(r => r.RunId), Is.EqualTo(new[] { run.RunId }));
        Assert.That(_h.Queue.Sent, Is.EqualTo(new[] { new PlanExport(run.RunId) }));
        Assert.That((await _h.GetRunAsync(run.RunId)).LastProgressAt, Is.EqualTo(_h.Time.GetUtcNow()));
        Assert.That(_log.At(LogLevel.Information), Is.EqualTo(new[] { "Re-driving run r1 at stage Planning (no progress for 00:15:00)" }));

        _h.Time.Advance(TimeSpan.FromMinutes(14));
        Assert.That(await _watchdog.RedriveStalledAsync(null, None), Is.Empty);
    }

    [Test]
    public async Task A_run_that_never_recorded_progress_counts_from_its_creation()
    {
        var created = await _h.Scheduler.NewRunAsync("r1", _h.Spec("/data"), RunHarness.Slot, None) with { LastProgressAt = null, CreatedAt = _h.Time.GetUtcNow().AddMinutes(-20) };
        await _h.Store.CreateRunIfAbsentAsync(created, None);

        Assert.That((await _watchdog.RedriveStalledAsync(null, None)).Single().RunId, Is.EqualTo("r1"));
        Assert.That(_log.At(LogLevel.Information).Single(), Does.EndWith("(no progress for 00:20:00)"));
    }

    [Test]
    public async Task A_run_said_to_be_abandoned_is_re_driven_at_once_and_others_wait()
    {
        await LostRun("r1");
        await LostRun("r2");
        var asked = new List<string>();

        var redriven = await _watchdog.RedriveStalledAsync(run =>
        {
            asked.Add(run.RunId);
            return run.RunId == "r2";
        }, None);

        Assert.That(redriven.Select(r => r.RunId), Is.EqualTo(new[] { "r2" }));
        Assert.That(asked, Is.EquivalentTo(new[] { "r1", "r2" }));
        Assert.That(_h.Queue.Sent, Is.EqualTo(new[] { new PlanExport("r2") }));
    }

    [Test]
    public async Task A_finished_run_is_never_re_driven()
    {
        var run = await LostRun();
        await _h.Store.TryMarkFailedAsync(run.RunId, 1, "boom", _h.Time.GetUtcNow(), None);
        _h.Time.Advance(TimeSpan.FromHours(1));

        Assert.That(await _watchdog.RedriveStalledAsync(_ => true, None), Is.Empty);
    }

    [Test]
    public void The_stall_time_must_be_at_least_a_minute()
    {
        Assert.That(new ExportWatchdogOptions().StalledAfter, Is.EqualTo(TimeSpan.FromMinutes(15)));
        Assert.That(new ExportWatchdogOptions { StalledAfter = TimeSpan.FromMinutes(1) }.Validate().StalledAfter, Is.EqualTo(TimeSpan.FromMinutes(1)));
        Assert.That(() => new ExportWatchdogOptions { StalledAfter = TimeSpan.FromSeconds(59) }.Validate(),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.StartWith("must be at least 1 minute.").And.Property(nameof(ArgumentOutOfRangeException.ParamName)).EqualTo("StalledAfter"));
        Assert.That(() => new ExportWatchdog(_h.Store, _h.Queue, _h.Time, new ExportWatchdogOptions { StalledAfter = TimeSpan.FromSeconds(59) }, _log),
            Throws.TypeOf<ArgumentOutOfRangeException>());
    }
}
