using System.Globalization;
using System.Text;
using Jint;
using Jint.Native;
using Jint.Runtime;

namespace SmVL.Processing;

/// <summary>
/// The one Jint engine that runs @huggingface/jinja (dist/index.cjs from the npm cache) plus
/// <see cref="ChatTemplatePolyfill"/>. Loading takes about a second, so it is created once and
/// shared; Jint engines are single-threaded, so every call takes the lock. Parsed templates are
/// cached by source text. A template is untrusted code (it comes with a downloaded model): each
/// parse or render runs under limits on time, statements, recursion depth and memory, so a hostile
/// one fails with a message instead of hanging or exhausting the process.
/// </summary>
internal static class ChatTemplateEngine
{
    private static readonly object Gate = new();
    private static Engine? _engine;
    private static readonly Dictionary<string, JsValue> Parsed = new();

    public static JsValue Parse(string source)
    {
        lock (Gate)
        {
            if (Parsed.TryGetValue(source, out var t)) return t;
            try { return Parsed[source] = Engine.Invoke("__smvl_parse", source); }
            catch (JavaScriptException e) { throw new FormatException($"chat template does not parse: {e.Message}", e); }
            catch (Exception e) when (e is JintException or TimeoutException) { throw new InvalidOperationException($"chat template stopped: {Limit(e)}", e); }
        }
    }

    public static string Render(JsValue template, string taggedContext)
    {
        lock (Gate)
        {
            try { return Engine.Invoke("__smvl_render", template, taggedContext).AsString(); }
            catch (Exception e) when (e is TimeoutException || e is JintException and not JavaScriptException) { throw new InvalidOperationException($"chat template stopped: {Limit(e)}", e); }
            catch (JintException e) { throw new InvalidOperationException($"chat template error: {e.Message}", e); }
            catch (OutOfMemoryException e) { throw new InvalidOperationException("chat template stopped: it built a string larger than .NET allows", e); }
        }
    }

    private static Engine Engine => _engine ??= Create();

    /// <summary>Limits of one parse or render (set before the engine is first used).</summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);
    public const int MaxStatements = 5_000_000, MaxRecursion = 400;
    public const long MaxMemoryBytes = 256L << 20;

    private static Engine Create()
    {
        string bundle = Path.Combine(Paths.Npm("hf-jinja"), "dist", "index.cjs");
        if (!File.Exists(bundle))
            throw new FileNotFoundException($"@huggingface/jinja not found at {bundle}; run `bash build/setup.sh` to fetch it", bundle);
        var engine = new Engine(o => o.TimeoutInterval(Timeout).MaxStatements(MaxStatements).LimitRecursion(MaxRecursion).LimitMemory(MaxMemoryBytes));
        engine.SetValue("__smvl_strftime", new Func<string, string>(Strftime));
        engine.SetValue("__smvl_isPrintable", new Func<int, bool>(IsPrintable));
        engine.SetValue("__smvl_strClass", new Func<string, string, bool>(StrClass));
        engine.Execute("var module = { exports: {} }; var exports = module.exports;");
        engine.Execute(File.ReadAllText(bundle), bundle);
        engine.Execute(ChatTemplatePolyfill.Script, "ChatTemplatePolyfill");
        return engine;
    }

    private static string Limit(Exception e) => e switch
    {
        TimeoutException => $"ran longer than {Timeout.TotalSeconds:0.#} s",
        StatementsCountOverflowException => $"ran more than {MaxStatements:N0} statements",
        RecursionDepthOverflowException => $"recursed deeper than {MaxRecursion}",
        MemoryLimitExceededException => $"used more than {MaxMemoryBytes >> 20} MB",
        _ => e.Message,
    };

    // Python's str.isprintable for one code point (repr escapes the others): not Other (Cc, Cf, Cs,
    // Co, Cn) and not a separator except the ASCII space.
    private static bool IsPrintable(int codePoint) => codePoint == ' ' || CharUnicodeInfo.GetUnicodeCategory(codePoint) is not
        (UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
         or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);

    // Python's str.isdigit/isalpha/isalnum/isspace/isupper/islower, by code point.
    private static bool StrClass(string s, string kind)
    {
        var runes = s.EnumerateRunes().ToList();
        return kind switch
        {
            "isdigit" => runes.Count > 0 && runes.All(r => Rune.GetNumericValue(r) is >= 0 and <= 9 && Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.OtherNumber),
            "isalpha" => runes.Count > 0 && runes.All(Rune.IsLetter),
            "isalnum" => runes.Count > 0 && runes.All(r => Rune.IsLetter(r) || Rune.IsNumber(r)),
            "isspace" => runes.Count > 0 && runes.All(r => r.Value is (>= 9 and <= 13) or (>= 0x1C and <= 0x1F) or 0x85 || Rune.IsWhiteSpace(r)),
            "isupper" => runes.Any(Rune.IsUpper) && !runes.Any(Rune.IsLower),
            "islower" => runes.Any(Rune.IsLower) && !runes.Any(Rune.IsUpper),
            _ => throw new ArgumentException(kind),
        };
    }

    // Python's datetime.now().strftime for the codes chat templates use, with C-locale names.
    private static string Strftime(string format)
    {
        var now = DateTime.Now;
        var c = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length) { sb.Append(format[i]); continue; }
            char code = format[++i];
            sb.Append(code switch
            {
                'Y' => now.ToString("yyyy", c), 'y' => now.ToString("yy", c), 'm' => now.ToString("MM", c),
                'd' => now.ToString("dd", c), 'e' => now.Day.ToString(c).PadLeft(2), 'H' => now.ToString("HH", c),
                'I' => now.ToString("hh", c), 'M' => now.ToString("mm", c), 'S' => now.ToString("ss", c),
                'p' => now.Hour < 12 ? "AM" : "PM", 'b' => now.ToString("MMM", c), 'B' => now.ToString("MMMM", c),
                'a' => now.ToString("ddd", c), 'A' => now.ToString("dddd", c), 'j' => now.DayOfYear.ToString("000", c),
                '%' => "%",
                _ => "%" + code,
            });
        }
        return sb.ToString();
    }
}
