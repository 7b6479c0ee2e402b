using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace SmVL.Tests.Infrastructure;

/// <summary>
/// TorchSharp 0.107 turns a number passed where a <c>Scalar</c> is expected (<c>x * 0.5</c>,
/// <c>add_(g, alpha: a)</c>, <c>arange(n)</c>) into a finalizable native object that nothing
/// keeps alive while native code reads it: a GC on any thread during the call lets the finalizer
/// free it mid-use (the tiny world's "Scalar.h:140" crashes). This guard compiles the library and
/// the CLI with Roslyn and fails on every such implicit conversion, naming file and line. Scalars
/// must be made explicitly and owned (<see cref="SmVL.Scalars"/>).
/// </summary>
public class ImplicitScalarGuardTests
{
    [Fact]
    public void NoImplicitScalarConversionsInTheLibraryOrTheCli()
    {
        var found = new List<string>();
        found.AddRange(ImplicitScalars(Path.Combine(Paths.RepoRoot, "lib/SmVL"), withLibrary: false));
        found.AddRange(ImplicitScalars(Path.Combine(Paths.RepoRoot, "experiments"), withLibrary: true));
        Assert.True(found.Count == 0,
            $"{found.Count} implicit TorchSharp.Scalar conversions (use SmVL.Scalars):\n" + string.Join("\n", found.Take(200)));
    }

    [Fact]
    public void TheGuardFindsAnImplicitScalar()
    {
        string dir = Directory.CreateTempSubdirectory("smvl-guard").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "Bad.cs"),
                "using static TorchSharp.torch;\nstatic class Bad { static Tensor Half(Tensor x) => x.mul(0.5); static Tensor Ok(Tensor x) => x * x; }\n");
            var found = ImplicitScalars(dir, withLibrary: false);
            Assert.Single(found);
            Assert.Contains("Bad.cs:2", found[0]);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static List<string> ImplicitScalars(string projectDir, bool withLibrary)
    {
        var files = Directory.GetFiles(projectDir, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .ToList();
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), options, f)).ToList();
        trees.Add(CSharpSyntaxTree.ParseText(ImplicitUsings, options, "GlobalUsings.cs"));
        var references = References.Value.Where(r => withLibrary || !Path.GetFileName(r.Display!).StartsWith("SmVL", StringComparison.Ordinal));
        var compilation = CSharpCompilation.Create("Guard", trees, references,
            new CSharpCompilationOptions(withLibrary ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        // CS8795: a partial method whose other half a source generator writes (LibraryImport, GeneratedRegex).
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != "CS8795").Take(5).ToList();
        Assert.True(errors.Count == 0,
            "the guard's compilation failed, so it would see nothing:\n" + string.Join("\n", errors));

        var found = new List<string>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var expr in tree.GetRoot().DescendantNodes().OfType<ExpressionSyntax>())
            {
                var conversion = model.GetConversion(expr);
                if (conversion.IsUserDefined && conversion.IsImplicit
                    && conversion.MethodSymbol?.ContainingType.ToDisplayString() == "TorchSharp.Scalar")
                {
                    var line = tree.GetLineSpan(expr.Span).StartLinePosition.Line + 1;
                    found.Add($"{Path.GetRelativePath(Paths.RepoRoot, tree.FilePath)}:{line}: {expr}");
                }
                if (expr is InvocationExpressionSyntax or BinaryExpressionSyntax or PrefixUnaryExpressionSyntax or AssignmentExpressionSyntax or ObjectCreationExpressionSyntax
                    && model.GetSymbolInfo(expr).Symbol is IMethodSymbol m
                    && m.ContainingAssembly?.Name == "TorchSharp"
                    && Makers.Value.Contains((m.ReducedFrom ?? m).OriginalDefinition.MetadataToken))
                {
                    var line = tree.GetLineSpan(expr.Span).StartLinePosition.Line + 1;
                    found.Add($"{Path.GetRelativePath(Paths.RepoRoot, tree.FilePath)}:{line}: {m.ContainingType.Name}.{m.Name} makes a Scalar inside: {expr}");
                }
            }
        }
        return found;
    }

    private static readonly Lazy<IReadOnlySet<int>> Makers = new(() =>
        ScalarMakingMembers.In(typeof(TorchSharp.torch).Assembly.Location));

    // The SDK's ImplicitUsings for a plain library/console project (Directory.Build.props turns them on).
    private const string ImplicitUsings =
        "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
        "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;";

    // Everything the test host loads from: the framework plus the packages copied beside the tests.
    private static readonly Lazy<List<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(p => !Path.GetFileName(p).StartsWith("SmVL.Cli", StringComparison.Ordinal) && !Path.GetFileName(p).StartsWith("SmVL.Tests", StringComparison.Ordinal))
            .Where(IsManaged)
            .GroupBy(Path.GetFileName).Select(g => g.First())
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList());

    private static bool IsManaged(string path)
    {
        try { System.Reflection.AssemblyName.GetAssemblyName(path); return true; }
        catch (BadImageFormatException) { return false; }
    }
}
