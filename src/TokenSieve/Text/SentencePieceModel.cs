using System.Globalization;
using Google.Protobuf;

namespace TokenSieve.Text;

/// <summary>The piece types of <c>sentencepiece_model.proto</c> (<c>ModelProto.SentencePiece.Type</c>),
/// with the proto's numeric values.</summary>
internal enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary><c>TrainerSpec.ModelType</c> values.</summary>
internal enum SentencePieceModelType
{
    Unigram = 1,
    Bpe = 2,
    Word = 3,
    Char = 4,
}

/// <summary>One vocabulary entry: the piece text (spaces written as U+2581), its score and type.
/// The id is the entry's position in <see cref="SentencePieceModel.Pieces"/>.</summary>
internal readonly record struct SentencePiece(string Piece, float Score, PieceType Type);

/// <summary>The parts of a SentencePiece <c>ModelProto</c> (<c>tokenizer.model</c>) that encoding
/// and decoding depend on. Parsed field by field with <see cref="CodedInputStream"/>, field numbers
/// from <c>sentencepiece_model.proto</c>; unknown fields are skipped, as protobuf readers do.
/// Defaults are the proto's defaults (e.g. add_dummy_prefix true, byte_fallback false). The same
/// record is what <see cref="SentencePieceModelWriter"/> serializes.</summary>
internal sealed record SentencePieceModel
{
    /// <summary>U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible stand-in for a space.</summary>
    public const char SpaceSymbol = '\u2581';

    public IReadOnlyList<SentencePiece> Pieces { get; init; } = [];
    public SentencePieceModelType ModelType { get; init; } = SentencePieceModelType.Unigram;
    public int VocabSize { get; init; } = 8000;
    public bool ByteFallback { get; init; }
    public bool SplitDigits { get; init; }
    public bool AllowWhitespaceOnlyPieces { get; init; }
    public bool TreatWhitespaceAsSuffix { get; init; }
    public int MaxSentencePieceLength { get; init; } = 16;
    public float CharacterCoverage { get; init; } = 0.9995f;
    public int UnkId { get; init; }
    public int BosId { get; init; } = 1;
    public int EosId { get; init; } = 2;
    public int PadId { get; init; } = -1;
    public string UnkPiece { get; init; } = "<unk>";
    public string BosPiece { get; init; } = "<s>";
    public string EosPiece { get; init; } = "</s>";
    public string PadPiece { get; init; } = "<pad>";
    /// <summary>What decoding prints for an unknown piece (SentencePiece's default is " ⁇ ").</summary>
    public string UnkSurface { get; init; } = " \u2047 ";
    public string NormalizerName { get; init; } = "nmt_nfkc";
    public byte[] PrecompiledCharsMap { get; init; } = [];
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;

    /// <summary>Reads <paramref name="path"/>; a missing or malformed file is a <see cref="TokenizerException"/>
    /// naming the file.</summary>
    public static SentencePieceModel Load(string path)
    {
        if (!File.Exists(path)) throw new TokenizerException($"{path}: tokenizer model file not found");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses a serialized <c>ModelProto</c>. <paramref name="source"/> names the data in errors.</summary>
    public static SentencePieceModel Parse(byte[] data, string source)
    {
        if (data.Length == 0) throw new TokenizerException($"{source}: tokenizer model is empty (0 bytes)");
        try
        {
            return ParseModelProto(new CodedInputStream(data));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new TokenizerException($"{source}: not a SentencePiece model protobuf ({e.Message})", e);
        }
    }

    static SentencePieceModel ParseModelProto(CodedInputStream input)
    {
        var pieces = new List<SentencePiece>();
        var model = new SentencePieceModel();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            bool delimited = WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited;
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1 when delimited: pieces.Add(ReadPiece(input.ReadBytes())); break;
                case 2 when delimited: model = ReadTrainerSpec(input.ReadBytes(), model); break;
                case 3 when delimited: model = ReadNormalizerSpec(input.ReadBytes(), model); break;
                default: input.SkipLastField(); break;
            }
        }
        return model with { Pieces = pieces };
    }

    static SentencePiece ReadPiece(ByteString bytes)
    {
        var input = bytes.CreateCodedInput();
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: piece = input.ReadString(); break;
                case 2: score = input.ReadFloat(); break;
                case 3: type = (PieceType)input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return new SentencePiece(piece, score, type);
    }

    static SentencePieceModel ReadTrainerSpec(ByteString bytes, SentencePieceModel m)
    {
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            m = WireFormat.GetTagFieldNumber(tag) switch
            {
                3 => m with { ModelType = (SentencePieceModelType)input.ReadEnum() },
                4 => m with { VocabSize = input.ReadInt32() },
                10 => m with { CharacterCoverage = input.ReadFloat() },
                20 => m with { MaxSentencePieceLength = input.ReadInt32() },
                24 => m with { TreatWhitespaceAsSuffix = input.ReadBool() },
                25 => m with { SplitDigits = input.ReadBool() },
                26 => m with { AllowWhitespaceOnlyPieces = input.ReadBool() },
                35 => m with { ByteFallback = input.ReadBool() },
                40 => m with { UnkId = input.ReadInt32() },
                41 => m with { BosId = input.ReadInt32() },
                42 => m with { EosId = input.ReadInt32() },
                43 => m with { PadId = input.ReadInt32() },
                44 => m with { UnkSurface = input.ReadString() },
                45 => m with { UnkPiece = input.ReadString() },
                46 => m with { BosPiece = input.ReadString() },
                47 => m with { EosPiece = input.ReadString() },
                48 => m with { PadPiece = input.ReadString() },
                _ => Skip(input, m),
            };
        }
        return m;
    }

    static SentencePieceModel ReadNormalizerSpec(ByteString bytes, SentencePieceModel m)
    {
        var input = bytes.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            m = WireFormat.GetTagFieldNumber(tag) switch
            {
                1 => m with { NormalizerName = input.ReadString() },
                2 => m with { PrecompiledCharsMap = input.ReadBytes().ToByteArray() },
                3 => m with { AddDummyPrefix = input.ReadBool() },
                4 => m with { RemoveExtraWhitespaces = input.ReadBool() },
                5 => m with { EscapeWhitespaces = input.ReadBool() },
                _ => Skip(input, m),
            };
        }
        return m;
    }

    static SentencePieceModel Skip(CodedInputStream input, SentencePieceModel m)
    {
        input.SkipLastField();
        return m;
    }

    /// <summary>The byte a BYTE piece stands for (<c>&lt;0x41&gt;</c> → 0x41), or -1 if the text is not of that form.</summary>
    public static int ParseBytePiece(string piece)
    {
        if (piece.Length != 6 || !piece.StartsWith("<0x", StringComparison.Ordinal) || piece[5] != '>') return -1;
        return int.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int b) ? b : -1;
    }

    /// <summary>The BYTE piece text for <paramref name="value"/>: <c>&lt;0x0A&gt;</c>.</summary>
    public static string BytePiece(int value) => $"<0x{value:X2}>";
}
