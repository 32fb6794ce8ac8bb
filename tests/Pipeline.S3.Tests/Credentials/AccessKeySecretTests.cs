using Amazon.Runtime;
using Pipeline.Engine.Ports;
using Pipeline.S3.Credentials;

namespace Pipeline.S3.Tests.Credentials;

public class AccessKeySecretTests
{
    private const string Secret = "SECRETVALUE-12345";

    [Test]
    public void Reads_the_documented_format()
    {
        var key = AccessKeySecret.Parse("""{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "SECRETVALUE-12345"}""", "s", "store");

        var credentials = key.ToCredentials().GetCredentials();
        Assert.That(key.ToCredentials(), Is.InstanceOf<BasicAWSCredentials>());
        Assert.That(credentials.AccessKey, Is.EqualTo("AKIAEXAMPLE"));
        Assert.That(credentials.SecretKey, Is.EqualTo(Secret));
        Assert.That(credentials.UseToken, Is.False);
    }

    [Test]
    public void A_session_token_makes_session_credentials()
    {
        var key = AccessKeySecret.Parse("""{"accessKeyId": "ASIAEXAMPLE", "secretAccessKey": "s3cr3t", "sessionToken": "tok"}""", "s", "store");

        Assert.That(key.ToCredentials(), Is.InstanceOf<SessionAWSCredentials>());
        Assert.That(key.ToCredentials().GetCredentials().Token, Is.EqualTo("tok"));
    }

    [Test]
    public void Accepts_the_credentials_object_aws_cli_prints_and_trims_values()
    {
        var key = AccessKeySecret.Parse("""
            {"AccessKeyId": " ASIAEXAMPLE ", "SecretAccessKey": "s3cr3t\n", "SessionToken": "tok", "Expiration": "2026-11-23T12:00:00Z"}
            """, "s", "store");

        Assert.That(key.AccessKeyId, Is.EqualTo("ASIAEXAMPLE"));
        Assert.That(key.SecretAccessKey, Is.EqualTo("s3cr3t"));
        Assert.That(key.SessionToken, Is.EqualTo("tok"));
    }

    [TestCase("SECRETVALUE-12345", "is not valid JSON (line 1, byte 1)")]
    [TestCase("{\"accessKeyId\": \"AKIA\", \"secretAccessKey\": \"SECRETVALUE-12345\"", "is not valid JSON")]
    [TestCase("\"{\\\"accessKeyId\\\": \\\"SECRETVALUE-12345\\\"}\"", "is a quoted JSON string")]
    [TestCase("[\"SECRETVALUE-12345\"]", "is a JSON array, not an object")]
    [TestCase("{\"secretAccessKey\": \"SECRETVALUE-12345\"}", "has no \"accessKeyId\"")]
    [TestCase("{\"accessKeyId\": \"AKIA\"}", "has no \"secretAccessKey\"")]
    [TestCase("{\"accessKeyId\": \"AKIA\", \"secretAccessKey\": \"  \"}", "has an empty \"secretAccessKey\"")]
    [TestCase("{\"accessKeyId\": \"AKIA\", \"secretAccessKey\": 12345}", "has \"secretAccessKey\" as a JSON number, not a string")]
    [TestCase("{\"accessKeyId\": \"AKIA\", \"secretAccessKey\": \"SECRETVALUE 12345\"}", "has whitespace inside \"secretAccessKey\"")]
    [TestCase("{\"accessKeyId\": \"AKIA\", \"secretAccessKey\": \"SECRETVALUE-12345\", \"SecretAccessKey\": \"x\"}", "has \"secretAccessKey\" more than once")]
    [TestCase("{\"SECRETVALUE-12345\": \"AKIA\"}", "has no \"accessKeyId\"; has no \"secretAccessKey\"")]
    public void Malformed_secrets_say_what_is_wrong_without_the_value(string value, string problem)
    {
        var e = Assert.Throws<SecretException>(() => AccessKeySecret.Parse(value, "customer-a-s3", "Key Vault https://v.vault.azure.net/"));

        Assert.That(e!.Message, Does.StartWith("Secret \"customer-a-s3\" in Key Vault https://v.vault.azure.net/ "));
        Assert.That(e.Message, Does.Contain(problem));
        Assert.That(e.Message, Does.Contain(AccessKeySecret.Format));
        Assert.That(e.ToString(), Does.Not.Contain("SECRETVALUE"));
        Assert.That(e.ToString(), Does.Not.Contain("12345"), "no fragment of the value either");
        Assert.That(e.InnerException, Is.Null, "the JSON reader's message quotes characters of the value");
    }

    [Test]
    public void ToString_prints_no_key()
    {
        var key = AccessKeySecret.Parse("""{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "SECRETVALUE-12345", "sessionToken": "TOKENVALUE"}""", "s", "store");

        Assert.That(key.ToString(), Does.Not.Contain("AKIAEXAMPLE").And.Not.Contain("SECRETVALUE").And.Not.Contain("TOKENVALUE"));
    }
}
