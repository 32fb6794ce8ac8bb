using Pipeline.Engine.Formatting;

namespace Pipeline.Engine.Tests.Formatting;

public class FileNameTemplateTests
{
    private static readonly DateTimeOffset RunTime = new(2026, 11, 16, 1, 2, 3, TimeSpan.Zero);

    private static string Render(string template, int index = 7, string extension = ".csv.gz") =>
        FileNameTemplate.Parse(template).Render("vip-daily", "S1", "run-42", RunTime, index, extension);

    private static string? Error(string template)
    {
        Assert.That(FileNameTemplate.TryParse(template, out var error), Is.Null);
        return error;
    }

    [Test]
    public void Renders_every_token()
    {
        Assert.That(Render("{activation}/{segment}/{runTime:yyyyMMdd}/{runId}-part-{index:3}{ext}"),
            Is.EqualTo("vip-daily/S1/20261116/run-42-part-007.csv.gz"));
    }

    [Test]
    public void Appends_the_extension_when_the_template_has_no_ext_token()
    {
        Assert.That(Render("{activation}_{index:3}", extension: ".txt"), Is.EqualTo("vip-daily_007.txt"));
    }

    [Test]
    public void Does_not_append_the_extension_twice()
    {
        Assert.That(Render("{index}{ext}"), Is.EqualTo("7.csv.gz"));
    }

    [Test]
    public void Run_time_is_rendered_in_utc_with_a_default_format()
    {
        var berlinRunTime = new DateTimeOffset(2026, 11, 16, 2, 2, 3, TimeSpan.FromHours(1));
        var name = FileNameTemplate.Parse("{runTime}_{index}").Render("a", "s", "r", berlinRunTime, 1, "");

        Assert.That(name, Is.EqualTo("20261116T010203Z_1"));
    }

    [Test]
    public void The_default_template_renders_a_flat_name()
    {
        Assert.That(Render(Engine.Configuration.FileNameDefaults.Template), Is.EqualTo("vip-daily_20261116T010203Z_007.csv.gz"), "the slot spelt as in the manifest name");
    }

    [TestCase("{index}", 7, "7")]
    [TestCase("{index:1}", 7, "7")]
    [TestCase("{index:4}", 7, "0007")]
    [TestCase("{index:2}", 1234, "1234")]
    public void Index_is_zero_padded_to_the_given_width_but_never_cut(string template, int index, string expected)
    {
        Assert.That(Render(template, index, extension: ""), Is.EqualTo(expected));
    }

    [TestCase("/exports/{index}")]
    [TestCase("exports\\{index}")]
    [TestCase("C:\\exports\\{index}")]
    public void Rejects_absolute_paths_and_backslashes(string template)
    {
        Assert.That(Error(template), Is.EqualTo("must be a relative name (no leading '/', no '\\')"));
    }

    [TestCase("../{index}")]
    [TestCase("exports/../../{index}")]
    [TestCase("{activation}/../{index}")]
    [TestCase("./{index}")]
    public void Rejects_dot_and_dot_dot_segments(string template)
    {
        Assert.That(Error(template), Is.EqualTo("must not contain '.' or '..' path segments"));
    }

    [Test]
    public void Allows_dots_inside_a_name()
    {
        Assert.That(Render("v1..2/{index}.part", extension: ""), Is.EqualTo("v1..2/7.part"));
    }

    [Test]
    public void Rejects_unknown_tokens()
    {
        Assert.That(Error("{activation}_{date}_{index}"),
            Is.EqualTo("has an unknown token {date}; known: {activation}, {segment}, {runId}, {runTime}, {index}, {ext}"));
    }

    [Test]
    public void Token_names_are_case_sensitive()
    {
        Assert.That(Error("{Index}"), Does.StartWith("has an unknown token {Index}"));
    }

    [TestCase("{activation}_{runTime:yyyyMMdd}{ext}")]
    [TestCase("plain-name.csv")]
    public void Rejects_templates_without_index(string template)
    {
        Assert.That(Error(template), Is.EqualTo("must contain {index}, or files of a split export would overwrite each other"));
    }

