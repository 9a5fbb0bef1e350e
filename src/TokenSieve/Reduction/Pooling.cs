using System.Numerics.Tensors;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>Where average pooling runs.</summary>
public enum PoolStage
{
    /// <summary>Default (METHODS §4): on the projector outputs (LLM input embeddings).</summary>
    Post,

    /// <summary>On the CLIP features, before the projector.</summary>
    Pre,
}

/// <summary>`pool:K[,stage=pre|post]` (METHODS §4, canonical): average pooling of the patch grid
/// to an Ho×Wo grid with Ho·Wo = K. Exact non-overlapping w×w windows where the grid tiles;
/// otherwise PyTorch adaptive_avg_pool2d bins [⌊i·H/Ho⌋, ⌈(i+1)·H/Ho⌉) on the most square
/// Ho ≥ Wo factorisation (192 → 16×12, 128 → 16×8). Output in raster order of the pooled grid.</summary>
public sealed class PoolingReducer : IVisualReducer
{
    public int Budget { get; }

    public PoolStage Stage { get; }

    public int? FixedBudget => Budget;

    public IVisualReducer? WithBudget(int keep) => new PoolingReducer(keep, Stage);

    public string Name => Stage == PoolStage.Post ? $"pool:{Budget}" : $"pool:{Budget},stage=pre";

    public VisionNeeds Needs => Stage == PoolStage.Post ? VisionNeeds.Projector : VisionNeeds.None;

    public PoolingReducer(int budget, PoolStage stage = PoolStage.Post)
    {
        if (budget < 1) throw new MethodSpecException($"pool:{budget}", "budget must be at least 1");
        Budget = budget;
        Stage = stage;
    }

    /// <summary>The pooled grid for a budget: square windows when some factorisation tiles the grid
    /// with w×w windows, else the most square factorisation with Ho ≥ Wo that fits.</summary>
    public static (int Rows, int Cols) OutputGrid(int gh, int gw, int budget, string spec)
    {
        (int, int)? best = null;
        for (int ho = 1; ho <= gh; ho++)
        {
            if (budget % ho != 0) continue;
            int wo = budget / ho;
            if (wo > gw) continue;
            if (gh % ho == 0 && gw % wo == 0 && gh / ho == gw / wo) return (ho, wo);
        }
        // most square, preferring Ho ≥ Wo (taller bins first, as METHODS §4 assumes)
        (int Wide, int Gap) bestKey = (int.MaxValue, int.MaxValue);
        for (int ho = 1; ho <= gh; ho++)
        {
            if (budget % ho != 0) continue;
            int wo = budget / ho;
            if (wo > gw) continue;
            var key = (ho < wo ? 1 : 0, Math.Abs(ho - wo));
            if (key.CompareTo(bestKey) < 0) (best, bestKey) = ((ho, wo), key);
        }
        return best ?? throw new MethodSpecException(spec, $"budget {budget} cannot be written as Ho×Wo with Ho ≤ {gh}, Wo ≤ {gw}");
    }

    /// <summary>PyTorch adaptive pooling bin [start, end) for output cell i of o over n inputs.</summary>
    public static (int Start, int End) AdaptiveBin(int i, int o, int n) => (i * n / o, ((i + 1) * n + o - 1) / o);

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        input.Validate(Needs, Name);
        int n = input.PatchCount, gh = input.GridHeight, gw = input.GridWidth;
        NoReduction.CheckBudget(Name, Budget, n);
        var (ho, wo) = OutputGrid(gh, gw, Budget, Name);
        float[] source = input.Features;
        int width = input.Channels;
        if (Stage == PoolStage.Post) source = input.ProjectRows(input.Features, n, Name, out width);

        var tokens = new float[ho * wo * width];
        var prov = new TokenProvenance[ho * wo];
        for (int i = 0; i < ho; i++)
        {
            var (r0, r1) = AdaptiveBin(i, ho, gh);
            for (int j = 0; j < wo; j++)
            {
                var (c0, c1) = AdaptiveBin(j, wo, gw);
                int count = (r1 - r0) * (c1 - c0);
                var y = tokens.AsSpan((i * wo + j) * width, width);
                var patches = new int[count];
                int s = 0;
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                    {
                        int p = r * gw + c;
                        patches[s++] = p;
                        TensorPrimitives.Add(y, source.AsSpan(p * width, width), y);
                    }
                TensorPrimitives.Multiply(y, 1f / count, y);
                prov[i * wo + j] = new TokenProvenance(patches, Enumerable.Repeat(1f / count, count).ToArray());
            }
        }
        return new ReductionResult
        {
            Tokens = tokens,
            TokenCount = ho * wo,
            Width = width,
            AlreadyProjected = Stage == PoolStage.Post,
            KeptIndices = [],
            Provenance = prov,
            GridHeight = gh,
            GridWidth = gw,
        };
    }
}
