namespace TokenSieve;

/// <summary>Base of every error TokenSieve reports to a user: the message names the file, tensor,
/// option or input at fault and says why. The CLI prints <see cref="Exception.Message"/> and exits
/// non-zero; it never shows a stack trace for these.</summary>
public class TokenSieveException : Exception
{
    public TokenSieveException(string message, Exception? inner = null) : base(message, inner) { }

    /// <summary>A name taken from an input file (tensor, key, path) made safe for a one-line message:
    /// control characters are escaped and very long names cut, so a hostile name cannot break the
    /// CLI's single <c>error:</c> line or flood the terminal.</summary>
    public static string Printable(string text, int max = 200)
    {
        var sb = new System.Text.StringBuilder(Math.Min(text.Length, max) + 8);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (sb.Length >= max)
            {
                sb.Append('…');
                break;
            }
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) sb.Append(c).Append(text[++i]);
            else if (char.IsControl(c) || char.IsSurrogate(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.ToString();
    }
}

/// <summary>A checkpoint file (safetensors, index, config) is missing, malformed or disagrees with
/// the config. <see cref="File"/> and <see cref="Tensor"/> say where.</summary>
public sealed class CheckpointException : TokenSieveException
{
    public string? File { get; }
    public string? Tensor { get; }

    public CheckpointException(string? file, string? tensor, string reason, Exception? inner = null)
        : base(Format(file, tensor, reason), inner)
    {
        File = file;
        Tensor = tensor;
    }

    static string Format(string? file, string? tensor, string reason)
    {
        file = file is null ? null : Printable(file, 400);
        tensor = tensor is null ? null : Printable(tensor);
        var where = (file, tensor) switch
        {
            (not null, not null) => $"{file}: tensor '{tensor}': ",
            (not null, null) => $"{file}: ",
            (null, not null) => $"tensor '{tensor}': ",
            _ => "",
        };
        return where + reason;
    }
}

/// <summary>config.json (or preprocessor_config.json) has a value we cannot run: unknown
/// architecture, activation, inconsistent sizes.</summary>
public sealed class ConfigException : TokenSieveException
{
    public string? File { get; }
    public string? Key { get; }

    public ConfigException(string? file, string? key, string reason)
        : base($"{Printable(file ?? "config", 400)}{(key is null ? "" : $": '{Printable(key)}'")}: {reason}")
    {
        File = file;
        Key = key;
    }
}

/// <summary>An image file could not be decoded or is unusable (zero size).</summary>
public sealed class ImageDecodeException : TokenSieveException
{
    public string? File { get; }

    public ImageDecodeException(string? file, string reason, Exception? inner = null)
        : base($"{Printable(file ?? "image", 400)}: {reason}", inner) => File = file;
}

/// <summary>A tokenizer model could not be loaded or used.</summary>
public sealed class TokenizerException : TokenSieveException
{
    public TokenizerException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A method spec string (a vision-side reduction or a decoder pruner) is invalid: unknown
/// method or option, budget out of range or not a number, or a budget the model cannot meet.
/// <see cref="Spec"/> is the text the user gave.</summary>
public sealed class MethodSpecException : TokenSieveException
{
    public string Spec { get; }

    public MethodSpecException(string spec, string reason) : base($"method spec '{spec}': {reason}") => Spec = spec;
}

/// <summary>Inputs to a model or method are inconsistent: wrong shapes, NaN/Inf, a prompt longer
/// than the context, input ids without exactly one image token.</summary>
public sealed class InvalidInputException : TokenSieveException
{
    public InvalidInputException(string message) : base(message) { }
}

/// <summary>An image the model's resize rules cannot bring to a valid size: a side below the patch
/// factor, an aspect ratio beyond the model's limit, or a resized area below <c>min_pixels</c> (the
/// zero side very elongated images get). <see cref="File"/> names the image when it came from one.</summary>
public sealed class ImageSizeException : TokenSieveException
{
    public string? File { get; }
    public int Width { get; }
    public int Height { get; }

    public ImageSizeException(string? file, int width, int height, string reason)
        : base($"{(file is null ? "" : Printable(file, 400) + ": ")}image {width}x{height} (width x height): {reason}")
        => (File, Width, Height) = (file, width, height);
}

/// <summary>A prompt with its visual tokens is longer than the model's context
/// (<c>max_position_embeddings</c>).</summary>
public sealed class ContextOverflowException : TokenSieveException
{
    public int Tokens { get; }
    public int Context { get; }

    public ContextOverflowException(int tokens, int context, string detail)
        : base($"the prompt is {tokens} tokens ({detail}), longer than the model's context of {context}") => (Tokens, Context) = (tokens, context);
}

/// <summary>A method that cannot run on this model: it needs something the model does not have
/// (a [CLS] token, a vision tower it can reach into), and no surrogate is defined for it.</summary>
public sealed class MethodNotApplicableException : TokenSieveException
{
    public string Method { get; }
    public string Model { get; }

    public MethodNotApplicableException(string method, string model, string reason)
        : base($"method '{Printable(method)}' cannot run on {model}: {reason}") => (Method, Model) = (method, model);
}
