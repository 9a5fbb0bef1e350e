namespace TokenSieve.Lab.Scenes;

/// <summary>CLIPImageProcessor's steps for an image already at the model's size (no resize, the
/// centre crop is a no-op): float32(u8 · (1/255)), then (x − mean)/std, HWC → CHW.</summary>
public static class LabImage
{
    public static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    public static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];
    public const double RescaleFactor = 0.00392156862745098;

    public static float[] ToPixelValues(byte[] rgb, int size)
    {
        if (rgb.Length != size * size * 3) throw new ArgumentException($"image has {rgb.Length} bytes, expected {size}×{size}×3");
        var chw = new float[3 * size * size];
        ToPixelValues(rgb, size, chw);
        return chw;
    }

    public static void ToPixelValues(byte[] rgb, int size, Span<float> chw)
    {
        int plane = size * size;
        for (int p = 0; p < plane; p++)
            for (int c = 0; c < 3; c++)
            {
                float x = (float)(rgb[p * 3 + c] * (float)RescaleFactor);
                chw[c * plane + p] = (x - ClipMean[c]) / ClipStd[c];
            }
    }
}
