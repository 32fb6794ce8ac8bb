namespace Pipeline.Engine.Configuration;

public enum OutputFormat { Csv, Tsv }

public enum OutputCompression { Gzip, None }

public enum ExportMode { Full, Incremental }

/// <summary>What happens to a row that cannot be parsed (wrong column count, bad quoting, bad timestamp).</summary>
public enum MalformedRowPolicy { Fail, Skip }

public enum SourceFormat { Auto, Csv, Parquet }

/// <summary>One output column: a source column, written under a header name.</summary>
public sealed record OutputField(string Source, string Header);

/// <summary>Where the audience snapshot lives and how to read it.</summary>
public sealed record SourceSpec
{
    /// <summary>A file, or a folder of files (read in ordinal name order).</summary>
    public required string Path { get; init; }
    public SourceFormat Format { get; init; } = SourceFormat.Auto;
    public string IdColumn { get; init; } = "profileId";
    public string SegmentsColumn { get; init; } = "segments";
    public char SegmentsSeparator { get; init; } = ';';
    public string UpdatedAtColumn { get; init; } = "updatedAt";
    public char Delimiter { get; init; } = ',';
    /// <summary>
    /// A quoted CSV field that does not close within this many bytes is a stray quote: its row is malformed and ends
    /// with its line, instead of swallowing the rows up to the next quote. Far above any real field.
    /// </summary>
    public long MaxFieldSize { get; init; } = DefaultMaxFieldSize;

    public const long DefaultMaxFieldSize = ByteSize.MiB;
    public const long MinMaxFieldSize = ByteSize.KiB;
    public const long MaxMaxFieldSize = 16 * ByteSize.MiB;
}

/// <summary>How output rows are written.</summary>
public sealed record FormatSpec
{
    public OutputFormat Format { get; init; } = OutputFormat.Csv;
    public OutputCompression Compression { get; init; } = OutputCompression.Gzip;
    public bool Header { get; init; } = true;
    public string LineEnding { get; init; } = "\n";
    /// <summary>Prefix cells starting with = + - @ (or tab/CR) with a quote so spreadsheets don't run them as formulas.</summary>
    public bool FormulaProtection { get; init; }

    public char Delimiter => Format == OutputFormat.Tsv ? '\t' : ',';

    public string Extension => (Format == OutputFormat.Tsv ? ".txt" : ".csv") + (Compression == OutputCompression.Gzip ? ".gz" : "");

    public string ContentType => Format == OutputFormat.Tsv ? "text/tab-separated-values; charset=utf-8" : "text/csv; charset=utf-8";
}

/// <summary>
/// Everything one export run needs to know, frozen when the run is created so that a resumed
/// run produces the same bytes even if pipeline.json changed in between.
/// </summary>
public sealed record ExportSpec
{
    public required string ActivationId { get; init; }
    public required SourceSpec Source { get; init; }
    public required string SegmentId { get; init; }
    public required IReadOnlyList<OutputField> Fields { get; init; }
    public FormatSpec Output { get; init; } = new();
    public required DestinationSpec Destination { get; init; }
    /// <summary>Object-name template; see <see cref="Formatting.FileNameTemplate"/>.</summary>
    public string FileName { get; init; } = FileNameDefaults.Template;
    public long MaxFileSize { get; init; } = FileNameDefaults.DefaultMaxFileSize;
    public ExportMode Mode { get; init; } = ExportMode.Full;
    public MalformedRowPolicy OnMalformedRow { get; init; } = MalformedRowPolicy.Fail;
    /// <summary>Under "skip", the run fails anyway when more source lines than this are skipped: the source is damaged.</summary>
    public long MaxSkippedRows { get; init; } = DefaultMaxSkippedRows;
    /// <summary>Under "skip", the run fails anyway when more than this share of the source's lines is skipped.</summary>
    public double MaxSkippedFraction { get; init; } = DefaultMaxSkippedFraction;

    public const long DefaultMaxSkippedRows = 1000;
    public const double DefaultMaxSkippedFraction = 0.01;
    public TuningSpec Tuning { get; init; } = new();
}

