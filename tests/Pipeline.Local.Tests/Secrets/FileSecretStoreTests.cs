using Pipeline.Engine.Ports;
using Pipeline.Local.Secrets;
using Microsoft.Extensions.Logging;

namespace Pipeline.Local.Tests.Secrets;

public class FileSecretStoreTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder()
    {
        _folder = Path.Combine(Path.GetTempPath(), "pipeline-secrets-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private string Write(string json, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path.Combine(_folder, "secrets.local.json");
        File.WriteAllText(path, json);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
        return path;
    }

    [Test]
    public async Task Reads_string_values_and_objects_as_their_JSON_text_ignoring_name_case()
    {
        var store = new FileSecretStore(Write("""
            {
              // a comment is fine
              "customer-a-s3": {"accessKeyId": "AKIA", "secretAccessKey": "s"},
              "Plain": "value",
            }
            """));

        Assert.That(await store.GetSecretAsync("customer-a-s3", CancellationToken.None), Is.EqualTo("""{"accessKeyId": "AKIA", "secretAccessKey": "s"}"""));
        Assert.That(await store.GetSecretAsync("plain", CancellationToken.None), Is.EqualTo("value"));
        Assert.That(await store.GetSecretAsync("missing", CancellationToken.None), Is.Null);
        Assert.That(store.PermissionProblem, Is.Null);
    }

    [Test]
    public async Task Reads_the_file_again_when_it_changes()
    {
        var path = Write("""{"a": "one"}""");
        var store = new FileSecretStore(path);
        Assert.That(await store.GetSecretAsync("a", CancellationToken.None), Is.EqualTo("one"));

        File.WriteAllText(path, """{"a": "second"}""");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));

        Assert.That(await store.GetSecretAsync("a", CancellationToken.None), Is.EqualTo("second"));
    }

    [Test]
    public async Task A_missing_file_is_named_with_the_fix()
    {
        var store = new FileSecretStore(Path.Combine(_folder, "nope.json"));

        var e = await Assert.ThrowsAsync<SecretException>(() => store.GetSecretAsync("a", CancellationToken.None));

        Assert.That(e!.Message, Does.Contain(Path.Combine(_folder, "nope.json")).And.Contain("does not exist").And.Contain("secrets.file"));
    }

    [TestCase("{\n  \"a\": \"SECRETVALUE-12345\"\n  \"b\": \"x\"\n}", "is not valid JSON at line 3")]
    [TestCase("{\n  \"a\": SECRETVALUE-12345\n}", "is not valid JSON at line 2")]
    [TestCase("[\"SECRETVALUE-12345\"]", "line 1: must be one JSON object")]
    [TestCase("{\n  \"a\": \"SECRETVALUE-12345\",\n  \"b\": 12345\n}", "line 3: secret \"b\" must be a string (or an object), not a number")]
    [TestCase("{\n  \"a\": \"SECRETVALUE-12345\",\n\n  \"A\": \"x\"\n}", "line 4: has secret \"A\" twice")]
    [TestCase("{\"a\": \"SECRETVALUE-12345\"} {}", "is not valid JSON at line 1, byte 28")]
    [TestCase(" \n", "is empty")]
    public async Task Malformed_files_name_the_file_and_line_never_a_value(string json, string problem)
    {
        var path = Write(json);

        var e = await Assert.ThrowsAsync<SecretException>(() => new FileSecretStore(path).GetSecretAsync("a", CancellationToken.None));

        Assert.That(e!.Message, Does.StartWith($"Secrets file {path}"));
        Assert.That(e.Message, Does.Contain(problem));
        Assert.That(e.ToString(), Does.Not.Contain("SECRETVALUE").And.Not.Contain("12345"));
        Assert.That(e.InnerException, Is.Null);
    }

    [Test]
    [Platform(Exclude = "Win")]
    public async Task A_file_others_can_read_is_reported_and_still_read()
    {
        var path = Write("""{"a": "SECRETVALUE-12345"}""", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var logs = new ListLogger();
        var store = new FileSecretStore(path, logs);

        Assert.That(await store.GetSecretAsync("a", CancellationToken.None), Is.EqualTo("SECRETVALUE-12345"));
        Assert.That(store.PermissionProblem, Is.EqualTo($"Secrets file {path} is open to other users (mode 644); run `chmod 600 '{path}'`."));
        Assert.That(logs.Entries, Has.Count.EqualTo(1));
        Assert.That(logs.Entries[0], Does.StartWith("Warning").And.Contain("chmod 600").And.Not.Contain("SECRETVALUE"));
        Assert.That(logs.Entries[0].Split(path).Length - 1, Is.EqualTo(2), "the path once in the problem and once in the chmod, not a third time");
        Assert.That(FileSecretStore.CheckPermissions(Write("{}")), Is.Null);
    }

    [Test]
    public void ToString_and_Describe_name_only_the_file()
    {
        var path = Write("""{"a": "SECRETVALUE-12345"}""");
        var store = new FileSecretStore(path);

        Assert.That(store.Describe, Is.EqualTo($"secrets file {path}"));
        Assert.That(store.ToString(), Is.EqualTo(store.Describe));
    }

    private sealed class ListLogger : ILogger<FileSecretStore>
    {
        public List<string> Entries { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add($"{logLevel}: {formatter(state, exception)}");
    }
}
