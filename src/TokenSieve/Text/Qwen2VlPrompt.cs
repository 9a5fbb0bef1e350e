using System.Text;

namespace TokenSieve.Text;

public enum Qwen2VlPartKind
{
    Text,
    Image,
    Video,
}

/// <summary>One content part of a message: text, or the place of an image or a video.</summary>
public sealed record Qwen2VlPart(Qwen2VlPartKind Kind, string Text = "")
{
    public static Qwen2VlPart FromText(string text) => new(Qwen2VlPartKind.Text, text ?? throw new ArgumentNullException(nameof(text)));
    public static Qwen2VlPart Image { get; } = new(Qwen2VlPartKind.Image);
    public static Qwen2VlPart Video { get; } = new(Qwen2VlPartKind.Video);
}

/// <summary>A chat message: a role (<c>system</c>, <c>user</c>, <c>assistant</c>, …) and its parts in order. A plain
/// string content renders exactly as one text part.</summary>
public sealed record Qwen2VlMessage(string Role, IReadOnlyList<Qwen2VlPart> Content)
{
    public static Qwen2VlMessage System(string text) => new("system", [Qwen2VlPart.FromText(text)]);
    public static Qwen2VlMessage User(string text) => new("user", [Qwen2VlPart.FromText(text)]);
    public static Qwen2VlMessage User(params Qwen2VlPart[] parts) => new("user", parts);
    public static Qwen2VlMessage Assistant(string text) => new("assistant", [Qwen2VlPart.FromText(text)]);
}

/// <summary>A run of identical placeholder ids in <see cref="Qwen2VlPromptIds.Ids"/>: the rows one image's (or
/// video's) merged visual tokens replace.</summary>
public readonly record struct Qwen2VlPadRun(int Start, int Length);

/// <summary>The prompt as the model takes it. <see cref="Text"/> is the chat template's output (one
/// <c>&lt;|image_pad|&gt;</c> per image); <see cref="Ids"/> has each pad expanded to its image's token count, and
/// <see cref="ImagePadRuns"/> / <see cref="VideoPadRuns"/> say where, one run per image / video in prompt order.</summary>
public sealed record Qwen2VlPromptIds(int[] Ids, string Text, IReadOnlyList<Qwen2VlPadRun> ImagePadRuns, IReadOnlyList<Qwen2VlPadRun> VideoPadRuns);

/// <summary>The Qwen2-VL chat template (Qwen2-VL-Instruct's tokenizer_config.json, as transformers' Jinja
/// renders it) and the processor's expansion of the vision placeholders:
/// <list type="bullet">
/// <item>if the first message is not a system message, <c>&lt;|im_start|&gt;system\nYou are a helpful
/// assistant.&lt;|im_end|&gt;\n</c> comes first;</item>
/// <item>each message is <c>&lt;|im_start|&gt;{role}\n</c>, its parts, <c>&lt;|im_end|&gt;\n</c>; a text part is its
/// text verbatim, an image <c>&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;</c>, a video the same with
/// <c>&lt;|video_pad|&gt;</c>; with add_vision_id each is preceded by <c>Picture N: </c> / <c>Video N: </c>, numbered
/// across the whole conversation;</item>
/// <item>with add_generation_prompt, <c>&lt;|im_start|&gt;assistant\n</c> ends the prompt.</item>
/// </list>
/// Then, as <c>Qwen2VLProcessor</c> does, the k-th <c>&lt;|image_pad|&gt;</c> becomes n_k copies (n = t·h·w / merge²
/// of that image's grid). The expansion works on the ids: every pad id stands for one image, including one
/// typed literally in the text, as in the reference; a count mismatch is an error.</summary>
public static class Qwen2VlPrompt
{
    public const string DefaultSystemPrompt = "You are a helpful assistant.";
    public const string ImStart = "<|im_start|>", ImEnd = "<|im_end|>";
    public const string VisionStart = "<|vision_start|>", VisionEnd = "<|vision_end|>";
    public const string ImagePad = "<|image_pad|>", VideoPad = "<|video_pad|>";

