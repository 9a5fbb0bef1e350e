using Google.Protobuf;

namespace TokenSieve.Text;

/// <summary>Writes a SentencePiece <c>ModelProto</c> (<c>tokenizer.model</c>) with Google.Protobuf's
/// <see cref="CodedOutputStream"/>, field numbers from <c>sentencepiece_model.proto</c>: the pieces
/// (text, score, type), a trainer_spec (model_type, vocab_size, byte_fallback, special ids and pieces,
/// LLaMA's other settings) and a normalizer_spec (identity rules, add_dummy_prefix,
/// remove_extra_whitespaces, escape_whitespaces). The result loads in SentencePiece, in
/// Microsoft.ML.Tokenizers and in <see cref="SentencePieceBpeTokenizer"/>.</summary>
internal static class SentencePieceModelWriter
{
    /// <summary>A LLaMA-layout BPE model: 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;, then (with
    /// <paramref name="byteFallback"/>) the 256 byte pieces &lt;0x00&gt;…&lt;0xFF&gt;, then
    /// <paramref name="controlSymbols"/> (e.g. &lt;image&gt;, &lt;pad&gt;: never produced from text, skipped
    /// when decoding), then <paramref name="userDefinedSymbols"/> (always kept whole), then
    /// <paramref name="normalPieces"/> in merge priority order: the first gets score 0, the next −1, and
    /// so on, so earlier pieces merge first. Write spaces in pieces as U+2581 ("▁the"). A piece other
    /// than a single character is only ever produced if it splits into two pieces of the vocabulary
    /// (see <see cref="FindUnmergeablePieces"/>). A <c>&lt;pad&gt;</c> control symbol becomes pad_id.</summary>
    public static SentencePieceModel BuildBpeModel(
        IReadOnlyList<string> normalPieces,
        bool byteFallback = true,
        IReadOnlyList<string>? controlSymbols = null,
        IReadOnlyList<string>? userDefinedSymbols = null)
    {
        ArgumentNullException.ThrowIfNull(normalPieces);
        var pieces = new List<SentencePiece>
        {
            new("<unk>", 0, PieceType.Unknown),
            new("<s>", 0, PieceType.Control),
            new("</s>", 0, PieceType.Control),
        };
        if (byteFallback)
            for (int b = 0; b < 256; b++) pieces.Add(new(SentencePieceModel.BytePiece(b), 0, PieceType.Byte));
        foreach (var s in controlSymbols ?? []) pieces.Add(new(s, 0, PieceType.Control));
        foreach (var s in userDefinedSymbols ?? []) pieces.Add(new(s, 0, PieceType.UserDefined));
        for (int i = 0; i < normalPieces.Count; i++) pieces.Add(new(normalPieces[i], -i, PieceType.Normal));
        int pad = pieces.FindIndex(p => p.Piece == "<pad>" && p.Type == PieceType.Control);
        var model = new SentencePieceModel
        {
            Pieces = pieces,
            ModelType = SentencePieceModelType.Bpe,
            VocabSize = pieces.Count,
            ByteFallback = byteFallback,
            SplitDigits = true,
            AllowWhitespaceOnlyPieces = true,
            CharacterCoverage = 0.99995f,
            UnkId = 0,
            BosId = 1,
            EosId = 2,
            PadId = pad,
            NormalizerName = "identity",
            AddDummyPrefix = true,
            RemoveExtraWhitespaces = false,
            EscapeWhitespaces = true,
        };
        Validate(model);
        return model;
    }

    /// <summary>Normal pieces longer than one character that cannot be formed by merging two pieces of
    /// the vocabulary, so BPE never outputs them.</summary>
    public static IReadOnlyList<string> FindUnmergeablePieces(SentencePieceModel model)
    {
        var mergeable = model.Pieces.Where(p => p.Type is PieceType.Normal or PieceType.UserDefined or PieceType.Unused)
            .Select(p => p.Piece).ToHashSet(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var p in model.Pieces)
        {
            if (p.Type != PieceType.Normal) continue;
            if (p.Piece.EnumerateRunes().Count() < 2) continue;
            bool ok = false;
            for (int i = 1; i < p.Piece.Length && !ok; i++)
            {
                if (char.IsLowSurrogate(p.Piece[i])) continue;
                ok = mergeable.Contains(p.Piece[..i]) && mergeable.Contains(p.Piece[i..]);
            }
            if (!ok) result.Add(p.Piece);
        }
        return result;
    }

