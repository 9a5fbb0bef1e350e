namespace TokenSieve.Lab.Training;

/// <summary>AdamW (decoupled weight decay, Loshchilov &amp; Hutter) with bias correction, over the
/// flat parameter buffer. Decay applies only to tensors marked <see cref="ParameterInfo.Decay"/>
/// (matrices, not norms, biases or embeddings). Parameters outside <paramref name="trainable"/>
/// are left untouched (a frozen vision tower).</summary>
public sealed class AdamW(LabParameters parameters, float beta1 = 0.9f, float beta2 = 0.95f, float eps = 1e-8f, float weightDecay = 0.05f)
{
    readonly float[] _m = new float[parameters.Count], _v = new float[parameters.Count];
    public int Step { get; private set; }

    public void Update(float[] grads, float lr, Func<ParameterInfo, bool> trainable)
    {
        Step++;
        float c1 = 1f - MathF.Pow(beta1, Step), c2 = 1f - MathF.Pow(beta2, Step);
        var data = parameters.Data;
        foreach (var p in parameters.List)
        {
            if (!trainable(p)) continue;
            float wd = p.Decay ? weightDecay : 0f;
            for (int i = p.Offset; i < p.Offset + p.Length; i++)
            {
                float g = grads[i];
                _m[i] = beta1 * _m[i] + (1 - beta1) * g;
                _v[i] = beta2 * _v[i] + (1 - beta2) * g * g;
                float mh = _m[i] / c1, vh = _v[i] / c2;
                data[i] -= lr * (mh / (MathF.Sqrt(vh) + eps) + wd * data[i]);
            }
        }
    }

    /// <summary>Scales grads so their global L2 norm (over trainable tensors) is at most maxNorm; returns the norm before clipping.</summary>
    public static float ClipGradNorm(LabParameters parameters, float[] grads, float maxNorm, Func<ParameterInfo, bool> trainable)
    {
        double sum = 0;
        foreach (var p in parameters.List)
            if (trainable(p))
                for (int i = p.Offset; i < p.Offset + p.Length; i++) sum += (double)grads[i] * grads[i];
        float norm = (float)Math.Sqrt(sum);
        if (norm > maxNorm)
        {
            float s = maxNorm / norm;
            foreach (var p in parameters.List)
                if (trainable(p))
                    for (int i = p.Offset; i < p.Offset + p.Length; i++) grads[i] *= s;
        }
        return norm;
    }
}
