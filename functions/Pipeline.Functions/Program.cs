using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;
using Pipeline.Functions;

// The whole composition is in AddPipelineFunctions, so the start-up test builds exactly this host.
var builder = FunctionsApplication.CreateBuilder(args);
builder.AddPipelineFunctions();
builder.Build().Run();
