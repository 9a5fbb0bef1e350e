using System.Text;

namespace TokenSieve.Text;

/// <summary>How a rendered prompt becomes ids around the image.</summary>
public enum PromptEncoding
{
    /// <summary>Original LLaVA's <c>tokenizer_image_token</c>: split on <c>&lt;image&gt;</c>, encode each chunk
    /// on its own (each gets its own dummy prefix, so a ▁ (29871) appears on both sides of the
    /// image), BOS only on the first chunk, one image id between chunks.</summary>
    ChunkWise,
    /// <summary>The llava-hf processor: the whole prompt encoded once with <c>&lt;image&gt;</c> as a
    /// special token; text after it gets no dummy prefix (one 29871 fewer than chunk-wise).</summary>
    SpecialTokens,
}

/// <summary>A conversation template. Rendering is LLaVA's <c>SeparatorStyle.TWO</c>:
/// <c>[system + " "]</c>, then per turn <c>USER: msg + " "</c> and <c>ASSISTANT: reply + AssistantSeparator</c>,
/// ending with <c>ASSISTANT:</c> for the reply to generate. The image goes at the start of the first user
/// message as <c>"&lt;image&gt;\n"</c> unless that message places <c>&lt;image&gt;</c> itself.</summary>
public sealed record ChatTemplate(
    string Name, string? SystemPrompt, string UserRole, string AssistantRole, string AssistantSeparator, PromptEncoding Encoding)
{
    public const string ImagePlaceholder = "<image>";

    public const string VicunaSystem = "A chat between a curious user and an artificial intelligence assistant. " +
        "The assistant gives helpful, detailed, and polite answers to the user's questions.";
    public const string LlavaSystem = "A chat between a curious human and an artificial intelligence assistant. " +
        "The assistant gives helpful, detailed, and polite answers to the human's questions.";

    /// <summary><c>conv_vicuna_v1</c>: the template of every LLaVA-1.5 eval script.</summary>
    public static readonly ChatTemplate VicunaV1 = new("vicuna_v1", VicunaSystem, "USER", "ASSISTANT", "</s>", PromptEncoding.ChunkWise);
    /// <summary><c>conv_llava_v1</c> (what <c>run_llava.py</c> picks): vicuna_v1 saying "human".</summary>
    public static readonly ChatTemplate LlavaV1 = new("llava_v1", LlavaSystem, "USER", "ASSISTANT", "</s>", PromptEncoding.ChunkWise);
    /// <summary>llava-hf's chat_template.json: no system text unless given, <c>USER: &lt;image&gt;\n… ASSISTANT:</c>,
    /// <c>&lt;image&gt;</c> encoded as one special token.</summary>
    public static readonly ChatTemplate LlavaHf = new("llava_hf", null, "USER", "ASSISTANT", " ", PromptEncoding.SpecialTokens);

    public static IReadOnlyList<ChatTemplate> All { get; } = [VicunaV1, LlavaV1, LlavaHf];

    /// <summary>Looks a template up by name (vicuna_v1, llava_v1, llava_hf; '-' and '_' alike).</summary>
    public static ChatTemplate Get(string name)
    {
        string key = name.Trim().Replace('-', '_').ToLowerInvariant();
        return All.FirstOrDefault(t => t.Name == key)
            ?? throw new InvalidInputException($"unknown chat template '{name}'; known: {string.Join(", ", All.Select(t => t.Name))}");
    }
}

/// <summary>One exchange; <see cref="Assistant"/> null means "the reply to generate" and is allowed
/// only on the last turn.</summary>
public sealed record ChatTurn(string User, string? Assistant = null);

/// <summary>Prompt ids with the image slot: <see cref="Ids"/>[<see cref="ImageSlot"/>] holds the
/// placeholder id the caller chose (-200 as original LLaVA, or the config's image_token_index), which
/// the model replaces with the visual tokens. <see cref="ImageSlot"/> is -1 for a text-only prompt.
/// <see cref="Text"/> is the rendered prompt.</summary>
public sealed record PromptIds(int[] Ids, int ImageSlot, string Text)
{
    /// <summary>Every image slot in order (a prompt about several images has one per image).</summary>
    public int[] ImageSlots { get; init; } = ImageSlot < 0 ? [] : [ImageSlot];

    /// <summary>The ids with the image slot repeated <paramref name="imageTokens"/> times, as the llava-hf
    /// processor expands <c>&lt;image&gt;</c> to one id per visual token (576 for LLaVA-1.5).</summary>
    public int[] ExpandImage(int imageTokens)
    {
        if (ImageSlot < 0) throw new InvalidInputException("the prompt has no image slot to expand");
        if (imageTokens < 1) throw new InvalidInputException($"cannot expand the image slot to {imageTokens} tokens");
        var result = new int[Ids.Length - 1 + imageTokens];
        Ids.AsSpan(0, ImageSlot).CopyTo(result);
        result.AsSpan(ImageSlot, imageTokens).Fill(Ids[ImageSlot]);
        Ids.AsSpan(ImageSlot + 1).CopyTo(result.AsSpan(ImageSlot + imageTokens));
        return result;
    }
}

