namespace TokenSieve.Imaging;

/// <summary>The entropy-coded scans: Huffman decoding (jdhuff.c / jdphuff.c) with restart handling and
/// libjpeg's damage rules, baseline blocks and the progressive DC/AC first and refinement passes.</summary>
internal sealed partial class JpegDecoder
{
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
}
