using System.CommandLine;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Processing;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl generate --model DIR --image FILE [--image FILE...] --prompt TEXT [--system TEXT] [--max-new-tokens N]
/// [--temperature T] [--top-p P] [--top-k K] [--seed S] [--thinking]`: ask a stitched model about images and
/// stream its answer as it is decoded (the blog's demo: `--system 使用中文回答所有问题。 --prompt 图中有什么动物？`).
/// Greedy unless a temperature above 0, top-p or top-k is given. Without --thinking the prompt ends in
/// Qwen3's empty think block (enable_thinking=false), as the tiny world trains; the blog's demo used thinking on.
/// With --gguf FILE --mmproj FILE, llama.cpp decodes the same prompt from the files `export --format gguf` wrote.
/// </summary>
public sealed class GenerateVerb : IVerb
{
    public string Name => "generate";
    public string Summary => "--model DIR --image FILE [--image ...] --prompt TEXT [--system TEXT] [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--thinking] [--gguf TEXT.gguf --mmproj MMPROJ.gguf]: stream an answer (or llama.cpp's)";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("model", "a trained model folder", required: true),
        Opt.Many("image", "an image file", required: true),
        Opt.Text("prompt", "the question", required: true),
        Opt.Text("system", "a system message (the blog's: 使用中文回答所有问题。)"),
        Opt.Int("max-new-tokens", "answer length cap (default 256)", min: 1),
        Opt.Number("temperature", "sampling temperature (> 0 samples)", min: 0),
        Opt.Number("top-p", "nucleus sampling mass", above: 0, max: 1),
        Opt.Int("top-k", "sample among the k most likely tokens (0: no limit, as in HF)", min: 0),
        Opt.Long("seed", "sampling seed", min: 0),
        Opt.Flag("thinking", "let Qwen3 think (no empty think block in the prompt)"),
        Opt.Text("gguf", "decode with llama.cpp instead (greedy): the text GGUF `export --format gguf` wrote; the folder still gives the processor"),
        Opt.Text("mmproj", "with --gguf: the mmproj GGUF that encodes the images"),
    ];

    public async Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelDir = args.Require("model"), prompt = args.Require("prompt");
        var imagePaths = args.All("image");
        if (imagePaths.Count == 0) throw new CliException("missing --image (give one per image)");
        var images = imagePaths.Select(LoadImage).ToList();
        bool sample = (args.Has("temperature") && args.Double("temperature", 0) > 0) || args.Has("top-p") || args.Has("top-k");

        using var loaded = Load(modelDir);
        var defaults = loaded.Generation;   // HF's sampling defaults for what is not given
        var options = defaults with
        {
            MaxNewTokens = args.Int("max-new-tokens", 256), DoSample = sample,
            Temperature = args.Double("temperature", defaults.Temperature), TopP = args.Double("top-p", defaults.TopP),
            TopK = args.Int("top-k", defaults.TopK), Seed = (ulong)(args.Long("seed") ?? 0),
        };
        var messages = new List<ChatMessage>();
        if (args.Get("system") is { } system) messages.Add(ChatMessage.System(system));
        messages.Add(ChatMessage.User(images.Select(_ => ChatPart.Image()).Append(ChatPart.TextPart(prompt)).ToArray()));
        var vars = args.Flag("thinking") ? null : ChatTemplate.NoThinking;
        var input = loaded.Processor.Process(messages, images, addGenerationPrompt: true, templateVars: vars);
        var device = loaded.Model.parameters().First().device;
        using var pixels = Processor.PixelValues([input])!.to(device);

        var tok = loaded.Processor.Tokenizer;
        if (args.Get("gguf") is { } gguf)
        {
            if (sample) throw new CliException("--gguf decodes greedily: drop --temperature, --top-p and --top-k");
            string mmproj = args.Get("mmproj") ?? throw new CliException("--gguf needs --mmproj (the images go through it)");
            using var llama = LlamaCppGenerator.Load(gguf, mmproj, threads: Environment.ProcessorCount);
            // mtmd gets SmVL's crops: it tiles the image SmVL's processor resized and encodes SmVL's global crop.
            var crops = images.Select(loaded.Processor.Images.ForEngine).ToList();
            var (tokens, _) = llama.Generate(input.InputIds, options.MaxNewTokens, options.EosTokenIds, crops, loaded.Processor.ImageTokenId);
            Console.WriteLine(tok.Decode(tokens.Select(t => (int)t), skipSpecialTokens: true));
            return 0;
        }
        try
        {
            await foreach (var piece in Generator.Stream(loaded.Model, input.InputIds, pixels, options, ids => tok.Decode(ids, skipSpecialTokens: true)))
            {
                Console.Write(piece);
                Console.Out.Flush();
            }
        }
        catch (ArgumentException e) { throw new CliException(e.Message); }   // e.g. a top-p outside (0, 1]
        Console.WriteLine();
        return 0;
    }

    /// <summary>The model folder, with what had to be assumed reported on stderr.</summary>
    internal static LoadedModel Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new CliException($"model folder not found: {dir}");
        try
        {
            var loaded = ModelFolder.Load(dir, Devices.Default);
            foreach (var note in loaded.Notes) Console.Error.WriteLine("note: " + note);
            return loaded;
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException) { throw new CliException(e.Message); }
    }

    private static RgbImage LoadImage(string path)
    {
        try { return ImageCodec.Load(path); }
        catch (Exception e) when (e is FileNotFoundException or ImageDecodeException) { throw new CliException(e.Message); }
    }
}
