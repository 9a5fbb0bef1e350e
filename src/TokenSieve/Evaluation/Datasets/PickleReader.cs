using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace TokenSieve.Evaluation;

/// <summary>A reader for Python pickles that hold plain data only — dicts, lists, tuples, strings,
/// bytes, ints, floats, bools, None — as the RefCOCO release's <c>refs(unc).p</c> / <c>refs(umd).p</c>
/// files do (written by Python 2's pickle, text protocol 0 or binary protocol 2; protocols 3–5 read
/// too). Anything that would construct an object or call a function (GLOBAL, REDUCE, BUILD, INST,
/// OBJ, NEWOBJ, STACK_GLOBAL, persistent ids, extension codes) is refused with a
/// <see cref="DatasetException"/>: unlike Python's unpickler this reader cannot run code. Values come
/// back as <see cref="Dictionary{TKey,TValue}"/> (object keys), <see cref="List{T}"/>, string, byte[],
/// long, double, bool and null.</summary>
public static class PickleReader
{
    /// <summary>Nesting or stack beyond this is refused (a refs file nests 4 deep).</summary>
    const int MaxStack = 1 << 24;

    public static object? Load(string path)
    {
        if (!File.Exists(path)) throw new DatasetException(path, "file not found");
        return Load(File.ReadAllBytes(path), path);
    }

    public static object? Load(byte[] data, string name)
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();
        int p = 0;

