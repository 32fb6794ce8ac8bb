using Microsoft.Data.Sqlite;
using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

public class SqliteRunStoreMigrationTests
{
    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    [Test]
    public async Task A_state_file_from_before_attempts_opens_with_its_runs_as_first_attempts()
    {
        var store = await SqliteRunStore.OpenAsync(_ws.State, CancellationToken.None);
        var scheduler = new ExportScheduler(store, new InProcessWorkQueue(), _ws.Time, Microsoft.Extensions.Logging.Abstractions.NullLogger<ExportScheduler>.Instance);
        var run = await scheduler.NewRunAsync("old-run", _ws.Spec("x.csv", _ws.Output), _ws.Time.GetUtcNow(), CancellationToken.None);
        await store.CreateRunIfAbsentAsync(run, CancellationToken.None);
        // Rebuild the runs table in the shape of earlier versions (no attempt, progress or hand-off columns).
        await using (var c = new SqliteConnection($"Data Source={_ws.State}"))
        {
            await c.OpenAsync();
            await using var cmd = c.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE old AS SELECT run_id, activation_id, slot, status, body, error, completed_at, manifest_key, created_at FROM runs;
                DROP TABLE runs; ALTER TABLE old RENAME TO runs;
                """;
            await cmd.ExecuteNonQueryAsync();
        }
        SqliteConnection.ClearAllPools();

        var reopened = await SqliteRunStore.OpenAsync(_ws.State, CancellationToken.None);
        var stored = await reopened.GetRunAsync("old-run", CancellationToken.None);

        Assert.That((stored!.Attempt, stored.HandedOff, stored.Status), Is.EqualTo((1, false, RunStatus.Planning)));
        Assert.That(await reopened.TryTransitionAsync("old-run", 1, RunStatus.Planning, RunStatus.Building, _ws.Time.GetUtcNow(), CancellationToken.None), Is.True);
    }
}
