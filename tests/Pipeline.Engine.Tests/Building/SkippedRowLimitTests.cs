using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Sources;

namespace Pipeline.Engine.Tests.Building;

public class SkippedRowLimitTests
{
    private static ExportSpec Spec(MalformedRowPolicy policy = MalformedRowPolicy.Skip, long maxRows = 1000, double maxFraction = 0.01) => new()
    {
        ActivationId = "vip",
        Source = new SourceSpec { Path = "/data/profiles.csv" },
        SegmentId = "S1",
        Fields = [new OutputField("email", "email")],
        Destination = new DestinationSpec { Name = "out", Type = "local", Location = "/out" },
        OnMalformedRow = policy,
        MaxSkippedRows = maxRows,
        MaxSkippedFraction = maxFraction,
    };

    [Test]
    public void Within_both_limits_the_run_goes_on()
    {
        Assert.DoesNotThrow(() => SkippedRowLimit.Check(Spec(), rowsRead: 1_000_000, rowsSkipped: 1000, linesSkipped: 1000, "x"));
        Assert.DoesNotThrow(() => SkippedRowLimit.Check(Spec(), rowsRead: 100, rowsSkipped: 1, linesSkipped: 1, "x"));
    }

    [Test]
    public void More_lines_than_max_skipped_rows_fail_the_run_naming_the_first()
    {
        var e = Assert.Throws<SourceException>(() => SkippedRowLimit.Check(Spec(), rowsRead: 1_000_000, rowsSkipped: 1, linesSkipped: 1961, "/data/profiles.csv, line 42: has 3 columns"));
        Assert.That(e!.Message, Is.EqualTo("Activation \"vip\" skipped 1,961 source lines as malformed, more than maxSkippedRows (1,000); the source looks damaged, so nothing is published (first: /data/profiles.csv, line 42: has 3 columns). Fix the source, or raise \"maxSkippedRows\" / \"maxSkippedFraction\" on the activation if these rows really are to be dropped."));
    }

    [Test]
    public void A_large_share_fails_the_run_even_under_the_count()
    {
        // 41 rows read, one of which swallowed 960 lines: 960 of 1,000 lines lost.
        var e = Assert.Throws<SourceException>(() => SkippedRowLimit.Check(Spec(), rowsRead: 41, rowsSkipped: 1, linesSkipped: 960, "x"));
        Assert.That(e!.Message, Does.Contain("skipped 960 source lines as malformed, 96.0% of 1,000 lines, more than maxSkippedFraction (0.01)"));
    }

    [Test]
    public void The_early_check_counts_a_slice_against_max_skipped_rows_only()
    {
        Assert.DoesNotThrow(() => SkippedRowLimit.CheckCount(Spec(), 1000, "x"));
        Assert.Throws<SourceException>(() => SkippedRowLimit.CheckCount(Spec(), 1001, "x"));
        Assert.DoesNotThrow(() => SkippedRowLimit.CheckCount(Spec(MalformedRowPolicy.Fail), 5000, "x"));
    }

    [Test]
    public void Under_fail_there_is_nothing_to_limit()
    {
        Assert.DoesNotThrow(() => SkippedRowLimit.Check(Spec(MalformedRowPolicy.Fail), 10, 0, 0, null));
    }
}
