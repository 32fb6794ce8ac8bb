using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Sources;

public static class SourceReaders
{
    public static async Task<ISliceReader> OpenAsync(SourceFile file, ExportSpec spec, CancellationToken cancellationToken) => file.Format switch
    {
        SourceFormat.Parquet => await ParquetSliceReader.OpenAsync(file, cancellationToken),
        _ => await CsvSliceReader.OpenAsync(file, spec.Source.Delimiter, spec.Tuning.ChunkSize, spec.Source.MaxFieldSize, cancellationToken),
    };

    /// <summary>The column names of a file, for validation and dry runs.</summary>
    public static async Task<IReadOnlyList<string>> ReadColumnsAsync(SourceFile file, SourceSpec source, CancellationToken cancellationToken)
    {
        var spec = new ExportSpec
        {
            ActivationId = "schema", Source = source, SegmentId = "-", Fields = [],
            Destination = new DestinationSpec { Name = "-", Type = "-", Location = "-" },
        };
        using var reader = await OpenAsync(file, spec, cancellationToken);
        return reader.Columns;
    }
}
