using System.CommandLine;
using Pipeline.Cli;
using Pipeline.Cli.Commands;

var root = new RootCommand("pipeline: scheduled exports of segment members to files in a local folder or an Amazon S3 bucket (or any S3-compatible store). Run state lives in a local SQLite file, or on Azure Storage when PipelineStorage is set.")
{
    SampleCommand.Create(),
    ExportCommand.Create(),
    RunCommand.Create(),
    RetryCommand.Create(),
    RunsCommand.Create(),
    ConfigCommand.Create(),
    PlanCommand.Create(),
    ValidateCommand.Create(),
    PolicyCommand.Create(),
};
root.Options.Add(CliContext.VerboseOption);

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // A mistyped command is the one error worth naming: "Required command was not provided" would only hide it.
    if (args.Length > 0 && !args[0].StartsWith('-') && root.Subcommands.All(c => c.Name != args[0]))
    {
        var near = Pipeline.Engine.Configuration.NameHints.Nearest(args[0], root.Subcommands.Select(c => c.Name));
        Console.Error.WriteLine($"error: \"{args[0]}\" is not a command{(near is null ? "" : $"; did you mean \"{near}\"?")} Commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}.");
    }
    else
    {
        foreach (var error in parse.Errors) Console.Error.WriteLine($"error: {error.Message}");
    }
    Console.Error.WriteLine("Run `pipeline --help` (or `pipeline COMMAND --help`) for usage.");
    return ExitCodes.BadUsage;
}
return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
