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
internal sealed class JpegDecoder
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

    // ---------------------------------------------------------------- scans

    void ReadScan()
    {
        int length = ReadU16();
        int ns = ReadByte();
        if (ns < 1 || ns > 4 || length != 6 + 2 * ns) throw Error("bad SOS marker (component count or length)");
        var scan = new Component[ns];
        for (int i = 0; i < ns; i++)
        {
            int id = ReadByte(), tables = ReadByte();
            var c = Array.Find(_comps, x => x.Id == id) ?? throw Error($"scan names component {id}, which the frame does not have");
            if (Array.IndexOf(scan, c) >= 0) throw Error($"scan names component {id} twice");
            int td = tables >> 4, ta = tables & 15;
            if (td > 3 || ta > 3) throw Error("scan names a Huffman table outside 0..3");
            c.Dc = _dcTables[td];
            c.Ac = _acTables[ta];
            scan[i] = c;
        }
        int ss = ReadByte(), se = ReadByte(), a = ReadByte();
        int ah = a >> 4, al = a & 15;
        if (ns > 1 && scan.Sum(c => c.H * c.V) > MaxBlocksInMcu)
            throw Error($"an interleaved scan has more than {MaxBlocksInMcu} blocks per MCU");
        if (_progressive)
        {
            bool bad = ss == 0 ? se != 0 : se < ss || se > 63 || ns != 1;
            if (ah != 0 && al != ah - 1) bad = true;
            if (al > 13) bad = true;
            if (bad) throw Error($"invalid progressive scan parameters Ss={ss} Se={se} Ah={ah} Al={al}");
        }
        foreach (var c in scan)
        {
            // libjpeg latches each component's quantisation table at its first scan.
            if (!c.Seen)
            {
                c.Quant = _quant[c.Tq] ?? throw Error($"component {c.Id} uses quantisation table {c.Tq}, which is not defined");
                c.Seen = true;
            }
            bool needDc = !_progressive || (ss == 0 && ah == 0);
            bool needAc = !_progressive || ss > 0;
            if (needDc && c.Dc is null) throw Error($"component {c.Id}: the scan's DC Huffman table is not defined");
            if (needAc && c.Ac is null) throw Error($"component {c.Id}: the scan's AC Huffman table is not defined");
            c.DcPred = 0;
        }
        long blocks = ns == 1 ? (long)scan[0].WidthInBlocks * scan[0].HeightInBlocks : (long)_mcusX * _mcusY * scan.Sum(c => c.H * c.V);
        _scanWork += blocks;
        if (_scanWork > _scanWorkLimit)
            throw Error($"the JPEG's scans decode more than {_scanWorkLimit} blocks ({_scanWorkLimit / _imageBlocks} times the image's {_imageBlocks}); a corrupt or hostile file repeating scans");
        _acc = 0;
        _bits = 0;
        _unreadMarker = 0;
        _eofBits = 0;
        _eobRun = 0;
        _restartsToGo = _restartInterval;
        _nextRestart = 0;

        Span<int> block = stackalloc int[64];
        if (ns == 1)
        {
            var c = scan[0];
            for (int by = 0; by < c.HeightInBlocks; by++)
                for (int bx = 0; bx < c.WidthInBlocks; bx++)
                {
                    BeforeMcu(scan);
                    DecodeBlock(c, bx, by, ss, se, ah, al, block);
                    CheckEnd();
                }
        }
        else
        {
            for (int my = 0; my < _mcusY; my++)
                for (int mx = 0; mx < _mcusX; mx++)
                {
                    BeforeMcu(scan);
                    foreach (var c in scan)
                        for (int v = 0; v < c.V; v++)
                            for (int h = 0; h < c.H; h++)
                                DecodeBlock(c, mx * c.H + h, my * c.V + v, ss, se, ah, al, block);
                    CheckEnd();
                }
        }
    }

    void BeforeMcu(Component[] scan)
    {
        if (_restartInterval == 0) return;
        if (_restartsToGo == 0)
        {
            ProcessRestart();
            foreach (var c in scan) c.DcPred = 0;
            _eobRun = 0;
            _restartsToGo = _restartInterval;
        }
        _restartsToGo--;
    }

    /// <summary>jdhuff's process_restart + jdmarker's read_restart_marker / jpeg_resync_to_restart.</summary>
    void ProcessRestart()
    {
        _acc = 0;
        _bits = 0;
        _eofBits = 0;
        if (_unreadMarker == 0) _unreadMarker = NextMarker();
        if (_unreadMarker == 0xD0 + _nextRestart)
            _unreadMarker = 0;
        else
        {
            int desired = _nextRestart;
            while (true)
            {
                int marker = _unreadMarker, action;
                if (marker < 0xC0) action = 2;
                else if (marker < 0xD0 || marker > 0xD7) action = 3;
                else if (marker == 0xD0 + ((desired + 1) & 7) || marker == 0xD0 + ((desired + 2) & 7)) action = 3;
                else if (marker == 0xD0 + ((desired - 1) & 7) || marker == 0xD0 + ((desired - 2) & 7)) action = 2;
                else action = 1;
                if (action == 1) { _unreadMarker = 0; break; }
                if (action == 3) break;
                _unreadMarker = NextMarker();
            }
        }
        _nextRestart = (_nextRestart + 1) & 7;
    }

    void Fill()
    {
        while (_bits <= 56)
        {
            int c = 0;
            if (_unreadMarker == 0)
            {
                if (_pos >= _d.Length)
                {
                    // Zeros past the end are only an error if a symbol actually uses them (CheckEnd).
                    _eofBits = Math.Min(_eofBits + 8, 64);
                }
                else
                {
                    c = _d[_pos++];
                    if (c == 0xFF)
                    {
                        // FF (FF…) 00 is a stuffed FF data byte; FF followed by anything else is a marker,
                        // after which the scan gets zero bits, as in libjpeg.
                        while (_pos < _d.Length && _d[_pos] == 0xFF) _pos++;
                        if (_pos >= _d.Length)
                        {
                            c = 0;
                            _eofBits = Math.Min(_eofBits + 8, 64);
                        }
                        else if (_d[_pos] == 0)
                        {
                            _pos++;
                        }
                        else
                        {
                            _unreadMarker = _d[_pos++];
                            c = 0;
                        }
                    }
                }
            }
            _acc = (_acc << 8) | (uint)c;
            _bits += 8;
        }
    }

    /// <summary>After each block: bits taken from the zeros appended at the end of the file mean the
    /// file was cut inside entropy data (Pillow: "image file is truncated").</summary>
    void CheckEnd()
    {
        if (_eofBits > _bits) throw Truncated();
    }

    int GetBits(int n)
    {
        if (n == 0) return 0;
        if (_bits < n) Fill();
        _bits -= n;
        return (int)(_acc >> _bits) & ((1 << n) - 1);
    }

    int GetBit()
    {
        if (_bits < 1) Fill();
        _bits--;
        return (int)(_acc >> _bits) & 1;
    }

    int DecodeHuffman(HuffTable t)
    {
        if (_bits < 16) Fill();
        int look = (int)(_acc >> (_bits - HuffTable.LookBits)) & ((1 << HuffTable.LookBits) - 1);
        int entry = t.Lookup[look];
        if (entry != 0)
        {
            _bits -= entry >> 8;
            return entry & 0xFF;
        }
        int l = HuffTable.LookBits + 1;
        int code = (int)(_acc >> (_bits - l)) & ((1 << l) - 1);
        _bits -= l;
        while (code > t.MaxCode[l])
        {
            code = (code << 1) | GetBit();
            l++;
        }
        if (l > 16) return 0;  // libjpeg: "Corrupt JPEG data: bad Huffman code", decoded as 0
        return t.Values[(code + t.ValOffset[l]) & 0xFF];
    }

    static int Extend(int r, int s) => r < (1 << (s - 1)) ? r + (-1 << s) + 1 : r;

    void DecodeBlock(Component c, int bx, int by, int ss, int se, int ah, int al, Span<int> block)
    {
        if (!_progressive)
        {
            block.Clear();
            int s = DecodeHuffman(c.Dc!);
            if (s != 0) s = Extend(GetBits(s), s);
            s += c.DcPred;
            c.DcPred = s;
            block[0] = (short)s;
            var ac = c.Ac!;
            for (int k = 1; k < 64; k++)
            {
                int rs = DecodeHuffman(ac);
                int r = rs >> 4;
                s = rs & 15;
                if (s != 0)
                {
                    k += r;
                    int v = Extend(GetBits(s), s);
                    block[NaturalOrder[k]] = (short)v;
                }
                else
                {
                    if (r != 15) break;
                    k += 15;
                }
            }
            Idct.Islow(block, c.Quant!, c.Plane, (by * 8) * c.Stride + bx * 8, c.Stride);
            return;
        }
        var coefs = c.Coefs!.AsSpan((by * c.BlocksPerLine + bx) * 64, 64);
        if (ss == 0)
        {
            if (ah == 0)
            {
                int s = DecodeHuffman(c.Dc!);
                if (s != 0) s = Extend(GetBits(s), s);
                s += c.DcPred;
                c.DcPred = s;
                coefs[0] = (short)(s << al);
            }
            else if (GetBit() != 0) coefs[0] |= (short)(1 << al);
            return;
        }
        if (ah == 0) DecodeAcFirst(c, coefs, ss, se, al);
        else DecodeAcRefine(c, coefs, ss, se, al);
    }

    void DecodeAcFirst(Component c, Span<short> coefs, int ss, int se, int al)
    {
        if (_eobRun > 0)
        {
            _eobRun--;
            return;
        }
        var ac = c.Ac!;
        for (int k = ss; k <= se; k++)
        {
            int rs = DecodeHuffman(ac);
            int r = rs >> 4, s = rs & 15;
            if (s != 0)
            {
                k += r;
                int v = Extend(GetBits(s), s);
                coefs[NaturalOrder[k]] = (short)(v << al);
            }
            else if (r == 15) k += 15;
            else
            {
                _eobRun = 1 << r;
                if (r != 0) _eobRun += GetBits(r);
                _eobRun--;
                break;
            }
        }
    }

    void DecodeAcRefine(Component c, Span<short> coefs, int ss, int se, int al)
    {
        int p1 = 1 << al, m1 = -1 << al;
        int k = ss;
        var ac = c.Ac!;
        if (_eobRun == 0)
        {
            for (; k <= se; k++)
            {
                int rs = DecodeHuffman(ac);
                int r = rs >> 4, s = rs & 15;
                if (s != 0)
                {
                    s = GetBit() != 0 ? p1 : m1;
                }
                else if (r != 15)
                {
                    _eobRun = 1 << r;
                    if (r != 0) _eobRun += GetBits(r);
                    break;
                }
                do
                {
                    int z = NaturalOrder[k];
                    if (coefs[z] != 0)
                    {
                        if (GetBit() != 0 && (coefs[z] & p1) == 0)
                            coefs[z] = (short)(coefs[z] >= 0 ? coefs[z] + p1 : coefs[z] + m1);
                    }
                    else if (--r < 0) break;
                    k++;
                }
                while (k <= se);
                if (s != 0) coefs[NaturalOrder[k]] = (short)s;
            }
        }
        if (_eobRun > 0)
        {
            for (; k <= se; k++)
            {
                int z = NaturalOrder[k];
                if (coefs[z] != 0 && GetBit() != 0 && (coefs[z] & p1) == 0)
                    coefs[z] = (short)(coefs[z] >= 0 ? coefs[z] + p1 : coefs[z] + m1);
            }
            _eobRun--;
        }
    }

    // ---------------------------------------------------------------- output

    RgbImage Finish()
    {
        Span<int> block = stackalloc int[64];
        foreach (var c in _comps)
        {
            if (!c.Seen) throw Error($"component {c.Id} appears in no scan");
            if (c.Coefs is null) continue;
            c.Plane = new byte[c.Coefs.Length];
            for (int by = 0; by < c.BlocksPerColumn; by++)
                for (int bx = 0; bx < c.BlocksPerLine; bx++)
                {
                    var src = c.Coefs.AsSpan((by * c.BlocksPerLine + bx) * 64, 64);
                    for (int i = 0; i < 64; i++) block[i] = src[i];
                    Idct.Islow(block, c.Quant!, c.Plane, by * 8 * c.Stride + bx * 8, c.Stride);
                }
            c.Coefs = null;
        }
        var image = new RgbImage(_width, _height);
        var space = ColorSpace();
        int n = _comps.Length;
        var rows = new byte[n][];
        for (int i = 0; i < n; i++) rows[i] = new byte[_width + 16];
        byte[] pixels = image.Pixels;
        for (int y = 0; y < _height; y++)
        {
            for (int i = 0; i < n; i++) Upsample(_comps[i], y, rows[i]);
            int o = y * _width * 3;
            switch (space)
            {
                case Space.Grey:
                    for (int x = 0; x < _width; x++, o += 3) pixels[o] = pixels[o + 1] = pixels[o + 2] = rows[0][x];
                    break;
                case Space.Rgb:
                    for (int x = 0; x < _width; x++, o += 3)
                    {
                        pixels[o] = rows[0][x];
                        pixels[o + 1] = rows[1][x];
                        pixels[o + 2] = rows[2][x];
                    }
                    break;
                case Space.YCbCr:
                    YccToRgb(rows[0], rows[1], rows[2], pixels.AsSpan(o, _width * 3));
                    break;
                case Space.Cmyk:
                case Space.Ycck:
                    CmykToRgb(rows, space == Space.Ycck, pixels.AsSpan(o, _width * 3));
                    break;
            }
        }
        return image;
    }

    enum Space { Grey, YCbCr, Rgb, Cmyk, Ycck }

    /// <summary>jdapimin.c default_decompress_parms.</summary>
    Space ColorSpace()
    {
        switch (_comps.Length)
        {
            case 1:
                return Space.Grey;
            case 3:
                if (_jfif) return Space.YCbCr;
                if (_adobe) return _adobeTransform == 0 ? Space.Rgb : Space.YCbCr;
                if (_comps[0].Id == 82 && _comps[1].Id == 71 && _comps[2].Id == 66) return Space.Rgb;
                return Space.YCbCr;
            default:
                if (_adobe) return _adobeTransform == 0 ? Space.Cmyk : Space.Ycck;
                return Space.Cmyk;
        }
    }

    /// <summary>Row <paramref name="y"/> of the output grid for one component, as jdsample.c's
    /// upsampler for its ratio makes it (fancy for 2:1 ratios, box otherwise).</summary>
    void Upsample(Component c, int y, byte[] dst)
    {
        int hx = _hmax / c.H, vy = _vmax / c.V;
        byte[] p = c.Plane;
        int stride = c.Stride, w = c.DownW;
        if (hx == 1 && vy == 1)
        {
            Array.Copy(p, y * stride, dst, 0, _width);
            return;
        }
        if (hx == 2 && vy == 1 && w > 2)
        {
            // h2v1_fancy_upsample
            int row = y * stride;
            int o = 0;
            int v0 = p[row];
            dst[o++] = (byte)v0;
            dst[o++] = (byte)((v0 * 3 + p[row + 1] + 2) >> 2);
            for (int i = 1; i < w - 1; i++)
            {
                int v = p[row + i] * 3;
                dst[o++] = (byte)((v + p[row + i - 1] + 1) >> 2);
                dst[o++] = (byte)((v + p[row + i + 1] + 2) >> 2);
            }
            int last = p[row + w - 1];
            dst[o++] = (byte)((last * 3 + p[row + w - 2] + 1) >> 2);
            dst[o] = (byte)last;
            return;
        }
        if (hx == 1 && vy == 2)
        {
            // h1v2_fancy_upsample: 3/4 nearer row + 1/4 further row, bias 1 above, 2 below.
            int r = y >> 1;
            bool below = (y & 1) != 0;
            int r1 = Math.Clamp(below ? r + 1 : r - 1, 0, c.DownH - 1);
            int bias = below ? 2 : 1;
            int a = r * stride, b = r1 * stride;
            for (int i = 0; i < _width; i++) dst[i] = (byte)((p[a + i] * 3 + p[b + i] + bias) >> 2);
            return;
        }
        if (hx == 2 && vy == 2 && w > 2)
        {
            // h2v2_fancy_upsample
            int r = y >> 1;
            bool below = (y & 1) != 0;
            int r1 = Math.Clamp(below ? r + 1 : r - 1, 0, c.DownH - 1);
            int a = r * stride, b = r1 * stride;
            int o = 0;
            int thisSum = p[a] * 3 + p[b];
            int nextSum = p[a + 1] * 3 + p[b + 1];
            dst[o++] = (byte)((thisSum * 4 + 8) >> 4);
            dst[o++] = (byte)((thisSum * 3 + nextSum + 7) >> 4);
            int lastSum = thisSum;
            thisSum = nextSum;
            for (int i = 2; i < w; i++)
            {
                nextSum = p[a + i] * 3 + p[b + i];
                dst[o++] = (byte)((thisSum * 3 + lastSum + 8) >> 4);
                dst[o++] = (byte)((thisSum * 3 + nextSum + 7) >> 4);
                lastSum = thisSum;
                thisSum = nextSum;
            }
            dst[o++] = (byte)((thisSum * 3 + lastSum + 8) >> 4);
            dst[o] = (byte)((thisSum * 4 + 7) >> 4);
            return;
        }
        // int_upsample / h2v1_upsample / h2v2_upsample: replicate.
        int src = (y / vy) * stride;
        for (int x = 0; x < _width; x++) dst[x] = p[src + x / hx];
    }

    // jdcolor.c build_ycc_rgb_table (SCALEBITS 16).
    static readonly int[] CrR = new int[256], CbB = new int[256], CrG = new int[256], CbG = new int[256];

    static JpegDecoder()
    {
        const int scaleBits = 16, half = 1 << 15;
        static long Fix(double x) => (long)(x * (1L << scaleBits) + 0.5);
        for (int i = 0, x = -128; i < 256; i++, x++)
        {
            CrR[i] = (int)((Fix(1.40200) * x + half) >> scaleBits);
            CbB[i] = (int)((Fix(1.77200) * x + half) >> scaleBits);
            CrG[i] = (int)(-Fix(0.71414) * x);
            CbG[i] = (int)(-Fix(0.34414) * x + half);
        }
    }

    static byte Clamp(int v) => (byte)(v < 0 ? 0 : v > 255 ? 255 : v);

    void YccToRgb(byte[] yRow, byte[] cbRow, byte[] crRow, Span<byte> dst)
    {
        for (int x = 0, o = 0; x < _width; x++, o += 3)
        {
            int y = yRow[x], cb = cbRow[x], cr = crRow[x];
            dst[o] = Clamp(y + CrR[cr]);
            dst[o + 1] = Clamp(y + ((CbG[cb] + CrG[cr]) >> 16));
            dst[o + 2] = Clamp(y + CbB[cb]);
        }
    }

    /// <summary>libjpeg outputs CMYK (YCCK converted by ycck_cmyk_convert); Pillow reads it as
    /// Adobe-inverted "CMYK;I" and <c>convert('RGB')</c> applies cmyk2rgb.</summary>
    void CmykToRgb(byte[][] rows, bool ycck, Span<byte> dst)
    {
        for (int x = 0, o = 0; x < _width; x++, o += 3)
        {
            int c0, c1, c2;
            if (ycck)
            {
                int y = rows[0][x], cb = rows[1][x], cr = rows[2][x];
                c0 = Clamp(255 - (y + CrR[cr]));
                c1 = Clamp(255 - (y + ((CbG[cb] + CrG[cr]) >> 16)));
                c2 = Clamp(255 - (y + CbB[cb]));
            }
            else
            {
                c0 = rows[0][x];
                c1 = rows[1][x];
                c2 = rows[2][x];
            }
            // "CMYK;I": Pillow inverts every channel of Adobe CMYK.
            int cc = 255 - c0, mm = 255 - c1, yy = 255 - c2, k = 255 - rows[3][x];
            int nk = 255 - k;
            dst[o] = Clamp(nk - MulDiv255(cc, nk));
            dst[o + 1] = Clamp(nk - MulDiv255(mm, nk));
            dst[o + 2] = Clamp(nk - MulDiv255(yy, nk));
        }
    }

    static int MulDiv255(int a, int b)
    {
        int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    }
}

