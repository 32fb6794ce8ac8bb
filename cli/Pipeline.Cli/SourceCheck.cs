using Pipeline.Engine.Building;
using Pipeline.Engine.Configuration;
using Pipeline.Engine.Ports;
using Pipeline.Engine.Sources;

namespace Pipeline.Cli;

/// <summary>
/// Checks that the source exists and has every column an export reads, before anything runs: a wrong
/// path or URL, a container we may not read, or a wrong field name is bad usage (exit 2) in every command,
/// not a failed export found minutes later.
/// </summary>
internal static class SourceCheck
{
    /// <param name="sourceWhere">Who named the source, for the message: "--source" or the source's JSON path.</param>
    /// <param name="fieldsWhere">Who named the columns: "--fields" or the activation's JSON path.</param>
    public static async Task<IReadOnlyList<SourceFile>> CheckAsync(ISourceStore sources, ExportSpec spec, string sourceWhere, string fieldsWhere, CancellationToken cancellationToken)
    {
        IReadOnlyList<SourceFile> files;
        try
        {
            files = await SourceCatalog.ListFilesAsync(sources, spec.Source, cancellationToken);
        }
        catch (SourceException e)
        {
            throw new UsageException($"{sourceWhere}: {e.Message}");
        }
        var columns = await SourceReaders.ReadColumnsAsync(sources, files[0], spec.Source, cancellationToken);
        try
        {
            _ = ColumnBinding.Create(columns, spec, files[0].Path);
        }
        catch (SourceException e)
        {
            throw new UsageException($"{fieldsWhere}: {e.Message}");
        }
        return files;
    }
}
