using Pipeline.Local.Secrets;

namespace Pipeline.Local.Tests.Secrets;

public class EnvironmentSecretStoreTests
{
    [TestCase("customer-a-s3", "PIPELINE_SECRET_CUSTOMER_A_S3")]
    [TestCase("Customer.A_s3", "PIPELINE_SECRET_CUSTOMER_A_S3")]
    [TestCase("kunde-ä", "PIPELINE_SECRET_KUNDE__")]
    [TestCase("our-aws-key", "PIPELINE_SECRET_OUR_AWS_KEY")]
    public void Variable_name_is_the_prefix_and_the_upper_cased_name_with_non_alphanumerics_as_underscores(string secret, string variable) =>
        Assert.That(EnvironmentSecretStore.VariableName(secret), Is.EqualTo(variable));

    [Test]
    public async Task Reads_the_variable_for_the_secret()
    {
        var store = new EnvironmentSecretStore(new Dictionary<string, string?> { ["PIPELINE_SECRET_CUSTOMER_A_S3"] = "value" }.GetValueOrDefault);

        Assert.That(await store.GetSecretAsync("customer-a-s3", CancellationToken.None), Is.EqualTo("value"));
        Assert.That(await store.GetSecretAsync("customer-b-s3", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task An_empty_variable_counts_as_not_set()
    {
        var store = new EnvironmentSecretStore(new Dictionary<string, string?> { ["PIPELINE_SECRET_X"] = "  " }.GetValueOrDefault);

        Assert.That(await store.GetSecretAsync("x", CancellationToken.None), Is.Null);
    }

    [Test]
    [NonParallelizable]
    public async Task Reads_the_process_environment_by_default()
    {
        Environment.SetEnvironmentVariable("PIPELINE_SECRET_ENV_STORE_TEST", "from-env");
        try
        {
            Assert.That(await new EnvironmentSecretStore().GetSecretAsync("env-store-test", CancellationToken.None), Is.EqualTo("from-env"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PIPELINE_SECRET_ENV_STORE_TEST", null);
        }
    }

    [Test]
    public void Describes_itself_by_the_prefix() =>
        Assert.That(new EnvironmentSecretStore().Describe, Is.EqualTo("environment variables PIPELINE_SECRET_*"));
}
