using System.Diagnostics;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;

namespace TokenSieve.Lab.Training;

/// <summary>Everything that decides a training run. The step counts are sized for the 45-minute
/// budget on this 2-core machine. A 2000 + 5000-step run took 294 s + 750 s (0.147 s per vision step
/// of 16 images, 0.150 s per decoder step of 8 conversations × 8 turns, light other load) and its
/// decoder loss was still falling steeply, so the defaults spend the rest of the budget on the
/// decoder: 2500 + 10000 steps ≈ 31 min, leaving time for validation and test. Two stages, as CLIP → LLaVA: (1) the vision
/// tower alone with the [CLS] objective (<see cref="ClsObjective"/>); (2) projector + decoder on
/// multi-turn question answering, with the tower frozen when <see cref="VisionTuneLrScale"/> is 0
/// (the default, LLaVA-1.5's choice) or tuned at that fraction of the decoder learning rate.</summary>
public sealed record LabTrainingOptions
{
    public ulong Seed { get; init; } = LabDataset.DefaultSeed;
    public LabModelConfig Model { get; init; } = LabModelConfig.Default;
    public int VisionSteps { get; init; } = 2500;
    public int VisionBatch { get; init; } = 16;
    public float VisionLr { get; init; } = 2e-3f;
    public int DecoderSteps { get; init; } = 10000;
    public int DecoderBatch { get; init; } = 8;
    public int TurnsPerConversation { get; init; } = 8;
    public float DecoderLr { get; init; } = 2e-3f;
    public float VisionTuneLrScale { get; init; }
    public int WarmupSteps { get; init; } = 100;
    public float GradClip { get; init; } = 1f;
    /// <summary>Weight of the dense per-patch objective (<see cref="PatchObjective"/>, averaged over
    /// patches) in stage 1, next to the [CLS] objective (summed over its ~230 outputs); 0 trains
    /// with [CLS] only.</summary>
    public float PatchObjectiveWeight { get; init; } = 12f;
    /// <summary>Scale of the [CLS] objective's digit terms. Measured: with the patch objective on,
    /// [CLS] attention of the last layer collapses onto the card (PruMerge keeps 6–9 patches on card
    /// scenes, 0–2 otherwise); [CLS]-only training kept 2–16, tracking the object count.</summary>
    public float ClsDigitWeight { get; init; } = 1f;
    /// <summary>Fixed number of gradient shards: item i of a batch goes to shard i mod G, shards
    /// are summed in order 0..G−1, so results are bit-identical for any thread count.</summary>
    public int GradientShards { get; init; } = 4;
    /// <summary>Report progress (with the running loss) every this many steps.</summary>
    public int ReportEvery { get; init; } = 10;
}

/// <summary>A progress report: the stage ("vision", "decoder", "validation", "test"), the step within
/// it, the running loss (training stages) and, for evaluation, the suite result in <see cref="Detail"/>.</summary>
public sealed record LabTrainingProgress(string Stage, int Step, int TotalSteps, float Loss, double ElapsedSeconds, double SecondsPerStep, string? Detail = null);

/// <summary>The lab trainer. Deterministic for a given <see cref="LabTrainingOptions"/>: data are
/// pure functions of (seed, index), initialisation comes from the seed, and gradients are
/// reduced in a fixed order.</summary>
public sealed class LabTrainer
{
    readonly LabTrainingOptions _o;
    readonly Worker[] _workers;
    public LabModel Model { get; }

    sealed class Worker(LabModelConfig c, int paramCount, int maxLength)
    {
        public readonly VisionActivations Vision = new(c);
        public readonly ProjectorActivations Projector = new(c);
        public readonly DecoderActivations Decoder = new(c, maxLength);
        public readonly float[] Grads = new float[paramCount];
        public readonly float[] Pixels = new float[3 * c.ImageSize * c.ImageSize];
        public readonly float[] DTop = new float[c.VisionTokens * c.VisionHidden];
        public readonly float[] ClsLogits = new float[ClsObjective.Outputs], ClsDLogits = new float[ClsObjective.Outputs];
        public readonly float[] PatchLogits = new float[c.NumPatches * PatchObjective.Outputs], PatchDLogits = new float[c.NumPatches * PatchObjective.Outputs];
        public readonly float[] DFeature = new float[c.VisionTokens * c.VisionHidden];
        public readonly float[] DLogits = new float[maxLength * c.VocabSize];
        public readonly float[] DImage = new float[c.NumPatches * c.TextHidden];
        public double Loss;
    }

    public LabTrainer(LabTrainingOptions options, LabModel? model = null)
    {
        _o = options;
        Model = model ?? new LabModel(options.Model);
        if (model is null) Model.Initialise(LabRandom.Mix(options.Seed, 0x1A17UL));
        _workers = Enumerable.Range(0, options.GradientShards)
            .Select(_ => new Worker(Model.Config, Model.Parameters.Count, Model.Config.MaxPositions)).ToArray();
    }

