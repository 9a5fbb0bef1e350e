using System.Text;

namespace TokenSieve.AI;

/// <summary>Turns decoded text pieces into what the caller sees, piece by piece: leading and trailing
/// whitespace dropped (as <c>AnswerText.Decode</c> trims the whole answer) and the text cut before the
/// first stop sequence. Text that could still be the start of a stop sequence, and trailing whitespace,
/// is held back until the next piece decides it, so the pieces emitted, joined, are exactly the final
/// answer and no emitted text is ever taken back.</summary>
internal sealed class AnswerStream(IReadOnlyList<string> stopSequences)
{
    readonly string[] _stops = stopSequences.Where(s => !string.IsNullOrEmpty(s)).ToArray();
    readonly StringBuilder _held = new();
    readonly StringBuilder _answer = new();
    bool _started;

    /// <summary>True once a stop sequence has appeared; nothing more is emitted.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The answer emitted so far.</summary>
    public string Answer => _answer.ToString();

    /// <summary>Adds decoded text; returns the text that is now final (possibly empty).</summary>
    public string Push(string piece)
    {
        if (Stopped || piece.Length == 0) return "";
        if (!_started)
        {
            piece = piece.TrimStart();
            if (piece.Length == 0) return "";
            _started = true;
        }
        _held.Append(piece);
        string held = _held.ToString();
        int cut = FirstStop(held);
        if (cut >= 0)
        {
            Stopped = true;
            _held.Clear();
            return Emit(held[..cut].TrimEnd());
        }
        // Keep back whitespace at the end and any tail that a stop sequence could begin with.
        int keep = held.Length - held.TrimEnd().Length;
        foreach (var stop in _stops)
            for (int n = Math.Min(stop.Length - 1, held.Length); n > keep; n--)
                if (held.AsSpan(held.Length - n).SequenceEqual(stop.AsSpan(0, n))) { keep = n; break; }
        // Whitespace before held-back text would end the answer if that text turns out to be a stop sequence.
        while (keep < held.Length && char.IsWhiteSpace(held[held.Length - keep - 1])) keep++;
        _held.Remove(0, held.Length - keep);
        return Emit(held[..^keep]);
    }

    /// <summary>The end of generation: held-back text that turned out to be neither a stop sequence
    /// nor trailing whitespace.</summary>
    public string Finish(string flushed = "")
    {
        string last = Push(flushed);
        if (Stopped) return last;
        string rest = _held.ToString().TrimEnd();
        _held.Clear();
        return last + Emit(rest);
    }

    string Emit(string text)
    {
        _answer.Append(text);
        return text;
    }

    int FirstStop(string text)
    {
        int best = -1;
        foreach (var stop in _stops)
        {
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best)) best = at;
        }
        return best;
    }
}