public static class FileNameDefaults
{
    public const string Template = "{activation}_{runTime:yyyyMMdd'T'HHmmss'Z'}_{index:3}"; // the slot spelt as in the manifest's name
    public const long DefaultMaxFileSize = 1_000_000_000_000; // 1 TB, as S3 delivery allows
    // The bounds a config accepts for partSize and maxFileSize: S3's, the strictest destination's; each destination's own
    // limits (IExportDestination.PartLimits) decide how a file is cut.
    public const long MinPartSize = 5 * ByteSize.MiB;
    public const long MaxPartSize = 5 * ByteSize.GiB;
    public const int MaxParts = 10_000;
    public const long MaxObjectSize = 5 * ByteSize.TiB;
}

/// <summary>Where files go: a local folder ("local") or an S3 bucket ("s3").</summary>
public sealed record DestinationSpec
{
    public const string LocalType = "local";
    public const string S3Type = "s3";

    public required string Name { get; init; }
    public required string Type { get; init; }
    /// <summary>Local: the folder. S3: the bucket.</summary>
    public required string Location { get; init; }
    /// <summary>Key prefix under the destination, "" or ending with '/'.</summary>
    public string Prefix { get; init; } = "";
    /// <summary>Set when <see cref="Type"/> is "s3".</summary>
    public S3DestinationOptions? S3 { get; init; }

    /// <summary>For messages: "/data/out/" or "s3://bucket/prefix/".</summary>
    public string Display => Type == S3Type ? $"s3://{Location}/{Prefix}" : System.IO.Path.Combine(Location, Prefix);
}

/// <summary>How we get write access to a customer's bucket.</summary>
public enum S3CredentialMode
{
    /// <summary>The standard AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE and the shared credentials file.</summary>
    Default,
    /// <summary>The customer's access key, kept as a secret; the config names the secret.</summary>
    AccessKey,
    /// <summary>Our own key writes into the customer's bucket, which allowlists our account; ACL bucket-owner-full-control and ExpectedBucketOwner.</summary>
    CrossAccount,
    /// <summary>STS AssumeRole into the customer's role with an ExternalId, from our key or from web identity.</summary>
    AssumeRole,
}

public enum S3Encryption { None, S3, Kms }

/// <summary>An S3 (or S3-compatible) bucket and how to write to it. Holds secret names, never secrets.</summary>
public sealed record S3DestinationOptions
{
    /// <summary>Null: AWS_REGION, then the profile's region, then us-east-1.</summary>
    public string? Region { get; init; }
    /// <summary>A custom endpoint (S3-compatible store, emulator); null: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then AWS.</summary>
    public string? Endpoint { get; init; }
    /// <summary>Null: path-style for IP-literal and localhost endpoints, virtual-hosted otherwise.</summary>
    public bool? PathStyle { get; init; }
    /// <summary>For S3-compatible stores: no aws-chunked encoding, checksums only where the API requires them.</summary>
    public bool Compatibility { get; init; }
    public string? StorageClass { get; init; }
    public S3Encryption Encryption { get; init; }
    public string? KmsKeyId { get; init; }
    public S3CredentialMode Credentials { get; init; }
    /// <summary>accessKey: the customer's key. crossAccount/assumeRole: our key (assumeRole without it uses web identity).</summary>
    public string? SecretName { get; init; }
    /// <summary>crossAccount: the 12-digit account that must own the bucket (sent as ExpectedBucketOwner).</summary>
    public string? BucketOwnerAccountId { get; init; }
    public string? RoleArn { get; init; }
    public string? ExternalId { get; init; }
}

/// <summary>Knobs chosen by measurement (see bench/README.md); rarely changed.</summary>
public sealed record TuningSpec
{
    /// <summary>Raw source bytes per chunk; bounds memory per worker.</summary>
    public long ChunkSize { get; init; } = 8 * ByteSize.MiB;
    /// <summary>Chunks built at once; 0 = one per core.</summary>
    public int Parallelism { get; init; }
    public long PartSize { get; init; } = 8 * ByteSize.MiB;
    public System.IO.Compression.CompressionLevel CompressionLevel { get; init; } = System.IO.Compression.CompressionLevel.Fastest;

    public int EffectiveParallelism => Parallelism > 0 ? Parallelism : Environment.ProcessorCount;
}
