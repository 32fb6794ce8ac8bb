using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Runs;

namespace Pipeline.Engine;

/// <summary>One JSON shape for everything the engine stores or sends: camelCase, enums as strings.</summary>
public static class EngineJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new CamelCaseEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Source-generated metadata only: no reflection, so the CLI compiles ahead of time (Native AOT) and a
        // JIT process doesn't build metadata at start-up (~0.03 s, bench/README.md). A type missing here fails loudly.
        TypeInfoResolver = EngineJsonContext.Default,
    };

    public static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, TypeInfo<T>(Options));

    public static byte[] SerializeIndented<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, TypeInfo<T>(Indented));

    public static T Deserialize<T>(string json) => JsonSerializer.Deserialize(json, TypeInfo<T>(Options))
        ?? throw new JsonException($"Stored JSON for {typeof(T).Name} is null.");

    private static JsonTypeInfo<T> TypeInfo<T>(JsonSerializerOptions options) => (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
}

/// <summary>
/// Enums as camelCase strings. The non-generic <see cref="JsonStringEnumConverter"/> makes its converters by
/// reflection at run time, which ahead-of-time compilation can't do, so every stored enum is listed here.
/// </summary>
public sealed class CamelCaseEnumConverter : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsEnum;

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) => typeToConvert switch
    {
        _ when typeToConvert == typeof(RunStatus) => For<RunStatus>(options),
        _ when typeToConvert == typeof(OutputFormat) => For<OutputFormat>(options),
        _ when typeToConvert == typeof(OutputCompression) => For<OutputCompression>(options),
        _ when typeToConvert == typeof(ExportMode) => For<ExportMode>(options),
        _ when typeToConvert == typeof(MalformedRowPolicy) => For<MalformedRowPolicy>(options),
        _ when typeToConvert == typeof(SourceFormat) => For<SourceFormat>(options),
        _ when typeToConvert == typeof(S3CredentialMode) => For<S3CredentialMode>(options),
        _ when typeToConvert == typeof(S3Encryption) => For<S3Encryption>(options),
        _ when typeToConvert == typeof(System.IO.Compression.CompressionLevel) => For<System.IO.Compression.CompressionLevel>(options),
        _ => throw new NotSupportedException($"Enum {typeToConvert.FullName} is not listed in {nameof(CamelCaseEnumConverter)}; add it there."),
    };

    private static JsonConverter For<T>(JsonSerializerOptions options) where T : struct, Enum =>
        new JsonStringEnumConverter<T>(JsonNamingPolicy.CamelCase).CreateConverter(typeof(T), options);
}

/// <summary>
/// Compile-time serialization metadata for what the engine stores and sends. The shape comes from
/// <see cref="EngineJson.Options"/> (its converters and naming apply), so output is the same as by reflection.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ExportRun))]
[JsonSerializable(typeof(ExportSpec))]
[JsonSerializable(typeof(ExportPlan))]
[JsonSerializable(typeof(AssemblyPlan))]
[JsonSerializable(typeof(FileStartIntent))]
[JsonSerializable(typeof(ChunkRecord))]
[JsonSerializable(typeof(PartRecord))]
[JsonSerializable(typeof(RunManifest))]
[JsonSerializable(typeof(StageMessage))]
public sealed partial class EngineJsonContext : JsonSerializerContext;
