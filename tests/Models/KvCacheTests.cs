using SmVL.Generation;
using SmVL.Models;
using Xunit;
using static TorchSharp.torch;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Tests.Models;

/// <summary>The cache's buffers: room reserved up front, doubling beyond it, contents kept across growth.</summary>
public class KvCacheTests
{
    [Fact]
    public void RoomIsAllocatedAtTheFirstWriteAndGrowthKeepsTheCachedPositions()
    {
        using var cache = new KvCache(1, room: 6);
        using var first = randn(1, 2, 4, 16);
        cache.Append(0, first, first);
        Assert.Equal(6, cache.Capacity(0));
        using var one = randn(1, 2, 1, 16);
        cache.Append(0, one, one);
        cache.Append(0, one, one);
        Assert.Equal(6, cache.Capacity(0));                      // 6 positions fit without growing
        var (grown, _) = cache.Append(0, one, one);
        Assert.Equal(12, cache.Capacity(0));                     // the 7th doubles the buffers
        Assert.Equal(7, grown.shape[2]);
        Assert.Equal(0, Fixtures.MaxAbsDiff(first, grown.narrow(2, 0, 4)));
        Assert.Equal(0, Fixtures.MaxAbsDiff(one, grown.narrow(2, 6, 1)));
    }

    [Fact]
    public void WithoutRoomTheFirstWriteTakesWhatItNeeds()
    {
        using var cache = new KvCache(1);
        using var first = randn(1, 2, 5, 16);
        cache.Append(0, first, first);
        Assert.Equal(5, cache.Capacity(0));
    }

    [Theory]
    [InlineData(8, 3, 11)]      // the whole answer fits beside the prompt
    [InlineData(4, 10, 8)]      // at most twice the prompt (what the first growth would reach)
    public void TheGeneratorReservesRoomForTheAnswerSoDecodingNeverCopiesTheCache(int prompt, int newTokens, long room)
    {
        var spy = new CacheSpy(Pretrained.LoadCausalLM(Fixtures.ParityA("qwen3")));
        var ids = Enumerable.Range(3, prompt).Select(i => (long)i).ToArray();
        using var result = Generator.Generate(spy, [ids], null, new GenerationOptions { MaxNewTokens = newTokens, EosTokenIds = [] });
        Assert.Equal(newTokens, spy.Capacities.Count);
        Assert.Equal(room, spy.Capacities[0]);
        if (room >= prompt + newTokens) Assert.All(spy.Capacities, c => Assert.Equal(room, c));
    }

    /// <summary>Delegates to the model and records layer 0's cache capacity after each forward step.</summary>
    private sealed class CacheSpy(Qwen3ForCausalLM model) : ICausalLM
    {
        public List<long> Capacities { get; } = [];
        public int NumLayers => model.NumLayers;
        public Tensor Forward(Tensor ids, Tensor? mask, KvCache? cache, Tensor? positions, Tensor? pixels)
        {
            var logits = ((ICausalLM)model).Forward(ids, mask, cache, positions, pixels);
            Capacities.Add(cache!.Capacity(0));
            return logits;
        }
        public Tensor Hidden(Tensor ids, Tensor? pixels, Tensor? mask) => ((ICausalLM)model).Hidden(ids, pixels, mask);
        public Tensor Logits(Tensor hidden) => model.Logits(hidden);
        public Tensor HeadWeight => model.HeadWeight;
    }
}