/// <summary>Renders LLaVA conversation templates and encodes them the way the reference
/// implementations do.</summary>
public static class LlavaPrompt
{
    /// <summary>One question about one image (or <paramref name="images"/> images), ready for generation.</summary>
    public static PromptIds Build(SentencePieceBpeTokenizer tokenizer, ChatTemplate template, string question, int imageTokenId, int images = 1)
        => Build(tokenizer, template, [new ChatTurn(question)], imageTokenId, images);

    /// <summary>A conversation; the image (if <paramref name="withImage"/>) belongs to the first user turn.</summary>
    public static PromptIds Build(SentencePieceBpeTokenizer tokenizer, ChatTemplate template, IReadOnlyList<ChatTurn> turns, int imageTokenId, bool withImage = true)
        => Build(tokenizer, template, turns, imageTokenId, withImage ? 1 : 0);

    /// <summary>A conversation whose first user turn holds <paramref name="images"/> images: its
    /// <c>&lt;image&gt;</c> placeholders, or that many <c>"&lt;image&gt;\n"</c> before the text.</summary>
    public static PromptIds Build(SentencePieceBpeTokenizer tokenizer, ChatTemplate template, IReadOnlyList<ChatTurn> turns, int imageTokenId, int images)
        => Build(tokenizer, template, Render(template, turns, images), imageTokenId);

    /// <summary>A conversation whose user turn <c>i</c> holds <paramref name="imagesPerTurn"/>[i] images (the
    /// chat client's messages: images may come in any user turn, each as one placeholder where it stands).</summary>
    public static PromptIds Build(SentencePieceBpeTokenizer tokenizer, ChatTemplate template, IReadOnlyList<ChatTurn> turns, int imageTokenId, IReadOnlyList<int> imagesPerTurn)
        => Build(tokenizer, template, Render(template, turns, imagesPerTurn), imageTokenId);

