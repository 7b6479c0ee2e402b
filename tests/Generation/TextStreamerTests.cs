using System.Text;
using SmVL.Generation;
using Xunit;

namespace SmVL.Tests.Generation;

/// <summary>
/// The streamer with a fake byte-level tokenizer: one id per UTF-8 byte, decode = UTF-8 with
/// replacement — the worst case, where every multi-byte character spans several tokens.
/// </summary>
public class TextStreamerTests
{
    private static string Decode(IReadOnlyList<int> ids) => Encoding.UTF8.GetString(ids.Select(i => (byte)i).ToArray());

    private static List<string> StreamBytes(byte[] bytes, out string flushed)
    {
        var streamer = new TextStreamer(Decode);
        var pieces = bytes.Select(b => streamer.Push(b)).ToList();
        flushed = streamer.Flush();
        return pieces;
    }

    [Fact]
    public void ChineseAndEmojiStreamWithoutSplittingACharacter()
    {
        const string text = "图中有三只小狗🐶，它们在草地上玩耍。Dogs 🐕‍🦺 play! 答：狗😀";
        var pieces = StreamBytes(Encoding.UTF8.GetBytes(text), out var flushed);
        Assert.Equal(text, string.Concat(pieces) + flushed);
        Assert.Equal("", flushed);
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        // each character comes out exactly when its last byte arrives: one non-empty piece per code point
        Assert.Equal(text.EnumerateRunes().Count(), pieces.Count(p => p.Length > 0));
        Assert.All(pieces.Where(p => p.Length > 0), p => Assert.Single(p.EnumerateRunes()));
    }

    [Fact]
    public void AnUnfinishedCharacterAtTheEndComesOutOnFlush()
    {
        var bytes = Encoding.UTF8.GetBytes("好狗").Take(5).ToArray();        // 狗 = E7 8B 97, cut after two bytes
        var pieces = StreamBytes(bytes, out var flushed);
        Assert.Equal("好", string.Concat(pieces));
        Assert.Equal("\uFFFD", flushed);
        Assert.Equal(Decode(bytes.Select(b => (int)b).ToArray()), string.Concat(pieces) + flushed);
    }

    [Fact]
    public void MultiByteTokensThatStraddleCharactersStreamCorrectly()
    {
        // tokens of 2 bytes: E4B8 | ADE6 | 9687 | F09F | 9982 | 6F6B. After the 2nd token the text is
        // "中" + an unfinished 文 (U+FFFD at the tail), so 中 waits for 文; the emoji waits for its 2nd half.
        const string text = "中文🙂ok";
        var bytes = Encoding.UTF8.GetBytes(text);
        var tokens = Enumerable.Range(0, bytes.Length / 2).ToList();
        string DecodePairs(IReadOnlyList<int> ids) => Encoding.UTF8.GetString(ids.SelectMany(i => bytes.Skip(2 * i).Take(2)).ToArray());
        var streamer = new TextStreamer(DecodePairs);
        var pieces = tokens.Select(t => streamer.Push(t)).ToList();
        Assert.Equal(new[] { "", "", "中文", "", "🙂", "ok" }, pieces);
        Assert.Equal(text, string.Concat(pieces) + streamer.Flush());
    }
}
