using System.Reflection;

namespace Pipeline.S3.Tests.Infrastructure;

/// <summary>
/// Every teardown in this project is safe after a failed setup (no emulator installed, no free port): it runs on a
/// fixture whose setup never ran and must not throw, or its NullReferenceException hides the setup's real message.
/// </summary>
public sealed class TeardownTests
{
    public static IEnumerable<TestCaseData> Fixtures() =>
        typeof(TeardownTests).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && t.GetCustomAttribute<SetUpFixtureAttribute>() is null)
            .Where(t => TeardownsOf(t).Any())
            .Select(t => new TestCaseData(t).SetName($"Teardown of {t.Name} is safe after a failed setup"));

    private static IEnumerable<MethodInfo> TeardownsOf(Type type) =>
        type.GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.GetCustomAttribute<TearDownAttribute>() is not null || m.GetCustomAttribute<OneTimeTearDownAttribute>() is not null);

    [Test]
    public void Teardowns_are_found() => Assert.That(Fixtures().Count(), Is.GreaterThanOrEqualTo(8), "the fixture scan finds the fixtures");

    [TestCaseSource(nameof(Fixtures))]
    public async Task Teardown_runs_without_setup(Type fixture)
    {
        var constructor = fixture.GetConstructors().OrderBy(c => c.GetParameters().Length).First();
        var arguments = constructor.GetParameters().Select(p => p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType) : null).ToArray();
        var instance = constructor.Invoke(arguments);

        foreach (var teardown in TeardownsOf(fixture))
        {
            Assert.That(async () =>
            {
                if (teardown.Invoke(instance, null) is Task task) await task;
            }, Throws.Nothing, $"{fixture.Name}.{teardown.Name}");
        }
    }
}
