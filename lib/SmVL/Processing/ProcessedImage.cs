using TorchSharp;

namespace SmVL.Processing;

/// <summary>
/// One image after SmolVLM's processor: <see cref="NumImages"/> crops of 3×Height×Width, row-major
/// tiles first and the global image last, as float32 [N, 3, H, W]. Rows = Cols = 0 when the image was
/// not split (as transformers returns); otherwise there are Rows·Cols tiles + 1 global image.
/// </summary>
public sealed record ProcessedImage(float[] PixelValues, int NumImages, int Height, int Width, int Rows, int Cols)
{
    /// <summary>pixel_values as a CPU float32 tensor [N, 3, H, W] (a copy).</summary>
    public torch.Tensor ToTensor() => torch.tensor(PixelValues, [NumImages, 3, Height, Width], torch.float32);
}
