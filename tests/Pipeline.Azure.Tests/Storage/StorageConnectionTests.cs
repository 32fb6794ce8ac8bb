using Pipeline.Azure.Storage;

namespace Pipeline.Azure.Tests.Storage;

public sealed class StorageConnectionTests
{
    // Look like real secrets (the key ends in "=" padding, which can pass for KEYWORD=value); no message may contain them.
    private const string Key = "U0VDUkVULUtFWS1ETy1OT1QtTEVBSy0xMjM0NTY3ODkwYWJjZGVmZw==";
    private const string Signature = "SeCrEtSiGnAtUrE0123456789abcdefDoNotLeak";

    private static StorageConnection? Read(params (string Key, string? Value)[] settings) =>
        StorageConnection.FromSettings(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));

    private static StorageConnection Connection(params (string Key, string? Value)[] settings) =>
        Read(settings) ?? throw new AssertionException("no connection was read");

    [Test]
    public void Without_the_setting_there_is_no_connection() =>
        Assert.That(Read(("OtherStorage", "UseDevelopmentStorage=true"), ("PipelineStorageX__blobServiceUri", "https://a.blob.core.windows.net")), Is.Null);

    [Test]
    public void UseDevelopmentStorage_true_points_every_client_at_azurite_on_its_default_ports()
    {
        var connection = Connection(("PipelineStorage", "UseDevelopmentStorage=true"));

        Assert.That(connection.IsIdentityBased, Is.False);
        Assert.That(connection.CreateBlobServiceClient().Uri, Is.EqualTo(new Uri("http://127.0.0.1:10000/devstoreaccount1")));
        Assert.That(connection.CreateQueueServiceClient().Uri, Is.EqualTo(new Uri("http://127.0.0.1:10001/devstoreaccount1")));
        Assert.That(connection.CreateTableServiceClient().Uri.GetLeftPart(UriPartial.Path).TrimEnd('/'), Is.EqualTo("http://127.0.0.1:10002/devstoreaccount1"));
        Assert.That(connection.Describe, Does.Contain("PipelineStorage").And.Contain("UseDevelopmentStorage=true"));
    }

    [Test]
    public void An_azurite_connection_string_with_custom_endpoints_uses_those_endpoints_and_its_description_has_no_key()
    {
        var value = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={Key};" +
                    "BlobEndpoint=http://127.0.0.1:41001/devstoreaccount1;QueueEndpoint=http://127.0.0.1:41002/devstoreaccount1;" +
                    "TableEndpoint=http://127.0.0.1:41003/devstoreaccount1;";
        var connection = Connection(("PipelineStorage", value));

        Assert.That(connection.CreateBlobServiceClient().Uri, Is.EqualTo(new Uri("http://127.0.0.1:41001/devstoreaccount1")));
        Assert.That(connection.CreateQueueServiceClient().Uri, Is.EqualTo(new Uri("http://127.0.0.1:41002/devstoreaccount1")));
        Assert.That(connection.CreateTableServiceClient().Uri.GetLeftPart(UriPartial.Path).TrimEnd('/'), Is.EqualTo("http://127.0.0.1:41003/devstoreaccount1"));
        Assert.That(connection.Describe, Does.Contain("devstoreaccount1").And.Contain("127.0.0.1:41002").And.Not.Contain(Key[..12]));
    }

    [Test]
    public void The_host_reads_ConnectionStrings_first()
    {
        var connection = Connection(("PipelineStorage", "UseDevelopmentStorage=true"),
            ("ConnectionStrings__PipelineStorage", $"AccountName=fromconnectionstrings;AccountKey={Key}"));

        Assert.That(connection.CreateBlobServiceClient().Uri, Is.EqualTo(new Uri("https://fromconnectionstrings.blob.core.windows.net/")));
    }

    [Test]
    public void Identity_based_settings_give_clients_for_each_service_uri_with_a_user_assigned_managed_identity()
    {
        var connection = Connection(
            ("PipelineStorage__blobServiceUri", "https://acct.blob.core.windows.net"),
            ("PipelineStorage__queueServiceUri", "https://acct.queue.core.windows.net"),
            ("PipelineStorage__tableServiceUri", "https://acct.table.core.windows.net"),
            ("PipelineStorage__credential", "managedidentity"),
            ("PipelineStorage__clientId", "11111111-2222-3333-4444-555555555555"));

        Assert.That(connection.IsIdentityBased, Is.True);
        Assert.That(connection.CreateBlobServiceClient().Uri, Is.EqualTo(new Uri("https://acct.blob.core.windows.net")));
        Assert.That(connection.CreateQueueServiceClient().Uri, Is.EqualTo(new Uri("https://acct.queue.core.windows.net")));
        Assert.That(connection.CreateTableServiceClient().Uri.GetLeftPart(UriPartial.Path).TrimEnd('/'), Is.EqualTo("https://acct.table.core.windows.net"));
        Assert.That(connection.Describe, Does.Contain("managed identity (client id 11111111-2222-3333-4444-555555555555)"));
    }

    [Test]
    public void Configuration_spelling_and_any_case_are_read_like_environment_variables()
    {
        var connection = Connection(
            ("pipelinestorage:BLOBSERVICEURI", "https://acct.blob.core.windows.net"),
            ("PipelineStorage:queueServiceUri", "https://acct.queue.core.windows.net"),
            ("PipelineStorage:tableServiceUri", "https://acct.table.core.windows.net"));

        Assert.That(connection.IsIdentityBased, Is.True);
        Assert.That(connection.Describe, Does.Contain("default Azure credential"));
    }

    [Test]
    public void An_account_name_stands_for_the_public_cloud_endpoints_that_are_not_given()
    {
        var connection = Connection(("PipelineStorage__accountName", "acct"), ("PipelineStorage__queueServiceUri", "https://other.queue.core.windows.net"),
            ("PipelineStorage__credential", "managedidentity"));

        Assert.That(connection.CreateBlobServiceClient().Uri, Is.EqualTo(new Uri("https://acct.blob.core.windows.net")));
        Assert.That(connection.CreateQueueServiceClient().Uri, Is.EqualTo(new Uri("https://other.queue.core.windows.net")));
        Assert.That(connection.Describe, Does.Contain("managed identity (system-assigned)"));
    }

    [Test]
    public void An_unknown_setting_name_is_named_with_the_ones_that_exist()
    {
        var error = Assert.Throws<StorageConnectionException>(() => Read(
            ("PipelineStorage__blobServiceUrl", "https://acct.blob.core.windows.net"),
            ("PipelineStorage__queueServiceUri", "https://acct.queue.core.windows.net"),
            ("PipelineStorage__tableServiceUri", "https://acct.table.core.windows.net")));

        Assert.That(error!.Message, Does.Contain("PipelineStorage__blobServiceUrl").And.Contain("PipelineStorage__blobServiceUri")
            .And.Contain("PipelineStorage__clientId"));
    }

    [Test]
    public void A_missing_service_uri_names_the_setting_and_the_value_to_give()
    {
        var error = Assert.Throws<StorageConnectionException>(() => Read(
            ("PipelineStorage__blobServiceUri", "https://acct.blob.core.windows.net"),
            ("PipelineStorage__tableServiceUri", "https://acct.table.core.windows.net")));

        Assert.That(error!.Message, Does.Contain("PipelineStorage__queueServiceUri is missing").And.Contain("https://ACCOUNT.queue.core.windows.net"));
    }

    [TestCase("managedIdentity", true)]
    [TestCase("clientsecret", false)]
    public void Only_managedidentity_is_a_credential(string credential, bool accepted)
    {
        (string, string?)[] settings =
        [
            ("PipelineStorage__accountName", "acct"), ("PipelineStorage__credential", credential),
        ];
        if (accepted) Assert.That(Connection(settings).IsIdentityBased, Is.True);
        else Assert.That(() => Read(settings), Throws.TypeOf<StorageConnectionException>().With.Message.Contain("PipelineStorage__credential=managedidentity"));
    }

    [Test]
    public void A_client_id_that_is_not_a_guid_is_refused() =>
        Assert.That(() => Read(("PipelineStorage__accountName", "acct"), ("PipelineStorage__clientId", "my-identity")),
            Throws.TypeOf<StorageConnectionException>().With.Message.Contain("PipelineStorage__clientId is not a GUID"));

    private static IEnumerable<TestCaseData> BadSettings()
    {
        yield return new TestCaseData(new[] { ("PipelineStorage", $"DefaultEndpointsProtocol=https;AccountName=acct;AcountKey={Key}") }, "unknown keyword \"AcountKey\"")
            .SetName("A misspelt keyword");
        yield return new TestCaseData(new[] { ("PipelineStorage", $"DefaultEndpointsProtocol=https;AccountName=acct;{Key}") }, "part 3 of 3")
            .SetName("A key pasted without its keyword");
        yield return new TestCaseData(new[] { ("PipelineStorage", $"AccountName=acct;AccountKey={Key}!!") }, "not a base64 account key")
            .SetName("A damaged account key");
        yield return new TestCaseData(new[] { ("PipelineStorage", $"BlobEndpoint=not a url;SharedAccessSignature=sv=2024-11-04&sig={Signature}") }, "BlobEndpoint that is not an http(s) URL")
            .SetName("An endpoint that is not a URL, with a SAS");
        yield return new TestCaseData(new[] { ("PipelineStorage", $"AccountKey={Key}") }, "names no account")
            .SetName("A key without an account");
        yield return new TestCaseData(new[] { ("PipelineStorage", "UseDevelopmentStorage=yes") }, "UseDevelopmentStorage set to something other than true")
            .SetName("UseDevelopmentStorage other than true");
        yield return new TestCaseData(new[] { ("PipelineStorage", $"UseDevelopmentStorage=true;AccountKey={Key}") }, "combines UseDevelopmentStorage=true with AccountKey")
            .SetName("UseDevelopmentStorage with a key");
        yield return new TestCaseData(new[] { ("PipelineStorage", "AccountName=acct") }, "neither AccountKey nor SharedAccessSignature")
            .SetName("An account without credentials");
        yield return new TestCaseData(new[] { ("PipelineStorage", $"AccountName=acct;AccountKey={Key};AccountKey={Key}") }, "sets AccountKey twice")
            .SetName("A keyword twice");
        yield return new TestCaseData(new[] { ("PipelineStorage", $"AccountName=acct;AccountKey={Key}"), ("PipelineStorage__credential", "managedidentity") }, "not both")
            .SetName("A connection string and identity settings");
        yield return new TestCaseData(new[]
            {
                ("PipelineStorage__blobServiceUri", $"https://acct.blob.core.windows.net/?sv=2024-11-04&sig={Signature}"),
                ("PipelineStorage__queueServiceUri", "https://acct.queue.core.windows.net"), ("PipelineStorage__tableServiceUri", "https://acct.table.core.windows.net"),
            }, "PipelineStorage__blobServiceUri is not an http(s) URL without a query")
            .SetName("A service URI with a SAS");
    }

    [TestCaseSource(nameof(BadSettings))]
    public void A_bad_setting_gets_a_message_naming_the_setting_and_the_fix_and_never_the_key_or_signature((string, string)[] settings, string problem)
    {
        var error = Assert.Throws<StorageConnectionException>(() => Read(settings.Select(s => (s.Item1, (string?)s.Item2)).ToArray()));

        Assert.That(error!.Message, Does.Contain("PipelineStorage").And.Contain(problem).And.Contain("Fix:"));
        var everything = error.ToString();
        Assert.That(everything, Does.Not.Contain(Key[..10]).And.Not.Contain(Key[^20..]).And.Not.Contain(Signature[..10]));
        Assert.That(error.InnerException, Is.Null);
    }
}
