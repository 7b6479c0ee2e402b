using SmVL.Training;
using static TorchSharp.torch;

namespace SmVL.Processing;

/// <summary>Which tokens carry loss. FullText is Qwen3-SmVL's (mask only pad and image tokens).</summary>
public enum LabelPolicy { FullText, AssistantOnly }

/// <summary>One conversation with its images, ready to collate.</summary>
public sealed record ProcessedSample(long[] InputIds, long[] Labels, IReadOnlyList<ProcessedImage> Images);

/// <summary>Thrown (or counted) when truncation would cut into an image's tokens.</summary>
public sealed class SampleTooLongException(int length, int maxLength, int? index = null)
    : Exception($"{(index is { } i ? $"sample {i}" : "sample")} needs {length} tokens but max_length is {maxLength}; cutting it would cut image tokens")
{
    public int Length { get; } = length;
    public int MaxLength { get; } = maxLength;
    /// <summary>The sample's position in the list that was checked, when known.</summary>
    public int? Index { get; } = index;
}

/// <summary>What to do with a sample longer than max_length (never cut: that would cut image tokens).</summary>
public enum TooLongPolicy
{
    /// <summary>Throw <see cref="SampleTooLongException"/> (what <see cref="Processor.Collate"/> does).</summary>
    Raise,
    /// <summary>Leave the sample out and count it.</summary>
    Drop,
}

/// <summary>
/// The samples that fit max_length, in their original order, and the ones left out:
/// <see cref="Dropped"/> is their count, <see cref="DroppedIndices"/> their positions in the input.
/// </summary>
public sealed record LengthFiltered(IReadOnlyList<ProcessedSample> Kept, IReadOnlyList<int> DroppedIndices)
{
    public int Dropped => DroppedIndices.Count;
}

