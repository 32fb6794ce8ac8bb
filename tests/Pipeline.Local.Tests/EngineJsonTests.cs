using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Pipeline.Engine;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Manifests;
using Pipeline.Engine.Runs;

namespace Pipeline.Local.Tests;

/// <summary>
/// The engine's JSON comes from source-generated metadata. Stored state and manifests must read back
/// across versions and run ids hash the spec's JSON, so it must be exactly what reflection writes.
/// </summary>
public class EngineJsonTests
{
    private static readonly JsonSerializerOptions ByReflection = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) }, // what the engine wrote before

        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    private TestWorkspace _ws = null!;

    [SetUp]
    public void SetUp() => _ws = new TestWorkspace();

    [TearDown]
    public void TearDown() => _ws.Dispose();

    [Test]
    public async Task Every_document_of_a_real_run_serializes_exactly_as_by_reflection()
    {
        var source = _ws.WriteCsv("profiles.csv", Profiles.Csv(30_000) + "bad,row\n");
        var spec = _ws.Spec(source, _ws.Output, s => s with
        {
            OnMalformedRow = MalformedRowPolicy.Skip,
            Output = s.Output with { Format = OutputFormat.Tsv, FormulaProtection = true },
            Tuning = s.Tuning with { PartSize = FileNameDefaults.MinPartSize, ChunkSize = 256 * ByteSize.KiB },
        });
        var pipeline = await _ws.OpenPipelineAsync();
        var run = (await pipeline.RunDueAsync([TestWorkspace.Activation(spec)], CancellationToken.None)).Single();
        Assert.That(run.Status, Is.EqualTo(RunStatus.Succeeded), run.Error);

        var store = pipeline.Store;
        var manifestJson = File.ReadAllText(Path.Combine(_ws.Output, run.ManifestKey!));
        var documents = new List<(object Value, Type Type)>
        {
            (run, typeof(ExportRun)),
            (run.Spec, typeof(ExportSpec)),
            ((await store.GetDocumentAsync<ExportPlan>(run.RunId, ExportStages.Documents.Plan, CancellationToken.None))!, typeof(ExportPlan)),
            ((await store.GetDocumentAsync<AssemblyPlan>(run.RunId, ExportStages.Documents.Assembly, CancellationToken.None))!, typeof(AssemblyPlan)),
            (JsonSerializer.Deserialize<RunManifest>(manifestJson, EngineJson.Options)!, typeof(RunManifest)),
        };
        documents.AddRange((await store.ListChunksAsync(run.RunId, CancellationToken.None)).Select(c => ((object)c, typeof(ChunkRecord))));
        documents.AddRange((await store.ListPartsAsync(run.RunId, CancellationToken.None)).Select(p => ((object)p, typeof(PartRecord))));
        StageMessage[] messages = [new PlanExport("r"), new BuildSlice("r", 3), new AssembleFiles("r"), new UploadPart("r", 1, 2), new CompleteExport("r")];
        documents.AddRange(messages.Select(m => ((object)m, typeof(StageMessage))));

        Assert.That(documents.Count(d => d.Type == typeof(ChunkRecord)), Is.GreaterThan(1));
        Assert.That(documents.Count(d => d.Type == typeof(PartRecord)), Is.Positive);
        foreach (var (value, type) in documents)
        {
            var generated = JsonSerializer.Serialize(value, type, EngineJson.Options);
            Assert.That(generated, Is.EqualTo(JsonSerializer.Serialize(value, type, ByReflection)), type.Name);
            Assert.That(EngineJsonContext.Default.GetTypeInfo(type), Is.Not.Null, $"{type.Name} has generated metadata");
        }
        Assert.That(JsonSerializer.Serialize(JsonSerializer.Deserialize<RunManifest>(manifestJson, EngineJson.Options), EngineJson.Indented) + "", Is.EqualTo(manifestJson.TrimEnd('\n')));
    }

    /// <summary>Every enum the engine's documents can hold: the context's root types, walked property by property.</summary>
    private static IEnumerable<Type> EngineEnums()
    {
        var seen = new HashSet<Type>();
        var pending = new Queue<Type>(typeof(EngineJsonContext).GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(JsonSerializableAttribute)).Select(a => (Type)a.ConstructorArguments[0].Value!));
        foreach (var derived in typeof(StageMessage).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(StageMessage)))) pending.Enqueue(derived);
        while (pending.TryDequeue(out var type))
        {
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (!seen.Add(type) || type.Assembly != typeof(EngineJson).Assembly && !type.IsEnum && !type.IsGenericType) continue;
            if (type.IsGenericType) { foreach (var arg in type.GetGenericArguments()) pending.Enqueue(arg); continue; }
            foreach (var property in type.GetProperties()) pending.Enqueue(property.PropertyType);
        }
        return seen.Where(t => t.IsEnum).OrderBy(t => t.Name);
    }

    [Test]
    public void The_enum_walk_finds_the_engine_enums() =>
        Assert.That(EngineEnums(), Does.Contain(typeof(RunStatus)).And.Contain(typeof(S3CredentialMode)).And.Contain(typeof(System.IO.Compression.CompressionLevel)));

    [TestCaseSource(nameof(EngineEnums))]
    public void Every_engine_enum_round_trips_as_a_camel_case_string(Type enumType)
    {
        foreach (var value in Enum.GetValues(enumType))
        {
            var json = JsonSerializer.Serialize(value, enumType, EngineJson.Options);
            Assert.That(json, Is.EqualTo(JsonSerializer.Serialize(value, enumType, ByReflection)));
            Assert.That(JsonSerializer.Deserialize(json, enumType, EngineJson.Options), Is.EqualTo(value));
        }
    }
}
