using System.Buffers;
using System.Text;
using Pipeline.Engine.Configuration;

namespace Pipeline.Engine.Formatting;

/// <summary>
/// Writes delimited rows as UTF-8 (no BOM) straight from byte or char spans into a pooled buffer,
/// quoting per RFC 4180 only when a value needs it (delimiter, quote, CR or LF inside) and
/// doubling embedded quotes. No per-field strings are allocated.
/// </summary>
public sealed class DelimitedRowWriter : IDisposable
{
    private const int BufferSize = 64 * 1024;
    private static readonly SearchValues<byte> FormulaStarts = SearchValues.Create("=+-@\t\r"u8);

    private readonly byte _delimiter;
    private readonly byte[] _lineEnding;
    private readonly bool _formulaProtection;
    private readonly SearchValues<byte> _needsQuoting;
    private readonly bool[] _special = new bool[256];
    private Stream? _sink;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private byte[] _scratch = ArrayPool<byte>.Shared.Rent(1024);
    private int _position;
    private bool _firstInRow;

    public DelimitedRowWriter(FormatSpec format)
    {
        _delimiter = (byte)format.Delimiter;
        _lineEnding = Encoding.UTF8.GetBytes(format.LineEnding);
        _formulaProtection = format.FormulaProtection;
        _needsQuoting = SearchValues.Create([_delimiter, (byte)'"', (byte)'\r', (byte)'\n']);
        _special[_delimiter] = _special['"'] = _special['\r'] = _special['\n'] = true;
    }

    /// <summary>Starts an output, before its first row: rows go to this stream (a gzip stream, or the plain chunk buffer).</summary>
    public void Reset(Stream sink)
    {
        _sink = sink;
        _position = 0;
        _firstInRow = true;
    }

    public void WriteField(ReadOnlySpan<byte> utf8)
    {
        var protect = _formulaProtection && utf8.Length > 0 && FormulaStarts.Contains(utf8[0]);
        var quote = NeedsQuoting(utf8);
        var worst = utf8.Length * 2 + 4;
        Ensure(worst);
        var span = _buffer.AsSpan(_position);
        var n = 0;
        if (!_firstInRow) span[n++] = _delimiter;
        _firstInRow = false;
        if (quote) span[n++] = (byte)'"';
        if (protect) span[n++] = (byte)'\'';
        if (!quote)
        {
            utf8.CopyTo(span[n..]);
            n += utf8.Length;
        }
        else
        {
            var rest = utf8;
            while (true)
            {
                var q = rest.IndexOf((byte)'"');
                if (q < 0)
                {
                    rest.CopyTo(span[n..]);
                    n += rest.Length;
                    break;
                }
                rest[..(q + 1)].CopyTo(span[n..]);
                n += q + 1;
                span[n++] = (byte)'"';
                rest = rest[(q + 1)..];
            }
            span[n++] = (byte)'"';
        }
        _position += n;
    }

    /// <summary>
    /// Short values (most cells: ids, names, cities) are checked with a table lookup per byte, which beats the
    /// vectorized search's set-up cost; long ones use the vectorized search.
    /// </summary>
    private bool NeedsQuoting(ReadOnlySpan<byte> utf8)
    {
        // Stryker disable once Equality,Boolean: both searches give the same answer at any length; the threshold only picks the faster one
        if (utf8.Length >= 32) return utf8.ContainsAny(_needsQuoting);
        var special = _special;
        foreach (var b in utf8)
            if (special[b]) return true;
        return false;
    }

    public void WriteField(ReadOnlySpan<char> text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (_scratch.Length < max)
        {
            // Stryker disable once Statement: returning to the pool is not observable
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = ArrayPool<byte>.Shared.Rent(max);
        }
        var count = Encoding.UTF8.GetBytes(text, _scratch);
        WriteField(_scratch.AsSpan(0, count));
    }

    public void EndRow()
    {
        Ensure(_lineEnding.Length);
        _lineEnding.CopyTo(_buffer.AsSpan(_position));
        _position += _lineEnding.Length;
        _firstInRow = true;
    }

    public void Flush()
    {
        if (_position > 0)
        {
            _sink!.Write(_buffer, 0, _position);
            _position = 0;
        }
    }

    private void Ensure(int bytes)
    {
        if (_buffer.Length - _position >= bytes) return;
        Flush();
        if (_buffer.Length < bytes)
        {
            // Stryker disable once Statement: returning to the pool is not observable
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(bytes);
        }
    }

    public void Dispose()
    {
        // Stryker disable once Statement: returning to the pool is not observable
        ArrayPool<byte>.Shared.Return(_buffer);
        // Stryker disable once Statement: returning to the pool is not observable
        ArrayPool<byte>.Shared.Return(_scratch);
        _buffer = _scratch = [];
    }
}
