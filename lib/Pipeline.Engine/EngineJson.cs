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
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Source-generated metadata for the engine's own documents; reflection only for anything else
        // (a caller's ad-hoc type). Building metadata by reflection cost ~0.1 s of every process's start-up.
        TypeInfoResolver = JsonTypeInfoResolver.Combine(EngineJsonContext.Default, new DefaultJsonTypeInfoResolver()),
    };

    public static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) => JsonSerializer.Deserialize<T>(json, Options)
        ?? throw new JsonException($"Stored JSON for {typeof(T).Name} is null.");
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
[JsonSerializable(typeof(ChunkRecord))]
[JsonSerializable(typeof(PartRecord))]
[JsonSerializable(typeof(RunManifest))]
[JsonSerializable(typeof(StageMessage))]
public sealed partial class EngineJsonContext : JsonSerializerContext;