    /// <summary>Checks what loaders rely on: BPE, unique non-empty pieces, an UNKNOWN piece at unk_id,
    /// CONTROL pieces at bos/eos/pad ids, all 256 byte pieces when byte_fallback is on,
    /// vocab_size equal to the piece count.</summary>
    public static void Validate(SentencePieceModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var pieces = model.Pieces;
        if (model.ModelType is not (SentencePieceModelType.Bpe or SentencePieceModelType.Unigram))
            throw new TokenizerException($"model_type {model.ModelType}: only BPE and Unigram models are written");
        if (pieces.Count == 0) throw new TokenizerException("the model has no pieces");
        if (model.VocabSize != pieces.Count) throw new TokenizerException($"vocab_size {model.VocabSize} differs from the {pieces.Count} pieces");
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < pieces.Count; i++)
        {
            if (string.IsNullOrEmpty(pieces[i].Piece)) throw new TokenizerException($"piece {i} is empty");
            if (!seen.TryAdd(pieces[i].Piece, i)) throw new TokenizerException($"piece '{pieces[i].Piece}' appears twice (ids {seen[pieces[i].Piece]} and {i})");
            if (!Enum.IsDefined(pieces[i].Type)) throw new TokenizerException($"piece {i} '{pieces[i].Piece}' has unknown type {(int)pieces[i].Type}");
            if (float.IsNaN(pieces[i].Score)) throw new TokenizerException($"piece {i} '{pieces[i].Piece}' has a NaN score");
            if (pieces[i].Type == PieceType.Byte && SentencePieceModel.ParseBytePiece(pieces[i].Piece) < 0)
                throw new TokenizerException($"BYTE piece {i} is '{pieces[i].Piece}', not of the form <0xNN>");
        }
        if (model.UnkId < 0 || model.UnkId >= pieces.Count || pieces[model.UnkId].Type != PieceType.Unknown)
            throw new TokenizerException($"unk_id {model.UnkId} is not a piece of type UNKNOWN");
        if (pieces.Count(p => p.Type == PieceType.Unknown) != 1) throw new TokenizerException("the model needs exactly one UNKNOWN piece");
        foreach (var (name, id) in new[] { ("bos_id", model.BosId), ("eos_id", model.EosId), ("pad_id", model.PadId) })
            if (id >= 0 && (id >= pieces.Count || pieces[id].Type != PieceType.Control))
                throw new TokenizerException($"{name} {id} is not a CONTROL piece");
        if (model.ByteFallback)
        {
            var bytes = pieces.Where(p => p.Type == PieceType.Byte).Select(p => SentencePieceModel.ParseBytePiece(p.Piece)).ToHashSet();
            if (bytes.Count != 256) throw new TokenizerException($"byte_fallback needs the 256 BYTE pieces <0x00>..<0xFF>; the model has {bytes.Count}");
        }
    }

    public static byte[] Serialize(SentencePieceModel model)
    {
        Validate(model);
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        foreach (var piece in model.Pieces) WriteMessage(output, 1, PieceMessage(piece));
        WriteMessage(output, 2, TrainerSpecMessage(model));
        WriteMessage(output, 3, NormalizerSpecMessage(model));
        output.Flush();
        return buffer.ToArray();
    }

    public static void Write(SentencePieceModel model, string path) => File.WriteAllBytes(path, Serialize(model));

    public static void Write(SentencePieceModel model, Stream stream) => stream.Write(Serialize(model));

    static void WriteMessage(CodedOutputStream output, int field, byte[] message)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(message));
    }

    static byte[] Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        write(output);
        output.Flush();
        return buffer.ToArray();
    }

    static byte[] PieceMessage(SentencePiece p) => Message(o =>
    {
        WriteString(o, 1, p.Piece);
        o.WriteTag(2, WireFormat.WireType.Fixed32);
        o.WriteFloat(p.Score);
        WriteVarint(o, 3, (int)p.Type);
    });

    static byte[] TrainerSpecMessage(SentencePieceModel m) => Message(o =>
    {
        WriteVarint(o, 3, (int)m.ModelType);
        WriteVarint(o, 4, m.VocabSize);
        o.WriteTag(10, WireFormat.WireType.Fixed32);
        o.WriteFloat(m.CharacterCoverage);
        WriteVarint(o, 20, m.MaxSentencePieceLength);
        WriteVarint(o, 24, m.TreatWhitespaceAsSuffix ? 1 : 0);
        WriteVarint(o, 25, m.SplitDigits ? 1 : 0);
        WriteVarint(o, 26, m.AllowWhitespaceOnlyPieces ? 1 : 0);
        WriteVarint(o, 35, m.ByteFallback ? 1 : 0);
        WriteVarint(o, 40, m.UnkId);
        WriteVarint(o, 41, m.BosId);
        WriteVarint(o, 42, m.EosId);
        WriteVarint(o, 43, m.PadId);
        WriteString(o, 44, m.UnkSurface);
        WriteString(o, 45, m.UnkPiece);
        WriteString(o, 46, m.BosPiece);
        WriteString(o, 47, m.EosPiece);
        WriteString(o, 48, m.PadPiece);
    });

    static byte[] NormalizerSpecMessage(SentencePieceModel m) => Message(o =>
    {
        WriteString(o, 1, m.NormalizerName);
        o.WriteTag(2, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(ByteString.CopyFrom(m.PrecompiledCharsMap));
        WriteVarint(o, 3, m.AddDummyPrefix ? 1 : 0);
        WriteVarint(o, 4, m.RemoveExtraWhitespaces ? 1 : 0);
        WriteVarint(o, 5, m.EscapeWhitespaces ? 1 : 0);
    });

    static void WriteVarint(CodedOutputStream o, int field, int value)
    {
        o.WriteTag(field, WireFormat.WireType.Varint);
        o.WriteInt32(value);  // negative ids (pad_id -1) become 10-byte sign-extended varints, as protobuf int32 does
    }

    static void WriteString(CodedOutputStream o, int field, string value)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }
}
