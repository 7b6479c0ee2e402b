using System.Net;
using System.Text;
using SmVL.Evaluation;

namespace SmVL.Plots;

/// <summary>One held-out image with its question, the reference answer and what each model said.</summary>
/// <param name="Png">the image as PNG bytes (TinyWorld's parquet stores PNG)</param>
/// <param name="Predictions">(model name, its answer) in the order to show them</param>
public sealed record GalleryEntry(byte[] Png, string Question, string Answer, IReadOnlyList<(string Model, string Prediction)> Predictions);

/// <summary>
/// Held-out images as an HTML grid of figures: the picture (pixelated, it is tiny), the question,
/// the reference answer and each model's answer, green where it matches (<see cref="VqaAccuracy.Matches"/>)
/// and red where not. Several models per image put the blind model next to the working one.
/// </summary>
public static class Gallery
{
    public static string Html(IEnumerable<GalleryEntry> entries, int imagePixels = 128)
    {
        var sb = new StringBuilder("<div>");
        foreach (var e in entries)
        {
            sb.Append($"<figure style=\"display:inline-block;margin:6px;width:{imagePixels + 40}px;vertical-align:top\">")
              .Append($"<img src=\"data:image/png;base64,{Convert.ToBase64String(e.Png)}\" style=\"width:{imagePixels}px;image-rendering:pixelated\"/>")
              .Append($"<figcaption>{Enc(e.Question)}<br/>answer: <b>{Enc(e.Answer)}</b>");
            foreach (var (model, prediction) in e.Predictions)
            {
                string colour = VqaAccuracy.Matches(prediction, e.Answer) ? "green" : "crimson";
                sb.Append($"<br/>{Enc(model)}: <b style=\"color:{colour}\">{Enc(prediction.Length == 0 ? "(nothing)" : prediction)}</b>");
            }
            sb.Append("</figcaption></figure>");
        }
        return sb.Append("</div>").ToString();
    }

    private static string Enc(string s) => WebUtility.HtmlEncode(s);
}
