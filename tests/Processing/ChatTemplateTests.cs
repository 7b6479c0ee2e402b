using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Processing;

/// <summary>
/// Renders compared byte for byte with Python jinja2 configured as transformers configures it
/// (tests/fixtures/templates/make_reference.py): the shipped Qwen3-SmVL template, stock Qwen3,
/// SmolVLM2, and probe templates for the Jinja features where @huggingface/jinja differs; and
/// (differential.json, make_differential.py) random conversations over those templates plus a probe
/// for every discrepancy the broad random check against 53 real templates found.
/// </summary>
public class ChatTemplateTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "templates", name);

    private static List<JsonObject> Load(string file) =>
        JsonNode.Parse(File.ReadAllText(Fixture(file)))!["cases"]!.AsArray().Select(c => c!.AsObject()).ToList();

    private static readonly Lazy<List<JsonObject>> Cases = new(() => Load("reference.json"));
    private static readonly Lazy<List<JsonObject>> Differential = new(() => Load("differential.json"));

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases.Value) data.Add(c["name"]!.GetValue<string>());
        return data;
    }

    public static TheoryData<string> DifferentialNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Differential.Value) data.Add(c["name"]!.GetValue<string>());
        return data;
    }

    private static ChatTemplate TemplateOf(JsonObject c) => c["template"]?.GetValue<string>() switch
    {
        "qwen3_smvl" => ChatTemplate.Qwen3SmVL(),
        { } file => ChatTemplate.FromFile(Fixture(file)),
        null => new ChatTemplate(c["source"]!.GetValue<string>()),
    };

    [Theory, MemberData(nameof(CaseNames))]
    public void RendersLikePythonJinja2(string name)
    {
        var c = Cases.Value.Single(x => x["name"]!.GetValue<string>() == name);
        var template = TemplateOf(c);
        if (c["error"] is { } error)
        {
            var e = Assert.Throws<InvalidOperationException>(() => template.Render(c["kwargs"]!));
            Assert.Contains(error.GetValue<string>(), e.Message);
            return;
        }
        Assert.Equal(c["expected"]!.GetValue<string>(), template.Render(c["kwargs"]!));
    }

    /// <summary>
    /// A case that jinja2 renders must render identically; one where raise_exception fired must
    /// fail with its message; one where jinja2 failed otherwise (UndefinedError, TypeError) must fail.
    /// </summary>
    [Theory, MemberData(nameof(DifferentialNames))]
    public void RandomConversationsRenderLikePythonJinja2(string name)
    {
        var c = Differential.Value.Single(x => x["name"]!.GetValue<string>() == name);
        var template = TemplateOf(c);
        if (c["error"] is { } error)
        {
            var e = Assert.Throws<InvalidOperationException>(() => template.Render(c["kwargs"]!));
            if (c["any_error"] is null) Assert.Contains(error.GetValue<string>()["TemplateError: ".Length..], e.Message);
            return;
        }
        Assert.Equal(c["expected"]!.GetValue<string>(), template.Render(c["kwargs"]!));
    }

    [Fact]
    public void DifferentialCoversEveryShippedTemplateAndBothOutcomes()
    {
        var cases = Differential.Value;
        foreach (var t in new[] { "qwen3_smvl", "qwen3.jinja", "smolvlm2.jinja", "smolvlm_video_default.jinja" })
        {
            Assert.Contains(cases, c => c["template"]?.GetValue<string>() == t && c["expected"] is not null);
            Assert.Contains(cases, c => c["template"]?.GetValue<string>() == t && c["error"] is not null);
        }
        Assert.Contains(cases, c => c["error"] is not null && c["any_error"] is null);
    }

    [Fact]
    public void SmolVLM2TemplateIsTheCheckpointsOwn()
    {
        // HuggingFaceTB/SmolVLM2-256M-Video-Instruct's chat_template (see fixtures/templates/README.md): no video branch.
        byte[] file = File.ReadAllBytes(Fixture("smolvlm2.jinja"));
        Assert.Equal("830005085ddd94cec605b6e21b885b28ffad6e3f82ee6a212c523533e8f04f01", Convert.ToHexStringLower(SHA256.HashData(file)));
        var kwargs = JsonNode.Parse("""{"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}], "add_generation_prompt": true}""")!;
        Assert.Equal("<|im_start|>User:<image>What is it?<end_of_utterance>\nAssistant:", ChatTemplate.FromFile(Fixture("smolvlm2.jinja")).Render(kwargs));
    }

    [Fact]
    public void CoversTheRequiredFeatures()
    {
        var names = Cases.Value.Select(c => c["name"]!.GetValue<string>()).ToList();
        foreach (var prefix in new[] { "qwen3_smvl/", "qwen3/", "smolvlm2/", "probe/" }) Assert.Contains(names, n => n.StartsWith(prefix));
        string all = File.ReadAllText(Fixture("reference.json"));
        foreach (var feature in new[] { "\"tools\":", "\"tool_calls\":", "\"role\": \"tool\"", "\"reasoning_content\":", "</think>", "\"enable_thinking\": false", "\"enable_thinking\": true", "\"type\": \"image\"", "图中有什么动物" })
            Assert.Contains(feature, all);
    }

    [Fact]
    public void ShippedTemplateIsTheBlogFileByteForByte()
    {
        string path = Path.Combine(SmVL.Paths.RepoRoot, "lib", "SmVL", "Processing", "Templates", "qwen3_smvl.jinja");
        byte[] file = File.ReadAllBytes(path);
        Assert.Equal(5038, file.Length);
        Assert.Equal("559fb7c17289df5ac9a2845ef89aafc16cff0e0a5d680ec91eb7c2046b49c697", Convert.ToHexStringLower(SHA256.HashData(file)));
        Assert.Equal(file, Encoding.UTF8.GetBytes(ChatTemplate.Qwen3SmVL().Source));
    }

    [Fact]
    public void TypedMessagesRenderTheBlogsDemoPrompt()
    {
        var template = ChatTemplate.Qwen3SmVL();
        var messages = new[] { ChatMessage.System("使用中文回答所有问题。"), ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("图中有什么动物？")) };
        // Digest §1.4: the inference prompt, and with enable_thinking=False the empty think block.
        const string prompt = "<|im_start|>system\n使用中文回答所有问题。<|im_end|>\n<|im_start|>user\n<|image_pad|>\n图中有什么动物？<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(prompt, template.Render(messages, addGenerationPrompt: true, new Dictionary<string, object?> { ["enable_thinking"] = true }));
        Assert.Equal(prompt + "<think>\n\n</think>\n\n", template.Render(messages, addGenerationPrompt: true, new Dictionary<string, object?> { ["enable_thinking"] = false }));

        var c = Cases.Value.Single(x => x["name"]!.GetValue<string>() == "qwen3_smvl/tools_and_calls");
        var kwargs = c["kwargs"]!.AsObject();
        var typed = kwargs["messages"]!.AsArray().Select(m => new ChatMessage(m!["role"]!.GetValue<string>(), m["content"]!.GetValue<string>())
        {
            ToolCalls = m["tool_calls"]?.AsArray().DeepClone().AsArray(),
        });
        Assert.Equal(c["expected"]!.GetValue<string>(), template.Render(typed, false, new Dictionary<string, object?> { ["tools"] = kwargs["tools"] }));
    }

    [Fact]
    public void ClrFloatsStayFloats()
    {
        var t = new ChatTemplate("{{ x }} {{ y }} {{ [x, y] | tojson }}");
        Assert.Equal("1.0 2 [1.0, 2]", t.Render(Array.Empty<ChatMessage>(), false, new Dictionary<string, object?> { ["x"] = 1.0, ["y"] = 2 }));
    }

    [Fact]
    public void ParseErrorsAndMissingFilesAreReported()
    {
        Assert.Throws<FormatException>(() => new ChatTemplate("{% if %}"));
        var e = Assert.Throws<FileNotFoundException>(() => ChatTemplate.FromFile("/nonexistent/t.jinja"));
        Assert.Contains("/nonexistent/t.jinja", e.Message);
    }
}
