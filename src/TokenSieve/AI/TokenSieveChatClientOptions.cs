using TokenSieve.Imaging;

namespace TokenSieve.AI;

/// <summary>Settings of a <see cref="TokenSieveChatClient"/> that hold for every request; per-request
/// settings come in <c>ChatOptions</c>.</summary>
public sealed record TokenSieveChatClientOptions
{
    /// <summary>Compute threads (0 = all cores).</summary>
    public int Threads { get; init; }

    /// <summary>Default vision-side reduction spec (e.g. <c>pool:144</c>, <c>prumerge+</c>); a request's
    /// <c>AdditionalProperties["tokensieve.reduce"]</c> replaces it. Null: all visual tokens.</summary>
    public string? Reduce { get; init; }

    /// <summary>Default decoder-side pruning spec (e.g. <c>fastv:k=2,keep=64</c>); a request's
    /// <c>AdditionalProperties["tokensieve.prune"]</c> replaces it. Null: none.</summary>
    public string? Prune { get; init; }

    /// <summary>New tokens when a request sets no <c>MaxOutputTokens</c>.</summary>
    public int DefaultMaxOutputTokens { get; init; } = 128;

    /// <summary>LLaVA family only: the prompt template (<c>vicuna_v1</c>, <c>llava_v1</c>, <c>llava_hf</c>),
    /// as `tokensieve run --template`. The default is what the llava-hf processor applies to a chat (and what
    /// the built-in lab model was trained on); <c>vicuna_v1</c> with <see cref="AspectMode.Pad"/> reproduces
    /// the published LLaVA-1.5 evaluation instead. A system message replaces the template's system prompt.</summary>
    public string Template { get; init; } = "llava_hf";

    /// <summary>LLaVA family only: how images are fitted to the tower's square (crop: the llava-hf
    /// processor's centre crop; pad: LLaVA-1.5's evaluation).</summary>
    public AspectMode Aspect { get; init; } = AspectMode.Crop;

    /// <summary>Ignore config.json keys TokenSieve does not know instead of failing.</summary>
    public bool AllowUnknownConfigKeys { get; init; }

    /// <summary>llama.cpp's LLaVA-1.5 pair: the mmproj GGUF (CLIP tower + projector). The client's model path
    /// is then the language-model GGUF, and the tokenizer is the pair's stored vocabulary
    /// (<c>LlavaModel.LoadGgufPair</c>). Null: the path is a model folder.</summary>
    public string? Mmproj { get; init; }

    /// <summary>Largest accepted image, in bytes, per image content (the decoder's own pixel limits apply too).</summary>
    public int MaxImageBytes { get; init; } = 20 << 20;
}