/// <summary>
/// Messages + images → model inputs, as SmolVLM's processor does: render the chat template,
/// replace every image token by the tile layout (per tile `&lt;vision_start&gt;&lt;row_r_col_c&gt;` +
/// image_seq_len image tokens, a newline per row, then `\n&lt;vision_start&gt;&lt;|vision_pad|&gt;` +
/// image tokens + `&lt;vision_start&gt;`; the single-image form when unsplit), tokenize, and build labels.
/// One image-token id — <see cref="ImageTokens.ImageTokenId"/> — is used for
/// the expansion check and label masking, and is what the stitcher hands the merger.
/// </summary>
public sealed class Processor
{
    public Tokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }
    public ImageProcessor Images { get; }
    public ImageTokens Tokens { get; }
    /// <summary>Image tokens per tile (processor_config.json `image_seq_len`; (image/patch)²/scale²).</summary>
    public int ImageSeqLen { get; }
    public int PadTokenId { get; }
    public int ImageTokenId => Tokens.ImageTokenId;

    public Processor(Tokenizer tokenizer, ChatTemplate template, ImageProcessor images, ImageTokens tokens, int imageSeqLen, int padTokenId)
    {
        Tokenizer = tokenizer; Template = template; Images = images; Tokens = tokens; ImageSeqLen = imageSeqLen; PadTokenId = padTokenId;
    }

    /// <summary>Replace each image token of a rendered conversation by its image's layout.</summary>
    public string ExpandImages(string rendered, IReadOnlyList<ProcessedImage> images)
    {
        var parts = rendered.Split(Tokens.ImageToken);
        if (parts.Length - 1 != images.Count)
            throw new ArgumentException($"the text has {parts.Length - 1} image tokens but {images.Count} images were given");
        var sb = new System.Text.StringBuilder(parts[0]);
        for (int i = 0; i < images.Count; i++) sb.Append(Tokens.ImagePrompt(images[i].Rows, images[i].Cols, ImageSeqLen)).Append(parts[i + 1]);
        return sb.ToString();
    }

    /// <summary>
    /// Render, expand, tokenize and label one conversation. With <see cref="LabelPolicy.AssistantOnly"/>
    /// only the final assistant turn (the text after the generation prompt) carries loss.
    /// </summary>
    public ProcessedSample Process(IReadOnlyList<ChatMessage> messages, IReadOnlyList<RgbImage> images,
                                   LabelPolicy policy = LabelPolicy.FullText, bool addGenerationPrompt = false,
                                   IDictionary<string, object?>? templateVars = null)
    {
        var processed = images.Select(Images.Process).ToList();
        string text = ExpandImages(Template.Render(messages, addGenerationPrompt, templateVars), processed);
        var ids = Tokenizer.Encode(text).Select(i => (long)i).ToArray();
        long expected = processed.Sum(p => (long)p.NumImages * ImageSeqLen);
        long found = ids.LongCount(i => i == ImageTokenId);
        if (found != expected)
            throw new InvalidOperationException($"{found} image tokens after tokenization, expected {expected} (tiles × image_seq_len)");
        var labels = ids.Select(i => i == ImageTokenId || i == PadTokenId ? -100L : i).ToArray();
        if (policy == LabelPolicy.AssistantOnly && messages.Count > 0 && messages[^1].Role != "assistant")
            Array.Fill(labels, -100L);   // a prompt awaiting its answer: nothing to learn
        else if (policy == LabelPolicy.AssistantOnly)
        {
            var prompt = Template.Render(messages.Take(messages.Count - 1).ToList(), addGenerationPrompt: true, templateVars);
            int promptTokens = Tokenizer.Encode(ExpandImages(prompt, processed)).Count;
            for (int i = 0; i < Math.Min(promptTokens, labels.Length); i++) labels[i] = -100;
        }
        return new ProcessedSample(ids, labels, processed);
    }

    /// <summary>
    /// Right-pad samples to the batch's longest (or to <paramref name="maxLength"/> when
    /// <paramref name="padToMax"/>), as the reference collator did. A sample longer than maxLength
    /// is never cut (that would cut image tokens): it throws <see cref="SampleTooLongException"/>.
    /// To drop and count such samples instead, pass the list through <see cref="FilterByLength"/> first.
    /// </summary>
    public Batch Collate(IReadOnlyList<ProcessedSample> samples, int maxLength = int.MaxValue, bool padToMax = false)
    {
        foreach (var s in samples) if (s.InputIds.Length > maxLength) throw new SampleTooLongException(s.InputIds.Length, maxLength);
        int T = padToMax ? maxLength : samples.Max(s => s.InputIds.Length);
        int B = samples.Count;
        var ids = new long[B * T]; var mask = new long[B * T]; var labels = new long[B * T];
        Array.Fill(ids, (long)PadTokenId); Array.Fill(labels, -100L);
        for (int b = 0; b < B; b++)
        {
            var s = samples[b];
            Array.Copy(s.InputIds, 0, ids, b * T, s.InputIds.Length);
            Array.Copy(s.Labels, 0, labels, b * T, s.Labels.Length);
            Array.Fill(mask, 1L, b * T, s.InputIds.Length);
        }
        return new Batch(tensor(ids, new long[] { B, T }), tensor(mask, new long[] { B, T }), tensor(labels, new long[] { B, T }), PixelValues(samples));
    }

    /// <summary>
    /// Check samples against <paramref name="maxLength"/> before <see cref="Collate"/>: a sample
    /// longer than that is never cut; with <see cref="TooLongPolicy.Drop"/> it is left out and
    /// counted, with <see cref="TooLongPolicy.Raise"/> it throws <see cref="SampleTooLongException"/>
    /// (naming its index). Kept may be empty (Collate needs at least one sample).
    /// </summary>
    public static LengthFiltered FilterByLength(IReadOnlyList<ProcessedSample> samples, int maxLength, TooLongPolicy policy = TooLongPolicy.Drop)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var kept = new List<ProcessedSample>(samples.Count);
        var dropped = new List<int>();
        for (int i = 0; i < samples.Count; i++)
        {
            int length = samples[i].InputIds.Length;
            if (length <= maxLength) kept.Add(samples[i]);
            else if (policy == TooLongPolicy.Raise) throw new SampleTooLongException(length, maxLength, i);
            else dropped.Add(i);
        }
        return new LengthFiltered(kept, dropped);
    }

    /// <summary>(B, N_max, 3, H, W), padding images all zeros (the model drops those), or null without images.</summary>
    public static Tensor? PixelValues(IReadOnlyList<ProcessedSample> samples)
    {
        var all = samples.SelectMany(s => s.Images).ToList();
        if (all.Count == 0) return null;
        int n = samples.Max(s => s.Images.Sum(i => i.NumImages)), H = all[0].Height, W = all[0].Width;
        var data = new float[samples.Count * n * 3 * H * W];
        for (int b = 0; b < samples.Count; b++)
        {
            int offset = b * n * 3 * H * W;
            foreach (var img in samples[b].Images)
            {
                if (img.Height != H || img.Width != W) throw new ArgumentException($"tiles of {img.Width}×{img.Height} and {W}×{H} cannot share a batch");
                Array.Copy(img.PixelValues, 0, data, offset, img.PixelValues.Length);
                offset += img.PixelValues.Length;
            }
        }
        return tensor(data, new long[] { samples.Count, n, 3, H, W });
    }
}