    [TestCase("{index:0}")]
    [TestCase("{index:10}")]
    [TestCase("{index:x}")]
    public void Rejects_index_widths_outside_one_to_nine(string template)
    {
        Assert.That(Error(template), Is.EqualTo("{index:N} needs N from 1 to 9"));
    }

    [TestCase("{index}_{activation")]
    [TestCase("part}{index}")]
    public void Rejects_unbalanced_braces(string template)
    {
        Assert.That(Error(template), Is.EqualTo("has an unclosed '{' or stray '}'"));
    }

    [TestCase("a//{index}")]
    [TestCase("{index}/")]
    public void Rejects_empty_path_segments(string template)
    {
        Assert.That(Error(template), Is.EqualTo("has an empty path segment ('//' or a trailing '/')"));
    }

    [TestCase("")]
    [TestCase("  ")]
    public void Rejects_empty_templates(string template)
    {
        Assert.That(Error(template), Is.EqualTo("is empty"));
    }

    [Test]
    public void Parse_throws_with_the_reason()
    {
        Assert.That(() => FileNameTemplate.Parse("../{index}"),
            Throws.ArgumentException.With.Message.StartsWith("File name template \"../{index}\" must not contain '.' or '..' path segments."));
    }

    [TestCase("{runTime:'..'}/{index}", "a '..' path segment")]
    [TestCase("{runTime:'..'/'..'/yyyy}_{index}", "a '..' path segment")]
    [TestCase("{runTime:'.'}/{index}", "a '.' path segment")]
    [TestCase("{runTime:''}/{index}", "an empty path segment")]
    public void A_date_format_that_renders_an_unsafe_name_is_rejected_when_parsed_not_at_run_time(string template, string what)
    {
        Assert.That(Error(template), Does.StartWith("renders to ").And.Contain(what).And.Contain("must stay inside its destination"));
    }

    [Test]
    public void A_date_format_with_quoted_plain_text_is_accepted()
    {
        Assert.That(Render("{runTime:yyyy'-week-'dd}/{index}"), Is.EqualTo("2026-week-16/7.csv.gz"));
    }

    [Test]
    public void ToString_returns_the_template()
    {
        Assert.That(FileNameTemplate.Parse("{activation}/{index}").ToString(), Is.EqualTo("{activation}/{index}"));
    }

    [Test]
    public void Index_width_nine_is_the_widest_allowed()
    {
        Assert.That(Render("{index:9}", extension: ""), Is.EqualTo("000000007"));
    }

    [TestCase("{runTime:q}_{index}", "{runTime:q} is not a valid date format")]
    [TestCase("{runTime:yyyy'MM}_{index}", "{runTime:yyyy'MM} is not a valid date format")]
    public void Rejects_a_run_time_format_that_is_not_a_date_format(string template, string error)
    {
        Assert.That(Error(template), Is.EqualTo(error));
    }

    [Test]
    public void A_template_rendering_an_unsafe_name_is_rejected_with_the_rendered_name_and_the_fix()
    {
        Assert.That(Error("{activation}/{segment}/{runId}/{runTime:'..'}/{index}"), Is.EqualTo(
            "renders to \"activation/segment/run-id/../1.csv.gz\" (slot 2026-12-31 23:59:58 UTC), which has a '..' path segment: a file name must stay inside its destination, " +
            "so quote no '.', '..' or '/' in {runTime:...}"));
    }

    [TestCase("..", "../7.csv.gz")]
    [TestCase(".", "./7.csv.gz")]
    [TestCase("", "/7.csv.gz")]
    [TestCase("a\\b", "a\\b/7.csv.gz")]
    public void Render_refuses_values_that_would_take_the_name_out_of_its_destination(string activation, string rendered)
    {
        var template = FileNameTemplate.Parse("{activation}/{index}");

        Assert.That(() => template.Render(activation, "S1", "run-42", RunTime, 7, ".csv.gz"),
            Throws.InvalidOperationException.With.Message.EqualTo($"File name \"{rendered}\" from template \"{{activation}}/{{index}}\" is not a safe relative name."));
    }
}
