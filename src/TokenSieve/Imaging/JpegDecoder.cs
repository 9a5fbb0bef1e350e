namespace TokenSieve.Imaging;

/// <summary>A managed, bounds-checked JPEG decoder (baseline, extended-sequential and progressive
/// Huffman, 8-bit) that reproduces libjpeg-turbo's default decompression, which Pillow uses:
/// <list type="bullet">
/// <item>entropy decoding as <c>jdhuff.c</c>/<c>jdphuff.c</c>, including their handling of damage: a
/// marker inside entropy data supplies zero bits, an invalid Huffman code decodes as 0, coefficient
/// indexes past 63 land on 63, restart markers out of sequence are resynchronised as
/// <c>jpeg_resync_to_restart</c> does;</item>
/// <item>the accurate integer IDCT (<c>jidctint.c</c>, JDCT_ISLOW) with its post-IDCT range-limit
/// table;</item>
/// <item>"fancy" (triangle) chroma upsampling for 2:1 horizontal, 2:1 vertical and 2:1 both ways
/// (<c>jdsample.c</c>), box replication for other integral ratios and for components at most two
/// samples wide;</item>
/// <item>the fixed-point YCbCr→RGB tables of <c>jdcolor.c</c>; the colour space is chosen as
/// <c>jdapimin.c</c> does (JFIF / Adobe markers, then component ids); CMYK/YCCK follow Pillow
/// (Adobe-inverted CMYK, then <c>convert('RGB')</c>'s <c>cmyk2rgb</c>).</item>
/// </list>
/// Every loop is bounded by the number of blocks the frame header declares (checked against
/// <see cref="ImageLimits"/> before anything is allocated), so no input can make it run forever.
/// Memory: component planes (at most 3 bytes per pixel, MCU-padded) plus, for progressive files,
/// 16-bit coefficients (at most 6 bytes per pixel), plus the RGB result.
/// Unsupported (an <see cref="ImageDecodeException"/>): arithmetic coding, lossless and hierarchical
/// JPEG, 12/16-bit samples, DNL-defined heights, 2-component images.</summary>
internal sealed partial class JpegDecoder
{
    // Natural (row-major) order of zig-zag index k, with 16 extra entries of 63 as libjpeg keeps so
    // that a corrupt run length pointing past the end writes to the last coefficient.
    static readonly int[] NaturalOrder =
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
        63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    ];

    /// <summary>libjpeg's D_MAX_BLOCKS_IN_MCU: an interleaved scan with more blocks per MCU is an error.</summary>
    const int MaxBlocksInMcu = 10;

    /// <summary>Limit on the blocks decoded over all scans, as a multiple of the image's blocks: at
    /// most <see cref="MaxScanWorkPerBlock"/>, at least <see cref="MinScanWorkPerBlock"/>, and
    /// otherwise <see cref="ScanWorkBudget"/> blocks. A scan costs time in proportion to the declared
    /// image, not to its bytes, so a small file repeating a scan thousands of times over a large
    /// declared image would run for minutes (a "scan bomb"; libjpeg-turbo's tools cap scans for the
    /// same reason). Real progressive files decode each block 4–6 times (cjpeg's and jpegtran's
    /// scripts: 10 scans over 3 components); with these bounds the worst file takes a few seconds.</summary>
    public const int MaxScanWorkPerBlock = 32, MinScanWorkPerBlock = 8;

    /// <summary>Block decodes allowed to any image when that is between the two multiples (about 4 s
    /// of refinement scans on a loaded 2-core machine).</summary>
    public const long ScanWorkBudget = 16_000_000;

    long _scanWork, _scanWorkLimit, _imageBlocks;

    sealed class HuffTable
    {
        public readonly byte[] Values = new byte[256];
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValOffset = new int[18];
        // 9-bit lookahead: (length << 8) | symbol, or 0 when the code is longer than 9 bits.
        public readonly ushort[] Lookup = new ushort[1 << LookBits];
        public const int LookBits = 9;
    }

    sealed class Component
    {
        public int Id, H, V, Tq;
        public int DownW, DownH;                // samples of this component inside the image
        public int WidthInBlocks, HeightInBlocks; // blocks covering DownW x DownH
        public int BlocksPerLine, BlocksPerColumn; // allocated (MCU-padded) blocks
        public int Stride;                      // BlocksPerLine * 8
        public byte[] Plane = [];
        public short[]? Coefs;                  // progressive only: 64 per block
        public int[]? Quant;                    // latched at the component's first scan, natural order
        public int DcPred;
        public HuffTable? Dc, Ac;
        public bool Seen;
    }

    readonly byte[] _d;
    readonly string? _name;
    int _pos;

    readonly int[]?[] _quant = new int[]?[4];
    readonly HuffTable?[] _dcTables = new HuffTable?[4];
    readonly HuffTable?[] _acTables = new HuffTable?[4];
    Component[] _comps = [];
    int _width, _height, _hmax, _vmax, _mcusX, _mcusY;
    bool _progressive, _frameSeen, _jfif, _adobe;
    int _adobeTransform;
    int _restartInterval;

    // Entropy reader state.
    ulong _acc;
    int _bits;
    int _unreadMarker;   // a marker met inside entropy data (its second byte), 0 when none
    int _eofBits;        // zero bits appended because the file ended; reading them means truncation
    int _eobRun;
    int _restartsToGo, _nextRestart;

    JpegDecoder(byte[] data, string? name)
    {
        _d = data;
        _name = name;
    }

    ImageDecodeException Error(string reason) => new(_name, reason);
    ImageDecodeException Truncated() => new(_name, "the JPEG data ends early (truncated file)");

    public static RgbImage Decode(byte[] data, string? name) => new JpegDecoder(data, name).Run();

    // ---------------------------------------------------------------- markers

    int ReadByte() => _pos < _d.Length ? _d[_pos++] : throw Truncated();

    int ReadU16()
    {
        int hi = ReadByte();
        return (hi << 8) | ReadByte();
    }

    /// <summary>libjpeg's <c>next_marker</c>: skips garbage up to FF, then fill bytes (FF), and FF 00 pairs.</summary>
    int NextMarker()
    {
        while (true)
        {
            int c = ReadByte();
            while (c != 0xFF) c = ReadByte();
            do c = ReadByte(); while (c == 0xFF);
            if (c != 0) return c;
        }
    }

    RgbImage Run()
    {
        if (_d.Length < 2 || _d[0] != 0xFF || _d[1] != 0xD8) throw Error("not a JPEG file (no SOI marker)");
        _pos = 2;
        bool sawScan = false;
        while (true)
        {
            int marker;
            if (_unreadMarker != 0)
            {
                marker = _unreadMarker;
                _unreadMarker = 0;
            }
            else
            {
                // The first marker after SOI must follow directly (libjpeg's first_marker is strict only
                // for SOI; later markers may be preceded by garbage, which next_marker skips).
                marker = NextMarker();
            }
            switch (marker)
            {
                case 0xD8:
                    throw Error("a second SOI marker inside the image");
                case 0xD9:
                    if (!sawScan) throw Error("the JPEG ends (EOI) before any image data");
                    return Finish();
                case 0xC0:
                case 0xC1:
                case 0xC2:
                    ReadFrame(marker == 0xC2);
                    break;
                case 0xC3:
                case >= 0xC5 and <= 0xC7:
                case >= 0xC9 and <= 0xCB:
                case >= 0xCD and <= 0xCF:
                    throw Error($"JPEG process SOF{marker - 0xC0} (lossless, hierarchical or arithmetic-coded) is not supported");
                case 0xC4:
                    ReadHuffmanTables();
                    break;
                case 0xCC:
                    throw Error("arithmetic-coded JPEG is not supported");
                case 0xDB:
                    ReadQuantTables();
                    break;
                case 0xDD:
                    if (ReadU16() != 4) throw Error("bad DRI marker length");
                    _restartInterval = ReadU16();
                    break;
                case 0xDA:
                    if (!_frameSeen) throw Error("scan (SOS) before the frame header (SOF)");
                    ReadScan();
                    sawScan = true;
                    // A file that ends right after its last scan (no EOI) decodes, as in libjpeg.
                    if (_unreadMarker == 0 && !HasMarkerAhead()) return Finish();
                    break;
                case 0xDC:
                    throw Error("DNL markers (height defined after the first scan) are not supported");
                case >= 0xD0 and <= 0xD7:
                    break;  // stray restart marker outside a scan: libjpeg ignores it too
                case 0x01:
                    break;  // TEM
                default:
                    if ((marker >= 0xE0 && marker <= 0xEF) || marker == 0xFE || (marker >= 0xF0 && marker <= 0xFD) || marker == 0xDE || marker == 0xDF)
                    {
                        SkipOrReadApp(marker);
                        break;
                    }
                    throw Error($"unknown JPEG marker 0x{marker:X2}");
            }
        }
    }

    bool HasMarkerAhead()
    {
        for (int i = _pos; i + 1 < _d.Length; i++)
            if (_d[i] == 0xFF && _d[i + 1] != 0 && _d[i + 1] != 0xFF) return true;
        return false;
    }

    void SkipOrReadApp(int marker)
    {
        int length = ReadU16();
        if (length < 2) throw Error($"bad length {length} of marker 0x{marker:X2}");
        int start = _pos, payload = length - 2;
        if (start + payload > _d.Length) throw Truncated();
        if (marker == 0xE0 && payload >= 14 && _d[start] == 'J' && _d[start + 1] == 'F' && _d[start + 2] == 'I' && _d[start + 3] == 'F' && _d[start + 4] == 0)
            _jfif = true;
        if (marker == 0xEE && payload >= 12 && _d[start] == 'A' && _d[start + 1] == 'd' && _d[start + 2] == 'o' && _d[start + 3] == 'b' && _d[start + 4] == 'e')
        {
            _adobe = true;
            _adobeTransform = _d[start + 11];
        }
        _pos = start + payload;
    }

    void ReadQuantTables()
    {
        int length = ReadU16() - 2;
        if (length < 0) throw Error("bad DQT marker length");
        int end = _pos + length;
        if (end > _d.Length) throw Truncated();
        while (_pos < end)
        {
            int pq = ReadByte();
            int precision = pq >> 4, id = pq & 15;
            if (id > 3) throw Error($"quantisation table id {id} is not 0..3");
            if (precision > 1) throw Error($"quantisation table precision {precision} is not 0 or 1");
            var table = new int[64];
            for (int k = 0; k < 64; k++)
            {
                if (_pos + (precision == 1 ? 2 : 1) > end) throw Error("DQT marker shorter than its tables");
                // libjpeg-turbo's SIMD builds keep the multipliers as 16-bit (short) values.
                table[NaturalOrder[k]] = precision == 1 ? (short)ReadU16() : ReadByte();
            }
            _quant[id] = table;
        }
        if (_pos != end) throw Error("DQT marker length disagrees with its tables");
    }

    void ReadHuffmanTables()
    {
        int length = ReadU16() - 2;
        if (length < 0) throw Error("bad DHT marker length");
        int end = _pos + length;
        if (end > _d.Length) throw Truncated();
        Span<int> counts = stackalloc int[17];
        while (_pos < end)
        {
            if (end - _pos < 17) throw Error("DHT marker shorter than its tables");
            int tc = ReadByte();
            int cls = tc >> 4, id = tc & 15;
            if (cls > 1 || id > 3) throw Error($"Huffman table class {cls} / id {id} is invalid");
            int total = 0;
            for (int l = 1; l <= 16; l++) total += counts[l] = ReadByte();
            if (total > 256 || _pos + total > end) throw Error("bad Huffman table (too many codes)");
            var t = new HuffTable();
            for (int i = 0; i < total; i++) t.Values[i] = (byte)ReadByte();
            Build(t, counts, total, isDc: cls == 0);
            (cls == 0 ? _dcTables : _acTables)[id] = t;
        }
        if (_pos != end) throw Error("DHT marker length disagrees with its tables");
    }

    /// <summary>jpeg_make_d_derived_tbl: canonical codes, with its checks (a code that does not fit
    /// its length, DC symbols over 15) as errors.</summary>
    void Build(HuffTable t, ReadOnlySpan<int> counts, int total, bool isDc)
    {
        Span<int> sizes = stackalloc int[257];
        Span<int> codes = stackalloc int[257];
        int p = 0;
        for (int l = 1; l <= 16; l++)
            for (int i = 0; i < counts[l]; i++) sizes[p++] = l;
        sizes[p] = 0;
        int code = 0, si = sizes[0];
        p = 0;
        while (sizes[p] != 0)
        {
            while (sizes[p] == si) codes[p++] = code++;
            if (code >= 1 << si) throw Error("bad Huffman table (code does not fit its length)");
            code <<= 1;
            si++;
        }
        p = 0;
        for (int l = 1; l <= 16; l++)
        {
            if (counts[l] != 0)
            {
                t.ValOffset[l] = p - codes[p];
                p += counts[l];
                t.MaxCode[l] = codes[p - 1];
            }
            else t.MaxCode[l] = -1;
        }
        t.ValOffset[17] = 0;
        t.MaxCode[17] = 0xFFFFF;  // sentinel: ends the slow search
        p = 0;
        for (int l = 1; l <= HuffTable.LookBits; l++)
        {
            for (int i = 0; i < counts[l]; i++, p++)
            {
                int lookbits = codes[p] << (HuffTable.LookBits - l);
                for (int ctr = 1 << (HuffTable.LookBits - l); ctr > 0; ctr--)
                    t.Lookup[lookbits++] = (ushort)((l << 8) | t.Values[p]);
            }
        }
        if (isDc)
            for (int i = 0; i < total; i++)
                if (t.Values[i] > 15) throw Error("bad Huffman table (DC symbol over 15)");
    }

    void ReadFrame(bool progressive)
    {
        if (_frameSeen) throw Error("more than one frame header (SOF)");
        _frameSeen = true;
        _progressive = progressive;
        int length = ReadU16();
        int precision = ReadByte();
        _height = ReadU16();
        _width = ReadU16();
        int n = ReadByte();
        if (precision != 8) throw Error($"{precision}-bit JPEG samples are not supported (8-bit only)");
        if (_width == 0 || _height == 0) throw Error($"the image has zero size ({_width}x{_height})");
        if (n is not (1 or 3 or 4)) throw Error($"a JPEG with {n} components is not supported (1, 3 or 4)");
        if (length != 8 + 3 * n) throw Error("bad SOF marker length");
        ImageLimits.Check(_width, _height, _name);
        _comps = new Component[n];
        for (int i = 0; i < n; i++)
        {
            var c = new Component { Id = ReadByte() };
            int hv = ReadByte();
            c.H = hv >> 4;
            c.V = hv & 15;
            c.Tq = ReadByte();
            if (c.H is < 1 or > 4 || c.V is < 1 or > 4) throw Error($"component {c.Id} has sampling factors {c.H}x{c.V} outside 1..4");
            if (c.Tq > 3) throw Error($"component {c.Id} uses quantisation table {c.Tq}, not 0..3");
            for (int j = 0; j < i; j++)
                if (_comps[j].Id == c.Id) throw Error($"two components have id {c.Id}");
            _comps[i] = c;
        }
        _hmax = _comps.Max(c => c.H);
        _vmax = _comps.Max(c => c.V);
        _mcusX = (_width + 8 * _hmax - 1) / (8 * _hmax);
        _mcusY = (_height + 8 * _vmax - 1) / (8 * _vmax);
        long blocks = 0;
        foreach (var c in _comps)
        {
            if (_hmax % c.H != 0 || _vmax % c.V != 0)
                throw Error($"component {c.Id}'s sampling {c.H}x{c.V} does not divide the maximum {_hmax}x{_vmax} (non-integral upsampling is not supported)");
            c.DownW = (int)(((long)_width * c.H + _hmax - 1) / _hmax);
            c.DownH = (int)(((long)_height * c.V + _vmax - 1) / _vmax);
            c.WidthInBlocks = (c.DownW + 7) / 8;
            c.HeightInBlocks = (c.DownH + 7) / 8;
            c.BlocksPerLine = _mcusX * c.H;
            c.BlocksPerColumn = _mcusY * c.V;
            c.Stride = c.BlocksPerLine * 8;
            long planeBytes = (long)c.Stride * c.BlocksPerColumn * 8;
            if (planeBytes > Array.MaxLength) throw Error("the image is too large");
            // Sequential files are transformed block by block into the plane; progressive ones keep
            // coefficients until the last scan and get their plane in Finish.
            if (progressive) c.Coefs = new short[planeBytes];
            else c.Plane = new byte[planeBytes];
            blocks += (long)c.BlocksPerLine * c.BlocksPerColumn;
        }
        _imageBlocks = blocks;
        _scanWorkLimit = Math.Clamp(ScanWorkBudget, blocks * MinScanWorkPerBlock, blocks * MaxScanWorkPerBlock);
    }
}