        DatasetException Bad(string why) => new(name, $"pickle byte {p}: {why}");
        byte U8() => p < data.Length ? data[p++] : throw Bad("truncated");
        ReadOnlySpan<byte> Take(long n)
        {
            if (n < 0 || n > data.Length - p) throw Bad("truncated");
            var s = data.AsSpan(p, (int)n);
            p += (int)n;
            return s;
        }
        string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', p);
            if (end < 0) throw Bad("truncated text opcode");
            string s = Encoding.Latin1.GetString(data, p, end - p);
            p = end + 1;
            return s;
        }
        void Push(object? v)
        {
            if (stack.Count >= MaxStack) throw Bad("too deep");
            stack.Add(v);
        }
        object? Pop()
        {
            if (stack.Count == 0 || (marks.Count > 0 && stack.Count <= marks.Peek())) throw Bad("stack underflow");
            var v = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return v;
        }
        List<object?> PopMark()
        {
            if (marks.Count == 0) throw Bad("no mark");
            int m = marks.Pop();
            var items = stack.GetRange(m, stack.Count - m);
            stack.RemoveRange(m, stack.Count - m);
            return items;
        }
        object? Top() => stack.Count > 0 ? stack[^1] : throw Bad("empty stack");
        List<object?> ListAt(int index) => index >= 0 && index < stack.Count && stack[index] is List<object?> l ? l : throw Bad("append to a non-list");
        Dictionary<object, object?> DictAt(int index) => index >= 0 && index < stack.Count && stack[index] is Dictionary<object, object?> d ? d : throw Bad("setitem on a non-dict");
        void SetItems(Dictionary<object, object?> d, List<object?> kv)
        {
            if (kv.Count % 2 != 0) throw Bad("odd number of dict entries");
            for (int i = 0; i < kv.Count; i += 2) d[kv[i] ?? throw Bad("None as a dict key")] = kv[i + 1];
        }

        while (true)
        {
            byte op = U8();
            switch (op)
            {
                case 0x80: U8(); break;                                     // PROTO
                case 0x95: Take(8); break;                                  // FRAME
                case (byte)'.': return stack.Count == 1 ? stack[0] : throw Bad($"STOP with {stack.Count} values on the stack");
                case (byte)'(': marks.Push(stack.Count); break;             // MARK
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;                               // NEWTRUE
                case 0x89: Push(false); break;                              // NEWFALSE
                case (byte)']': Push(new List<object?>()); break;           // EMPTY_LIST
                case (byte)'}': Push(new Dictionary<object, object?>()); break;  // EMPTY_DICT
                case (byte)')': Push(new List<object?>()); break;           // EMPTY_TUPLE (tuples read as lists)
                case (byte)'l': Push(PopMark()); break;                     // LIST
                case (byte)'t': Push(PopMark()); break;                     // TUPLE
                case 0x85: Push(new List<object?> { Pop() }); break;        // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new List<object?> { a, b }); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new List<object?> { a, b, c }); break; }
                case (byte)'d': { var d = new Dictionary<object, object?>(); SetItems(d, PopMark()); Push(d); break; }   // DICT
                case (byte)'a': { var v = Pop(); ListAt(stack.Count - 1).Add(v); break; }                               // APPEND
                case (byte)'e': { var items = PopMark(); ListAt(stack.Count - 1).AddRange(items); break; }              // APPENDS
                case (byte)'s': { var v = Pop(); var k = Pop(); DictAt(stack.Count - 1)[k ?? throw Bad("None as a dict key")] = v; break; }  // SETITEM
                case (byte)'u': { var kv = PopMark(); SetItems(DictAt(stack.Count - 1), kv); break; }                 // SETITEMS
                case (byte)'0': Pop(); break;                               // POP
                case (byte)'1': PopMark(); break;                           // POP_MARK
                case (byte)'2': Push(Top()); break;                         // DUP
                // memo
                case (byte)'p': memo[long.Parse(Line(), CultureInfo.InvariantCulture)] = Top(); break;
                case (byte)'q': memo[U8()] = Top(); break;
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(); break;
                case 0x94: memo[memo.Count] = Top(); break;                 // MEMOIZE
                case (byte)'g': Push(memo.TryGetValue(long.Parse(Line(), CultureInfo.InvariantCulture), out var g) ? g : throw Bad("unknown memo key")); break;
                case (byte)'h': Push(memo.TryGetValue(U8(), out var h) ? h : throw Bad("unknown memo key")); break;
                case (byte)'j': Push(memo.TryGetValue(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), out var j) ? j : throw Bad("unknown memo key")); break;
                // numbers
                case (byte)'I':
                {
                    string s = Line();
                    Push(s == "00" ? false : s == "01" ? true : long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i) ? i : throw Bad($"bad INT '{s}'"));
                    break;
                }
                case (byte)'L':
                {
                    string s = Line().TrimEnd('L');
                    Push(long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long i) ? i : throw Bad($"LONG '{s}' does not fit 64 bits"));
                    break;
                }
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;   // BININT
                case (byte)'K': Push((long)U8()); break;                                              // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;  // BININT2
                case 0x8a:                                                                            // LONG1
                {
                    var b = Take(U8());
                    if (b.Length > 8) throw Bad("LONG1 does not fit 64 bits");
                    long v = 0;
                    for (int i = b.Length - 1; i >= 0; i--) v = (v << 8) | b[i];
                    if (b.Length is > 0 and < 8 && (b[^1] & 0x80) != 0) v -= 1L << (8 * b.Length);
                    Push(v);
                    break;
                }
                case (byte)'F': Push(double.Parse(Line(), NumberStyles.Float, CultureInfo.InvariantCulture)); break;
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;           // BINFLOAT
                // strings
                case (byte)'S': Push(PythonStringLiteral(Line(), Bad)); break;
                case (byte)'V': Push(RawUnicodeEscape(Line())); break;
                case (byte)'T': Push(Bytes2(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))); break;  // BINSTRING
                case (byte)'U': Push(Bytes2(Take(U8()))); break;                                             // SHORT_BINSTRING
                case (byte)'X': Push(Utf8(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))), Bad)); break;                // BINUNICODE
                case 0x8c: Push(Utf8(Take(U8()), Bad)); break;                                                                  // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(Take(checked((long)BinaryPrimitives.ReadUInt64LittleEndian(Take(8)))), Bad)); break;      // BINUNICODE8
                case (byte)'B': Push(Take(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))).ToArray()); break;                  // BINBYTES
                case (byte)'C': Push(Take(U8()).ToArray()); break;                                                              // SHORT_BINBYTES
                default:
                    throw Bad(op switch
                    {
                        (byte)'c' or 0x93 or (byte)'R' or (byte)'b' or (byte)'i' or (byte)'o' or 0x81 or 0x92 or (byte)'P' or (byte)'Q' or 0x82 or 0x83 or 0x84 =>
                            $"opcode 0x{op:x2} constructs objects or calls code; only plain data (dicts, lists, strings, numbers) is read",
                        _ => $"unknown opcode 0x{op:x2}",
                    });
            }
        }
    }

    static string Utf8(ReadOnlySpan<byte> b, Func<string, DatasetException> bad)
    {
        try { return new UTF8Encoding(false, true).GetString(b); }
        catch (DecoderFallbackException) { throw bad("a string is not valid UTF-8"); }
    }

    /// <summary>Python 2 str values are bytes: UTF-8 where they are valid UTF-8 (what refer's
    /// sentences are), Latin-1 otherwise.</summary>
    static string Bytes2(ReadOnlySpan<byte> b)
    {
        try { return new UTF8Encoding(false, true).GetString(b); }
        catch (DecoderFallbackException) { return Encoding.Latin1.GetString(b); }
    }

    /// <summary>Python 2's repr of a str: quoted with ' or ", backslash escapes.</summary>
    static string PythonStringLiteral(string s, Func<string, DatasetException> bad)
    {
        if (s.Length < 2 || s[0] != s[^1] || s[0] is not ('\'' or '"')) throw bad("STRING is not a quoted literal");
        var bytes = new List<byte>(s.Length);
        int end = s.Length - 1;
        for (int i = 1; i < end; i++)
        {
            char c = s[i];
            if (c != '\\') { bytes.Add((byte)c); continue; }
            if (++i >= end) throw bad("STRING ends in a backslash");
            switch (s[i])
            {
                case 'n': bytes.Add((byte)'\n'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case '\\': bytes.Add((byte)'\\'); break;
                case '\'': bytes.Add((byte)'\''); break;
                case '"': bytes.Add((byte)'"'); break;
                case 'x':
                    if (end - i - 1 < 2 || !byte.TryParse(s.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte x))
                        throw bad("bad \\x escape");
                    bytes.Add(x);
                    i += 2;
                    break;
                default: bytes.Add((byte)'\\'); bytes.Add((byte)s[i]); break;
            }
        }
        return Bytes2(bytes.ToArray());
    }

    /// <summary>Python's raw-unicode-escape (UNICODE opcode): \uXXXX and \UXXXXXXXX, everything else Latin-1.</summary>
    static string RawUnicodeEscape(string s)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 5 < s.Length + 0 && s[i + 1] == 'u' && int.TryParse(s.AsSpan(i + 2, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int u))
            {
                sb.Append((char)u);
                i += 5;
            }
            else if (s[i] == '\\' && i + 9 < s.Length && s[i + 1] == 'U' && int.TryParse(s.AsSpan(i + 2, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int U) && U <= 0x10FFFF)
            {
                sb.Append(char.ConvertFromUtf32(U));
                i += 9;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }
}
