using System.Text.Json.Nodes;
using Pipeline.Cli.Aws;
using Pipeline.Engine.Configuration;

namespace Pipeline.Cli.Tests;

public class AccessPoliciesTests
{
    private static DestinationSpec S3(S3DestinationOptions options) =>
        new() { Name = "acme", Type = DestinationSpec.S3Type, Location = "acme-audiences", Prefix = "exports/", S3 = options };

    private static IEnumerable<string> Actions(JsonObject document) =>
        document["Statement"]!.AsArray().SelectMany(s => s!["Action"] is JsonArray a ? a.Select(x => x!.GetValue<string>()) : [s["Action"]!.GetValue<string>()]);

    [Test]
    public void Access_key_policy_grants_only_what_exports_use_on_the_prefix()
    {
        var (_, _, policy) = AccessPolicies.For(S3(new S3DestinationOptions { Credentials = S3CredentialMode.AccessKey, SecretName = "k" }), "111122223333").Single();

        Assert.That(Actions(policy), Is.EquivalentTo(new[]
        {
            "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
            "s3:GetBucketLocation", "s3:ListBucketMultipartUploads", "s3:ListBucket",
        }));
        Assert.That(policy.ToJsonString(), Does.Contain("arn:aws:s3:::acme-audiences/exports/*").And.Not.Contain("s3:*"));
    }

    [Test]
    public void Cross_account_bucket_policy_trusts_our_account_and_denies_writes_without_the_owner_acl()
    {
        var documents = AccessPolicies.For(S3(new S3DestinationOptions
        {
            Credentials = S3CredentialMode.CrossAccount, SecretName = "ours", BucketOwnerAccountId = "210987654321",
        }), "111122223333");
        var bucketPolicy = documents[0].Document.ToJsonString();

        Assert.That(documents[0].Title, Is.EqualTo("Bucket policy"));
        Assert.That(bucketPolicy, Does.Contain("arn:aws:iam::111122223333:root").And.Contain("s3:PutObjectAcl"));
        Assert.That(bucketPolicy, Does.Contain("\"Effect\":\"Deny\"").And.Contain("bucket-owner-full-control"));
    }

    [Test]
    public void Assume_role_trust_policy_requires_the_external_id()
    {
        var documents = AccessPolicies.For(S3(new S3DestinationOptions
        {
            Credentials = S3CredentialMode.AssumeRole, RoleArn = "arn:aws:iam::210987654321:role/export", ExternalId = "acme_7c1f",
        }), "111122223333");
        var trust = documents[0].Document;

        Assert.That(Actions(trust), Is.EqualTo(new[] { "sts:AssumeRole" }));
        Assert.That(trust["Statement"]![0]!["Condition"]!["StringEquals"]!["sts:ExternalId"]!.GetValue<string>(), Is.EqualTo("acme_7c1f"));
    }
}
