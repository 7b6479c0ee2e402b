using SmVL.Experiments;
using SmVL.Experiments.Verbs;
using Xunit;

namespace SmVL.Tests.Processing;

/// <summary>The render-chat verb: exact bytes out, and a template that raises fails the verb with its message.</summary>
public sealed class RenderChatVerbTests
{
    private static Task<(int Rc, string? Output)> Run(string template, string kwargs) => RunWithTemplateFile("t.jinja", template, kwargs);

    [Fact]
    public async Task WritesTheRenderedStringExactly()
    {
        var (rc, output) = await Run("{% for m in messages %}{{ m.role }}:{{ m.content }}\n{% endfor %}", """{"messages": [{"role": "user", "content": "图 \"q\" \\ end\n"}]}""");
        Assert.Equal(0, rc);
        Assert.Equal("user:图 \"q\" \\ end\n\n", output);
    }

    [Fact]
    public async Task RaiseExceptionFailsTheVerbWithItsMessageAndWritesNothing()
    {
        var e = await Assert.ThrowsAsync<CliException>(() => Run("{{ raise_exception('Conversation roles must alternate ' ~ messages | length) }}", """{"messages": [{"role": "user", "content": "a"}]}"""));
        Assert.Contains("Conversation roles must alternate 1", e.Message);
        Assert.Contains("t.jinja", e.Message);
    }

    [Fact]
    public async Task TemplateTypeErrorsAndParseErrorsFailTheVerb()
    {
        // Python refuses str + list: a list content concatenated by a string-only template.
        await Assert.ThrowsAsync<CliException>(() => Run("{{ 'x' + messages[0].content }}", """{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}"""));
        await Assert.ThrowsAsync<CliException>(() => Run("{% if %}", """{"messages": []}"""));
    }

    [Fact]
    public async Task ReadsTheTemplateFromAnHfJsonFile()
    {
        // chat_template.json / tokenizer_config.json hold the template in their chat_template field.
        var (rc, output) = await RunWithTemplateFile("chat_template.json", """{"chat_template": "{{ messages[0].content }}!"}""", """{"messages": [{"role": "user", "content": "hi"}]}""");
        Assert.Equal(0, rc);
        Assert.Equal("hi!", output);
    }

    private static async Task<(int Rc, string? Output)> RunWithTemplateFile(string fileName, string content, string kwargs)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"smvl-render-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, fileName), content);
            File.WriteAllText(Path.Combine(dir, "kw.json"), kwargs);
            string output = Path.Combine(dir, "out.txt");
            int rc = await Cli.Invoke(new RenderChatVerb(), ["--template", Path.Combine(dir, fileName), "--input", Path.Combine(dir, "kw.json"), "--out", output]);
            return (rc, File.Exists(output) ? File.ReadAllText(output) : null);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