    /// <summary>Vision tensors that hidden_states[feature layer] depends on; the last layer,
    /// post_layernorm and the [CLS] head get no gradient in stage 2 and must not decay there.</summary>
    bool UsedByFeatures(ParameterInfo p)
    {
        if (!p.Name.StartsWith("vision_tower.", StringComparison.Ordinal) || p.Name.StartsWith(Checkpoints.TensorNames.PostLayerNorm, StringComparison.Ordinal)) return false;
        for (int l = Model.Config.FeatureLayers; l < Model.Config.VisionLayers; l++)
            if (p.Name.StartsWith(Checkpoints.TensorNames.VisionLayer(l), StringComparison.Ordinal)) return false;
        return true;
    }

    static bool IsVision(ParameterInfo p) => p.Name.StartsWith("vision_tower.", StringComparison.Ordinal) || p.Name.StartsWith("lab.", StringComparison.Ordinal);

    /// <summary>Runs both stages.</summary>
    public void Train(IProgress<LabTrainingProgress>? progress = null, CancellationToken ct = default)
    {
        TrainVision(progress, ct);
        TrainDecoder(progress, ct);
    }

    float LearningRate(float peak, int step, int total)
    {
        if (step < _o.WarmupSteps) return peak * (step + 1) / _o.WarmupSteps;
        double t = (step - _o.WarmupSteps) / (double)Math.Max(1, total - _o.WarmupSteps);
        return (float)(peak * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * t))));
    }

    /// <summary>Stage 1: the tower (all layers) + [CLS] head on <see cref="ClsObjective"/>.</summary>
    public void TrainVision(IProgress<LabTrainingProgress>? progress = null, CancellationToken ct = default)
    {
        var c = Model.Config;
        var adam = new AdamW(Model.Parameters);
        var sw = Stopwatch.StartNew();
        double runLoss = 0;
        int runCount = 0;
        for (int step = 0; step < _o.VisionSteps; step++)
        {
            ct.ThrowIfCancellationRequested();
            int batch = _o.VisionBatch;
            float weight = 1f / batch;
            RunShards(batch, (w, item) =>
            {
                var scene = LabDataset.TrainingScene(_o.Seed, step * batch + item);
                LabImage.ToPixelValues(scene.Render(), c.ImageSize, w.Pixels);
                Model.VisionForward(w.Pixels, w.Vision, c.VisionLayers);
                Model.ClsHeadForward(w.Vision, w.ClsLogits);
                w.Loss += ClsObjective.LossAndGradient(w.ClsLogits, scene, weight, w.ClsDLogits, _o.ClsDigitWeight) * weight;
                Model.ClsHeadBackward(w.ClsDLogits, w.Vision, w.DTop, w.Grads);
                if (_o.PatchObjectiveWeight > 0)
                {
                    float pw = weight * _o.PatchObjectiveWeight / c.NumPatches;
                    Model.PatchHeadForward(w.Vision, w.PatchLogits);
                    var targets = PatchObjective.Targets(scene, c.ImageSize, c.PatchSize);
                    w.Loss += PatchObjective.LossAndGradient(w.PatchLogits, targets, pw, w.PatchDLogits) * pw;
                    Model.PatchHeadBackward(w.PatchDLogits, w.Vision, w.DFeature, w.Grads);
                    Model.VisionBackward(w.DTop, w.Vision, c.VisionLayers, w.Grads, w.DFeature, c.FeatureLayers);
                }
                else Model.VisionBackward(w.DTop, w.Vision, c.VisionLayers, w.Grads);
            });
            float loss = Step(adam, LearningRate(_o.VisionLr, step, _o.VisionSteps), IsVision);
            runLoss += loss; runCount++;
            if ((step + 1) % _o.ReportEvery == 0 || step + 1 == _o.VisionSteps)
            {
                progress?.Report(new LabTrainingProgress("vision", step + 1, _o.VisionSteps, (float)(runLoss / runCount), sw.Elapsed.TotalSeconds, sw.Elapsed.TotalSeconds / (step + 1)));
                runLoss = 0; runCount = 0;
            }
        }
    }

    /// <summary>Stage 2: projector + decoder on question answering; the tower is frozen unless
    /// <see cref="LabTrainingOptions.VisionTuneLrScale"/> &gt; 0.</summary>
    public void TrainDecoder(IProgress<LabTrainingProgress>? progress = null, CancellationToken ct = default)
    {
        var c = Model.Config;
        bool tuneVision = _o.VisionTuneLrScale > 0;
        var adam = new AdamW(Model.Parameters);
        var visionAdam = tuneVision ? new AdamW(Model.Parameters) : null;
        var sw = Stopwatch.StartNew();
        double runLoss = 0;
        int runCount = 0;
        int featureLayers = c.FeatureLayers;
        for (int step = 0; step < _o.DecoderSteps; step++)
        {
            ct.ThrowIfCancellationRequested();
            int batch = _o.DecoderBatch;
            var convs = new LabConversation[batch];
            var seqs = new LabSequence[batch];
            int totalTargets = 0;
            for (int i = 0; i < batch; i++)
            {
                int index = step * batch + i;
                convs[i] = LabDataset.TrainingConversation(_o.Seed, index, _o.TurnsPerConversation);
                var style = (index & 1) == 0 ? LabPrompt.ImageSplitStyle.OriginalLlava : LabPrompt.ImageSplitStyle.SpecialToken;
                seqs[i] = LabPrompt.Conversation(convs[i].Turns, c.NumPatches, style);
                totalTargets += seqs[i].Targets.Length;
            }
            float weight = 1f / totalTargets;
            RunShards(batch, (w, item) =>
            {
                var seq = seqs[item];
                LabImage.ToPixelValues(convs[item].Scene.Render(), c.ImageSize, w.Pixels);
                Model.VisionForward(w.Pixels, w.Vision, featureLayers);
                var features = w.Vision.Hidden[featureLayers].AsSpan(c.VisionHidden, c.NumPatches * c.VisionHidden);
                Model.ProjectorForward(features, w.Projector, c.NumPatches);
                Model.BuildInputs(seq.Tokens, w.Projector.Output, w.Decoder);
                Model.DecoderForward(w.Decoder, seq.Tokens.Length, seq.TargetPositions);
                int v = c.VocabSize;
                for (int t = 0; t < seq.Targets.Length; t++)
                    w.Loss += Layers.CrossEntropyForwardBackward(w.Decoder.Logits.AsSpan(t * v, v), seq.Targets[t], weight, w.DLogits.AsSpan(t * v, v)) * weight;
                Model.DecoderBackward(w.DLogits.AsSpan(0, seq.Targets.Length * v), seq.TargetPositions, w.Decoder, w.Grads);
                Model.InputsBackward(seq.Tokens, w.Decoder, w.DImage, w.Grads);
                if (tuneVision)
                {
                    w.Projector.DFeatures.AsSpan().Clear();
                    Model.ProjectorBackward(w.DImage, w.Projector, c.NumPatches, w.Projector.DFeatures, w.Grads);
                    Array.Clear(w.DTop);
                    w.Projector.DFeatures.AsSpan().CopyTo(w.DTop.AsSpan(c.VisionHidden));
                    Model.VisionBackward(w.DTop, w.Vision, featureLayers, w.Grads);
                }
                else Model.ProjectorBackward(w.DImage, w.Projector, c.NumPatches, default, w.Grads);
            });
            float lr = LearningRate(_o.DecoderLr, step, _o.DecoderSteps);
            float loss = Step(adam, lr, p => !IsVision(p), visionAdam, lr * _o.VisionTuneLrScale);
            runLoss += loss; runCount++;
            if ((step + 1) % _o.ReportEvery == 0 || step + 1 == _o.DecoderSteps)
            {
                progress?.Report(new LabTrainingProgress("decoder", step + 1, _o.DecoderSteps, (float)(runLoss / runCount), sw.Elapsed.TotalSeconds, sw.Elapsed.TotalSeconds / (step + 1)));
                runLoss = 0; runCount = 0;
            }
        }
    }

    /// <summary>Items 0..batch−1, item i on shard i mod G, each shard in item order.</summary>
    void RunShards(int batch, Action<Worker, int> work)
    {
        foreach (var w in _workers) { Array.Clear(w.Grads); w.Loss = 0; }
        Parallel.For(0, _workers.Length, s =>
        {
            for (int item = s; item < batch; item += _workers.Length) work(_workers[s], item);
        });
    }

    /// <summary>Sums shard gradients in shard order, clips, updates; returns the batch loss.</summary>
    float Step(AdamW adam, float lr, Func<ParameterInfo, bool> trainable, AdamW? extra = null, float extraLr = 0)
    {
        var g = _workers[0].Grads;
        double loss = _workers[0].Loss;
        for (int s = 1; s < _workers.Length; s++)
        {
            System.Numerics.Tensors.TensorPrimitives.Add(g, _workers[s].Grads, g);
            loss += _workers[s].Loss;
        }
        Func<ParameterInfo, bool> all = extra is null ? trainable : p => true;
        AdamW.ClipGradNorm(Model.Parameters, g, _o.GradClip, all);
        adam.Update(g, lr, trainable);
        extra?.Update(g, extraLr, UsedByFeatures);
        Model.RefreshTransposed();
        return (float)loss;
    }
}
