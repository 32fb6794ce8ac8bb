using Pipeline.Engine.Configuration;

namespace Pipeline.S3.Errors;

/// <summary>
/// Which IAM permission each operation needs, on which resource, and the policy statement that grants it;
/// used so a denied request tells the user exactly what to add.
/// </summary>
internal static class S3Permissions
{
    /// <summary>The IAM actions an operation needs for this destination (ACLs need s3:PutObjectAcl too).</summary>
    public static IReadOnlyList<string> For(string operation, S3DestinationOptions options)
    {
        var writesAcl = options.Credentials == S3CredentialMode.CrossAccount;
        return operation switch
        {
            S3Operations.CreateMultipartUpload or S3Operations.PutObject =>
                writesAcl ? ["s3:PutObject", "s3:PutObjectAcl"] : ["s3:PutObject"],
            S3Operations.UploadPart or S3Operations.CompleteMultipartUpload => ["s3:PutObject"],
            S3Operations.AbortMultipartUpload => ["s3:AbortMultipartUpload"],
            S3Operations.HeadObject => ["s3:GetObject"],
            S3Operations.DeleteObject => ["s3:DeleteObject"],
            S3Operations.HeadBucket => ["s3:ListBucket"],
            S3Operations.GetBucketLocation => ["s3:GetBucketLocation"],
            S3Operations.ListMultipartUploads => ["s3:ListBucketMultipartUploads"],
            _ => ["s3:PutObject"],
        };
    }

    /// <summary>True when the permission applies to the bucket itself rather than to objects under the prefix.</summary>
    public static bool IsBucketLevel(string operation) => operation is S3Operations.HeadBucket or S3Operations.GetBucketLocation or S3Operations.ListMultipartUploads;

    public static string Resource(string operation, string partition, string bucket, string prefix) =>
        IsBucketLevel(operation) ? $"arn:{partition}:s3:::{bucket}" : $"arn:{partition}:s3:::{bucket}/{prefix}*";

    /// <summary>
    /// The statement to add, as JSON: to the bucket policy in crossAccount mode (with our account as principal),
    /// otherwise to the IAM policy of the user or role whose credentials we use.
    /// </summary>
    public static string Statement(IReadOnlyList<string> actions, string resource, S3CredentialMode mode)
    {
        var principal = mode == S3CredentialMode.CrossAccount
            ? "\n  \"Principal\": { \"AWS\": \"arn:aws:iam::<exporting account id>:root\" },"
            : "";
        var list = string.Join(", ", actions.Select(a => $"\"{a}\""));
        return $"{{\n  \"Effect\": \"Allow\",{principal}\n  \"Action\": [{list}],\n  \"Resource\": \"{resource}\"\n}}";
    }

    /// <summary>Where the statement goes, for the sentence before it.</summary>
    public static string PolicyHome(DestinationSpec destination, S3DestinationOptions options) => options.Credentials switch
    {
        S3CredentialMode.CrossAccount => $"the bucket policy of {destination.Location}",
        S3CredentialMode.AssumeRole => $"the permissions policy of role {options.RoleArn ?? "(roleArn)"}",
        S3CredentialMode.AccessKey => $"the IAM policy of the user whose access key is in secret \"{options.SecretName}\"",
        _ => "the IAM policy of the identity in the AWS credential chain (AWS_ACCESS_KEY_ID / AWS_PROFILE)",
    };
}
