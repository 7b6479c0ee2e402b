using SmVL.Data;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using SmVL.Processing;

namespace SmVL.TinyWorld;

/// <summary>What an export wrote and measured.</summary>
public sealed record TinyWorldExportResult(string OutDir, IReadOnlyList<string> Files, TinyWorldStats Train, TinyWorldStats Eval, TimeSpan Elapsed, TimeSpan RenderAndEncode);

/// <summary>
/// Writes TinyWorld in the_cauldron's schema so the one <see cref="CauldronReader"/> reads it:
/// <code>
/// &lt;out&gt;/tinyworld_zh/{train,eval}-00000-of-00001.parquet   Chinese questions
/// &lt;out&gt;/tinyworld_en/{train,eval}-00000-of-00001.parquet   the same images and questions in English
/// &lt;out&gt;/tinyworld_scenes/{train,eval}.jsonl               per sample: scene, description, both questions
/// &lt;out&gt;/tinyworld_vocab.json                              names and answer sets per type
/// </code>
/// One image and one QA turn per row (so first-turn-only readers see every question); `source` is
/// "tinyworld/&lt;lang&gt;/&lt;type&gt;"; the image `path` is "&lt;split&gt;/&lt;index&gt;.png", the key into the scenes file.
/// Train and eval come from different generator streams of the seed, so their images differ.
/// </summary>
public static class TinyWorldExport
{
    public const string ShardSuffix = "-00000-of-00001.parquet";
    public const int RowGroupSize = 1024;

    public static TinyWorldExportResult Write(string outDir, int train, int eval, long seed)
    {
        var total = Stopwatch.StartNew();
        var files = new List<string>();
        var renderTime = TimeSpan.Zero;
        var stats = new Dictionary<string, TinyWorldStats>();
        foreach (var (split, count, stream) in new[] { ("train", train, 0L), ("eval", eval, 1L) })
        {
            var writers = TinyWorldVocabulary.Languages.ToDictionary(lang => lang, lang => new CauldronParquetWriter(Add(Path.Combine(outDir, $"tinyworld_{lang}", split + ShardSuffix))));
            string scenesPath = Add(Path.Combine(outDir, "tinyworld_scenes", $"{split}.jsonl"));
            Directory.CreateDirectory(Path.GetDirectoryName(scenesPath)!);
            using var scenes = new StreamWriter(scenesPath, false, new System.Text.UTF8Encoding(false)) { NewLine = "\n" };
            var splitStats = stats[split] = new TinyWorldStats();
            foreach (var chunk in new TinyWorldGenerator(seed, stream).Generate(count).Chunk(RowGroupSize))
            {
                var sw = Stopwatch.StartNew();
                // Rendering and PNG encoding are pure per sample, so they parallelise without changing any byte.
                var pngs = chunk.AsParallel().AsOrdered().Select(s => ImageCodec.EncodePng(TinyWorldRasteriser.Render(s.Scene))).ToArray();
                renderTime += sw.Elapsed;
                foreach (var (lang, writer) in writers)
                    writer.WriteRowGroup(chunk.Select((s, i) => ToRow(s, lang, pngs[i], split)).ToList());
                foreach (var s in chunk)
                {
                    splitStats.Add(TinyWorldVocabulary.TypeName(s.Zh.Type), s.Zh.Answer);
                    scenes.WriteLine(SceneLine(s, split));
                }
            }
            foreach (var w in writers.Values) w.Complete();
        }
        string vocab = Add(Path.Combine(outDir, "tinyworld_vocab.json"));
        File.WriteAllText(vocab, TinyWorldVocabulary.ToJson() + "\n");
        return new TinyWorldExportResult(outDir, files, stats["train"], stats["eval"], total.Elapsed, renderTime);

        string Add(string f) { files.Add(f); return f; }
    }

    public static CauldronRow ToRow(TinyWorldSample s, string lang, byte[] png, string split)
    {
        var q = s.Question(lang);
        return new CauldronRow([new CauldronImage(png, ImagePath(split, s.Index))], [new CauldronText(q.Text, q.Answer, q.Source)]);
    }

    public static string ImagePath(string split, int index) => $"{split}/{index:D6}.png";

    private static readonly JsonSerializerOptions Json = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private static string SceneLine(TinyWorldSample s, string split) => JsonSerializer.Serialize(new
    {
        image = ImagePath(split, s.Index),
        scene = new { width = s.Scene.Width, height = s.Scene.Height, shapes = s.Scene.Shapes.Select(x => new { x.Kind, x.Colour, x.Cx, x.Cy, x.Size, side = s.Scene.SideOf(x) }) },
        description = new { zh = s.Scene.Describe("zh"), en = s.Scene.Describe("en") },
        zh = new { type = TinyWorldVocabulary.TypeName(s.Zh.Type), question = s.Zh.Text, answer = s.Zh.Answer },
        en = new { type = TinyWorldVocabulary.TypeName(s.En.Type), question = s.En.Text, answer = s.En.Answer },
    }, Json);
}
