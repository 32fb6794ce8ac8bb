using Pipeline.Engine.Ports;
using Pipeline.Local.Secrets;

namespace Pipeline.Local.Tests.Secrets;

public class ChainedSecretStoreTests
{
    private sealed class Store(string describe, Dictionary<string, string> values, bool fail = false) : ISecretStore
    {
        public List<string> Asked { get; } = [];
        public string Describe => describe;

        public Task<string?> GetSecretAsync(string name, CancellationToken cancellationToken)
        {
            Asked.Add(name);
            if (fail) throw new SecretException($"{describe} is broken");
            return Task.FromResult(values.GetValueOrDefault(name));
        }
    }

    [Test]
    public async Task The_first_store_that_has_the_secret_wins_and_later_ones_are_not_asked()
    {
        var env = new Store("env", new() { ["a"] = "env-a" });
        var file = new Store("file", new() { ["a"] = "file-a", ["b"] = "file-b" });
        var vault = new Store("vault", new() { ["c"] = "vault-c" }, fail: false);
        var chain = new ChainedSecretStore(env, file, vault);

        Assert.That(await chain.GetSecretAsync("a", CancellationToken.None), Is.EqualTo("env-a"));
        Assert.That(await chain.GetSecretAsync("b", CancellationToken.None), Is.EqualTo("file-b"));
        Assert.That(await chain.GetSecretAsync("c", CancellationToken.None), Is.EqualTo("vault-c"));
        Assert.That(await chain.GetSecretAsync("d", CancellationToken.None), Is.Null);
        Assert.That(vault.Asked, Is.EqualTo(new[] { "c", "d" }));
    }

    [Test]
    public async Task A_found_secret_is_described_by_the_store_that_held_it_not_the_whole_chain()
    {
        ISecretStore chain = new ChainedSecretStore(new EnvironmentSecretStore(n => n == "PIPELINE_SECRET_OUR_KEY" ? "{not json" : null),
            new Store("secrets file /x/secrets.local.json", new() { ["other"] = "v" }));

        Assert.That(await chain.GetSecretAsync("our-key", CancellationToken.None), Is.EqualTo("{not json"));
        Assert.That(await chain.GetSecretAsync("other", CancellationToken.None), Is.EqualTo("v"));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(chain.DescribeSource("our-key"), Is.EqualTo("environment variable PIPELINE_SECRET_OUR_KEY"));
            Assert.That(chain.DescribeSource("other"), Is.EqualTo("secrets file /x/secrets.local.json"));
            Assert.That(chain.DescribeSource("missing"), Is.EqualTo(chain.Describe));
        }
    }

    [Test]
    public async Task A_failing_store_fails_the_lookup_only_when_it_is_reached()
    {
        var chain = new ChainedSecretStore(new Store("env", new() { ["a"] = "env-a" }), new Store("vault", [], fail: true));

        Assert.That(await chain.GetSecretAsync("a", CancellationToken.None), Is.EqualTo("env-a"));
        var e = await Assert.ThrowsAsync<SecretException>(() => chain.GetSecretAsync("b", CancellationToken.None));
        Assert.That(e!.Message, Is.EqualTo("vault is broken"));
    }

    [Test]
    public void Describe_lists_the_stores_in_order() =>
        Assert.That(new ChainedSecretStore(new Store("env", []), new Store("file", [])).Describe, Is.EqualTo("env, then file"));

    [Test]
    public void An_empty_chain_is_refused() =>
        Assert.Throws<ArgumentException>(() => _ = new ChainedSecretStore());
}
