using System.Text.Json;
using System.Text.Json.Nodes;
using Pipeline.Engine.Configuration;

namespace Pipeline.Cli.Aws;

/// <summary>
/// The least-privilege policies a customer applies for each credential mode: only the actions the
/// product really calls. Multipart create/upload/complete are all s3:PutObject; HeadObject is
/// s3:GetObject; the sweep lists and aborts unfinished uploads; validate writes and deletes a probe.
/// </summary>
internal static class AccessPolicies
{
    public const string AccountPlaceholder = "<PIPELINE_AWS_ACCOUNT_ID>";

    public static string BucketArn(DestinationSpec d) => $"arn:aws:s3:::{d.Location}";

    public static string ObjectsArn(DestinationSpec d) => $"arn:aws:s3:::{d.Location}/{d.Prefix}*";

    private static JsonArray Actions(params string[] actions) => new(actions.Select(a => (JsonNode)a).ToArray());

    /// <summary>Statements for whoever writes: the customer's IAM user (accessKey), or the customer's role (assumeRole).</summary>
    public static JsonArray WriterStatements(DestinationSpec d, JsonObject? principal = null)
    {
        var s3 = d.S3 ?? new S3DestinationOptions();
        var objectActions = new List<string> { "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload" };
        if (s3.Credentials == S3CredentialMode.CrossAccount) objectActions.Add("s3:PutObjectAcl");
        // JsonArray's constructor and Add(JsonNode), not a collection initializer: that binds to the generic
        // Add<T>, which serializes by reflection (not possible in the ahead-of-time compiled CLI).
        var statements = new JsonArray(
            WithPrincipal(new JsonObject
            {
                ["Sid"] = "WriteExportFiles",
                ["Effect"] = "Allow",
                ["Action"] = Actions([.. objectActions]),
                ["Resource"] = ObjectsArn(d),
            }, principal),
            WithPrincipal(new JsonObject
            {
                ["Sid"] = "FindBucketAndUnfinishedUploads",
                ["Effect"] = "Allow",
                ["Action"] = Actions("s3:GetBucketLocation", "s3:ListBucketMultipartUploads"),
                ["Resource"] = BucketArn(d),
            }, principal),
            WithPrincipal(new JsonObject
            {
                ["Sid"] = "ListExportPrefix",
                ["Effect"] = "Allow",
                ["Action"] = Actions("s3:ListBucket"),
                ["Resource"] = BucketArn(d),
                ["Condition"] = new JsonObject { ["StringLike"] = new JsonObject { ["s3:prefix"] = d.Prefix + "*" } },
            }, principal));
        if (s3.Encryption == S3Encryption.Kms && s3.KmsKeyId is { } key && principal is null)
        {
            statements.Add((JsonNode)new JsonObject
            {
                ["Sid"] = "EncryptWithTheBucketKey",
                ["Effect"] = "Allow",
                ["Action"] = Actions("kms:GenerateDataKey", "kms:Decrypt"),
                ["Resource"] = key.StartsWith("arn:", StringComparison.Ordinal) ? key : $"arn:aws:kms:{s3.Region ?? "REGION"}:ACCOUNT:key/{key}",
            });
        }
        return statements;
    }

    private static JsonObject WithPrincipal(JsonObject statement, JsonObject? principal)
    {
        if (principal is not null)
        {
            statement.Insert(2, "Principal", principal.DeepClone());
        }
        return statement;
    }

    public static JsonObject Document(JsonArray statements) => new() { ["Version"] = "2012-10-17", ["Statement"] = statements };

    /// <summary>What to print for a destination: titled JSON documents with a sentence on where each goes.</summary>
    public static IReadOnlyList<(string Title, string Where, JsonObject Document)> For(DestinationSpec d, string ourAccount)
    {
        var s3 = d.S3 ?? new S3DestinationOptions();
        var ourRoot = new JsonObject { ["AWS"] = $"arn:aws:iam::{ourAccount}:root" };
        switch (s3.Credentials)
        {
            case S3CredentialMode.CrossAccount:
                var bucketPolicy = WriterStatements(d, ourRoot);
                // Refuse writes that would leave the customer without control of the objects.
                bucketPolicy.Add((JsonNode)new JsonObject
                {
                    ["Sid"] = "RequireBucketOwnerFullControl",
                    ["Effect"] = "Deny",
                    ["Principal"] = ourRoot.DeepClone(),
                    ["Action"] = "s3:PutObject",
                    ["Resource"] = ObjectsArn(d),
                    ["Condition"] = new JsonObject { ["StringNotEquals"] = new JsonObject { ["s3:x-amz-acl"] = "bucket-owner-full-control" } },
                });
                return
                [
                    ("Bucket policy", $"The customer adds this to the policy of bucket {d.Location} (account {s3.BucketOwnerAccountId}).", Document(bucketPolicy)),
                    ("IAM policy for our writer", $"We attach this to our own IAM user whose key is in secret \"{s3.SecretName}\".", Document(WriterStatements(d))),
                ];
            case S3CredentialMode.AssumeRole:
                var trust = new JsonObject
                {
                    ["Version"] = "2012-10-17",
                    ["Statement"] = new JsonArray(
                        new JsonObject
                        {
                            ["Sid"] = "AllowAudienceExportWithExternalId",
                            ["Effect"] = "Allow",
                            ["Principal"] = ourRoot,
                            ["Action"] = "sts:AssumeRole",
                            ["Condition"] = new JsonObject { ["StringEquals"] = new JsonObject { ["sts:ExternalId"] = s3.ExternalId } },
                        }),
                };
                return
                [
                    ("Role trust policy", $"The customer sets this as the trust policy of role {s3.RoleArn}.", trust),
                    ("Role permissions policy", "The customer attaches this to the same role.", Document(WriterStatements(d))),
                ];
            default:
                return [("IAM policy", $"Attach this to the IAM user or role whose credentials write to {d.Display}.", Document(WriterStatements(d)))];
        }
    }

    public static string Print(JsonObject document) => document.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
