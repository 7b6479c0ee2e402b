namespace SmVL.Processing;

/// <summary>
/// SmolVLM's slow (PIL) image processor, <c>SmolVLMImageProcessor.preprocess</c> for one image, in
/// transformers' order: resize the longest edge to size.longest_edge (uint8, PIL) → resize both sides
/// up to multiples of max_image_size (uint8, PIL) → split into row-major tiles, global image resized
/// to max×max appended last (uint8, PIL) → convert_to_rgb per crop → rescale (float64 product cast to
/// float32) → normalize (float32). Without splitting the image is resized straight to max×max.
/// Padding is a no-op for one image: every crop is already max×max.
/// </summary>
public sealed class ImageProcessor
{
    /// <summary>transformers' MAX_IMAGE_SIZE: no side exceeds 4k after the first resize.</summary>
    private const int AbsoluteMaxSide = 4096;

    private readonly float[][] _lut; // per channel: byte value → final float, exactly as numpy computes it

    public ImageProcessorConfig Config { get; }

    public ImageProcessor(ImageProcessorConfig config)
    {
        if (config.Resample is not (PilResample.Lanczos or PilResample.Nearest))
            throw new NotSupportedException($"resample {(int)config.Resample} ({config.Resample}): only LANCZOS (1) and NEAREST (0) are implemented");
        if (config.ImageMean.Length != 3 || config.ImageStd.Length != 3)
            throw new ArgumentException("image_mean and image_std need 3 values", nameof(config));
        Config = config;
        _lut = new float[3][];
        for (int c = 0; c < 3; c++)
        {
            _lut[c] = new float[256];
            float mean = (float)config.ImageMean[c], std = (float)config.ImageStd[c];
            for (int v = 0; v < 256; v++)
            {
                float x = config.DoRescale ? (float)(v * config.RescaleFactor) : v;
                _lut[c][v] = config.DoNormalize ? (x - mean) / std : x;
            }
        }
    }

    /// <summary>
    /// For images that are RGB to begin with. An <see cref="RgbImage"/> from <see cref="ImageCodec.Decode"/>
    /// has alpha composited already; to match transformers on RGBA, grey or palette files, pass the
    /// <see cref="ImageCodec.DecodeRaw"/> result instead.
    /// </summary>
    public ProcessedImage Process(RgbImage image) => Process(DecodedImage.FromRgb(image));

    public ProcessedImage Process(DecodedImage image)
    {
        if (!Config.DoConvertRgb && image.Mode != PilMode.Rgb)
            throw new NotSupportedException($"do_convert_rgb is false but the image is {image.Mode}; only RGB images can skip conversion");
        int max = Config.MaxImageSize;
        image = Resized(image);
        var crops = new List<DecodedImage>();
        int rows = 0, cols = 0;
        if (Splits(image))
        {
            var (w, h) = (image.Width, image.Height);
            rows = CeilDiv(h, max);
            cols = CeilDiv(w, max);
            int th = CeilDiv(h, rows), tw = CeilDiv(w, cols);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    crops.Add(image.Crop(c * tw, r * th, Math.Min(tw, w - c * tw), Math.Min(th, h - r * th)));
        }
        crops.Add(GlobalCrop(image));
        return Pack(crops, rows, cols);
    }

    /// <summary>
    /// The image for an engine that cuts its own crops (llama.cpp's mtmd): the resized image the tiles
    /// are cut from (null when this image is not split), from which it cuts exactly SmVL's tiles with no
    /// resize of its own, and SmVL's global crop as its own max×max image, so the engine never has to
    /// resample the whole image with a filter other than PIL's.
    /// </summary>
    public EngineImage ForEngine(RgbImage image)
    {
        var resized = Resized(DecodedImage.FromRgb(image));
        return new EngineImage(Splits(resized) ? resized.ToRgb() : null, GlobalCrop(resized).ToRgb());
    }

    /// <summary>Whether the resized image is cut into tiles (splitting on and a side over max_image_size).</summary>
    private bool Splits(DecodedImage resized) =>
        Config.DoImageSplitting && (resized.Height > Config.MaxImageSize || resized.Width > Config.MaxImageSize);

