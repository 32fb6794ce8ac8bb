using System.Text;
using Pipeline.Engine.Ports;

namespace Pipeline.Local.Secrets;

/// <summary>
/// Secrets from environment variables: secret <c>customer-a-s3</c> is read from
/// <c>PIPELINE_SECRET_CUSTOMER_A_S3</c>.
/// </summary>
/// <remarks>
/// Naming rule (<see cref="VariableName"/>): <c>PIPELINE_SECRET_</c> followed by the secret name in upper
/// case, with every character that is not an ASCII letter or digit replaced by <c>_</c>. So
/// <c>customer-a.s3</c>, <c>customer_a_s3</c> and <c>Customer-A-S3</c> all read the same variable; pick
/// secret names that differ in letters or digits. A variable that is set but empty (or only whitespace)
/// counts as not set, so an <c>export X=</c> left in a shell does not hide the secret in a later store.
/// </remarks>
public sealed class EnvironmentSecretStore : ISecretStore
{
    public const string Prefix = "PIPELINE_SECRET_";

    private readonly Func<string, string?> _getVariable;

    /// <param name="getVariable">Reads one variable; defaults to the process environment (tests pass a dictionary).</param>
    public EnvironmentSecretStore(Func<string, string?>? getVariable = null) =>
        _getVariable = getVariable ?? Environment.GetEnvironmentVariable;

    public string Describe => $"environment variables {Prefix}*";

    public string DescribeSource(string name) => $"environment variable {VariableName(name)}";

    /// <summary>The variable that holds <paramref name="secretName"/>, e.g. PIPELINE_SECRET_CUSTOMER_A_S3 for "customer-a-s3".</summary>
    public static string VariableName(string secretName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(secretName);
        var name = new StringBuilder(Prefix, Prefix.Length + secretName.Length);
        foreach (var c in secretName) name.Append(char.IsAsciiLetterOrDigit(c) ? char.ToUpperInvariant(c) : '_');
        return name.ToString();
    }

    public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
    {
        var value = _getVariable(VariableName(name));
        return Task.FromResult(string.IsNullOrWhiteSpace(value) ? null : value);
    }

    public override string ToString() => Describe;
}
