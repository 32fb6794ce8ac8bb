namespace Pipeline.S3.Credentials;

/// <summary>How <see cref="S3CredentialSource"/> obtains and keeps credentials. Validated once, when the source is built.</summary>
public sealed class S3CredentialSourceOptions
{
    /// <summary>Lifetime asked of STS for an assumed-role session (900..43200 s; STS caps it at the role's maximum). Default 3600.</summary>
    public int DurationSeconds { get; set; } = 3600;

    /// <summary>Session credentials are replaced this long before they expire, so no request is signed with a dying key. Default 5 minutes.</summary>
    public TimeSpan RefreshBefore { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a key read from the secret store is reused before the secret is read again (picks up rotations). Default 15 minutes.</summary>
    public TimeSpan SecretCacheDuration { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// assumeRole without a secret: OUR role (in our AWS account) that trusts our web identity provider
    /// (e.g. Entra ID for the Function App's managed identity). We federate into it with
    /// AssumeRoleWithWebIdentity, then assume the customer's role from it with their ExternalId; the
    /// customer's trust policy names our account, as with a stored key. Typically from AWS_ROLE_ARN.
    /// </summary>
    public string? WebIdentityRoleArn { get; set; }

    /// <summary>Start of every RoleSessionName, so the customer's CloudTrail shows who assumed their role. Default "audience-export".</summary>
    public string RoleSessionNamePrefix { get; set; } = "audience-export";

    /// <summary>Region for STS when the destination has none. Null: AWS_REGION, AWS_DEFAULT_REGION, then us-east-1.</summary>
    public string? DefaultRegion { get; set; }

    /// <summary>Throws with every problem at once.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (DurationSeconds is < 900 or > 43_200) problems.Add($"DurationSeconds {DurationSeconds} must be 900..43200 (STS limits).");
        if (RefreshBefore < TimeSpan.Zero || RefreshBefore >= TimeSpan.FromSeconds(DurationSeconds))
            problems.Add($"RefreshBefore {RefreshBefore} must be at least zero and shorter than DurationSeconds.");
        if (SecretCacheDuration < TimeSpan.Zero) problems.Add($"SecretCacheDuration {SecretCacheDuration} must not be negative.");
        if (WebIdentityRoleArn is { } arn && !arn.StartsWith("arn:aws", StringComparison.Ordinal)) problems.Add($"WebIdentityRoleArn \"{arn}\" is not an IAM role ARN.");
        if (RoleSessionName.Sanitize(RoleSessionNamePrefix).Length is < 1 or > 32) problems.Add("RoleSessionNamePrefix must be 1..32 characters of letters, digits and + = , . @ _ -.");
        if (problems.Count > 0) throw new ArgumentException("Invalid S3 credential options: " + string.Join(" ", problems));
    }
}
