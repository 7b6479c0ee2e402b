using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using Plotly.NET;
using SmVL.Plots;

namespace SmVL.Interactive;

/// <summary>
/// What SmVL does when it is loaded into a .NET Interactive kernel (a Polyglot notebook in VS Code,
/// Jupyter, dotnet-repl), so that no notebook has to repeat it. Runs once, at the first use of any
/// SmVL type, and only when the kernel's formatting assembly is loaded; elsewhere (CLI, tests) it
/// does nothing. The kernel is reached by reflection: SmVL takes no dependency on it.
/// <list type="bullet">
/// <item>FSharp.Core: the kernel carries its own copy (it hosts F#) and the runtime never loads a
/// second one, while Plotly.NET asks for a newer version than the kernel's. Requests for FSharp.Core
/// that the default context cannot satisfy get the kernel's copy, so Plotly.NET and its
/// dependencies (Giraffe.ViewEngine, DynamicObj) share one FSharp.Core.</item>
/// <item>Charts: a Plotly.NET chart is shown as text/html. The first chart of the kernel process
/// carries plotly.js inline (Plotly.NET's embedded copy, <see cref="Html.PlotlyScriptTag"/>), the later
/// ones use it, so a notebook's charts draw offline and carry plotly.js once.</item>
/// </list>
/// </summary>
public static class KernelHooks
{
    private const string FormattingAssembly = "Microsoft.DotNet.Interactive.Formatting";
    private static int _plotlyEmitted;

#pragma warning disable CA2255 // a library initializer on purpose: notebooks use SmVL without calling a set-up method
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Install()
    {
        var formatting = AppDomain.CurrentDomain.GetAssemblies().FirstOrDefault(a => a.GetName().Name == FormattingAssembly);
        if (formatting is null) return;
        ShareFSharpCore();
        RegisterChartFormatter(formatting);
    }

    private static void ShareFSharpCore()
    {
        var loaded = AssemblyLoadContext.Default.Assemblies.FirstOrDefault(a => a.GetName().Name == "FSharp.Core");
        if (loaded is null) return;
        AssemblyLoadContext.Default.Resolving += (_, name) => name.Name == "FSharp.Core" ? loaded : null;
    }

    /// <summary>The chart's HTML in a notebook output: plotly.js first if this process has not shown it yet.</summary>
    private static string ChartOutput(GenericChart chart) =>
        (Interlocked.Exchange(ref _plotlyEmitted, 1) == 0 ? Html.PlotlyScriptTag() + "\n" : "") + Html.ChartDiv(chart);

    private static void RegisterChartFormatter(Assembly formatting)
    {
        var formatter = formatting.GetType("Microsoft.DotNet.Interactive.Formatting.Formatter", throwOnError: true)!;
        var register = formatter.GetMethod("Register", [typeof(Type), typeof(Action<object, TextWriter>), typeof(string)])
            ?? throw new MissingMethodException(formatter.FullName, "Register(Type, Action<object, TextWriter>, string)");
        Action<object, TextWriter> write = (chart, writer) => writer.Write(ChartOutput((GenericChart)chart));
        register.Invoke(null, [typeof(GenericChart), write, "text/html"]);
        formatter.GetMethod("SetPreferredMimeTypesFor")?.Invoke(null, [typeof(GenericChart), new[] { "text/html" }]);
    }
}
