using System.Text.Json.Nodes;

namespace Pipeline.Infra.Tests.Bicep;

/// <summary>
/// infra/ compiled once per test run in a scratch copy (bicep writes snapshots next to the parameter file):
/// the ARM JSON of main.bicep, the parameters of main.bicepparam, and two deployment snapshots (the
/// resources and outputs bicep predicts for a resource group): main.bicepparam as shipped, and a variant
/// with a deployer principal and an AWS role.
/// </summary>
internal sealed class InfraBuild
{
    public const string SubscriptionId = "00000000-0000-0000-0000-0000000000aa";
    public const string TenantId = "00000000-0000-0000-0000-0000000000bb";
    public const string ResourceGroup = "rg-audience-export";
    public const string Location = "westeurope";
    public const string DeployerPrincipalId = "11111111-2222-3333-4444-555555555555";
    public const string AwsRoleArn = "arn:aws:iam::123456789012:role/audience-export";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static InfraBuild? _built;

    private InfraBuild(string repoRoot, JsonObject template, JsonObject parameters, Snapshot shipped, Snapshot withDeployer, string diagnostics)
    {
        RepoRoot = repoRoot;
        Template = template;
        Parameters = parameters;
        Shipped = shipped;
        WithDeployer = withDeployer;
        Diagnostics = diagnostics;
    }

    public string RepoRoot { get; }

    /// <summary>infra/main.bicep compiled to ARM JSON, with every module as a nested template.</summary>
    public JsonObject Template { get; }

    /// <summary>infra/main.bicepparam compiled: the "parameters" object of a deployment parameters file.</summary>
    public JsonObject Parameters { get; }

    /// <summary>The snapshot of main.bicepparam as shipped.</summary>
    public Snapshot Shipped { get; }

    /// <summary>The snapshot with deployerPrincipalId and awsRoleArn set.</summary>
    public Snapshot WithDeployer { get; }

    /// <summary>Everything bicep printed while building and linting every template.</summary>
    public string Diagnostics { get; }

    public static async Task<InfraBuild> GetAsync(CancellationToken cancellationToken)
    {
        await Gate.WaitAsync(cancellationToken);
        try
        {
            return _built ??= await BuildAsync(cancellationToken);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<InfraBuild> BuildAsync(CancellationToken cancellationToken)
    {
        var repoRoot = FindRepoRoot();
        var bicep = await BicepCli.InstallAsync(repoRoot, cancellationToken);
        var scratch = Directory.CreateTempSubdirectory("pipeline-infra-tests-");
        try
        {
            CopyTemplates(Path.Combine(repoRoot, "infra"), scratch.FullName);
            await File.WriteAllTextAsync(Path.Combine(scratch.FullName, "deployer.bicepparam"), $"""
                using 'main.bicep'

                param environmentName = 'test'
                param deployerPrincipalId = '{DeployerPrincipalId}'
                param deployerPrincipalType = 'ServicePrincipal'
                param awsRoleArn = '{AwsRoleArn}'
                """, cancellationToken);

            string[] target =
            [
                "--mode", "overwrite", "--subscription-id", SubscriptionId, "--tenant-id", TenantId,
                "--resource-group", ResourceGroup, "--location", Location,
            ];
            var dir = scratch.FullName;
            var build = bicep.RunAsync(dir, ["build", "--pattern", "**/*.bicep", "--outdir", Path.Combine(dir, "arm")], cancellationToken);
            var lint = bicep.RunAsync(dir, ["lint", "--pattern", "**/*.bicep"], cancellationToken);
            var parameters = bicep.RunAsync(dir, ["build-params", "main.bicepparam", "--outfile", Path.Combine(dir, "main.parameters.json")], cancellationToken);
            var shipped = bicep.RunAsync(dir, ["snapshot", "main.bicepparam", .. target], cancellationToken);
            var deployer = bicep.RunAsync(dir, ["snapshot", "deployer.bicepparam", .. target], cancellationToken);
            var results = await Task.WhenAll(build, lint, parameters, shipped, deployer);

            var template = await ReadObjectAsync(Path.Combine(dir, "arm", "main.json"), cancellationToken);
            var parameterFile = await ReadObjectAsync(Path.Combine(dir, "main.parameters.json"), cancellationToken);
            return new InfraBuild(
                repoRoot,
                template,
                parameterFile["parameters"]!.AsObject(),
                new Snapshot(await ReadObjectAsync(Path.Combine(dir, "main.snapshot.json"), cancellationToken)),
                new Snapshot(await ReadObjectAsync(Path.Combine(dir, "deployer.snapshot.json"), cancellationToken)),
                string.Concat(results[0].Output, results[1].Output, results[2].Output));
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }

    private static void CopyTemplates(string infra, string destination)
    {
        foreach (var file in Directory.EnumerateFiles(infra, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(infra, file);
            var extension = Path.GetExtension(file);
            var isTemplate = extension is ".bicep" or ".bicepparam" || Path.GetFileName(file) == "bicepconfig.json";
            if (!isTemplate || relative.Contains("node_modules", StringComparison.Ordinal))
            {
                continue;
            }

            var target = Path.Combine(destination, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private static async Task<JsonObject> ReadObjectAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        var node = await JsonNode.ParseAsync(stream, cancellationToken: cancellationToken);
        return node?.AsObject() ?? throw new InvalidOperationException($"{path} is not a JSON object.");
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Pipeline.sln above {AppContext.BaseDirectory}.");
    }
}