    static PromptIds Build(SentencePieceBpeTokenizer tokenizer, ChatTemplate template, string text, int imageTokenId)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var ids = new List<int> { tokenizer.BosId };
        var slots = new List<int>();
        int slot = -1;
        if (template.Encoding == PromptEncoding.ChunkWise)
        {
            string[] chunks = text.Split(ChatTemplate.ImagePlaceholder);
            for (int c = 0; c < chunks.Length; c++)
            {
                if (c > 0)
                {
                    slot = ids.Count;
                    slots.Add(slot);
                    ids.Add(imageTokenId);
                }
                EncodeWithEos(tokenizer, chunks[c], dummyPrefix: tokenizer.Model.AddDummyPrefix, ids);
            }
        }
        else
        {
            int start = 0;
            for (int at; (at = text.IndexOf(ChatTemplate.ImagePlaceholder, start, StringComparison.Ordinal)) >= 0; start = at + ChatTemplate.ImagePlaceholder.Length)
            {
                EncodeWithEos(tokenizer, text[start..at], dummyPrefix: tokenizer.Model.AddDummyPrefix && start == 0, ids);
                slot = ids.Count;
                slots.Add(slot);
                ids.Add(imageTokenId);
            }
            EncodeWithEos(tokenizer, text[start..], dummyPrefix: tokenizer.Model.AddDummyPrefix && start == 0, ids);
        }
        return new PromptIds(ids.ToArray(), slots.Count > 0 ? slots[0] : -1, text) { ImageSlots = slots.ToArray() };
    }

    /// <summary>The ids that follow a generated reply to ask the next question in the same conversation
    /// (METHODS.md §15.5): the template's reply separator (vicuna's <c>&lt;/s&gt;</c> is the EOS id), then
    /// <c>USER: question ASSISTANT:</c>, encoded as the same text inside a whole conversation is (no
    /// dummy prefix mid-text). Appended after the reply's ids they give
    /// <see cref="Build(SentencePieceBpeTokenizer, ChatTemplate, IReadOnlyList{ChatTurn}, int, bool)"/>'s
    /// ids for the two turns when the reply re-encodes to the same ids.</summary>
    public static int[] FollowUp(SentencePieceBpeTokenizer tokenizer, ChatTemplate template, string question)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (CountPlaceholders(question) > 0) throw new InvalidInputException($"a follow-up question cannot contain '{ChatTemplate.ImagePlaceholder}'");
        var ids = new List<int>();
        EncodeWithEos(tokenizer, $"{template.AssistantSeparator}{template.UserRole}: {question} {template.AssistantRole}:", dummyPrefix: false, ids);
        return ids.ToArray();
    }

    /// <summary>Encodes text in which the EOS piece (<c>&lt;/s&gt;</c>, the vicuna turn separator) is the
    /// EOS token, as HF tokenizers read it; text after it gets no dummy prefix (LLaVA-1.5's
    /// non-legacy tokenizer).</summary>
    static void EncodeWithEos(SentencePieceBpeTokenizer tokenizer, string text, bool dummyPrefix, List<int> ids)
    {
        string eos = tokenizer.Model.EosId >= 0 ? tokenizer.Model.Pieces[tokenizer.Model.EosId].Piece : "";
        int start = 0;
        if (eos.Length > 0)
            for (int at; (at = text.IndexOf(eos, start, StringComparison.Ordinal)) >= 0; start = at + eos.Length)
            {
                tokenizer.EncodeText(text.AsSpan(start, at - start), dummyPrefix && start == 0, ids);
                ids.Add(tokenizer.EosId);
            }
        tokenizer.EncodeText(text.AsSpan(start), dummyPrefix && start == 0, ids);
    }

    /// <summary>The prompt text, e.g. for vicuna_v1:
    /// <c>"&lt;system&gt; USER: &lt;image&gt;\n&lt;question&gt; ASSISTANT:"</c>.</summary>
    public static string Render(ChatTemplate template, IReadOnlyList<ChatTurn> turns, bool withImage = true) => Render(template, turns, withImage ? 1 : 0);

    /// <summary>The prompt text with <paramref name="images"/> images in the first user turn.</summary>
    public static string Render(ChatTemplate template, IReadOnlyList<ChatTurn> turns, int images)
    {
        ArgumentNullException.ThrowIfNull(turns);
        return Render(template, turns, turns.Select((_, i) => i == 0 ? images : 0).ToArray(), "images go in the first user turn, one placeholder each");
    }

    /// <summary>The prompt text with <paramref name="imagesPerTurn"/>[i] images in user turn <c>i</c>.</summary>
    public static string Render(ChatTemplate template, IReadOnlyList<ChatTurn> turns, IReadOnlyList<int> imagesPerTurn) =>
        Render(template, turns, imagesPerTurn, "each image takes one placeholder in its own turn");

    static string Render(ChatTemplate template, IReadOnlyList<ChatTurn> turns, IReadOnlyList<int> imagesPerTurn, string placementRule)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(turns);
        ArgumentNullException.ThrowIfNull(imagesPerTurn);
        if (imagesPerTurn.Count != turns.Count) throw new InvalidInputException($"{imagesPerTurn.Count} image counts for {turns.Count} turns");
        if (turns.Count == 0) throw new InvalidInputException("a prompt needs at least one user turn");
        var sb = new StringBuilder();
        if (template.SystemPrompt is not null) sb.Append(template.SystemPrompt).Append(' ');
        for (int i = 0; i < turns.Count; i++)
        {
            var turn = turns[i];
            string user = turn.User ?? throw new InvalidInputException($"turn {i}: the user message is null");
            int placeholders = CountPlaceholders(user);
            int expected = imagesPerTurn[i];
            if (placeholders != 0 && placeholders != expected)
                throw new InvalidInputException($"turn {i}: the message contains '{ChatTemplate.ImagePlaceholder}' {placeholders} time(s) for {expected} image(s); {placementRule}");
            if (placeholders == 0) user = string.Concat(Enumerable.Repeat(ChatTemplate.ImagePlaceholder + "\n", expected)) + user;
            sb.Append(template.UserRole).Append(": ").Append(user).Append(' ');
            if (turn.Assistant is null)
            {
                if (i != turns.Count - 1) throw new InvalidInputException($"turn {i}: only the last turn may leave the assistant reply open");
                sb.Append(template.AssistantRole).Append(':');
            }
            else
            {
                if (CountPlaceholders(turn.Assistant) > 0) throw new InvalidInputException($"turn {i}: an assistant reply cannot contain '{ChatTemplate.ImagePlaceholder}'");
                sb.Append(template.AssistantRole).Append(": ").Append(turn.Assistant).Append(template.AssistantSeparator);
            }
        }
        return sb.ToString();
    }

    static int CountPlaceholders(string s)
    {
        int n = 0;
        for (int at = s.IndexOf(ChatTemplate.ImagePlaceholder, StringComparison.Ordinal); at >= 0; at = s.IndexOf(ChatTemplate.ImagePlaceholder, at + 1, StringComparison.Ordinal)) n++;
        return n;
    }
}
