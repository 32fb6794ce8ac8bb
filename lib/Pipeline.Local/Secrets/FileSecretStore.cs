using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pipeline.Engine.Ports;

namespace Pipeline.Local.Secrets;

/// <summary>
/// Secrets from a local JSON file that never leaves the machine (<c>secrets.local.json</c>, excluded by
/// .gitignore): <c>{"customer-a-s3": "value", ...}</c>. A value may also be a JSON object, which is
/// returned as its JSON text, so a structured secret (an access key) needs no escaping:
/// <c>{"customer-a-s3": {"accessKeyId": "...", "secretAccessKey": "..."}}</c>.
/// </summary>
/// <remarks>
/// Names are matched ignoring case, as in Key Vault. Comments and trailing commas are allowed. The
/// file is re-read when it changes. Errors name the file and the line, never a value. A file that its
/// group or other users can read is reported (<see cref="PermissionProblem"/> and a warning in the
/// log), not refused: on a single-user laptop it is harmless, on a shared machine it is a leak.
/// </remarks>
public sealed partial class FileSecretStore : ISecretStore
{
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    private readonly ILogger _logger;
    private Loaded? _loaded;

    public FileSecretStore(string path, ILogger<FileSecretStore>? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Path = System.IO.Path.GetFullPath(path);
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>The file's full path.</summary>
    public string Path { get; }

    public string Describe => $"secrets file {Path}";

    /// <summary>Set after a read when group or other users may read the file: what is wrong and the chmod that fixes it.</summary>
    public string? PermissionProblem => _loaded?.PermissionProblem;

    public async Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var loaded = await LoadAsync(cancellationToken);
        return loaded.Values.GetValueOrDefault(name);
    }

    /// <summary>What is wrong with the file's permissions (Unix), or null when only its owner can use it.</summary>
    public static string? CheckPermissions(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOther) == 0) return null;
        var octal = Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');
        return $"Secrets file {path} is open to other users (mode {octal}); run `chmod 600 '{path}'`.";
    }

    public override string ToString() => Describe;

    private async Task<Loaded> LoadAsync(CancellationToken cancellationToken)
    {
        FileInfo info = new(Path);
        if (!info.Exists)
            throw new SecretException($"Secrets file {Path} does not exist. Create it with {{\"secret-name\": \"value\"}} (chmod 600, never committed), or remove \"secrets.file\" from pipeline.json.");
        var current = _loaded;
        if (current is not null && current.WriteTime == info.LastWriteTimeUtc && current.Length == info.Length) return current;

        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(Path, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecretException($"Secrets file {Path} cannot be read: {e.GetType().Name}. Check that the file exists and that this user may read it.");
        }
        var permissionProblem = CheckPermissions(Path);
        if (permissionProblem is not null && current?.PermissionProblem is null) Log.ReadableByOthers(_logger, permissionProblem);
        var loaded = new Loaded(info.LastWriteTimeUtc, info.Length, Parse(bytes), permissionProblem);
        _loaded = loaded;
        return loaded;
    }

    private Dictionary<string, string> Parse(byte[] bytes)
    {
        var json = bytes.AsSpan();
        if (json.StartsWith(Encoding.UTF8.Preamble)) json = json[Encoding.UTF8.Preamble.Length..];
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (json.Trim(" \t\r\n"u8).IsEmpty) throw new SecretException($"Secrets file {Path} is empty. Write one JSON object: {{\"secret-name\": \"value\", ...}}.");
        var reader = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw Problem(json, reader, "must be one JSON object of secret names and values, {\"secret-name\": \"value\"}");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                var nameAt = reader.TokenStartIndex;
                reader.Read();
                string value = reader.TokenType switch
                {
                    JsonTokenType.String => reader.GetString()!,
                    JsonTokenType.StartObject => JsonElementText(ref reader),
                    _ => throw Problem(json, nameAt, $"secret \"{name}\" must be a string (or an object), not {TokenKind(reader.TokenType)}"),
                };
                if (name.Length == 0) throw Problem(json, nameAt, "has a secret with an empty name");
                if (!values.TryAdd(name, value)) throw Problem(json, nameAt, $"has secret \"{name}\" twice (names are compared ignoring case)");
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
                throw Problem(json, reader, "must be one JSON object of secret names and values, {\"secret-name\": \"value\"}");
        }
        catch (JsonException e)
        {
            // The reader's own message quotes the offending character, which may belong to a value.
            throw new SecretException($"Secrets file {Path} is not valid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}. Expected {{\"secret-name\": \"value\", ...}}.");
        }
        return values;
    }

    private static string JsonElementText(ref Utf8JsonReader reader)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return document.RootElement.GetRawText();
    }

    private static string TokenKind(JsonTokenType token) => token switch
    {
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "true/false",
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "an array",
        _ => token.ToString(),
    };

    private SecretException Problem(ReadOnlySpan<byte> json, Utf8JsonReader reader, string what) =>
        Problem(json, reader.TokenType == JsonTokenType.None ? json.Length : reader.TokenStartIndex, what);

    private SecretException Problem(ReadOnlySpan<byte> json, long at, string what)
    {
        var line = json[..(int)Math.Min(at, json.Length)].Count((byte)'\n') + 1;
        return new SecretException($"Secrets file {Path}, line {line}: {what}.");
    }

    /// <summary>One read of the file; no ToString, so the values cannot be printed by accident.</summary>
    private sealed class Loaded(DateTime writeTime, long length, Dictionary<string, string> values, string? permissionProblem)
    {
        public DateTime WriteTime { get; } = writeTime;
        public long Length { get; } = length;
        public Dictionary<string, string> Values { get; } = values;
        public string? PermissionProblem { get; } = permissionProblem;
    }

    private static partial class Log
    {
        // The problem names the file, the mode and the chmod: the template adds nothing, so nothing is said twice.
        [LoggerMessage(1, LogLevel.Warning, "{Problem}")]
        public static partial void ReadableByOthers(ILogger logger, string problem);
    }
}
