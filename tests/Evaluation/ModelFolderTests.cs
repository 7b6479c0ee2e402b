using SmVL.Evaluation;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class ModelFolderTests
{
    [Fact]
    public void ProcessorFilesRoundTrip()
    {
        var dir = TinyVlmKit.SaveRandom();
        using var loaded = ModelFolder.Load(dir);
        var expected = TinyVlmKit.Processor();
        Assert.Empty(loaded.Notes);
        Assert.Equal(expected.Images.Config.ToJson(), loaded.Processor.Images.Config.ToJson());
        Assert.Equal(expected.Template.Source, loaded.Processor.Template.Source);
        Assert.Equal(expected.ImageSeqLen, loaded.Processor.ImageSeqLen);
        Assert.Equal(expected.Tokenizer.Encode("图中有几个圆形？<|im_end|>"), loaded.Processor.Tokenizer.Encode("图中有几个圆形？<|im_end|>"));
        Assert.Equal([TinyVlmKit.EosTokenId], loaded.Generation.EosTokenIds);
        Assert.Equal(TinyVlmKit.PadTokenId, loaded.Generation.PadTokenId);
    }

    [Fact]
    public void AModelOnlyFolderFallsBackAndSaysSo()
    {
        var dir = TinyVlmKit.SaveRandom(withProcessor: false);
        using var loaded = ModelFolder.Load(dir);
        Assert.Contains(loaded.Notes, n => n.Contains("Qwen3 tokenizer"));
        Assert.Contains(loaded.Notes, n => n.Contains("chat_template.jinja"));
        Assert.Contains(loaded.Notes, n => n.Contains("preprocessor_config.json"));
        Assert.Equal(32, loaded.Processor.Images.Config.MaxImageSize);        // the vision encoder's input
        Assert.Equal(64, loaded.Processor.Images.Config.LongestEdge);
        Assert.Equal(4, loaded.Processor.ImageSeqLen);                         // (32/8)² / 2²
    }

    [Fact]
    public void AFolderWithoutConfigNamesIt()
    {
        var dir = Fixtures.TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => ModelFolder.Load(dir));
        Assert.Contains(Path.Combine(dir, "config.json"), e.Message);
    }
}
