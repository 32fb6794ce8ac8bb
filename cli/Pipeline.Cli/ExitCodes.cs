namespace Pipeline.Cli;

/// <summary>What scripts can rely on.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int ExportFailed = 1;
    public const int BadUsage = 2;
}
