using System.Text.Json.Nodes;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Processing;

/// <summary>
/// EXIF orientation against PIL (fixtures/images/make_exif.py): a file opened like transformers'
/// load_image is turned upright exactly as ImageOps.exif_transpose does; dataset bytes are not.
/// </summary>
public class ImageOrientationTests
{
    private static readonly JsonObject Index = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(ImageFixtures.Dir, "exif", "index.json")))!;

    public static TheoryData<int> Orientations => new() { 1, 2, 3, 4, 5, 6, 7, 8 };

    [Theory, MemberData(nameof(Orientations))]
    public void FilesAreTurnedUprightLikeExifTranspose(int orientation)
    {
        string name = $"orientation{orientation}";
        var entry = Index[name]!;
        string path = Path.Combine(ImageFixtures.Dir, "exif", name + ".jpg");
        Assert.Equal(orientation, ImageOrientation.Read(File.ReadAllBytes(path)));

        var upright = ImageCodec.Load(path);
        Assert.Equal((entry["width"]!.GetValue<int>(), entry["height"]!.GetValue<int>()), (upright.Width, upright.Height));
        Assert.Equal(ImageFixtures.Bytes($"exif/{name}.bin"), upright.Pixels);

        var stored = ImageCodec.Decode(File.ReadAllBytes(path), name);   // dataset bytes: as stored
        Assert.Equal(ImageFixtures.Bytes($"exif/{name}.raw.bin"), stored.Pixels);
    }

    [Fact]
    public void MissingOrBrokenExifMeansNoTurn()
    {
        var jpeg = ImageFixtures.Bytes("exif/orientation6.jpg");
        Assert.Null(ImageOrientation.Read(ImageFixtures.Bytes("inputs/photo.jpg")));
        int app1 = jpeg.AsSpan().IndexOf("Exif\0\0"u8) - 4;
        var truncated = jpeg[..(app1 + 12)];                              // the APP1 segment cut short
        Assert.Null(ImageOrientation.Read(truncated));
        Assert.Null(ImageOrientation.Read(new byte[] { 1, 2, 3 }));
    }
}
