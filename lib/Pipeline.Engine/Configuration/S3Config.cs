using System.Text.RegularExpressions;

namespace Pipeline.Engine.Configuration;

/// <summary>Reads and checks an "s3" destination: bucket naming rules, credential modes and what each requires.</summary>
public static partial class S3Config
{
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketPattern();

    [GeneratedRegex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$")]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[0-9]{12}$")]
    private static partial Regex AccountPattern();

    [GeneratedRegex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")]
    private static partial Regex RoleArnPattern();

    [GeneratedRegex("^[A-Za-z0-9_+=,.@:/-]{2,1224}$")]
    private static partial Regex ExternalIdPattern();

    public static string? BucketProblem(string bucket) =>
        !BucketPattern().IsMatch(bucket) ? "must be 3-63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
        : bucket.Contains("..", StringComparison.Ordinal) ? "must not contain two adjacent periods"
        : Regex.IsMatch(bucket, @"^\d+\.\d+\.\d+\.\d+$") ? "must not look like an IP address"
        : bucket.StartsWith("xn--", StringComparison.Ordinal) || bucket.EndsWith("-s3alias", StringComparison.Ordinal) ? "uses a reserved prefix or suffix"
        : null;

    internal static DestinationSpec? Read(JsonSection s, string name)
    {
        var bucket = s.String("bucket", required: true, fix: "Set \"bucket\" to the customer's bucket name.");
        if (bucket is not null && BucketProblem(bucket) is { } bucketProblem)
        {
            s.Problem("bucket", $"\"{bucket}\" {bucketProblem}.", "Use the bucket's exact name as shown in the S3 console.");
            bucket = null;
        }
        var prefix = s.String("prefix") ?? "";
        if (prefix.StartsWith('/') || prefix.Split('/').Any(p => p is "." or ".."))
        {
            s.Problem("prefix", $"\"{prefix}\" must be a relative key prefix.", "Use e.g. \"exports/audiences/\" (no leading '/', no '..').");
            prefix = "";
        }
        if (prefix.Length > 0 && !prefix.EndsWith('/')) prefix += "/";
        var region = s.String("region");
        if (region is not null && !RegionPattern().IsMatch(region))
        {
            s.Problem("region", $"\"{region}\" is not an AWS region name.", "Use e.g. \"eu-central-1\" or \"us-east-1\".");
            region = null;
        }
        var endpoint = s.String("endpoint");
        if (endpoint is not null && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            s.Problem("endpoint", $"\"{endpoint}\" is not an http(s) URL.", "Use e.g. \"https://s3.eu-central-1.amazonaws.com\" or \"http://127.0.0.1:9000\".");
            endpoint = null;
        }
        var options = new S3DestinationOptions
        {
            Region = region,
            Endpoint = endpoint,
            PathStyle = s.Bool("pathStyle"),
            Compatibility = s.Bool("compatibility") ?? false,
            StorageClass = s.String("storageClass"),
        };

        var encryption = s.Object("encryption");
        if (encryption is not null)
        {
            var type = encryption.Enum<S3Encryption>("type") ?? S3Encryption.None;
            var key = encryption.String("kmsKeyId");
            if (type == S3Encryption.Kms && key is null) encryption.Problem("kmsKeyId", "is required for \"type\": \"kms\".", "Set the KMS key id or ARN the customer granted us.");
            encryption.RejectUnknown();
            options = options with { Encryption = type, KmsKeyId = key };
        }

        var credentials = s.Object("credentials");
        if (credentials is not null)
        {
            var mode = credentials.Enum<S3CredentialMode>("mode") ?? S3CredentialMode.Default;
            var secret = credentials.String("secretName");
            var owner = credentials.String("bucketOwnerAccountId");
            var role = credentials.String("roleArn");
            var externalId = credentials.String("externalId");
            switch (mode)
            {
                case S3CredentialMode.AccessKey when secret is null:
                    credentials.Problem("secretName", "is required for mode \"accessKey\".", "Name the secret that holds the customer's key (format: lib/Pipeline.S3/Credentials/README.md).");
                    break;
                case S3CredentialMode.CrossAccount:
                    if (owner is null || !AccountPattern().IsMatch(owner))
                        credentials.Problem("bucketOwnerAccountId", owner is null ? "is required for mode \"crossAccount\"." : $"\"{owner}\" is not a 12-digit AWS account id.",
                            "Set the customer's 12-digit AWS account id: we refuse to write into a bucket owned by anyone else.");
                    if (secret is null) credentials.Problem("secretName", "is required for mode \"crossAccount\".", "Name the secret holding our own AWS key.");
                    break;
                case S3CredentialMode.AssumeRole:
                    if (role is null || !RoleArnPattern().IsMatch(role))
                        credentials.Problem("roleArn", role is null ? "is required for mode \"assumeRole\"." : $"\"{role}\" is not an IAM role ARN.", "Use the role ARN the customer created, e.g. \"arn:aws:iam::123456789012:role/audience-export\".");
                    if (externalId is null || !ExternalIdPattern().IsMatch(externalId))
                        credentials.Problem("externalId", externalId is null ? "is required for mode \"assumeRole\"." : "is not a valid ExternalId (2-1224 of A-Z a-z 0-9 _ + = , . @ : / -).",
                            "Set the ExternalId unique to this customer, the same one their role's trust policy requires (`pipeline policy` prints it).");
                    break;
            }
            credentials.RejectUnknown();
            options = options with { Credentials = mode, SecretName = secret, BucketOwnerAccountId = owner, RoleArn = role, ExternalId = externalId };
        }
        return bucket is null ? null : new DestinationSpec { Name = name, Type = DestinationSpec.S3Type, Location = bucket, Prefix = prefix, S3 = options };
    }
}