    /// <summary>The last crop: the whole resized image at max×max (already that size when splitting leaves it whole).</summary>
    private DecodedImage GlobalCrop(DecodedImage resized) =>
        Config.DoImageSplitting && !Splits(resized) ? resized : ImageProcessorResize.Resize(resized, Config.MaxImageSize, Config.MaxImageSize, Config.Resample);

    private DecodedImage Resized(DecodedImage image)
    {
        if (Config.DoResize)
        {
            var (w, h) = ResizeTarget(image.Width, image.Height, Config.LongestEdge);
            image = ImageProcessorResize.Resize(image, w, h, Config.Resample);
        }
        if (Config.DoImageSplitting)
        {
            var (w, h) = VisionEncoderTarget(image.Width, image.Height, Config.MaxImageSize);
            image = ImageProcessorResize.Resize(image, w, h, Config.Resample);
        }
        return image;
    }

    /// <summary>Tile grid (rows, cols) for an image of this size, without touching pixels; (0, 0) when unsplit.</summary>
    public (int Rows, int Cols) Grid(int width, int height)
    {
        if (Config.DoResize) (width, height) = ResizeTarget(width, height, Config.LongestEdge);
        if (!Config.DoImageSplitting) return (0, 0);
        var (w, h) = VisionEncoderTarget(width, height, Config.MaxImageSize);
        return h > Config.MaxImageSize || w > Config.MaxImageSize ? (CeilDiv(h, Config.MaxImageSize), CeilDiv(w, Config.MaxImageSize)) : (0, 0);
    }

    /// <summary>
    /// _resize_output_size_rescale_to_max_len then _resize_output_size_scale_below_upper_bound:
    /// longest side := longestEdge (small images are upscaled), the other side truncated and bumped
    /// to even; then capped at 4096.
    /// </summary>
    public static (int Width, int Height) ResizeTarget(int width, int height, int longestEdge)
    {
        double aspect = (double)width / height;
        if (width >= height)
        {
            width = longestEdge;
            height = (int)(width / aspect);
            if (height % 2 != 0) height++;
        }
        else
        {
            height = longestEdge;
            width = (int)(height * aspect);
            if (width % 2 != 0) width++;
        }
        height = Math.Max(height, 1);
        width = Math.Max(width, 1);
        aspect = (double)width / height;
        if (width >= height && width > AbsoluteMaxSide)
        {
            width = AbsoluteMaxSide;
            height = (int)(width / aspect);
        }
        else if (height > width && height > AbsoluteMaxSide)
        {
            height = AbsoluteMaxSide;
            width = (int)(height * aspect);
        }
        return (Math.Max(width, 1), Math.Max(height, 1));
    }

    /// <summary>resize_for_vision_encoder: both sides rounded up to multiples of max (aspect not kept).</summary>
    public static (int Width, int Height) VisionEncoderTarget(int width, int height, int max)
    {
        double aspect = (double)width / height;
        if (width >= height)
        {
            width = (int)Math.Ceiling((double)width / max) * max;
            height = (int)(width / aspect);
            height = (int)Math.Ceiling((double)height / max) * max;
        }
        else
        {
            height = (int)Math.Ceiling((double)height / max) * max;
            width = (int)(height * aspect);
            width = (int)Math.Ceiling((double)width / max) * max;
        }
        return (width, height);
    }

    private static int CeilDiv(int a, int b) => (int)Math.Ceiling((double)a / b);

    /// <summary>convert_to_rgb, rescale and normalize each crop into one [N, 3, H, W] buffer.</summary>
    private ProcessedImage Pack(List<DecodedImage> crops, int rows, int cols)
    {
        int h = crops[0].Height, w = crops[0].Width, plane = h * w;
        if (crops.Any(c => c.Height != h || c.Width != w))
            throw new InvalidOperationException($"crops differ in size ({string.Join(", ", crops.Select(c => $"{c.Width}x{c.Height}"))}); a batch pad would be needed");
        var values = new float[crops.Count * 3 * plane];
        for (int n = 0; n < crops.Count; n++)
        {
            var rgb = crops[n].ToRgb().Pixels;
            int baseIndex = n * 3 * plane;
            for (int c = 0; c < 3; c++)
            {
                var lut = _lut[c];
                int o = baseIndex + c * plane;
                for (int i = 0; i < plane; i++) values[o + i] = lut[rgb[i * 3 + c]];
            }
        }
        return new ProcessedImage(values, crops.Count, h, w, rows, cols);
    }
}
