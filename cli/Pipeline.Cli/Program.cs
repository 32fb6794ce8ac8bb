using System.CommandLine;
using Pipeline.Cli;
using Pipeline.Cli.Commands;

var root = new RootCommand("pipeline: scheduled exports of segment members to files (local folder today, Amazon S3 next).")
{
    SampleCommand.Create(),
    ExportCommand.Create(),
    RunCommand.Create(),
    RetryCommand.Create(),
    PlanCommand.Create(),
    ValidateCommand.Create(),
    PolicyCommand.Create(),
};
root.Options.Add(CliContext.VerboseOption);

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors) Console.Error.WriteLine($"error: {error.Message}");
    Console.Error.WriteLine("Run `pipeline --help` (or `pipeline COMMAND --help`) for usage.");
    return ExitCodes.BadUsage;
}
return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
