using System.CommandLine;
using Pipeline.Cli.Aws;
using Pipeline.Engine.Configuration;

namespace Pipeline.Cli.Commands;

/// <summary>`pipeline policy DESTINATION`: the minimal IAM policy, bucket policy or role trust policy a customer must apply.</summary>
internal static class PolicyCommand
{
    public static Command Create()
    {
        var destination = new Argument<string>("destination") { Description = "A destination name from pipeline.json (type s3)." };
        var account = new Option<string>("--account-id")
        {
            Description = "Our AWS account id, which the customer's policies trust (default: $PIPELINE_AWS_ACCOUNT_ID).",
        };
        var command = new Command("policy", "Print the least-privilege policies a customer applies for an S3 destination.") { destination, RunCommand.ConfigOption, account };
        command.SetAction((parse, _) => CliContext.GuardAsync(() =>
        {
            var config = ConfigLoader.Load(parse.GetValue(RunCommand.ConfigOption)!);
            var name = parse.GetValue(destination)!;
            if (!config.Destinations.TryGetValue(name, out var spec))
                throw new UsageException($"No destination \"{name}\" in {config.FilePath}; it has: {string.Join(", ", config.Destinations.Keys)}.");
            if (spec.Type != DestinationSpec.S3Type)
                throw new UsageException($"Destination \"{name}\" is a {spec.Type} destination; policies apply to s3 destinations.");
            var ourAccount = parse.GetValue(account) ?? Environment.GetEnvironmentVariable("PIPELINE_AWS_ACCOUNT_ID") ?? AccessPolicies.AccountPlaceholder;
            foreach (var (title, where, document) in AccessPolicies.For(spec, ourAccount))
            {
                Console.WriteLine($"# {title}");
                Console.WriteLine($"# {where}");
                Console.WriteLine(AccessPolicies.Print(document));
                Console.WriteLine();
            }
            if (ourAccount == AccessPolicies.AccountPlaceholder)
                Console.Error.WriteLine($"note: replace {AccessPolicies.AccountPlaceholder} with our AWS account id (pass --account-id or set PIPELINE_AWS_ACCOUNT_ID).");
            return Task.FromResult(ExitCodes.Success);
        }));
        return command;
    }
}
