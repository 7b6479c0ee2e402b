using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using System.Security.Cryptography;
using System.Text;
using Microsoft.CodeAnalysis;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// Turns <c>#r</c> directives into compiler references while keeping ONE copy of every assembly
/// in the process. The runner already carries SmVL, TorchSharp and Plotly.NET (and everything else
/// on its trusted-platform list); a directive naming one of those gets the loaded copy, because a
/// second TorchSharp would initialise libtorch twice. Anything else is loaded into the default
/// AssemblyLoadContext by simple name (Roslyn's own loader would give each file its own context,
/// which breaks Plotly.NET's F# dependencies with MissingMethodException).
/// </summary>
public sealed class ReferenceResolver
{
    /// <summary>Packages that map to an assembly the runner provides under another name.</summary>
    private static readonly Dictionary<string, string> PackageAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["TorchSharp-cpu"] = "TorchSharp",
        ["libtorch-cpu"] = "TorchSharp",            // native only: comes with the runner's TorchSharp
        ["libtorch-cpu-linux-x64"] = "TorchSharp",
        ["Plotly.NET.Interactive"] = "Plotly.NET",  // its chart formatter is built into the runner
    };

    /// <summary>Simple name → file of every managed assembly the runner can load from its own deployment.</summary>
    private static readonly Lazy<Dictionary<string, string>> Provided = new(() =>
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            map.TryAdd(Path.GetFileNameWithoutExtension(path), path);
        foreach (var a in AppDomain.CurrentDomain.GetAssemblies())
            if (!a.IsDynamic && a.Location.Length > 0) map.TryAdd(a.GetName().Name!, a.Location);
        return map;
    });

    private static readonly Lazy<IReadOnlyList<MetadataReference>> ProvidedReferences = new(() =>
        Provided.Value.Values.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList());

    /// <summary>Assemblies from #r paths and restores, found by simple name when the script first needs them.</summary>
    private static readonly ConcurrentDictionary<string, string> Extra = new(StringComparer.OrdinalIgnoreCase);

    static ReferenceResolver()
    {
        AssemblyLoadContext.Default.Resolving += (context, name) =>
            name.Name is { } n && Extra.TryGetValue(n, out var path) ? context.LoadFromAssemblyPath(path) : null;
    }

    private readonly TextWriter _log;
    private IReadOnlyList<MetadataReference> _restored = [];

    public ReferenceResolver(TextWriter log) => _log = log;

    /// <summary>References every script gets: all the runner's own assemblies.</summary>
    public static IReadOnlyList<MetadataReference> Base => ProvidedReferences.Value;

    /// <summary>True when the runner itself supplies the package (the assembly of that name is already here).</summary>
    public static bool IsProvided(NuGetReference r, out string assembly)
    {
        assembly = PackageAliases.TryGetValue(r.Id, out var alias) ? alias : r.Id;
        return Provided.Value.ContainsKey(assembly);
    }

    /// <summary>
    /// Restores the packages the runner does not provide, once per distinct set: a throwaway
    /// project under .cache/notebooks/, built for linux-x64 so native assets sit beside the DLLs.
    /// </summary>
    public void Restore(IEnumerable<NuGetReference> references, IEnumerable<string> sources)
    {
        var wanted = references.Where(r => !IsProvided(r, out _)).Distinct().OrderBy(r => r.Id, StringComparer.OrdinalIgnoreCase).ToList();
        if (wanted.Count == 0) return;
        var src = sources.Distinct().ToList();
        string key = string.Join(";", wanted) + "|" + string.Join(";", src);
        string dir = Path.Combine(SmVL.Paths.Cache, "notebooks", Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16]);
        string outDir = Path.Combine(dir, "out");
        if (!File.Exists(Path.Combine(dir, ".ok")))
        {
            var sw = Stopwatch.StartNew();
            _log.WriteLine($"  restoring {string.Join("; ", wanted)} into {dir}");
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "nuget-refs.csproj"), ProjectXml(wanted, src));
            // The cache usually lives inside the repository: keep its Directory.Build.* out of this project.
            Dotnet(dir, "build", "nuget-refs.csproj", "-c", "Release", "-o", outDir, "-nologo", "-v", "q",
                "-p:ImportDirectoryBuildProps=false", "-p:ImportDirectoryBuildTargets=false");
            File.WriteAllText(Path.Combine(dir, ".ok"), key + "\n");
            _log.WriteLine($"  restored in {sw.Elapsed.TotalSeconds:F1} s");
        }
        var refs = new List<MetadataReference>();
        foreach (var dll in Directory.GetFiles(outDir, "*.dll"))
        {
            string name = Path.GetFileNameWithoutExtension(dll);
            if (name == "nuget-refs" || Provided.Value.ContainsKey(name) || !IsManaged(dll)) continue;
            Extra[name] = dll;
            refs.Add(MetadataReference.CreateFromFile(dll));
        }
        _restored = refs;
    }

    /// <summary>The references one directive adds on top of <see cref="Base"/>.</summary>
    public IReadOnlyList<MetadataReference> Resolve(Reference reference)
    {
        switch (reference)
        {
            case NuGetReference n when IsProvided(n, out var asm):
                var have = Assembly.Load(asm).GetName().Version;
                // Some F# packages stamp 0.0.0.0 as assembly version; there is nothing to compare then.
                if (n.Version is { } v && System.Version.TryParse(v.Split('-')[0], out var want) && have is { Major: > 0 } or { Minor: > 0 }
                    && (want.Major, want.Minor, Math.Max(want.Build, 0)) != (have.Major, have.Minor, Math.Max(have.Build, 0)))
                    _log.WriteLine($"  note: notebook asks for {n}; the runner provides {asm} {have} and uses that");
                return [];
            case NuGetReference:
                return _restored;
            case FileReference f:
                if (!File.Exists(f.Path)) throw new FileNotFoundException($"#r: no such file {f.Path}");
                string name = Path.GetFileNameWithoutExtension(f.Path);
                if (Provided.Value.ContainsKey(name)) return [];
                Extra[name] = f.Path;
                return [MetadataReference.CreateFromFile(f.Path)];
            default:
                throw new ArgumentOutOfRangeException(nameof(reference));
        }
    }

    private static string ProjectXml(IEnumerable<NuGetReference> refs, IReadOnlyList<string> sources)
    {
        var sb = new StringBuilder("""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                <SelfContained>false</SelfContained>
                <CopyLocalLockFileAssemblies>true</CopyLocalLockFileAssemblies>
                <NoWarn>NU1603</NoWarn>

            """);
        if (sources.Count > 0)
            sb.Append("    <RestoreAdditionalProjectSources>").Append(System.Security.SecurityElement.Escape(string.Join(";", sources))).Append("</RestoreAdditionalProjectSources>\n");
        sb.Append("  </PropertyGroup>\n  <ItemGroup>\n");
        foreach (var r in refs)
            sb.Append($"    <PackageReference Include=\"{System.Security.SecurityElement.Escape(r.Id)}\" Version=\"{System.Security.SecurityElement.Escape(r.Version ?? "*")}\" />\n");
        return sb.Append("  </ItemGroup>\n</Project>\n").ToString();
    }

    private static void Dotnet(string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dotnet");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"restoring notebook packages failed (dotnet {string.Join(' ', args)} in {workDir}, exit {p.ExitCode}):\n{stdout}{stderr.Result}");
    }

    private static bool IsManaged(string path)
    {
        try { AssemblyName.GetAssemblyName(path); return true; }
        catch (BadImageFormatException) { return false; }
    }
}