/// <summary>libjpeg's jpeg_idct_islow (jidctint.c): 13-bit fixed-point constants, two passes with
/// 2 extra bits in between, dequantisation folded in, and the post-IDCT range-limit table (values
/// masked to 10 bits, then clamped to 0..255 around the 128 centre).</summary>
internal static class Idct
{
    const int ConstBits = 13, Pass1Bits = 2;
    const long F0298631336 = 2446, F0390180644 = 3196, F0541196100 = 4433, F0765366865 = 6270, F0899976223 = 7373,
        F1175875602 = 9633, F1501321110 = 12299, F1847759065 = 15137, F1961570560 = 16069, F2053119869 = 16819,
        F2562915447 = 20995, F3072711026 = 25172;

    static readonly byte[] RangeLimit = BuildRangeLimit();

    /// <summary>idct_range_limit[x &amp; 1023] of jdmaster.c's prepare_range_limit_table.</summary>
    static byte[] BuildRangeLimit()
    {
        var t = new byte[1024];
        for (int x = 0; x < 1024; x++)
        {
            int v = x < 512 ? x : x - 1024;  // the 10-bit value as a signed offset from 128
            t[x] = (byte)(v + 128 < 0 ? 0 : v + 128 > 255 ? 255 : v + 128);
        }
        return t;
    }

