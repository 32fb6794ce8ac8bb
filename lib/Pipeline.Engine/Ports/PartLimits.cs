namespace Pipeline.Engine.Ports;

/// <summary>What a destination accepts for a multipart file: part sizes, how many parts, how big the whole file.</summary>
public sealed record PartLimits(long MinPartSize, long MaxPartSize, int MaxParts, long MaxObjectSize)
{
    /// <summary>The configured part size, kept within these limits and grown (in whole MiB) so a file never needs more than <see cref="MaxParts"/> parts.</summary>
    public long ChoosePartSize(long fileLength, long configured)
    {
        var size = Math.Clamp(configured, MinPartSize, MaxPartSize);
        var needed = (fileLength + MaxParts - 1) / MaxParts;
        if (needed > size) size = Math.Min(MaxPartSize, (needed + Configuration.ByteSize.MiB - 1) / Configuration.ByteSize.MiB * Configuration.ByteSize.MiB);
        return size;
    }
}
