using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class PredictionsFileTests
{
    [Fact]
    public void WritesOneReadableJsonObjectPerLineAndReadsItBack()
    {
        var rows = new[]
        {
            new PredictionRow("coco-1", "图中有什么动物？", "狗", "<think>\n\n</think>\n\n狗。", true, "animal"),
            new PredictionRow("coco-2", "How many \"dogs\"?", "3", "三", false, "count"),
        };
        var path = Path.Combine(Fixtures.TempDir(), "predictions.jsonl");
        PredictionsFile.Write(path, rows);

        var lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        Assert.Equal("{\"id\":\"coco-1\",\"question\":\"图中有什么动物？\",\"reference\":\"狗\",\"prediction\":\"<think>\\n\\n</think>\\n\\n狗。\",\"correct\":true,\"type\":\"animal\"}", lines[0]);
        Assert.Equal(rows, PredictionsFile.Read(path).ToArray());
        Assert.NotEqual(0xEF, File.ReadAllBytes(path)[0]);                       // no BOM
    }
}
