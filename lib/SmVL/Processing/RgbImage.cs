namespace SmVL.Processing;

/// <summary>
/// An 8-bit RGB image, row-major, 3 bytes per pixel. The one image type the processor and data
/// code see; decoding and encoding go through <see cref="ImageCodec"/>.
/// </summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    public byte this[int x, int y, int c] => Pixels[(y * Width + x) * 3 + c];
}
