using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Per-layer key/value cache for decoding. It owns its tensors outside any dispose scope and
/// frees the previous K/V when a step appends, so its memory is released deterministically by
/// <see cref="Dispose"/> and never by a caller's scope.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly (Tensor k, Tensor v)?[] _layers;

    public KvCache(int numLayers) => _layers = new (Tensor, Tensor)?[numLayers];

    /// <summary>Number of positions already cached (the next position id).</summary>
    public long SeqLen => _layers[0] is { } l ? l.k.shape[2] : 0;

    /// <summary>Append this step's (B, Hkv, T, D) keys/values; returns the full cached K/V (owned by the cache).</summary>
    public (Tensor k, Tensor v) Append(int layer, Tensor k, Tensor v)
    {
        (Tensor k, Tensor v) next;
        if (_layers[layer] is { } old)
        {
            next = (cat(new[] { old.k, k }, 2).DetachFromDisposeScope(), cat(new[] { old.v, v }, 2).DetachFromDisposeScope());
            old.k.Dispose(); old.v.Dispose();
        }
        else next = (k.clone().DetachFromDisposeScope(), v.clone().DetachFromDisposeScope());
        _layers[layer] = next;
        return next;
    }

    /// <summary>Keep only the batch rows in <paramref name="index"/> (drop finished sequences).</summary>
    public void Select(Tensor index)
    {
        for (int i = 0; i < _layers.Length; i++)
            if (_layers[i] is { } l)
            {
                _layers[i] = (l.k.index_select(0, index).DetachFromDisposeScope(), l.v.index_select(0, index).DetachFromDisposeScope());
                l.k.Dispose(); l.v.Dispose();
            }
    }

    public long Bytes => _layers.Sum(l => l is { } x ? x.k.NumberOfElements * x.k.ElementSize * 2 : 0);

    public void Dispose()
    {
        foreach (var l in _layers) if (l is { } x) { x.k.Dispose(); x.v.Dispose(); }
        Array.Clear(_layers);
    }
}
