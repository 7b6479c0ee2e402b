using SmVL.Checkpoints;
using static TorchSharp.torch;

namespace SmVL.Export;

/// <summary>
/// Every tensor of an HF folder's safetensors (one file or the shards its index lists), by name,
/// read on demand: an exporter maps names and shapes first and reads each tensor only when it is
/// written. The files stay open until this is disposed.
/// </summary>
public sealed class CheckpointTensors : IDisposable
{
    private readonly List<SafetensorsFile> _files = [];
    private readonly Dictionary<string, SafetensorsFile> _byName = new(StringComparer.Ordinal);

    public CheckpointTensors(string dir)
    {
        try
        {
            foreach (var path in CheckpointLoader.FindFiles(dir))
            {
                var file = SafetensorsFile.Open(path);
                _files.Add(file);
                foreach (var name in file.Tensors.Keys) _byName[name] = file;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public IEnumerable<string> Names => _byName.Keys;

    public long[] Shape(string name) => _byName[name].Info(name).Shape;

    /// <summary>The tensor as float32 on the CPU.</summary>
    public Tensor Read(string name) => _byName[name].Read(name, ScalarType.Float32);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
