namespace SmVL;

/// <summary>
/// Where SmVL keeps things on disk. The cache holds set-up downloads (npm assets) and cached
/// artefacts (pretrained tiny-world parents); SMVL_CACHE overrides it, otherwise it is `.cache/`
/// in the repository root (the directory holding SmVL.sln).
/// </summary>
public static class Paths
{
    public static string RepoRoot => _repoRoot.Value;
    public static string Cache => Environment.GetEnvironmentVariable("SMVL_CACHE") is { Length: > 0 } c ? c : Path.Combine(RepoRoot, ".cache");
    public static string Npm(string package) => Path.Combine(Cache, "npm", package, "package");

    private static readonly Lazy<string> _repoRoot = new(() =>
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "SmVL.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("cannot find the SmVL repository root (SmVL.sln) above " + AppContext.BaseDirectory + "; set SMVL_CACHE");
    });
}
