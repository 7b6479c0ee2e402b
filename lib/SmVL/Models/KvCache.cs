using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Per-layer key/value cache for decoding. Each layer's keys and values live in a buffer
/// (B, Hkv, capacity, D) that doubles when full, so a decode step writes one position in place
/// instead of copying the whole cache (a cat per step reads and writes every cached byte again,
/// ~2× the cache traffic of the attention itself). The buffers are owned outside any dispose
/// scope and freed deterministically by <see cref="Dispose"/>, never by a caller's scope; the
/// views handed out are the caller's to drop.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly (Tensor k, Tensor v)?[] _buffers;
    private readonly long[] _lengths;
    private readonly long _room;

    /// <param name="room">positions a layer's buffers hold from its first write when that write needs fewer (a
    /// generator's prompt plus the tokens to come), so that decoding does not start by growing and copying the cache</param>
    public KvCache(int numLayers, long room = 0)
    {
        _room = room;
        _buffers = new (Tensor, Tensor)?[numLayers];
        _lengths = new long[numLayers];
    }

    /// <summary>Positions layer <paramref name="layer"/>'s buffers hold before they grow (0 before its first write).</summary>
    public long Capacity(int layer) => _buffers[layer]?.k.shape[2] ?? 0;

    /// <summary>Number of positions already cached (the next position id).</summary>
    public long SeqLen => _lengths[0];

    /// <summary>Append this step's (B, Hkv, T, D) keys/values; returns views of the full cached K/V (B, Hkv, length, D).</summary>
    public (Tensor k, Tensor v) Append(int layer, Tensor k, Tensor v)
    {
        var (keys, values, position) = Reserve(layer, k);
        using (var scope = NewDisposeScope())
        {
            keys.narrow(2, position, k.shape[2]).copy_(k);
            values.narrow(2, position, v.shape[2]).copy_(v);
        }
        return (keys.narrow(2, 0, _lengths[layer]), values.narrow(2, 0, _lengths[layer]));
    }

    /// <summary>
    /// Room for <paramref name="like"/>'s T new positions (B, Hkv, T, D), counted as cached from now on:
    /// the layer's whole buffers and the first position to write, for a caller that writes them itself.
    /// </summary>
    public (Tensor keys, Tensor values, long position) Reserve(int layer, Tensor like)
    {
        long length = _lengths[layer], needed = length + like.shape[2];
        if (_buffers[layer] is not { } buffer || buffer.k.shape[2] < needed)
        {
            long capacity = Math.Max(needed, _buffers[layer] is { } full ? 2 * full.k.shape[2] : _room);
            var grown = (Grow(_buffers[layer]?.k, length, capacity, like), Grow(_buffers[layer]?.v, length, capacity, like));
            if (_buffers[layer] is { } old) { old.k.Dispose(); old.v.Dispose(); }
            _buffers[layer] = buffer = grown;
        }
        _lengths[layer] = needed;
        return (buffer.k, buffer.v, length);
    }

    /// <summary>A buffer of <paramref name="capacity"/> positions holding the first <paramref name="length"/> of <paramref name="old"/>.</summary>
    private static Tensor Grow(Tensor? old, long length, long capacity, Tensor like)
    {
        var shape = (long[])like.shape.Clone();
        shape[2] = capacity;
        var buffer = empty(shape, dtype: like.dtype, device: like.device).DetachFromDisposeScope();
        if (old is not null && length > 0)
        {
            using var scope = NewDisposeScope();
            buffer.narrow(2, 0, length).copy_(old.narrow(2, 0, length));
        }
        return buffer;
    }

    /// <summary>Keep only the batch rows in <paramref name="index"/> (drop finished sequences).</summary>
    public void Select(Tensor index)
    {
        for (int i = 0; i < _buffers.Length; i++)
            if (_buffers[i] is { } b)
            {
                _buffers[i] = (b.k.index_select(0, index).DetachFromDisposeScope(), b.v.index_select(0, index).DetachFromDisposeScope());
                b.k.Dispose(); b.v.Dispose();
            }
    }

    /// <summary>Bytes of the cached positions' keys and values (what a decode step reads), all layers.</summary>
    public long Bytes => _buffers.Select((b, i) => b is { } x ? 2 * x.k.NumberOfElements / x.k.shape[2] * _lengths[i] * x.k.ElementSize : 0).Sum();

    public void Dispose()
    {
        foreach (var b in _buffers) if (b is { } x) { x.k.Dispose(); x.v.Dispose(); }
        Array.Clear(_buffers);
        Array.Clear(_lengths);
    }
}
