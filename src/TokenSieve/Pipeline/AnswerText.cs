using TokenSieve.Text;

namespace TokenSieve.Pipeline;

/// <summary>Turns generated ids into the answer string as LLaVA's eval does
/// (<c>batch_decode(skip_special_tokens=True).strip()</c>).</summary>
public static class AnswerText
{
    /// <summary>Ids beyond the tokenizer's vocabulary are dropped: llava-hf pads the output layer to
    /// 32064 rows, and those rows have no text (a real model practically never picks them; random
    /// weights do).</summary>
    public static string Decode(SentencePieceBpeTokenizer tokenizer, IEnumerable<int> ids) =>
        tokenizer.Decode(ids.Where(id => id >= 0 && id < tokenizer.VocabSize).ToArray()).Trim();

    /// <summary>Qwen2-VL's answer (<c>decode(skip_special_tokens=True).strip()</c>); ids without text (lm_head
    /// rows past the tokenizer, which random weights pick) are dropped.</summary>
    public static string Decode(Qwen2Tokenizer tokenizer, IEnumerable<int> ids) =>
        tokenizer.Decode(ids.Where(tokenizer.CanDecode).ToArray(), skipSpecialTokens: true).Trim();
}
