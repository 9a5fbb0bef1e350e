using BenchmarkDotNet.Running;

namespace TokenSieve.Bench;

/// <summary>`bdn` mode: hands the remaining arguments to BenchmarkDotNet's switcher over this assembly's suites.</summary>
public static class BdnSuites
{
    public static int Run(string[] args)
    {
        BenchmarkSwitcher.FromAssembly(typeof(BdnSuites).Assembly).Run(args);
        return 0;
    }
}
