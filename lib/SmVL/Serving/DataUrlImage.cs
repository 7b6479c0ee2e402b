using SmVL.Processing;

namespace SmVL.Serving;

/// <summary>
/// An image sent inline as a base64 <c>data:</c> URL. The server never fetches a URL or opens a
/// path named by a request: anything else is refused. The header's size is checked before decoding.
/// </summary>
public static class DataUrlImage
{
    public static RgbImage Decode(string url, string param, long maxPixels)
    {
        const string scheme = "data:";
        int comma = url.IndexOf(',');
        if (!url.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || comma < 0 || !url[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            throw ApiException.BadRequest("only base64 data URLs (data:image/...;base64,...) are accepted; this server fetches nothing", param, "invalid_image_url");
        byte[] bytes;
        try { bytes = Convert.FromBase64String(url[(comma + 1)..]); }
        catch (FormatException) { throw ApiException.BadRequest("the data URL is not valid base64", param, "invalid_image_format"); }
        if (ImageCodec.Dimensions(bytes) is var (w, h) && w * h > maxPixels)
            throw ApiException.BadRequest($"the image is {w}x{h} = {w * h:N0} pixels, over this server's {maxPixels:N0}-pixel limit", param, "image_too_large");
        try { return ImageCodec.DecodeUpright(bytes, param).ToRgb(); }
        catch (ImageDecodeException e) { throw ApiException.BadRequest(e.Message, param, "invalid_image_format"); }
    }
}
