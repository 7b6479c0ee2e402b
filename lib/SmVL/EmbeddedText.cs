using System.Text;

namespace SmVL;

/// <summary>Text files compiled into SmVL.dll (SmVL.csproj's EmbeddedResource items, by their logical names).</summary>
internal static class EmbeddedText
{
    public static string Read(string name)
    {
        using var stream = typeof(EmbeddedText).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"SmVL.dll has no embedded resource '{name}' (SmVL.csproj lists them)");
        using var reader = new StreamReader(stream, new UTF8Encoding(false));
        return reader.ReadToEnd();
    }
}