    /// <summary>The chat template's text.</summary>
    public static string Render(IReadOnlyList<Qwen2VlMessage> messages, bool addGenerationPrompt = true, bool addVisionId = false)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new StringBuilder();
        int images = 0, videos = 0;
        for (int m = 0; m < messages.Count; m++)
        {
            var message = messages[m] ?? throw new InvalidInputException($"message {m} is null");
            if (string.IsNullOrEmpty(message.Role)) throw new InvalidInputException($"message {m} has no role");
            if (message.Content is null) throw new InvalidInputException($"message {m} ({message.Role}) has no content");
            if (m == 0 && message.Role != "system") sb.Append(ImStart).Append("system\n").Append(DefaultSystemPrompt).Append(ImEnd).Append('\n');
            sb.Append(ImStart).Append(message.Role).Append('\n');
            for (int p = 0; p < message.Content.Count; p++)
            {
                var part = message.Content[p] ?? throw new InvalidInputException($"message {m} part {p} is null");
                switch (part.Kind)
                {
                    case Qwen2VlPartKind.Text:
                        sb.Append(part.Text ?? throw new InvalidInputException($"message {m} part {p}: the text is null"));
                        break;
                    case Qwen2VlPartKind.Image:
                        images++;
                        if (addVisionId) sb.Append("Picture ").Append(images).Append(": ");
                        sb.Append(VisionStart).Append(ImagePad).Append(VisionEnd);
                        break;
                    case Qwen2VlPartKind.Video:
                        videos++;
                        if (addVisionId) sb.Append("Video ").Append(videos).Append(": ");
                        sb.Append(VisionStart).Append(VideoPad).Append(VisionEnd);
                        break;
                    default:
                        throw new InvalidInputException($"message {m} part {p}: unknown kind {part.Kind}");
                }
            }
            sb.Append(ImEnd).Append('\n');
        }
        if (addGenerationPrompt) sb.Append(ImStart).Append("assistant\n");
        return sb.ToString();
    }

    /// <summary>Renders and encodes <paramref name="messages"/>, then expands the k-th image pad to
    /// <paramref name="imageTokenCounts"/>[k] ids (and the videos' likewise). Null counts leave the pads single,
    /// as the template writes them.</summary>
    public static Qwen2VlPromptIds Build(Qwen2Tokenizer tokenizer, IReadOnlyList<Qwen2VlMessage> messages,
        IReadOnlyList<int>? imageTokenCounts = null, IReadOnlyList<int>? videoTokenCounts = null,
        bool addGenerationPrompt = true, bool addVisionId = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        string text = Render(messages, addGenerationPrompt, addVisionId);
        int imagePad = RequireToken(tokenizer, ImagePad), videoPad = RequireToken(tokenizer, VideoPad);
        int[] ids = tokenizer.Encode(text);
        var (expanded, imageRuns, videoRuns) = Expand(ids, imagePad, imageTokenCounts, videoPad, videoTokenCounts);
        return new Qwen2VlPromptIds(expanded, text, imageRuns, videoRuns);
    }

    static int RequireToken(Qwen2Tokenizer tokenizer, string token)
    {
        int id = tokenizer.TokenToId(token);
        if (id < 0) throw new TokenizerException($"{tokenizer.Source}: the tokenizer has no {token} token; is this a Qwen2-VL tokenizer (tokenizer_config.json with its added tokens)?");
        return id;
    }

    internal static (int[] Ids, List<Qwen2VlPadRun> ImageRuns, List<Qwen2VlPadRun> VideoRuns) Expand(
        int[] ids, int imagePad, IReadOnlyList<int>? imageCounts, int videoPad, IReadOnlyList<int>? videoCounts)
    {
        int images = ids.Count(i => i == imagePad), videos = ids.Count(i => i == videoPad);
        CheckCounts("image", ImagePad, images, imageCounts);
        CheckCounts("video", VideoPad, videos, videoCounts);
        var result = new List<int>(ids.Length + (imageCounts?.Sum() ?? 0) + (videoCounts?.Sum() ?? 0));
        var imageRuns = new List<Qwen2VlPadRun>(images);
        var videoRuns = new List<Qwen2VlPadRun>(videos);
        foreach (int id in ids)
        {
            if (id == imagePad || id == videoPad)
            {
                var runs = id == imagePad ? imageRuns : videoRuns;
                var counts = id == imagePad ? imageCounts : videoCounts;
                int n = counts?[runs.Count] ?? 1;
                runs.Add(new Qwen2VlPadRun(result.Count, n));
                for (int k = 0; k < n; k++) result.Add(id);
            }
            else
            {
                result.Add(id);
            }
        }
        return (result.ToArray(), imageRuns, videoRuns);
    }

    static void CheckCounts(string what, string pad, int found, IReadOnlyList<int>? counts)
    {
        if (counts is null) return;
        if (counts.Count != found)
            throw new InvalidInputException($"the prompt has {found} {pad} placeholder(s) but {counts.Count} {what} token count(s) were given");
        for (int k = 0; k < counts.Count; k++)
            if (counts[k] < 1) throw new InvalidInputException($"{what} {k}: token count {counts[k]} must be at least 1");
    }

    /// <summary>The processor's text-level expansion (<c>&lt;|image_pad|&gt;</c> → n copies), for checking that
    /// expanding ids and expanding text agree.</summary>
    internal static string ExpandText(string text, IReadOnlyList<int> imageCounts)
    {
        var sb = new StringBuilder();
        int start = 0, k = 0;
        for (int at; (at = text.IndexOf(ImagePad, start, StringComparison.Ordinal)) >= 0; start = at + ImagePad.Length)
        {
            if (k >= imageCounts.Count) throw new InvalidInputException($"the text has more than {imageCounts.Count} {ImagePad} placeholder(s)");
            sb.Append(text, start, at - start).Insert(sb.Length, ImagePad, imageCounts[k++]);
        }
        if (k != imageCounts.Count) throw new InvalidInputException($"the text has {k} {ImagePad} placeholder(s) but {imageCounts.Count} counts were given");
        return sb.Append(text, start, text.Length - start).ToString();
    }
}
