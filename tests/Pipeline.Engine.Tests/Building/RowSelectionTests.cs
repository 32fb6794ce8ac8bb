using System.Text;
using Pipeline.Engine.Building;

namespace Pipeline.Engine.Tests.Building;

public class RowSelectionTests
{
    private static readonly DateTimeOffset After = new(2026, 11, 16, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset UpTo = new(2026, 11, 17, 0, 0, 0, TimeSpan.Zero);

    private static RowSelection Segment(string id, char separator = ';') => new(id, separator, null, null, incremental: false);

    private static RowSelection Incremental(DateTimeOffset? after = null, DateTimeOffset? upTo = null) =>
        new("S1", ';', after, upTo, incremental: true);

    private static bool IsMember(RowSelection selection, string segments) => selection.IsMember(Encoding.UTF8.GetBytes(segments));

    [TestCase("S1")]
    [TestCase("S10;S1")]
    [TestCase("S1;S10")]
    [TestCase("S2;S1;S3")]
    [TestCase(" S1 ; S2")]
    [TestCase("S2 ;  S1  ")]
    [TestCase("S1S1;S1")]
    [TestCase("XS1;S1")]
    public void Is_a_member_when_the_list_holds_the_exact_id(string segments)
    {
        Assert.That(IsMember(Segment("S1"), segments), Is.True);
    }

    [TestCase("")]
    [TestCase(" ")]
    [TestCase("S10;S11")]
    [TestCase("S11")]
    [TestCase("XS1")]
    [TestCase("S1X;S2")]
    [TestCase("S1S1")]
    [TestCase("S2;S10;XS1")]
    [TestCase("s1")]
    [TestCase("S 1")]
    [TestCase("S1,S2")]
    public void Is_not_a_member_when_the_id_only_appears_inside_another_token(string segments)
    {
        Assert.That(IsMember(Segment("S1"), segments), Is.False);
    }

    [Test]
    public void Finds_the_id_after_overlapping_partial_matches()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(IsMember(Segment("aa"), "aaa;aa"), Is.True);
            Assert.That(IsMember(Segment("aa"), "aaa;aaaa"), Is.False);
        }
    }

    [Test]
    public void Uses_the_configured_separator()
    {
        var selection = Segment("S1", '|');

        using (Assert.EnterMultipleScope())
        {
            Assert.That(IsMember(selection, "S2|S1"), Is.True);
            Assert.That(IsMember(selection, "S2 | S1 "), Is.True);
            Assert.That(IsMember(selection, "S2;S1"), Is.False);
        }
    }

    [Test]
    public void Matches_multi_byte_segment_ids()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(IsMember(Segment("Käufer"), "Neu;Käufer"), Is.True);
            Assert.That(IsMember(Segment("Käufer"), "Käufer2"), Is.False);
        }
    }

    [Test]
    public void Is_a_member_of_a_list_of_strings_holding_the_trimmed_id()
    {
        var selection = Segment("S1");

        using (Assert.EnterMultipleScope())
        {
            Assert.That(selection.IsMember(new[] { "S10", " S1 " }), Is.True);
            Assert.That(selection.IsMember(new[] { null, "S10", "S11" }), Is.False);
            Assert.That(selection.IsMember(Array.Empty<string?>()), Is.False);
        }
    }

    [Test]
    public void A_full_export_keeps_every_row_whatever_its_timestamp()
    {
        var selection = new RowSelection("S1", ';', After, UpTo, incremental: false);

        Assert.That(selection.InWindow("not a date"u8, out var inWindow), Is.True);
        Assert.That(inWindow, Is.True);
    }

    [TestCase("2026-11-15T23:59:59Z", false)]
    [TestCase("2026-11-16T00:00:00Z", false)]
    [TestCase("2026-11-16T00:00:00.001Z", true)]
    [TestCase("2026-11-16T12:00:00Z", true)]
    [TestCase("2026-11-17T00:00:00Z", true)]
    [TestCase("2026-11-17T00:00:00.001Z", false)]
    [TestCase("2026-11-17T01:00:00+01:00", true)]
    [TestCase("2026-11-16T01:00:00+01:00", false)]
    [TestCase("2026-11-16T00:00:00", false)]
    [TestCase("2026-11-16 00:00:01", true)]
    public void An_incremental_window_excludes_its_start_and_includes_its_end(string updatedAt, bool expected)
    {
        Assert.That(Incremental(After, UpTo).InWindow(Encoding.UTF8.GetBytes(updatedAt), out var inWindow), Is.True);
        Assert.That(inWindow, Is.EqualTo(expected));
    }

    [Test]
    public void An_open_window_keeps_every_readable_timestamp()
    {
        Assert.That(Incremental().InWindow("1970-01-01T00:00:00Z"u8, out var inWindow), Is.True);
        Assert.That(inWindow, Is.True);
    }

    [Test]
    public void A_window_without_an_end_keeps_everything_after_its_start()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Incremental(after: After).InWindow(After), Is.False);
            Assert.That(Incremental(after: After).InWindow(After.AddYears(10)), Is.True);
        }
    }

    [TestCase("")]
    [TestCase("yesterday")]
    [TestCase("2026-13-01T00:00:00Z")]
    [TestCase("2026-11-16T00:00:00Z and then some text that makes it longer than 64 chars")]
    public void An_unreadable_timestamp_is_reported(string updatedAt)
    {
        Assert.That(Incremental(After, UpTo).InWindow(Encoding.UTF8.GetBytes(updatedAt), out _), Is.False);
    }

    [Test]
    public void Keeps_what_it_was_built_with()
    {
        var selection = new RowSelection("Käufer", '|', After, UpTo, incremental: true);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(selection.SegmentId, Is.EqualTo("Käufer"));
            Assert.That(selection.SegmentUtf8, Is.EqualTo(Encoding.UTF8.GetBytes("Käufer")));
            Assert.That(selection.Separator, Is.EqualTo((byte)'|'));
            Assert.That(selection.SeparatorChar, Is.EqualTo('|'));
            Assert.That(selection.UpdatedAfter, Is.EqualTo(After));
            Assert.That(selection.UpdatedUpTo, Is.EqualTo(UpTo));
            Assert.That(selection.Incremental, Is.True);
        }
    }
}
