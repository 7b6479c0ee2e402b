namespace SmVL.Processing;

/// <summary>
/// An image as <see cref="ImageProcessor.ForEngine"/> hands it to an engine that cuts its own crops:
/// the resized image SmVL cuts its tiles from (null when SmVL does not split it) and SmVL's global crop.
/// </summary>
public sealed record EngineImage(RgbImage? Tiling, RgbImage Global);