    static long Descale(long x, int n) => (x + (1L << (n - 1))) >> n;

    /// <summary>jidctint.c's odd part from inputs 7, 5, 3, 1 (dequantised): tmp0..tmp3 of the butterfly.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    static (long, long, long, long) OddPart(long tmp0, long tmp1, long tmp2, long tmp3)
    {
        long z1 = tmp0 + tmp3, z2 = tmp1 + tmp2, z3 = tmp0 + tmp2, z4 = tmp1 + tmp3;
        long z5 = (z3 + z4) * F1175875602;
        tmp0 *= F0298631336;
        tmp1 *= F2053119869;
        tmp2 *= F3072711026;
        tmp3 *= F1501321110;
        z1 *= -F0899976223;
        z2 *= -F2562915447;
        z3 = z3 * -F1961570560 + z5;
        z4 = z4 * -F0390180644 + z5;
        return (tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4);
    }

    public static void Islow(Span<int> coef, int[] quant, byte[] output, int offset, int stride)
    {
        Span<int> ws = stackalloc int[64];
        for (int col = 0; col < 8; col++)
        {
            if (coef[8 + col] == 0 && coef[16 + col] == 0 && coef[24 + col] == 0 && coef[32 + col] == 0
                && coef[40 + col] == 0 && coef[48 + col] == 0 && coef[56 + col] == 0)
            {
                int dc = (coef[col] * quant[col]) << Pass1Bits;
                for (int r = 0; r < 8; r++) ws[r * 8 + col] = dc;
                continue;
            }
            long z2 = coef[16 + col] * quant[16 + col], z3 = coef[48 + col] * quant[48 + col];
            long z1 = (z2 + z3) * F0541196100;
            long tmp2 = z1 + z3 * -F1847759065;
            long tmp3 = z1 + z2 * F0765366865;
            z2 = coef[col] * quant[col];
            z3 = coef[32 + col] * quant[32 + col];
            long tmp0 = (z2 + z3) << ConstBits;
            long tmp1 = (z2 - z3) << ConstBits;
            long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

            (tmp0, tmp1, tmp2, tmp3) = OddPart(coef[56 + col] * quant[56 + col], coef[40 + col] * quant[40 + col],
                coef[24 + col] * quant[24 + col], coef[8 + col] * quant[8 + col]);
            const int s = ConstBits - Pass1Bits;
            ws[col] = (int)Descale(tmp10 + tmp3, s);
            ws[56 + col] = (int)Descale(tmp10 - tmp3, s);
            ws[8 + col] = (int)Descale(tmp11 + tmp2, s);
            ws[48 + col] = (int)Descale(tmp11 - tmp2, s);
            ws[16 + col] = (int)Descale(tmp12 + tmp1, s);
            ws[40 + col] = (int)Descale(tmp12 - tmp1, s);
            ws[24 + col] = (int)Descale(tmp13 + tmp0, s);
            ws[32 + col] = (int)Descale(tmp13 - tmp0, s);
        }
        var limit = RangeLimit;
        for (int row = 0; row < 8; row++)
        {
            var w = ws.Slice(row * 8, 8);
            var o = output.AsSpan(offset + row * stride, 8);
            if (w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0)
            {
                byte v = limit[(int)Descale(w[0], Pass1Bits + 3) & 1023];
                o.Fill(v);
                continue;
            }
            long z2 = w[2], z3 = w[6];
            long z1 = (z2 + z3) * F0541196100;
            long tmp2 = z1 + z3 * -F1847759065;
            long tmp3 = z1 + z2 * F0765366865;
            long tmp0 = ((long)w[0] + w[4]) << ConstBits;
            long tmp1 = ((long)w[0] - w[4]) << ConstBits;
            long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
            (tmp0, tmp1, tmp2, tmp3) = OddPart(w[7], w[5], w[3], w[1]);
            const int s = ConstBits + Pass1Bits + 3;
            o[0] = limit[(int)Descale(tmp10 + tmp3, s) & 1023];
            o[7] = limit[(int)Descale(tmp10 - tmp3, s) & 1023];
            o[1] = limit[(int)Descale(tmp11 + tmp2, s) & 1023];
            o[6] = limit[(int)Descale(tmp11 - tmp2, s) & 1023];
            o[2] = limit[(int)Descale(tmp12 + tmp1, s) & 1023];
            o[5] = limit[(int)Descale(tmp12 - tmp1, s) & 1023];
            o[3] = limit[(int)Descale(tmp13 + tmp0, s) & 1023];
            o[4] = limit[(int)Descale(tmp13 - tmp0, s) & 1023];
        }
    }
}
