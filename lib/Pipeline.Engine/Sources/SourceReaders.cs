using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;

namespace Pipeline.Engine.Sources;

public static class SourceReaders
{
    /// <summary>A reader of a local file.</summary>
    public static Task<ISliceReader> OpenAsync(SourceFile file, ExportSpec spec, CancellationToken cancellationToken) =>
        OpenAsync(FileSourceStore.Instance, file, spec, cancellationToken);

    /// <summary>A reader of <paramref name="file"/> in <paramref name="store"/>: CSV streamed, Parquet read by ranges.</summary>
    public static async Task<ISliceReader> OpenAsync(ISourceStore store, SourceFile file, ExportSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(spec);
        return file.Format switch
        {
            SourceFormat.Parquet => await ParquetSliceReader.OpenAsync(store, file, cancellationToken),
            _ => await CsvSliceReader.OpenAsync(store, file, spec.Source.Delimiter, spec.Tuning.ChunkSize, spec.Source.MaxFieldSize, cancellationToken),
        };
    }

    /// <summary>The column names of a local file, for validation and dry runs.</summary>
    public static Task<IReadOnlyList<string>> ReadColumnsAsync(SourceFile file, SourceSpec source, CancellationToken cancellationToken) =>
        ReadColumnsAsync(FileSourceStore.Instance, file, source, cancellationToken);

    /// <summary>The column names of a file in <paramref name="store"/>, for validation and dry runs.</summary>
    public static async Task<IReadOnlyList<string>> ReadColumnsAsync(ISourceStore store, SourceFile file, SourceSpec source, CancellationToken cancellationToken)
    {
        var spec = new ExportSpec
        {
            ActivationId = "schema", Source = source, SegmentId = "-", Fields = [],
            Destination = new DestinationSpec { Name = "-", Type = "-", Location = "-" },
        };
        using var reader = await OpenAsync(store, file, spec, cancellationToken);
        return reader.Columns;
    }
}
